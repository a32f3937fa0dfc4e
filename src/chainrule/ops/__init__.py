"""The lecture's independent blocks: one class per operation, ``forward`` + ``backward``.

Each block works on plain NumPy arrays, by hand, with no graph::

    from chainrule import ops
    mm = ops.MatMul()
    mu = mm.forward(X, theta)          # saves X and theta: its cache, in mm.saved
    dX, dtheta = mm.backward(dmu)      # upstream gradient in, one gradient per input out

Where each op lives: ``arithmetic`` (+ - * / neg pow square identity),
``elementwise`` (exp log sqrt abs maximum minimum where), ``activations``
(relu leaky_relu sigmoid tanh softplus), ``reductions`` (sum mean max min and the
softmax family), ``shape`` (reshape transpose getitem broadcast_to concatenate
stack), ``linalg`` (matmul), ``nn_ops`` (gelu, dropout, and the fused linear and
softmax-cross-entropy blocks). Every op class defined there is registered in
:data:`REGISTRY` as it is defined, and exported here by its name.
"""

from . import activations, arithmetic, elementwise, linalg, nn_ops, reductions, shape  # noqa: F401 - registers
from .base import REGISTRY, Chain, Op, Written, unbroadcast

#: The built-in ops, by class name; the modules above have just registered them.
BUILTIN = dict(REGISTRY)
globals().update(BUILTIN)

__all__ = ["Op", "Chain", "Written", "unbroadcast", "REGISTRY", *BUILTIN]
