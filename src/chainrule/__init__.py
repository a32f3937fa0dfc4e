"""chainrule: backpropagation made real, visible and fast.

The lecture's independent blocks live in :mod:`chainrule.ops`; the
define-by-run graph is :class:`Tensor`; :func:`gradcheck` proves gradients by
finite differences.
"""

from . import ops  # first: NumPy is imported before inspect (in that order, import takes 20 ms less)
from .anomaly import detect_anomaly, is_anomaly_enabled
from .autograd import grad
from .errors import ChainruleError, DTypeError, GradcheckError, GraphError, ShapeError
from .functional import *  # noqa: F403 - one function per name the ops declare (cr.exp, cr.sum, ...)
from .functional import __all__ as _functions
from .grad_mode import enable_grad, is_grad_enabled, no_grad
from .gradcheck import GradcheckResult, gradcheck, gradgradcheck
from .tensor import Tensor, as_tensor, from_numpy, tensor

__version__ = "0.1.0"

__all__ = [
    "ops", "Tensor", "tensor", "as_tensor", "from_numpy", "no_grad", "enable_grad", "is_grad_enabled", "grad",
    "detect_anomaly", "is_anomaly_enabled",
    "gradcheck", "gradgradcheck", "GradcheckResult",
    "ChainruleError", "ShapeError", "DTypeError", "GraphError", "GradcheckError",
    *_functions,
]

# -- training: models, optimisers, data, the training loop, saving -----------------------------
from . import data, func, nn, optim, train  # noqa: E402
from .errors import ConfigError, DataError, MissingDependencyError, SerializationError  # noqa: E402
from .serialization import load, save  # noqa: E402
from .train import fit, sgd_noise  # noqa: E402

__all__ += ["func", "nn", "optim", "data", "train", "fit", "sgd_noise", "save", "load",
            "DataError", "SerializationError", "MissingDependencyError", "ConfigError"]

# -- traces and drawings: explain, draw ---------------------------------------------------------
from .errors import ExpressionError, RenderError  # noqa: E402
from .explain import Trace, draw, explain  # noqa: E402

__all__ += ["explain", "draw", "Trace", "ExpressionError", "RenderError"]
