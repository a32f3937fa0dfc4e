"""The lecture's independent blocks: one class per operation, ``forward`` + ``backward``.

Each block works on plain NumPy arrays, by hand, with no graph::

    from chainrule import ops
    mm = ops.MatMul()
    mu = mm.forward(X, theta)          # saves X and theta: its cache
    dX, dtheta = mm.backward(dmu)      # upstream gradient in, one gradient per input out

Where each op lives: ``arithmetic`` (+ - * / neg pow square identity),
``elementwise`` (exp log sqrt abs maximum minimum where), ``activations``
(relu leaky_relu sigmoid tanh softplus), ``reductions`` (sum mean max min and the
softmax family), ``shape`` (reshape transpose getitem broadcast_to concatenate
stack), ``linalg`` (matmul), ``nn_ops`` (gelu, dropout, and the fused linear and
softmax-cross-entropy blocks).
"""

from .activations import LeakyReLU, ReLU, Sigmoid, Softplus, Tanh
from .arithmetic import Add, Div, Identity, Mul, Neg, Pow, Square, Sub
from .base import Op, unbroadcast
from .elementwise import Abs, Exp, Log, Maximum, Minimum, Sqrt, Where
from .linalg import MatMul
from .nn_ops import GELU, Dropout, Linear, SoftmaxCrossEntropy
from .reductions import LogSoftmax, LogSumExp, Max, Mean, Min, Softmax, Sum
from .shape import BroadcastTo, Concatenate, GetItem, Reshape, Stack, Transpose

__all__ = [
    "Op", "unbroadcast",
    "Identity", "Add", "Sub", "Mul", "Div", "Neg", "Pow", "Square",
    "Exp", "Log", "Sqrt", "Abs", "Maximum", "Minimum", "Where",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softplus",
    "Sum", "Mean", "Max", "Min", "Softmax", "LogSoftmax", "LogSumExp",
    "Reshape", "Transpose", "GetItem", "BroadcastTo", "Concatenate", "Stack",
    "MatMul",
    "GELU", "Dropout", "Linear", "SoftmaxCrossEntropy",
]
