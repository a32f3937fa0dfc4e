"""Arithmetic blocks: the lecture's +, -, x, the square, and their relatives.

Every binary op broadcasts like NumPy; its backward sums the gradient back to
each operand's shape with :func:`unbroadcast`. Operands may be arrays or Python
scalars (a scalar never needs a gradient).
"""

from __future__ import annotations

import numpy as np
from numpy import ndarray  # a global: cheaper to read than np.ndarray (see chainrule.ops.base)

from ..errors import ShapeError
from .base import Op, shape_of, unbroadcast


def broadcast_error(op: Op, a, b) -> ShapeError:
    """The error for operands that do not broadcast, naming the op and both shapes."""
    return ShapeError(
        f"{op.name}: cannot broadcast shapes {shape_of(a)} and {shape_of(b)}"
    )


class Identity(Op):
    """y = x;  dy/dx = 1.  Shapes: x (...) -> y (...). The lecture's implicit activation."""

    arity = 1

    def forward(self, x):
        return x

    def backward(self, upstream):
        return (upstream,)


class Add(Op):
    """y = a + b;  dy/da = 1, dy/db = 1.  Shapes: a, b broadcastable -> y (broadcast)."""

    arity = 2

    def forward(self, a, b):
        try:
            out = a + b
        except ValueError:
            raise broadcast_error(self, a, b) from None
        need = self.needs_input_grad  # keep only the shapes backward will sum back to
        self.a_shape = (a.shape if type(a) is ndarray else shape_of(a)) if need[0] else None
        self.b_shape = (b.shape if type(b) is ndarray else shape_of(b)) if need[1] else None
        return out

    def backward(self, upstream):
        # unbroadcast(upstream, shape) written out for the usual case, an input that was not
        # broadcast: on small arrays the call costs as much as the rest
        need, shape = self.needs_input_grad, upstream.shape
        a_shape, b_shape = self.a_shape, self.b_shape
        return (
            (upstream if shape == a_shape else unbroadcast(upstream, a_shape)) if need[0] else None,
            (upstream if shape == b_shape else unbroadcast(upstream, b_shape)) if need[1] else None,
        )


class Sub(Op):
    """y = a - b;  dy/da = 1, dy/db = -1.  Shapes: a, b broadcastable -> y (broadcast)."""

    arity = 2

    def forward(self, a, b):
        try:
            out = a - b
        except ValueError:
            raise broadcast_error(self, a, b) from None
        need = self.needs_input_grad  # keep only the shapes backward will sum back to
        self.a_shape = (a.shape if type(a) is ndarray else shape_of(a)) if need[0] else None
        self.b_shape = (b.shape if type(b) is ndarray else shape_of(b)) if need[1] else None
        return out

    def backward(self, upstream):
        need, shape = self.needs_input_grad, upstream.shape  # as Add.backward
        a_shape, b_shape = self.a_shape, self.b_shape
        return (
            (upstream if shape == a_shape else unbroadcast(upstream, a_shape)) if need[0] else None,
            (-upstream if shape == b_shape else unbroadcast(-upstream, b_shape)) if need[1] else None,
        )


class Mul(Op):
    """y = a * b;  dy/da = b, dy/db = a.  Shapes: a, b broadcastable -> y (broadcast)."""

    arity = 2

    def forward(self, a, b):
        try:
            out = a * b
        except ValueError:
            raise broadcast_error(self, a, b) from None
        self.a, self.b = a, b
        return out

    def backward(self, upstream):
        need, a, b = self.needs_input_grad, self.a, self.b
        shape = upstream.shape  # as Add.backward: no unbroadcast call for an input that was not broadcast
        da = db = None
        if need[0]:
            da = upstream * b
            a_shape = a.shape if type(a) is ndarray else shape_of(a)
            if a_shape != shape:
                da = unbroadcast(da, a_shape)
        if need[1]:
            db = upstream * a
            b_shape = b.shape if type(b) is ndarray else shape_of(b)
            if b_shape != shape:
                db = unbroadcast(db, b_shape)
        return da, db


class Div(Op):
    """y = a / b;  dy/da = 1/b, dy/db = -a/b**2.  Shapes: a, b broadcastable -> y."""

    arity = 2

    def forward(self, a, b):
        try:
            out = a / b
        except ValueError:
            raise broadcast_error(self, a, b) from None
        self.a, self.b = a, b
        return out

    def backward(self, upstream):
        need, a, b = self.needs_input_grad, self.a, self.b
        da = upstream / b
        return (
            unbroadcast(da, shape_of(a)) if need[0] else None,
            unbroadcast(-da * a / b, shape_of(b)) if need[1] else None,
        )


class Neg(Op):
    """y = -x;  dy/dx = -1.  Shapes: x (...) -> y (...)."""

    arity = 1

    def forward(self, x):
        return -x

    def backward(self, upstream):
        return (-upstream,)


class Pow(Op):
    """y = x ** p for a constant p;  dy/dx = p * x**(p-1).  Shapes: x (...) -> y (...)."""

    arity = 1

    def __init__(self, exponent: float):
        if not np.isscalar(exponent):
            raise TypeError(
                f"pow: the exponent must be a constant number, got {type(exponent).__name__}"
            )
        # A NumPy scalar would promote float32 data; a Python number keeps the dtype.
        self.exponent = exponent.item() if isinstance(exponent, np.generic) else exponent

    def params(self):
        return {"exponent": self.exponent}

    def forward(self, x):
        self.x = x
        return x**self.exponent

    def backward(self, upstream):
        p = self.exponent
        if p == 0:  # x**0 = 1 everywhere: the gradient is 0, also at x = 0 (not 0 * x**-1 = nan)
            return (np.zeros_like(upstream),)
        return (upstream * p * self.x ** (p - 1),)


class Square(Op):
    """y = x**2;  dy/dx = 2x.  Shapes: x (...) -> y (...). The lecture's nonlinearity."""

    arity = 1

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, upstream):
        return (upstream * 2 * self.x,)
