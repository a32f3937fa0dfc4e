"""chainrule: backpropagation made real, visible and fast.

The lecture's independent blocks live in :mod:`chainrule.ops`; the
define-by-run graph is :class:`Tensor`; :func:`gradcheck` proves gradients by
finite differences.
"""

from . import ops
from .errors import ChainruleError, DTypeError, GradcheckError, GraphError, ShapeError
from .functional import (
    abs,
    add,
    broadcast_to,
    concatenate,
    div,
    divide,
    exp,
    identity,
    leaky_relu,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    multiply,
    neg,
    negative,
    pow,
    power,
    relu,
    reshape,
    sigmoid,
    softmax,
    softplus,
    sqrt,
    square,
    stack,
    sub,
    subtract,
    sum,
    tanh,
    transpose,
    where,
)
from .gradcheck import GradcheckResult, gradcheck
from .graph import enable_grad, grad, is_grad_enabled, no_grad
from .tensor import Tensor, tensor

__version__ = "0.1.0"

__all__ = [
    "ops", "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "grad",
    "gradcheck", "GradcheckResult",
    "ChainruleError", "ShapeError", "DTypeError", "GraphError", "GradcheckError",
    "abs", "add", "broadcast_to", "concatenate", "div", "divide", "exp", "identity",
    "leaky_relu", "log", "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean",
    "min", "minimum", "mul", "multiply", "neg", "negative", "pow", "power", "relu", "reshape",
    "sigmoid", "softmax", "softplus", "sqrt", "square", "stack", "sub", "subtract", "sum",
    "tanh", "transpose", "where",
]

# -- training layer (issue 4): models, optimisers, data, the training loop, saving --------------
from . import data, nn, optim, train  # noqa: E402
from .errors import ConfigError, DataError, MissingDependencyError, SerializationError  # noqa: E402
from .serialization import load, save  # noqa: E402
from .train import fit, sgd_noise  # noqa: E402

__all__ += ["nn", "optim", "data", "train", "fit", "sgd_noise", "save", "load",
            "DataError", "SerializationError", "MissingDependencyError", "ConfigError"]

# -- traces and drawings (issue 3): explain, draw -----------------------------------------------
from .errors import ExpressionError, RenderError  # noqa: E402
from .explain import Trace, draw, explain  # noqa: E402

__all__ += ["explain", "draw", "Trace", "ExpressionError", "RenderError"]
