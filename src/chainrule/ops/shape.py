"""Shape blocks: they move values around without changing them, so their
backward moves the gradient back to where each value came from."""

from __future__ import annotations

import numpy as np

from ..backend import (
    constant,
    gather,
    is_foreign,
    namespace_of,
    numpy_dtype,
    reshaped,
    scatter_add,
    to_numpy,
    transposed,
    xp_of,
)
from ..errors import GraphError, ShapeError
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
    array_api = True

    def __init__(self, shape, *more):
        self.shape = _dims(shape, more)

    def params(self):
        return {"shape": self.shape}

    def forward(self, x):
        in_shape = shape_of(x)
        self.saved = (in_shape,)
        try:
            return reshaped(x, self.shape) if is_foreign(x) else np.reshape(x, self.shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape {in_shape} into {self.shape}") from None

    def backward(self, upstream):
        (in_shape,) = self.saved
        return (reshaped(upstream, in_shape),)


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
    array_api = True

    def __init__(self, axes=None, *more):
        self.axes = _dims(axes, more)

    def params(self):
        return {"axes": self.axes}

    def forward(self, x):
        try:
            if is_foreign(x):
                return transposed(x, tuple(reversed(range(x.ndim))) if self.axes is None else
                                  tuple(a % x.ndim for a in self.axes))
            return np.transpose(x, self.axes)
        except (ValueError, IndexError):
            raise ShapeError(f"transpose: axes {self.axes} do not fit an input of shape {shape_of(x)}") from None

    def backward(self, upstream):
        # Negative axes count from the end: normalise them before inverting the permutation.
        n = upstream.ndim
        inverse = tuple(reversed(range(n))) if self.axes is None else \
            tuple(int(i) for i in np.argsort([a % n for a in self.axes]))
        return (transposed(upstream, inverse) if is_foreign(upstream) or self.axes is not None else
                upstream.transpose(None),)

    def written(self, n, y, x):
        return Written(n.T(x), (Chain(None, n.T),))


def _plain_index(index):
    """An index as NumPy takes it: lists and array-likes (a Tensor among them) become arrays."""
    if isinstance(index, tuple):
        return tuple(_plain_index(part) for part in index)
    if index is None or index is Ellipsis or isinstance(index, (slice, int, np.integer, np.ndarray)):
        return index
    data = getattr(index, "data", index)  # a Tensor's array
    if is_foreign(data):  # a mask or indices on another library's arrays (a GPU's): read on the host
        return to_numpy(data)
    return np.asarray(index)


def _flat_positions(shape: tuple[int, ...], index) -> np.ndarray:
    """The flat (row-major) positions in an array of ``shape`` that ``index`` selects, shaped as the
    selection: what NumPy's ``arange(size).reshape(shape)[index]`` gives, in memory of the result's size
    (one broadcast view of each axis's offsets, indexed, and summed)."""
    strides = np.cumprod((1,) + tuple(reversed(shape[1:])), dtype=np.intp)[::-1]
    positions = np.zeros((), dtype=np.intp) if not shape else 0
    for axis, (n, stride) in enumerate(zip(shape, strides)):
        offsets = (np.arange(n, dtype=np.intp) * stride).reshape((n,) + (1,) * (len(shape) - axis - 1))
        positions = positions + np.broadcast_to(offsets, shape)[index]
    return positions if shape else positions[index]


def _completed(index) -> tuple:
    """A basic index with a trailing Ellipsis where it has none: the standard, unlike NumPy, asks an index
    to name every axis."""
    parts = index if isinstance(index, tuple) else (index,)
    return parts if any(p is Ellipsis for p in parts) else parts + (Ellipsis,)


def _gather(x, index):
    """``x[index]`` for another library's array ``x``, any NumPy index: natively for a basic one, else by
    the flat positions it selects (also for a basic index the library refuses, such as a slice past the
    end, which the standard leaves unspecified)."""
    if _is_basic(index):
        try:
            return x[_completed(index)]
        except (IndexError, TypeError, ValueError):
            pass
    return gather(x, _flat_positions(tuple(x.shape), index))


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
    array_api = True  # any NumPy index, on the standard's arrays too (by flat positions where it must)

    def __init__(self, index):
        self.index = _plain_index(index)

    def params(self):
        return {"index": self.index}

    def forward(self, x):
        in_shape = shape_of(x)
        self.saved = (in_shape,)
        try:
            return _gather(x, self.index) if is_foreign(x) else np.asarray(x)[self.index]
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
    if is_foreign(values):
        xp = namespace_of(values)
        if _is_basic(index) and not any(p is None for p in _completed(index)):  # the standard sets no new axis
            out = xp.zeros(shape, dtype=values.dtype, device=values.device)
            try:
                out[_completed(index)] = values
                return out
            except (IndexError, TypeError, ValueError):
                pass  # a basic index the library refuses: by positions, as any other
        positions = _flat_positions(shape, index)
        values = xp.broadcast_to(values, positions.shape)
        return xp.reshape(scatter_add(values, positions, int(np.prod(shape))), shape)
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
    array_api = True

    def __init__(self, index, shape):
        self.index, self.shape = _plain_index(index), _dims(shape, ())

    def params(self):
        return {"index": self.index, "shape": self.shape}

    def forward(self, x):
        return _scatter_add(x if is_foreign(x) else np.asarray(x), self.index, self.shape)

    def backward(self, upstream):
        return (_gather(upstream, self.index) if is_foreign(upstream) else upstream[self.index],)

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
    array_api = True

    def __init__(self, shape):
        self.shape = _dims(shape, ())

    def params(self):
        return {"shape": self.shape}

    def forward(self, x):
        in_shape = shape_of(x)
        self.saved = (in_shape,)
        try:
            if is_foreign(x):
                return namespace_of(x).broadcast_to(x, self.shape)
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

    array_api = True  # the namespace's concat and stack for the standard's arrays

    def _join(self, xs, verb: str, where: str = ""):
        try:
            xp = xp_of(*xs)
            if xp is not np:
                xs = [xp.asarray(x) if is_foreign(x) else xp.asarray(np.asarray(x)) for x in xs]
                return getattr(xp, self._standard)(xs, axis=self.axis)
            return self._combine(xs, axis=self.axis)
        except (ValueError, TypeError) as exc:
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
    _standard = "concat"

    def forward(self, *xs):
        out = self._join(xs, "join", f" along axis {self.axis}")
        axis = self.axis % out.ndim
        self.saved = ([0, *np.cumsum([shape_of(x)[axis] for x in xs]).tolist()],)
        return out

    def backward(self, upstream):
        (bounds,) = self.saved
        before = (slice(None),) * (self.axis % upstream.ndim)
        return tuple(upstream[before + (slice(lo, hi), ...)] for lo, hi in zip(bounds, bounds[1:]))


class Stack(_Join):
    """y = [x1, x2, ...] stacked on a new ``axis``;  dy/dxk = 1 on xk's slice of y.

    Shapes: xk (...) all equal -> y with a new axis of length k.
    """

    functions = ("stack",)
    saves = ("count",)
    backward_records = True  # slices of the upstream
    _combine = staticmethod(np.stack)
    _standard = "stack"

    def forward(self, *xs):
        out = self._join(xs, "stack")
        self.saved = (len(xs),)
        return out

    def backward(self, upstream):
        (count,) = self.saved
        before = (slice(None),) * (self.axis % upstream.ndim)
        return tuple(upstream[before + (i, ...)] for i in range(count))


# -- the shape functions of issue 20: each moves values, so its backward moves the gradient back -----------


def _axis(op: Op, axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{op.name}: axis {axis} does not fit an input of {ndim} dimensions")
    return axis % ndim


class Squeeze(Op):
    """y = x without the axes of size 1 (``axis``, or all of them);  dy/dx = 1 (the gradient reshaped back).

    Shapes: x (...) -> y (the same sizes, without the size-1 axes removed).
    """

    arity = 1
    functions = methods = ("squeeze",)
    saves = ("in_shape",)
    backward_records = True
    array_api = True

    def __init__(self, axis=None):
        self.axis = axis

    def params(self):
        return {"axis": self.axis}

    def forward(self, x):
        shape = shape_of(x)
        self.saved = (shape,)
        try:
            if is_foreign(x):  # the standard's squeeze names its axes
                axes = tuple(i for i, n in enumerate(shape) if n == 1) if self.axis is None else self.axis
                return namespace_of(x).squeeze(x, axis=axes)
            return np.squeeze(x, self.axis)
        except ValueError as exc:
            raise ShapeError(f"squeeze: cannot squeeze axis {self.axis} of shape {shape_of(x)}: {exc}") from None

    def backward(self, upstream):
        (in_shape,) = self.saved
        return (reshaped(upstream, in_shape),)


class ExpandDims(Op):
    """y = x with a new axis of size 1 at ``axis``;  dy/dx = 1 (the gradient reshaped back).

    Shapes: x (...) -> y (... with a 1 inserted at ``axis``). PyTorch's ``unsqueeze``.
    """

    arity = 1
    functions = methods = ("expand_dims", "unsqueeze")
    saves = ("in_shape",)
    backward_records = True
    array_api = True

    def __init__(self, axis: int):
        self.axis = axis

    def params(self):
        return {"axis": self.axis}

    def forward(self, x):
        shape = shape_of(x)
        self.saved = (shape,)
        _axis(self, self.axis, len(shape) + 1)
        if is_foreign(x):
            return namespace_of(x).expand_dims(x, axis=self.axis)
        return np.expand_dims(x, self.axis)

    def backward(self, upstream):
        (in_shape,) = self.saved
        return (reshaped(upstream, in_shape),)


class Ravel(Op):
    """y = x flattened, row by row;  dy/dx = 1 (the gradient reshaped back).  Shapes: x (...) -> y (x.size,)."""

    arity = 1
    functions = ("ravel", "flatten")
    methods = ("ravel",)
    saves = ("in_shape",)
    backward_records = True
    array_api = True

    def forward(self, x):
        self.saved = (shape_of(x),)
        return reshaped(x, (-1,)) if is_foreign(x) else np.reshape(x, -1)

    def backward(self, upstream):
        (in_shape,) = self.saved
        return (reshaped(upstream, in_shape),)


class Flip(Op):
    """y = x reversed along ``axis``;  dy/dx = 1 (the gradient reversed back).

    All axes when ``axis`` is None. Shapes: x (...) -> y (...).
    """

    arity = 1
    functions = methods = ("flip",)
    backward_records = True  # indexing with reversed slices
    array_api = True

    def __init__(self, axis=None):
        self.axis = axis

    def params(self):
        return {"axis": self.axis}

    def _reverse(self, ndim: int) -> tuple:
        axes = range(ndim) if self.axis is None else [_axis(self, a, ndim) for a in _dims(self.axis, ())]
        return tuple(slice(None, None, -1) if i in set(axes) else slice(None) for i in range(ndim))

    def forward(self, x):
        if is_foreign(x):
            return self._flip(x)
        return np.asarray(x)[self._reverse(np.ndim(x))]

    def _flip(self, x):
        """The standard's flip, over the same axes."""
        axes = None if self.axis is None else tuple(_axis(self, a, x.ndim) for a in _dims(self.axis, ()))
        return namespace_of(x).flip(x, axis=axes)

    def backward(self, upstream):
        if is_foreign(upstream):
            return (self._flip(upstream),)
        return (upstream[self._reverse(upstream.ndim)],)


class Roll(Op):
    """y = x shifted by ``shift`` along ``axis``, wrapping around;  dy/dx = 1 (the gradient shifted back).

    x is flattened (and the shape put back) when ``axis`` is None. Shapes: x (...) -> y (...).
    """

    arity = 1
    functions = methods = ("roll",)
    array_api = True

    def __init__(self, shift, axis=None):
        self.shift, self.axis = shift, axis

    def params(self):
        return {"shift": self.shift, "axis": self.axis}

    def _back(self):
        shift = tuple(-s for s in self.shift) if isinstance(self.shift, (tuple, list)) else -self.shift
        return Roll(shift, self.axis)

    def forward(self, x):
        try:
            if is_foreign(x):
                return namespace_of(x).roll(x, self.shift, axis=self.axis)
            return np.roll(x, self.shift, self.axis)
        except (ValueError, IndexError, np.exceptions.AxisError) as exc:
            raise ShapeError(f"roll: shift {self.shift} along axis {self.axis} does not fit shape "
                             f"{shape_of(x)}: {exc}") from None

    def backward(self, upstream):
        return (self._back().forward(upstream),)

    def recorded_backward(self, upstream):
        back = self._back()
        return (Roll.apply(upstream, shift=back.shift, axis=back.axis),)


class SwapAxes(Transpose):
    """y = x with axes ``axis1`` and ``axis2`` exchanged;  dy/dx = 1 (the gradient's axes exchanged back).

    Shapes: x (...) -> y (the two sizes exchanged).
    """

    functions = methods = ("swapaxes",)
    in_expressions = False

    def __init__(self, axis1: int, axis2: int):
        self.axis1, self.axis2, self.axes = axis1, axis2, None

    def params(self):
        return {"axis1": self.axis1, "axis2": self.axis2}

    def forward(self, x):
        n = np.ndim(x)
        perm = list(range(n))
        a, b = _axis(self, self.axis1, n), _axis(self, self.axis2, n)
        perm[a], perm[b] = perm[b], perm[a]
        self.axes = tuple(perm)
        return super().forward(x)


class MoveAxis(Transpose):
    """y = x with axis ``source`` moved to ``destination``;  dy/dx = 1 (the gradient's axis moved back).

    Shapes: x (...) -> y (the sizes reordered).
    """

    functions = methods = ("moveaxis",)
    in_expressions = False

    def __init__(self, source: int, destination: int):
        self.source, self.destination, self.axes = source, destination, None

    def params(self):
        return {"source": self.source, "destination": self.destination}

    def forward(self, x):
        n = np.ndim(x)
        perm = [i for i in range(n) if i != _axis(self, self.source, n)]
        perm.insert(_axis(self, self.destination, n), _axis(self, self.source, n))
        self.axes = tuple(perm)
        return super().forward(x)


class Tile(Op):
    """y = x repeated ``reps`` times along each axis;  dy/dx = 1 per copy (the copies' gradients summed).

    As ``numpy.tile`` (PyTorch's ``tile``). Shapes: x (...) -> y (each size times its repetition).
    """

    arity = 1
    functions = methods = ("tile",)
    saves = ("in_shape",)
    backward_records = True  # a reshape and a sum
    array_api = True

    def __init__(self, reps):
        self.reps = _dims(reps, ())

    def params(self):
        return {"reps": self.reps}

    def forward(self, x):
        in_shape = shape_of(x)
        if any(int(r) < 0 for r in self.reps):
            raise ShapeError(f"tile: repetitions must be >= 0, got {self.reps}")
        self.saved = (in_shape,)
        if is_foreign(x):
            return namespace_of(x).tile(x, tuple(int(r) for r in self.reps))
        return np.tile(x, self.reps)

    def backward(self, upstream):
        (in_shape,) = self.saved
        n = max(len(in_shape), len(self.reps))
        shape = (1,) * (n - len(in_shape)) + tuple(in_shape)
        reps = (1,) * (n - len(self.reps)) + tuple(int(r) for r in self.reps)
        split = tuple(d for pair in zip(reps, shape) for d in pair)  # (r0, n0, r1, n1, ...)
        if is_foreign(upstream):
            xp = namespace_of(upstream)
            return (xp.reshape(xp.sum(xp.reshape(upstream, split), axis=tuple(range(0, 2 * n, 2))), in_shape),)
        summed = upstream.reshape(split).sum(axis=tuple(range(0, 2 * n, 2)))
        return (summed.reshape(in_shape),)


class Repeat(Op):
    """y = each element of x repeated ``repeats`` times along ``axis``;  dy/dx = 1 per copy (summed).

    As ``numpy.repeat`` and PyTorch's ``repeat_interleave`` (not PyTorch's ``Tensor.repeat``, which is
    :class:`Tile`): ``repeats`` is one count for every element, or one count per element along ``axis``;
    x is flattened when ``axis`` is None. Shapes: x (...) -> y (that axis the sum of the counts).
    """

    arity = 1
    functions = methods = ("repeat",)
    saves = ("in_shape",)

    def __init__(self, repeats, axis=None):
        if isinstance(repeats, (int, np.integer)) and not isinstance(repeats, bool):
            counts = int(repeats)
            ok = counts >= 0
        else:
            counts = np.asarray(repeats)
            if counts.size == 0:  # [] reads as floats
                counts = counts.astype(np.intp)
            ok = counts.ndim == 1 and counts.dtype.kind in "iu" and bool((counts >= 0).all())
            counts = tuple(int(c) for c in counts) if ok else counts
        if not ok:
            raise ValueError(f"repeat: repeats must be a whole number >= 0 or a vector of them, got {repeats!r}")
        self.repeats, self.axis = counts, axis

    def params(self):
        return {"repeats": self.repeats, "axis": self.axis}

    array_api = True

    def forward(self, x):
        in_shape = shape_of(x)
        if self.axis is not None:
            _axis(self, self.axis, len(in_shape))
        self.saved = (in_shape,)
        n = int(np.prod(in_shape)) if self.axis is None else in_shape[self.axis]
        if isinstance(self.repeats, tuple) and len(self.repeats) != n:
            raise ShapeError(f"repeat: {len(self.repeats)} counts for {n} elements along axis {self.axis} of "
                             f"shape {in_shape}")
        if is_foreign(x):
            xp = namespace_of(x)
            counts = self.repeats if isinstance(self.repeats, int) else xp.asarray(np.asarray(self.repeats,
                                                                                                 dtype=np.int64))
            flat = xp.reshape(x, (-1,)) if self.axis is None else x
            return xp.repeat(flat, counts, axis=0 if self.axis is None else self.axis % len(in_shape))
        return np.repeat(x, self.repeats, self.axis)

    def _layout(self, in_shape):
        """(the axis the copies lie along, the input's shape along it) with x flattened when axis is None."""
        if self.axis is None:
            return 0, (int(np.prod(in_shape)),)
        return self.axis % len(in_shape), tuple(in_shape)

    def backward(self, upstream):
        (in_shape,) = self.saved
        ax, shape = self._layout(in_shape)
        if is_foreign(upstream):
            return (self._backward_standard(upstream, in_shape, ax, shape),)
        if isinstance(self.repeats, tuple):  # the copies of each element summed: one segment each
            counts = np.asarray(self.repeats, dtype=np.intp)
            if upstream.size == 0 or not counts.sum():
                return (np.zeros(in_shape, upstream.dtype),)
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            copied = counts > 0  # reduceat over the copied elements' segments only (it has no empty segment)
            grad = np.zeros(shape, upstream.dtype)
            grad[(slice(None),) * ax + (copied,)] = np.add.reduceat(
                upstream.reshape(-1) if self.axis is None else upstream, starts[copied], axis=ax)
            return (grad.reshape(in_shape),)
        r = self.repeats
        if r == 0:  # no copies: nothing came back
            return (constant(upstream, 0, in_shape),)
        split = shape[:ax] + (shape[ax], r) + shape[ax + 1:]
        return (upstream.reshape(split).sum(axis=ax + 1).reshape(in_shape),)

    def _backward_standard(self, upstream, in_shape, ax, shape):
        """The copies summed in the standard's functions: a reshape and a sum for one count; for one count
        per element, a product with the 0/1 matrix of where each copy came from (exact sums)."""
        xp = namespace_of(upstream)
        g = xp.reshape(upstream, (-1,)) if self.axis is None else upstream
        if not isinstance(self.repeats, tuple):
            r = self.repeats
            if r == 0:
                return xp.zeros(in_shape, dtype=upstream.dtype)
            split = shape[:ax] + (shape[ax], r) + shape[ax + 1:]
            return xp.reshape(xp.sum(xp.reshape(g, split), axis=ax + 1), in_shape)
        origin = np.repeat(np.arange(shape[ax]), self.repeats)
        member = xp.asarray((np.arange(shape[ax])[:, None] == origin[None, :]).astype(numpy_dtype(upstream.dtype)))
        moved = xp.moveaxis(g, ax, -1) @ xp.matrix_transpose(member)  # (..., n)
        return xp.reshape(xp.moveaxis(moved, -1, ax), in_shape)

    def recorded_backward(self, upstream):
        if not isinstance(self.repeats, tuple):
            return self.backward(upstream)  # a reshape and a sum: the same on Tensors
        (in_shape,) = self.saved
        ax, shape = self._layout(in_shape)
        origin = np.repeat(np.arange(shape[ax]), self.repeats)  # where each copy came from
        flat = upstream.reshape(-1) if self.axis is None else upstream
        zeros = constant(upstream, 0, shape)
        return (IndexAdd.apply(zeros, flat, axis=ax, index=origin).reshape(in_shape),)


class Pad(Op):
    """y = x with ``pad_width`` constants around it;  dy/dx = 1 on x's place in y (the gradient cut back out).

    As ``numpy.pad``, mode "constant". Shapes: x (...) -> y (each size plus its two pads).
    """

    arity = 1
    functions = methods = ("pad",)
    saves = ("place",)  # x's slices in y
    backward_records = True  # slicing
    array_api = True

    def __init__(self, pad_width, constant_values: float = 0.0):
        self.pad_width, self.constant_values = pad_width, constant_values

    def params(self):
        return {"pad_width": self.pad_width, "constant_values": self.constant_values or None}

    def forward(self, x):
        foreign = is_foreign(x)
        if not foreign:
            x = np.asarray(x)
        try:
            widths = np.asarray(self.pad_width, dtype=np.int64)
            widths = widths.reshape(0, 2) if x.ndim == 0 and widths.size == 0 else np.broadcast_to(widths, (x.ndim, 2))
        except ValueError:
            raise ShapeError(f"pad: pad_width {self.pad_width!r} does not fit an input of {x.ndim} "
                             f"dimensions") from None
        if (widths < 0).any():
            raise ShapeError(f"pad: widths must be >= 0, got {self.pad_width!r}")
        if x.ndim == 0:  # nothing to pad around
            self.saved = ((),)
            return namespace_of(x).asarray(x, copy=True) if foreign else x.copy()
        place = tuple(slice(int(lo), int(lo) + n) for (lo, _), n in zip(widths, x.shape))
        self.saved = (place,)
        if foreign:  # the standard has no pad: the constant everywhere, x written into its place
            xp = namespace_of(x)
            shape = tuple(int(lo) + n + int(hi) for (lo, hi), n in zip(widths, x.shape))
            out = xp.full(shape, self.constant_values, dtype=x.dtype)
            out[place] = x
            return out
        return np.pad(x, widths, constant_values=self.constant_values)

    def backward(self, upstream):
        (place,) = self.saved
        return (upstream[place],)


class ToDevice(Op):
    """y = x on ``device`` (``"cpu"``: NumPy; ``"cuda"``: CuPy);  dy/dx = 1, the gradient moved back to x's device.

    What ``Tensor.to(device)`` records. Shapes: x (...) -> y (...).
    """

    arity = 1
    array_api = True
    saves = ("source",)  # x's namespace (None for NumPy): where the gradient goes back to

    def __init__(self, device: str):
        self.device = device

    def params(self):
        return {"device": self.device}

    def forward(self, x):
        from ..backend import namespace, to_device

        self.saved = (None if isinstance(x, np.ndarray) else namespace(x),)
        return to_device(x, self.device)

    def backward(self, upstream):
        from ..backend import to_numpy

        (source,) = self.saved
        return (to_numpy(upstream) if source is None else source.asarray(upstream),)

    def recorded_backward(self, upstream):
        """The move back, recorded: to the CPU, or to the GPU the input came from."""
        (source,) = self.saved
        if source is None or "cupy" in source.__name__:
            return (ToDevice.apply(upstream, device="cpu" if source is None else "cuda"),)
        raise GraphError(f"todevice: a recorded backward moves gradients between 'cpu' and 'cuda' only, not back "
                         f"to {source.__name__}")


# -- the sliding windows of convolution and pooling (im2col) and their sum back (col2im) ---------------


def _pair(value) -> tuple[int, int]:
    """An int n as (n, n), a pair as a tuple of two ints (PyTorch's way of giving a kernel or a stride)."""
    pair = tuple(value) if np.iterable(value) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in pair):
        raise ShapeError(f"windows: expected a positive int or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _window_geometry(who: str, shape: tuple, kernel, stride, dilation) -> tuple[int, int]:
    """(Ho, Wo): how many windows fit along x's last two axes, or a ShapeError naming the op."""
    if len(shape) < 2:
        raise ShapeError(f"{who}: expected (..., H, W), got shape {shape}")
    (h, w), (kh, kw), (sh, sw), (dh, dw) = shape[-2:], kernel, stride, dilation
    ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    if ho < 1 or wo < 1:
        raise ShapeError(f"{who}: {(h, w)} is smaller than the kernel {tuple(kernel)} with dilation "
                         f"{tuple(dilation)}")
    return ho, wo


def _positions(kernel, stride, dilation, ho: int, wo: int):
    """For each kernel position (i, j), the slices of x's last two axes that its windows' elements fill."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    for i in range(kh):
        for j in range(kw):
            yield i, j, (slice(i * dh, i * dh + sh * (ho - 1) + 1, sh), slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))


class SlidingWindows(Op):
    """y = every kh × kw window of x's last two axes;  dy/dx = 1 per window holding x (summed back by FoldWindows).

    y[..., a, b, i, j] = x[..., a·s + i·d, b·s + j·d]: the im2col of convolution and pooling, made by kh·kw
    strided copies, one per kernel position. ``kernel``, ``stride`` and ``dilation`` are ints or pairs
    (PyTorch's ``unfold`` holds the same windows as (N, C·kh·kw, Ho·Wo)).
    Shapes: x (..., H, W) -> y (..., Ho, Wo, kh, kw), Ho = ⌊(H − d(kh − 1) − 1) / s⌋ + 1.
    """

    arity = 1
    functions = ("sliding_windows",)
    saves = ("in_shape",)
    array_api = True

    def __init__(self, kernel, stride=1, dilation=1):
        self.kernel, self.stride, self.dilation = _pair(kernel), _pair(stride), _pair(dilation)

    def params(self):
        return {"kernel": self.kernel, "stride": self.stride, "dilation": self.dilation}

    def forward(self, x):
        xp = xp_of(x)
        if xp is np:
            x = np.asarray(x)
        ho, wo = _window_geometry("sliding_windows", x.shape, self.kernel, self.stride, self.dilation)
        self.saved = (x.shape,)
        # one strided copy per kernel position, into memory ordered (kh, kw, ..., Ho, Wo): a max or mean over
        # the window is then an elementwise reduction of kh·kw whole blocks (a strided view's is ~40x slower)
        kh, kw = self.kernel
        out = xp.empty((kh, kw, *x.shape[:-2], ho, wo), dtype=x.dtype)
        for i, j, place in _positions(self.kernel, self.stride, self.dilation, ho, wo):
            out[i, j, ...] = x[(..., *place)]
        return xp.moveaxis(out, (0, 1), (-2, -1))

    def backward(self, upstream):
        (in_shape,) = self.saved
        return (_fold(upstream, in_shape, self.kernel, self.stride, self.dilation),)

    def recorded_backward(self, upstream):
        (in_shape,) = self.saved
        return (FoldWindows.apply(upstream, size=in_shape[-2:], kernel=self.kernel, stride=self.stride,
                                  dilation=self.dilation),)


def _fold(g: np.ndarray, in_shape: tuple, kernel, stride, dilation) -> np.ndarray:
    """Sum windows (..., Ho, Wo, kh, kw) back into (..., H, W): one strided add per kernel position."""
    xp = xp_of(g)
    out = xp.zeros(tuple(in_shape), dtype=g.dtype)
    for i, j, place in _positions(kernel, stride, dilation, g.shape[-4], g.shape[-3]):
        if xp is np:
            out[(..., *place)] += g[..., i, j]
        else:  # the standard writes into a slice by assignment
            out[(..., *place)] = out[(..., *place)] + g[..., i, j]
    return out


class FoldWindows(Op):
    """y = each window of x added where SlidingWindows took it;  dy/dx = 1, so dL/dx is the upstream's windows.

    y is zeros (..., H, W) with the windows added, overlaps summed (PyTorch's ``fold``). The backward of
    :class:`SlidingWindows` (col2im), as a block of its own so that the two are each other's derivative.
    Shapes: x (..., Ho, Wo, kh, kw) -> y (..., H, W), ``size`` = (H, W).
    """

    arity = 1
    fresh_grads = True  # a copy of the upstream's windows: the graph may add into it
    array_api = True

    def __init__(self, size, kernel, stride=1, dilation=1):
        self.size, self.kernel = _pair(size), _pair(kernel)
        self.stride, self.dilation = _pair(stride), _pair(dilation)

    def params(self):
        return {"size": self.size, "kernel": self.kernel, "stride": self.stride, "dilation": self.dilation}

    def forward(self, x):
        if not is_foreign(x):
            x = np.asarray(x)
        shape = tuple(x.shape[:-4]) + self.size
        expected = x.shape[:-4] + (*_window_geometry("fold_windows", shape, self.kernel, self.stride,
                                                     self.dilation), *self.kernel)
        if x.shape != expected:
            raise ShapeError(f"fold_windows: windows of shape {x.shape} do not fit {self.size} with kernel "
                             f"{self.kernel}, stride {self.stride}, dilation {self.dilation}: expected {expected}")
        return _fold(x, shape, self.kernel, self.stride, self.dilation)

    def backward(self, upstream):
        return (SlidingWindows(self.kernel, self.stride, self.dilation).forward(upstream),)

    def recorded_backward(self, upstream):
        return (SlidingWindows.apply(upstream, kernel=self.kernel, stride=self.stride, dilation=self.dilation),)


class IndexAdd(Op):
    """y = x with ``source`` added at ``index`` along ``axis`` (repeated indices summed);  dy/dx = 1,
    dy/dsource = 1 at each place it was added to (the gradient gathered back).

    Shapes: x (..., n, ...), source (..., len(index), ...) -> y like x. PyTorch's ``index_add``.
    """

    arity = 2
    functions = ("index_add",)
    name = "index_add"  # in messages, as the function is called
    backward_records = True  # the upstream, and an indexing of it
    array_api = True  # on the standard's arrays by flat positions (see backend.scatter_add)

    def __init__(self, axis: int, index):
        self.axis, self.index = axis, np.asarray(_plain_index(index))

    def params(self):
        return {"axis": self.axis, "index": self.index}

    def _where(self, ndim: int) -> tuple:
        return (slice(None),) * _axis(self, self.axis, ndim) + (self.index,)

    def forward(self, x, source):
        x = x if is_foreign(x) or is_foreign(source) else np.asarray(x)
        if self.index.ndim != 1 or self.index.dtype.kind not in "iu":
            raise ShapeError(f"index_add: index must be a vector of integers, got {self.index.dtype} "
                             f"of shape {self.index.shape}")
        where = self._where(x.ndim)
        try:
            if type(x) is not np.ndarray:
                xp = xp_of(x, source)
                positions = _flat_positions(tuple(x.shape), where)
                added = scatter_add(xp.broadcast_to(xp.asarray(source), positions.shape), positions,
                                    int(np.prod(x.shape)))
                return xp.astype(x, xp.result_type(x, source)) + xp.reshape(added, x.shape)
            out = np.array(x, dtype=np.result_type(x, source), copy=True)
            np.add.at(out, where, source)
        except (ValueError, IndexError) as exc:
            raise ShapeError(f"index_add: source of shape {shape_of(source)} does not fit x of shape {x.shape} "
                             f"at index {self.index.tolist()} along axis {self.axis}: {exc}") from None
        return out

    def backward(self, upstream):
        need = self.needs_input_grad
        where = self._where(upstream.ndim)
        return (upstream if need[0] else None,
                (_gather(upstream, where) if is_foreign(upstream) else upstream[where]) if need[1] else None)
