"""Shape blocks: they move values around without changing them, so their
backward moves the gradient back to where each value came from."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .base import Chain, Op, Written, broadcast_view, shape_of, unbroadcast


def _dims(first, more: tuple) -> tuple | None:
    """A shape or axes given NumPy's two ways: one sequence (or None), or several ints."""
    if more:
        return (first, *more)
    if first is None:
        return None
    return tuple(first) if np.iterable(first) else (first,)


class Reshape(Op):
    """y = x viewed with a new shape;  dy/dx = 1 (the gradient is reshaped back).

    Shapes: x (...) -> y ``shape`` (same number of elements; one -1 allowed). The shape
    is given as one sequence, ``Reshape((2, 3))``, or as ints, ``Reshape(2, 3)``.
    """

    arity = 1
    functions = methods = ("reshape",)
    in_expressions = True
    saves = ("in_shape",)
    backward_records = True

    def __init__(self, shape, *more):
        self.shape = _dims(shape, more)

    def params(self):
        return {"shape": self.shape}

    def forward(self, x):
        in_shape = shape_of(x)
        self.saved = (in_shape,)
        try:
            return np.reshape(x, self.shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape {in_shape} into {self.shape}") from None

    def backward(self, upstream):
        (in_shape,) = self.saved
        return (upstream.reshape(in_shape),)


class Transpose(Op):
    """y = x with its axes permuted;  dy/dx = 1 (the gradient is permuted back).

    Shapes: x (d0, ..., dn) -> y (d[axes[0]], ..., d[axes[n]]); no axes reverses them.
    The axes are given as one sequence, ``Transpose((1, 0))``, or as ints, ``Transpose(1, 0)``.
    """

    arity = 1
    functions = methods = ("transpose",)
    in_expressions = True
    symbol = "ᵀ"
    backward_records = True

    def __init__(self, axes=None, *more):
        self.axes = _dims(axes, more)

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

    def written(self, n, y, x):
        return Written(n.T(x), (Chain(None, n.T),))


def _plain_index(index):
    """An index as NumPy takes it: lists and array-likes (a Tensor among them) become arrays."""
    if isinstance(index, tuple):
        return tuple(_plain_index(part) for part in index)
    if index is None or index is Ellipsis or isinstance(index, (slice, int, np.integer, np.ndarray)):
        return index
    return np.asarray(index)


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
    fresh_grads = True
    operator = "getitem"
    saves = ("in_shape",)

    def __init__(self, index):
        self.index = _plain_index(index)

    def params(self):
        return {"index": self.index}

    def forward(self, x):
        in_shape = shape_of(x)
        self.saved = (in_shape,)
        try:
            return np.asarray(x)[self.index]
        except IndexError as exc:
            raise ShapeError(f"getitem: index {self.index!r} does not fit shape {in_shape}: {exc}") from None

    def backward(self, upstream):
        (in_shape,) = self.saved
        return (_scatter_add(upstream, self.index, in_shape),)

    def recorded_backward(self, upstream):
        (in_shape,) = self.saved
        return (ScatterAdd.apply(upstream, index=self.index, shape=in_shape),)


def _scatter_add(values: np.ndarray, index, shape: tuple[int, ...]) -> np.ndarray:
    """Zeros of ``shape`` with ``values`` added at ``index`` (repeated positions summed)."""
    out = np.zeros(shape, dtype=values.dtype)
    if _is_basic(index):
        out[index] = values
    else:
        np.add.at(out, index, values)
    return out


class ScatterAdd(Op):
    """y = zeros(shape) with x added at ``index`` (repeats summed);  dy/dx = 1 at each position.

    The backward of :class:`GetItem`, as an op of its own so that its backward (``upstream[index]``)
    is recorded too: the two are each other's derivative. Shapes: x (the shape of
    ``zeros(shape)[index]``) -> y ``shape``.
    """

    arity = 1  # not fresh_grads: upstream[index] is a view of the upstream for a basic index

    def __init__(self, index, shape):
        self.index, self.shape = _plain_index(index), _dims(shape, ())

    def params(self):
        return {"index": self.index, "shape": self.shape}

    def forward(self, x):
        return _scatter_add(np.asarray(x), self.index, self.shape)

    def backward(self, upstream):
        return (upstream[self.index],)

    def recorded_backward(self, upstream):
        return (GetItem.apply(upstream, index=self.index),)


class BroadcastTo(Op):
    """y = x broadcast to ``shape``;  dy/dx = 1 per copy, so the gradient is summed back.

    Shapes: x (...) -> y ``shape``.
    """

    arity = 1
    functions = methods = ("broadcast_to",)
    saves = ("in_shape",)
    backward_records = True

    def __init__(self, shape):
        self.shape = _dims(shape, ())

    def params(self):
        return {"shape": self.shape}

    def forward(self, x):
        in_shape = shape_of(x)
        self.saved = (in_shape,)
        try:
            return broadcast_view(np.asarray(x), self.shape)
        except ValueError:
            raise ShapeError(f"broadcast_to: cannot broadcast {in_shape} to {self.shape}") from None

    def backward(self, upstream):
        (in_shape,) = self.saved
        return (unbroadcast(upstream, in_shape),)


class _Join(Op):
    """Shared parameters and errors of concatenate and stack, which join any number of inputs."""

    def __init__(self, axis: int = 0):
        self.axis = axis

    def params(self):
        return {"axis": self.axis}

    def _join(self, xs, verb: str, where: str = ""):
        try:
            return self._combine(xs, axis=self.axis)
        except ValueError as exc:
            shapes = ", ".join(str(shape_of(x)) for x in xs)
            raise ShapeError(f"{self.name}: cannot {verb} shapes {shapes}{where}: {exc}") from None


class Concatenate(_Join):
    """y = [x1, x2, ...] joined along ``axis``;  dy/dxk = 1 on xk's slice of y.

    Shapes: xk (..., nk, ...) -> y (..., sum nk, ...); any number of inputs.
    """

    functions = ("concatenate",)
    saves = ("bounds",)
    backward_records = True  # slices of the upstream
    _combine = staticmethod(np.concatenate)

    def forward(self, *xs):
        out = self._join(xs, "join", f" along axis {self.axis}")
        axis = self.axis % out.ndim
        self.saved = ([0, *np.cumsum([np.shape(x)[axis] for x in xs]).tolist()],)
        return out

    def backward(self, upstream):
        (bounds,) = self.saved
        before = (slice(None),) * (self.axis % upstream.ndim)
        return tuple(upstream[before + (slice(lo, hi),)] for lo, hi in zip(bounds, bounds[1:]))


class Stack(_Join):
    """y = [x1, x2, ...] stacked on a new ``axis``;  dy/dxk = 1 on xk's slice of y.

    Shapes: xk (...) all equal -> y with a new axis of length k.
    """

    functions = ("stack",)
    saves = ("count",)
    backward_records = True  # slices of the upstream
    _combine = staticmethod(np.stack)

    def forward(self, *xs):
        out = self._join(xs, "stack")
        self.saved = (len(xs),)
        return out

    def backward(self, upstream):
        (count,) = self.saved
        before = (slice(None),) * (self.axis % upstream.ndim)
        return tuple(upstream[before + (i,)] for i in range(count))
