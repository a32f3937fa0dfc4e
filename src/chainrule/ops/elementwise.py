"""Elementwise blocks: exp, log, sqrt, abs, and the two-way choices maximum, minimum, where."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .arithmetic import broadcast_error
from .base import Op, shape_of, unbroadcast


class Exp(Op):
    """y = exp(x);  dy/dx = exp(x) = y.  Shapes: x (...) -> y (...)."""

    arity = 1

    def forward(self, x):
        self.out = np.exp(x)
        return self.out

    def backward(self, upstream):
        return (upstream * self.out,)


class Log(Op):
    """y = log(x);  dy/dx = 1/x.  Shapes: x (...) -> y (...)."""

    arity = 1

    def forward(self, x):
        self.x = x
        return np.log(x)

    def backward(self, upstream):
        return (upstream / self.x,)


class Sqrt(Op):
    """y = sqrt(x);  dy/dx = 1 / (2 sqrt(x)) = 1 / (2y).  Shapes: x (...) -> y (...)."""

    arity = 1

    def forward(self, x):
        self.out = np.sqrt(x)
        return self.out

    def backward(self, upstream):
        return (upstream / (2 * self.out),)


class Abs(Op):
    """y = |x|;  dy/dx = sign(x) (0 at x = 0, as in PyTorch).  Shapes: x (...) -> y (...)."""

    arity = 1

    def forward(self, x):
        self.x = x
        return np.abs(x)

    def backward(self, upstream):
        return (upstream * np.sign(self.x),)


class _Choose(Op):
    """Shared backward of maximum/minimum: the gradient goes to the chosen operand."""

    arity = 2
    _pick = staticmethod(np.greater)

    def forward(self, a, b):
        try:
            out = self._combine(a, b)
        except ValueError:
            raise broadcast_error(self, a, b) from None
        self.a, self.b = a, b
        return out

    def backward(self, upstream):
        need, a, b = self.needs_input_grad, self.a, self.b
        # Where a wins the weight is 1, where b wins 0, and on a tie both get 1/2.
        weight_a = self._pick(a, b) + 0.5 * (a == b)
        weight_a = weight_a.astype(upstream.dtype, copy=False)
        return (
            unbroadcast(upstream * weight_a, shape_of(a)) if need[0] else None,
            unbroadcast(upstream * (1 - weight_a), shape_of(b)) if need[1] else None,
        )


class Maximum(_Choose):
    """y = max(a, b) elementwise;  dy/da = [a > b] (1/2 on ties), dy/db = [b > a] (1/2 on ties).

    Shapes: a, b broadcastable -> y (broadcast).
    """

    _combine = staticmethod(np.maximum)
    _pick = staticmethod(np.greater)


class Minimum(_Choose):
    """y = min(a, b) elementwise;  dy/da = [a < b] (1/2 on ties), dy/db = [b < a] (1/2 on ties).

    Shapes: a, b broadcastable -> y (broadcast).
    """

    _combine = staticmethod(np.minimum)
    _pick = staticmethod(np.less)


class Where(Op):
    """y = a where cond else b;  dy/da = [cond], dy/db = [not cond], cond gets no gradient.

    Shapes: cond (bool), a, b broadcastable -> y (broadcast).
    """

    arity = 3

    def forward(self, cond, a, b):
        cond = np.asarray(cond, dtype=bool)
        try:
            out = np.where(cond, a, b)
        except ValueError:
            raise ShapeError(
                f"where: cannot broadcast shapes {cond.shape}, {shape_of(a)} and {shape_of(b)}"
            ) from None
        self.cond, self.a_shape, self.b_shape = cond, shape_of(a), shape_of(b)
        return out

    def backward(self, upstream):
        need, cond = self.needs_input_grad, self.cond
        zero = np.zeros((), dtype=upstream.dtype)
        return (
            None,
            unbroadcast(np.where(cond, upstream, zero), self.a_shape) if need[1] else None,
            unbroadcast(np.where(cond, zero, upstream), self.b_shape) if need[2] else None,
        )
