"""Shape blocks: they move values around without changing them, so their
backward moves the gradient back to where each value came from."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .base import Op, broadcast_view, shape_of, unbroadcast


class Reshape(Op):
    """y = x viewed with a new shape;  dy/dx = 1 (the gradient is reshaped back).

    Shapes: x (...) -> y ``shape`` (same number of elements; one -1 allowed).
    """

    arity = 1

    def __init__(self, shape):
        self.shape = tuple(shape) if np.iterable(shape) else (shape,)

    def params(self):
        return {"shape": self.shape}

    def forward(self, x):
        self.in_shape = shape_of(x)
        try:
            return np.reshape(x, self.shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape {self.in_shape} into {self.shape}") from None

    def backward(self, upstream):
        return (upstream.reshape(self.in_shape),)


class Transpose(Op):
    """y = x with its axes permuted;  dy/dx = 1 (the gradient is permuted back).

    Shapes: x (d0, ..., dn) -> y (d[axes[0]], ..., d[axes[n]]); ``axes=None`` reverses.
    """

    arity = 1

    def __init__(self, axes=None):
        self.axes = None if axes is None else tuple(axes)

    def params(self):
        return {"axes": self.axes}

    def forward(self, x):
        try:
            return np.transpose(x, self.axes)
        except ValueError:
            raise ShapeError(f"transpose: axes {self.axes} do not fit an input of shape {shape_of(x)}") from None

    def backward(self, upstream):
        # Negative axes count from the end: normalise them before inverting the permutation.
        inverse = None if self.axes is None else tuple(np.argsort([a % upstream.ndim for a in self.axes]))
        return (upstream.transpose(inverse),)


def _is_basic(index) -> bool:
    """True when ``index`` has only ints, slices, None and Ellipsis (no repeats possible)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts
    )


class GetItem(Op):
    """y = x[index];  dy/dx = 1 at each selected position, summed where it is selected twice.

    Shapes: x (...) -> y (NumPy's indexing result). ``index`` may hold ints,
    slices, None, Ellipsis, integer arrays (repeats accumulate) and boolean masks.
    """

    arity = 1

    def __init__(self, index):
        self.index = index

    def params(self):
        return {"index": self.index}

    def forward(self, x):
        self.in_shape, self.dtype = shape_of(x), np.result_type(x)
        try:
            return np.asarray(x)[self.index]
        except IndexError as exc:
            raise ShapeError(f"getitem: index {self.index!r} does not fit shape {self.in_shape}: {exc}") from None

    def backward(self, upstream):
        grad = np.zeros(self.in_shape, dtype=upstream.dtype)
        if _is_basic(self.index):
            grad[self.index] = upstream
        else:
            np.add.at(grad, self.index, upstream)
        return (grad,)


class BroadcastTo(Op):
    """y = x broadcast to ``shape``;  dy/dx = 1 per copy, so the gradient is summed back.

    Shapes: x (...) -> y ``shape``.
    """

    arity = 1

    def __init__(self, shape):
        self.shape = tuple(shape) if np.iterable(shape) else (shape,)

    def params(self):
        return {"shape": self.shape}

    def forward(self, x):
        self.in_shape = shape_of(x)
        try:
            return broadcast_view(np.asarray(x), self.shape)
        except ValueError:
            raise ShapeError(f"broadcast_to: cannot broadcast {self.in_shape} to {self.shape}") from None

    def backward(self, upstream):
        return (unbroadcast(upstream, self.in_shape),)


class Concatenate(Op):
    """y = [x1, x2, ...] joined along ``axis``;  dy/dxk = 1 on xk's slice of y.

    Shapes: xk (..., nk, ...) -> y (..., sum nk, ...); any number of inputs.
    """

    def __init__(self, axis: int = 0):
        self.axis = axis

    def params(self):
        return {"axis": self.axis}

    def forward(self, *xs):
        try:
            out = np.concatenate(xs, axis=self.axis)
        except ValueError as exc:
            shapes = ", ".join(str(shape_of(x)) for x in xs)
            raise ShapeError(f"concatenate: cannot join shapes {shapes} along axis {self.axis}: {exc}") from None
        axis = self.axis % out.ndim
        self.splits = np.cumsum([np.shape(x)[axis] for x in xs])[:-1]
        return out

    def backward(self, upstream):
        return tuple(np.split(upstream, self.splits, axis=self.axis))


class Stack(Op):
    """y = [x1, x2, ...] stacked on a new ``axis``;  dy/dxk = 1 on xk's slice of y.

    Shapes: xk (...) all equal -> y with a new axis of length k.
    """

    def __init__(self, axis: int = 0):
        self.axis = axis

    def params(self):
        return {"axis": self.axis}

    def forward(self, *xs):
        try:
            out = np.stack(xs, axis=self.axis)
        except ValueError as exc:
            shapes = ", ".join(str(shape_of(x)) for x in xs)
            raise ShapeError(f"stack: cannot stack shapes {shapes}: {exc}") from None
        self.count = len(xs)
        return out

    def backward(self, upstream):
        return tuple(np.moveaxis(upstream, self.axis, 0)[: self.count])
