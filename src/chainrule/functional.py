"""The Tensor operations as functions, named as in NumPy: ``chainrule.exp(t)``,
``chainrule.matmul(a, b)``, ``chainrule.where(cond, a, b)``, ...

Each accepts Tensors, arrays or Python numbers and returns a Tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import ops
from .tensor import Tensor, _data, apply_op


def _unary(op_class, doc: str):
    def fn(x) -> Tensor:
        return apply_op(op_class(), x)

    fn.__name__ = op_class.__name__.lower()
    fn.__doc__ = doc
    return fn


identity = _unary(ops.Identity, "y = x (the identity activation).")
neg = negative = _unary(ops.Neg, "y = -x.")
exp = _unary(ops.Exp, "Elementwise exp(x).")
log = _unary(ops.Log, "Elementwise natural logarithm.")
sqrt = _unary(ops.Sqrt, "Elementwise square root.")
abs = _unary(ops.Abs, "Elementwise absolute value.")  # noqa: A001 - NumPy's name
square = _unary(ops.Square, "Elementwise x**2.")
tanh = _unary(ops.Tanh, "Elementwise hyperbolic tangent.")
sigmoid = _unary(ops.Sigmoid, "Elementwise logistic sigmoid 1 / (1 + exp(-x)), stable.")
relu = _unary(ops.ReLU, "Elementwise max(x, 0).")
softplus = _unary(ops.Softplus, "Elementwise log(1 + exp(x)), stable.")


def add(a, b) -> Tensor:
    """a + b with broadcasting."""
    return apply_op(ops.Add(), a, b)


def sub(a, b) -> Tensor:
    """a - b with broadcasting."""
    return apply_op(ops.Sub(), a, b)


subtract = sub


def mul(a, b) -> Tensor:
    """a * b elementwise with broadcasting."""
    return apply_op(ops.Mul(), a, b)


multiply = mul


def div(a, b) -> Tensor:
    """a / b elementwise with broadcasting."""
    return apply_op(ops.Div(), a, b)


divide = div


def power(x, exponent: float) -> Tensor:
    """x ** exponent for a constant exponent."""
    return apply_op(ops.Pow(exponent), x)


pow = power  # noqa: A001 - NumPy's name


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules (vectors, matrices, broadcast stacks)."""
    return apply_op(ops.MatMul(), a, b)


def maximum(a, b) -> Tensor:
    """Elementwise maximum; ties share the gradient equally."""
    return apply_op(ops.Maximum(), a, b)


def minimum(a, b) -> Tensor:
    """Elementwise minimum; ties share the gradient equally."""
    return apply_op(ops.Minimum(), a, b)


def where(condition, a, b) -> Tensor:
    """``a`` where ``condition`` holds, else ``b``; the condition gets no gradient."""
    return apply_op(ops.Where(), _data(condition), a, b)


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x."""
    return apply_op(ops.LeakyReLU(negative_slope), x)


def softmax(x, axis: int = -1) -> Tensor:
    """exp(x) normalised to sum 1 along ``axis`` (max-shifted)."""
    return apply_op(ops.Softmax(axis), x)


def log_softmax(x, axis: int = -1) -> Tensor:
    """log(softmax(x)) along ``axis``, computed stably."""
    return apply_op(ops.LogSoftmax(axis), x)


def logsumexp(x, axis=None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, max-shifted."""
    return apply_op(ops.LogSumExp(axis, keepdims), x)


def sum(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001 - NumPy's name
    """Sum over ``axis`` (None: all)."""
    return apply_op(ops.Sum(axis, keepdims), x)


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (None: all)."""
    return apply_op(ops.Mean(axis, keepdims), x)


def max(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001 - NumPy's name
    """Maximum over ``axis``; ties share the gradient equally."""
    return apply_op(ops.Max(axis, keepdims), x)


def min(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001 - NumPy's name
    """Minimum over ``axis``; ties share the gradient equally."""
    return apply_op(ops.Min(axis, keepdims), x)


def reshape(x, shape) -> Tensor:
    """``x`` with a new shape."""
    return apply_op(ops.Reshape(shape), x)


def transpose(x, axes=None) -> Tensor:
    """``x`` with permuted axes (reversed when ``axes`` is None)."""
    return apply_op(ops.Transpose(axes), x)


def broadcast_to(x, shape) -> Tensor:
    """``x`` broadcast to ``shape``."""
    return apply_op(ops.BroadcastTo(shape), x)


def concatenate(xs: Sequence, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    return apply_op(ops.Concatenate(axis), *xs)


def stack(xs: Sequence, axis: int = 0) -> Tensor:
    """Join equally shaped tensors along a new axis."""
    return apply_op(ops.Stack(axis), *xs)
