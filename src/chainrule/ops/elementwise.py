"""Elementwise blocks: exp, log, sqrt, abs, and the two-way choices maximum, minimum, where."""

from __future__ import annotations

from operator import gt, lt

import numpy as np

from ..errors import ShapeError
from .arithmetic import _KeepsOperands, summed_to
from .base import Op, Written, shape_of, unbroadcast, zero_of


class _Unary(Op):
    """An elementwise function of one input, offered as a function, a Tensor method and in expressions."""

    arity = 1
    fresh_grads = True
    in_expressions = True
    backward_records = True  # the upstream times a function of the saved input or output


class Exp(_Unary):
    """y = exp(x);  dy/dx = exp(x) = y.  Shapes: x (...) -> y (...)."""

    functions = methods = ("exp",)
    saves = ("out",)

    def forward(self, x):
        out = np.exp(x)
        self.saved = (out,)
        return out

    def backward(self, upstream):
        (out,) = self.saved
        return (upstream * out,)

    def written(self, n, y, x):
        return Written(n.call("exp", x), (y,))


class Log(_Unary):
    """y = log(x);  dy/dx = 1/x.  Shapes: x (...) -> y (...)."""

    functions = methods = ("log",)
    saves = ("x",)

    def forward(self, x):
        self.saved = (x,)
        return np.log(x)

    def backward(self, upstream):
        (x,) = self.saved
        return (upstream / x,)

    def written(self, n, y, x):
        return Written(n.call("log", x), (n.div(n.one, x),))


class Sqrt(_Unary):
    """y = sqrt(x);  dy/dx = 1 / (2 sqrt(x)) = 1 / (2y).  Shapes: x (...) -> y (...)."""

    functions = methods = ("sqrt",)
    symbol = "√"
    saves = ("out",)

    def forward(self, x):
        out = np.sqrt(x)
        self.saved = (out,)
        return out

    def backward(self, upstream):
        (out,) = self.saved
        return (upstream / (2 * out),)

    def written(self, n, y, x):
        return Written(n.sqrt(x), (n.div(n.one, n.mul(n.num(2), y)),))


class Abs(_Unary):
    """y = |x|;  dy/dx = sign(x) (0 at x = 0, as in PyTorch).  Shapes: x (...) -> y (...)."""

    functions = methods = ("abs",)
    operator = "abs"
    saves = ("x",)

    def forward(self, x):
        self.saved = (x,)
        return np.abs(x)

    def backward(self, upstream):
        (x,) = self.saved
        # sign(x) from comparisons, which are constants also for a Tensor x; 0 at NaN, as PyTorch's sgn
        sign = (x > 0).astype(upstream.dtype) - (x < 0)
        return (upstream * sign,)

    def written(self, n, y, x):
        return Written(n.call("abs", x), (n.call("sign", x),))


class _Choose(_KeepsOperands):
    """Shared backward of maximum and minimum: the gradient goes to the chosen operand; on a
    tie each gets half."""

    in_expressions = True
    backward_records = True

    def backward(self, upstream):
        need, (a, b) = self.needs_input_grad, self.saved
        # 1 unless the operand loses (0) or ties (1/2): a NaN on either side passes the gradient to both,
        # as in PyTorch
        # (comparisons give arrays also for Tensor operands: the backward records as it is)
        tie = 0.5 * (a == b)
        dtype = upstream.dtype
        return (
            summed_to(upstream * (1 - self._pick(b, a) - tie).astype(dtype, copy=False), a) if need[0] else None,
            summed_to(upstream * (1 - self._pick(a, b) - tie).astype(dtype, copy=False), b) if need[1] else None,
        )

    def written(self, n, y, a, b):
        rel = ">" if self._pick is gt else "<"
        return Written(n.call(self.functions[0], a, b), (n.indicator(a, rel, b), n.indicator(b, rel, a)))


class Maximum(_Choose):
    """y = max(a, b) elementwise;  dy/da = [a > b] (1/2 on ties), dy/db = [b > a] (1/2 on ties).

    Shapes: a, b broadcastable -> y (broadcast).
    """

    functions = ("maximum",)
    _combine = staticmethod(np.maximum)
    _pick = staticmethod(gt)


class Minimum(_Choose):
    """y = min(a, b) elementwise;  dy/da = [a < b] (1/2 on ties), dy/db = [b < a] (1/2 on ties).

    Shapes: a, b broadcastable -> y (broadcast).
    """

    functions = ("minimum",)
    _combine = staticmethod(np.minimum)
    _pick = staticmethod(lt)


class Where(Op):
    """y = a where cond else b;  dy/da = [cond], dy/db = [not cond], cond gets no gradient.

    Shapes: cond (bool), a, b broadcastable -> y (broadcast).
    """

    arity = 3
    fresh_grads = True
    functions = ("where",)
    saves = ("cond", "a_shape", "b_shape")

    def forward(self, cond, a, b):
        cond = np.asarray(cond, dtype=bool)
        try:
            out = np.where(cond, a, b)
        except ValueError:
            raise ShapeError(
                f"where: cannot broadcast shapes {cond.shape}, {shape_of(a)} and {shape_of(b)}"
            ) from None
        self.saved = (cond, shape_of(a), shape_of(b))
        return out

    def backward(self, upstream):
        need, (cond, a_shape, b_shape) = self.needs_input_grad, self.saved
        zero = np.zeros((), dtype=upstream.dtype)
        return (
            None,
            unbroadcast(np.where(cond, upstream, zero), a_shape) if need[1] else None,
            unbroadcast(np.where(cond, zero, upstream), b_shape) if need[2] else None,
        )

    def recorded_backward(self, upstream):
        need, (cond, a_shape, b_shape) = self.needs_input_grad, self.saved
        zero = zero_of(upstream.dtype)
        return (
            None,
            unbroadcast(Where.apply(cond, upstream, zero), a_shape) if need[1] else None,
            unbroadcast(Where.apply(cond, zero, upstream), b_shape) if need[2] else None,
        )

    def written(self, n, y, cond, a, b):
        return Written(n.call("where", cond, a, b), (None, n.indicator(cond, "≠", "0"), n.indicator(cond, "=", "0")))
