"""Arithmetic blocks: the lecture's +, -, x, the square, and their relatives.

Every binary op broadcasts like NumPy; its backward sums the gradient back to
each operand's shape with :func:`unbroadcast`. Operands may be arrays or Python
scalars (a scalar never needs a gradient).
"""

from __future__ import annotations

import math
from operator import add, mul, sub, truediv

import numpy as np

from ..backend import constant, xp_of
from ..errors import ShapeError
from .base import Op, Written, shape_of, unbroadcast


def summed_to(grad: np.ndarray, x) -> np.ndarray:
    """``grad`` summed back to the shape of the operand ``x`` (see :func:`unbroadcast`)."""
    shape = x.shape if type(x) is np.ndarray else shape_of(x)
    return grad if grad.shape == shape else unbroadcast(grad, shape)


def broadcast_error(op: Op, a, b) -> ShapeError:
    """The error for operands that do not broadcast, naming the op and both shapes."""
    return ShapeError(
        f"{op.name}: cannot broadcast shapes {shape_of(a)} and {shape_of(b)}"
    )


class Identity(Op):
    """y = x;  dy/dx = 1.  Shapes: x (...) -> y (...). The lecture's implicit activation."""

    arity = 1
    functions = ("identity",)
    in_expressions = True
    symbol = "id"
    backward_records = True
    array_api = True

    def forward(self, x):
        return x

    def backward(self, upstream):
        return (upstream,)

    def written(self, n, y, x):
        return Written(x, (n.one,))


class _AddOrSub(Op):
    """Shared forward and backward of + and −: the local derivatives are 1 and ±1, so only the
    operands' shapes are kept, to sum the gradient back to where an operand was broadcast."""

    arity = 2
    saves = ("a_shape", "b_shape")
    backward_records = True  # the upstream, negated and summed back: Tensors do that as arrays do
    array_api = True  # operators only

    def forward(self, a, b):
        try:
            out = self._combine(a, b)
        except ValueError:
            raise broadcast_error(self, a, b) from None
        need = self.needs_input_grad
        self.saved = (shape_of(a) if need[0] else None, shape_of(b) if need[1] else None)
        return out

    def backward(self, upstream):
        need = self.needs_input_grad
        a_shape, b_shape = self.saved
        shape, da, db = upstream.shape, None, None
        # summed back only where an operand was broadcast (on small arrays the call costs as much as the rest)
        if need[0]:
            da = upstream if shape == a_shape else unbroadcast(upstream, a_shape)
        if need[1]:
            db = -upstream if self._subtracts else upstream
            if shape != b_shape:
                db = unbroadcast(db, b_shape)
        return da, db


class Add(_AddOrSub):
    """y = a + b;  dy/da = 1, dy/db = 1.  Shapes: a, b broadcastable -> y (broadcast)."""

    functions = ("add",)
    operator = "add"
    symbol = "+"
    _combine = staticmethod(add)
    _subtracts = False

    def written(self, n, y, a, b):
        return Written(n.add(a, b), (n.one, n.one))


class Sub(_AddOrSub):
    """y = a - b;  dy/da = 1, dy/db = -1.  Shapes: a, b broadcastable -> y (broadcast)."""

    functions = ("sub", "subtract")
    operator = "sub"
    symbol = "−"
    _combine = staticmethod(sub)
    _subtracts = True

    def written(self, n, y, a, b):
        return Written(n.sub(a, b), (n.one, n.num(-1)))


class _KeepsOperands(Op):
    """Shared forward of the two-input ops whose backward needs both operands (×, ÷, maximum,
    minimum): the result of ``_combine(a, b)``, saving ``a`` and ``b``."""

    arity = 2
    fresh_grads = True
    saves = ("a", "b")
    backward_records = True  # products and quotients of the upstream and the operands

    def forward(self, a, b):
        try:
            out = self._combine(a, b)
        except ValueError:
            raise broadcast_error(self, a, b) from None
        self.saved = (a, b)
        return out


class Mul(_KeepsOperands):
    """y = a * b;  dy/da = b, dy/db = a.  Shapes: a, b broadcastable -> y (broadcast)."""

    functions = ("mul", "multiply")
    operator = "mul"
    symbol = "×"
    _combine = staticmethod(mul)
    array_api = True

    def backward(self, upstream):
        need, (a, b) = self.needs_input_grad, self.saved
        return (
            summed_to(upstream * b, a) if need[0] else None,
            summed_to(upstream * a, b) if need[1] else None,
        )

    def written(self, n, y, a, b):
        return Written(n.mul(a, b), (b, a))


class Div(_KeepsOperands):
    """y = a / b;  dy/da = 1/b, dy/db = -a/b**2.  Shapes: a, b broadcastable -> y."""

    functions = ("div", "divide")
    operator = "truediv"
    symbol = "÷"
    _combine = staticmethod(truediv)
    array_api = True

    def backward(self, upstream):
        need, (a, b) = self.needs_input_grad, self.saved
        # -a/b² as (a/b)/b, as PyTorch: (upstream/b)·a would turn a = 0 into inf·0 = NaN where 1/b overflows
        return (
            summed_to(upstream / b, a) if need[0] else None,
            summed_to(upstream * (-(a / b) / b), b) if need[1] else None,
        )

    def written(self, n, y, a, b):
        return Written(n.div(a, b), (n.div(n.one, b), n.neg(n.div(a, n.pow(b, 2)))))


class Neg(Op):
    """y = -x;  dy/dx = -1.  Shapes: x (...) -> y (...)."""

    arity = 1
    fresh_grads = True
    functions = ("neg", "negative")
    operator = "neg"
    symbol = "−"
    backward_records = True
    array_api = True

    def forward(self, x):
        return -x

    def backward(self, upstream):
        return (-upstream,)

    def written(self, n, y, x):
        return Written(n.neg(x), (n.num(-1),))


def _power(x, p):
    """``x ** p`` for a constant ``p``, also where NumPy's own power gets the sign wrong.

    NumPy first rounds ``p`` to ``x``'s dtype: in float32 an odd integer beyond 2**24 (99999999999)
    becomes even, so ``(-1) ** p`` would come out +1. For such ``p`` the sign of a negative base is
    put back by hand; an integer ``p`` beyond every float acts as ±inf (``|x| ** p`` is 0, 1 or inf).
    """
    if -16777216 <= p <= 16777216:  # exact in float32 and float64 (also NaN and inf go on below)
        return x**p
    odd = p % 2 == 1
    if abs(p) >= 2.0**1023:
        p = math.inf if p > 0 else -math.inf
    if not odd:
        return x**p
    xp = xp_of(x)
    magnitude = xp.abs(x) ** p
    return xp.where(xp.signbit(x), -magnitude, magnitude)


class Pow(Op):
    """y = x ** p for a constant p;  dy/dx = p * x**(p-1).  Shapes: x (...) -> y (...)."""

    arity = 1
    fresh_grads = True
    functions = ("power", "pow")
    in_expressions = True
    array_api = True

    def __init__(self, exponent: float):
        if not np.isscalar(exponent):
            raise TypeError(
                f"pow: the exponent must be a constant number, got {type(exponent).__name__}"
            )
        # A NumPy scalar would promote float32 data; a Python number keeps the dtype.
        self.exponent = exponent.item() if isinstance(exponent, np.generic) else exponent

    def params(self):
        return {"exponent": self.exponent}

    saves = ("x",)

    def forward(self, x):
        self.saved = (x,)
        return _power(x, self.exponent)

    def backward(self, upstream):
        p = self.exponent
        if p == 0:  # x**0 = 1 everywhere: the gradient is 0, also at x = 0 (not 0 * x**-1 = nan)
            return (xp_of(upstream).zeros_like(upstream),)
        (x,) = self.saved
        scale = p if abs(p) < 2.0**1023 else math.inf if p > 0 else -math.inf  # an int NumPy can take as a float
        return (upstream * scale * _power(x, p - 1),)

    def recorded_backward(self, upstream):
        p = self.exponent
        if p == 0:
            return (constant(upstream, 0, tuple(upstream.shape)),)  # a constant: no derivative to record
        (x,) = self.saved
        scale = p if abs(p) < 2.0**1023 else math.inf if p > 0 else -math.inf
        return (upstream * scale * x ** (p - 1),)  # x ** (p - 1) is a recorded Pow (or Square)

    def written(self, n, y, x):
        p = self.exponent
        local = n.mul(n.num(p), x) if p - 1 == 1 else n.mul(n.num(p), n.pow(x, p - 1))
        return Written(n.pow(x, p), (local,), n.pow("x", p))


def _log(a):
    """log of a saved base: a Tensor's recorded log, or NumPy's of a constant (a Python number)."""
    return a.log() if hasattr(a, "log") else np.log(a)


class Power(Op):
    """y = a ** b, both operands arrays;  dy/da = b a**(b-1) (0 where b = 0), dy/db = a**b log a (0 where
    a = 0 and b >= 0).

    Shapes: a, b broadcastable -> y (broadcast). NumPy's ``power`` gives the values, so a negative
    base with an integer exponent is exact ((-2) ** 2 = 4) and ``0 ** 0 = 1``; the gradients follow
    PyTorch's at the edges: at b = 0 the base gets 0 (not 0 · a**-1), and a zero base gets 0 for
    b >= 0 (where log 0 = -inf would make 0 · -inf = NaN). ``t ** u`` and ``2 ** t`` come here; a
    constant exponent goes to :class:`Pow`.
    """

    arity = 2
    fresh_grads = True
    symbol = "^"
    saves = ("a", "b", "out")
    array_api = True

    def forward(self, a, b):
        xp = xp_of(a, b)
        try:
            out = np.power(a, b) if xp is np else xp.pow(a, b)
        except ValueError:
            raise broadcast_error(self, a, b) from None
        self.saved = (a, b, out)
        return out

    def backward(self, upstream):
        need, (a, b, out) = self.needs_input_grad, self.saved
        xp = xp_of(upstream)
        if xp is not np:  # the same edges, in the standard's functions
            a_, b_ = xp.asarray(a, dtype=upstream.dtype), xp.asarray(b, dtype=upstream.dtype)
            zero = xp.zeros((), dtype=upstream.dtype)
            da = summed_to(upstream * xp.where(b_ == 0, zero, b_ * xp.pow(a_, b_ - 1)), a) if need[0] else None
            db = (summed_to(upstream * xp.where((a_ == 0) & (b_ >= 0), zero, out * xp.log(a_)), b)
                  if need[1] else None)
            return da, db
        with np.errstate(divide="ignore", invalid="ignore"):
            da = summed_to(upstream * np.where(b == 0, 0, b * np.power(a, b - 1)), a) if need[0] else None
            db = summed_to(upstream * np.where((a == 0) & (b >= 0), 0, out * np.log(a)), b) if need[1] else None
        return da, db

    def recorded_backward(self, upstream):
        from .elementwise import Where

        need, (a, b, out) = self.needs_input_grad, self.saved
        zero = constant(upstream, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            da = summed_to(upstream * Where.apply(b == 0, zero, b * a ** (b - 1)), a) if need[0] else None
            db = (summed_to(upstream * Where.apply((a == 0) & (b >= 0), zero, out * _log(a)), b)
                  if need[1] else None)
        return da, db

    def written(self, n, y, a, b):
        return Written(n.call("pow", a, b), (n.mul(b, n.call("pow", a, n.sub(b, n.one))), n.mul(y, n.call("log", a))))


class Square(Op):
    """y = x**2;  dy/dx = 2x.  Shapes: x (...) -> y (...). The lecture's nonlinearity."""

    arity = 1
    fresh_grads = True
    functions = ("square",)
    methods = ("square",)
    in_expressions = True
    symbol = "x²"
    saves = ("x",)
    backward_records = True
    array_api = True

    def forward(self, x):
        self.saved = (x,)
        return x * x

    def backward(self, upstream):
        (x,) = self.saved
        return (upstream * 2 * x,)

    def written(self, n, y, x):
        return Written(n.pow(x, 2), (n.mul(n.num(2), x),))
