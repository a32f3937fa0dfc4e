"""Reduction blocks: sum (the lecture's sum over objects), mean, max, min, and the
softmax family, which reduces along one axis to normalise."""

from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from ..errors import ShapeError
from .base import Op, broadcast_view, shape_of


def reduced_axes(op: Op, axis, ndim: int) -> tuple[int, ...] | None:
    """``axis`` (None, int or tuple) as a tuple of non-negative axes, or None for all."""
    if axis is None:
        return None
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, without NumPy's Python helper
        return (axis % ndim,)
    try:
        return normalize_axis_tuple(axis, ndim)
    except (np.exceptions.AxisError, TypeError, ValueError) as exc:
        raise ShapeError(f"{op.name}: bad axis {axis!r} for an input of {ndim} dimensions ({exc})") from None


def expand_reduced(upstream, in_shape, axes, keepdims: bool):
    """Broadcast the gradient of a reduction's output back over the reduced axes.

    Returns a read-only broadcast view shaped ``in_shape``.
    """
    if axes is not None and not keepdims:  # put back the reduced axes, with size 1
        upstream = upstream.reshape(tuple(1 if i in axes else n for i, n in enumerate(in_shape)))
    return broadcast_view(upstream, in_shape)


class _Reduction(Op):
    arity = 1

    def __init__(self, axis=None, keepdims: bool = False):
        self.axis = axis
        self.keepdims = bool(keepdims)

    def params(self):
        return {"axis": self.axis, "keepdims": self.keepdims or None}


class Sum(_Reduction):
    """y = sum of x over ``axis``;  dy/dx = 1 for every summed element.

    Shapes: x (...) -> y (x's shape without ``axis``, or with size 1 there if keepdims).
    """

    def forward(self, x):
        self.axes = reduced_axes(self, self.axis, np.ndim(x))
        self.in_shape = shape_of(x)
        return np.sum(x, axis=self.axes, keepdims=self.keepdims)

    def backward(self, upstream):
        return (expand_reduced(upstream, self.in_shape, self.axes, self.keepdims),)


class Mean(_Reduction):
    """y = mean of x over ``axis``;  dy/dx = 1/n, n the number of averaged elements.

    Shapes: as :class:`Sum`.
    """

    def forward(self, x):
        self.axes = reduced_axes(self, self.axis, np.ndim(x))
        self.in_shape = shape_of(x)
        return np.mean(x, axis=self.axes, keepdims=self.keepdims)

    def backward(self, upstream):
        shape = self.in_shape
        n = np.prod(shape) if self.axes is None else np.prod([shape[a] for a in self.axes])
        return (expand_reduced(upstream / n.item(), shape, self.axes, self.keepdims),)


class _Extreme(_Reduction):
    """Shared backward of max/min: the gradient goes to the extreme element(s).

    Ties share the gradient equally: with k elements equal to the extreme, each
    gets 1/k of it (PyTorch's ``amax``/``amin`` convention), so the gradient is
    the same whatever order the elements come in.
    """

    def forward(self, x):
        self.axes = reduced_axes(self, self.axis, np.ndim(x))
        try:
            extreme = self._reduce(x, axis=self.axes, keepdims=True)
        except ValueError:
            raise ShapeError(f"{self.name}: cannot reduce an empty input of shape {shape_of(x)}") from None
        self.mask = x == extreme
        self.count = self.mask.sum(axis=self.axes, keepdims=True)
        if self.keepdims:
            return extreme
        return extreme.reshape(()) if self.axes is None else np.squeeze(extreme, self.axes)

    def backward(self, upstream):
        grad = expand_reduced(upstream, self.mask.shape, self.axes, self.keepdims)
        return ((grad * self.mask / self.count).astype(upstream.dtype, copy=False),)


class Max(_Extreme):
    """y = max of x over ``axis``;  dy/dx = [x = y] / (number of ties).  Shapes: as :class:`Sum`."""

    _reduce = staticmethod(np.max)


class Min(_Extreme):
    """y = min of x over ``axis``;  dy/dx = [x = y] / (number of ties).  Shapes: as :class:`Sum`."""

    _reduce = staticmethod(np.min)


def _shift(op: Op, x, axis):
    """x minus its max along ``axis`` (keepdims), with all-``-inf`` (or empty) slices left unshifted.

    Integer or boolean input is taken as float64 (exp of it is a float anyway).
    """
    x = np.asarray(x)
    if x.dtype.kind not in "fc":
        x = x.astype(np.float64)
    try:  # initial=-inf: an empty slice gives -inf (left unshifted below), not an error
        m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    except (np.exceptions.AxisError, TypeError) as exc:
        raise ShapeError(f"{op.name}: bad axis {axis!r} for an input of {np.ndim(x)} dimensions ({exc})") from None
    m = np.where(np.isfinite(m), m, 0)
    return x - m, m


class Softmax(Op):
    """y_i = exp(x_i) / sum_j exp(x_j) along ``axis``;  dy_i/dx_j = y_i (δ_ij - y_j).

    Shapes: x (...) -> y (...). Max-shifted, so no overflow.
    """

    arity = 1

    def __init__(self, axis: int = -1):
        self.axis = axis

    def params(self):
        return {"axis": self.axis}

    def forward(self, x):
        e = np.exp(_shift(self, x, self.axis)[0])
        self.out = e / e.sum(axis=self.axis, keepdims=True)
        return self.out

    def backward(self, upstream):
        out = self.out
        return (out * (upstream - (upstream * out).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Op):
    """y_i = x_i - log sum_j exp(x_j) along ``axis``;  dy_i/dx_j = δ_ij - softmax(x)_j.

    Shapes: x (...) -> y (...). Max-shifted, so no overflow.
    """

    arity = 1

    def __init__(self, axis: int = -1):
        self.axis = axis

    def params(self):
        return {"axis": self.axis}

    def forward(self, x):
        shifted = _shift(self, x, self.axis)[0]
        self.out = shifted - np.log(np.exp(shifted).sum(axis=self.axis, keepdims=True))
        return self.out

    def backward(self, upstream):
        return (upstream - np.exp(self.out) * upstream.sum(axis=self.axis, keepdims=True),)


class LogSumExp(_Reduction):
    """y = log sum_i exp(x_i) over ``axis``;  dy/dx_i = softmax(x)_i.

    Shapes: as :class:`Sum`. Max-shifted, so no overflow.
    """

    def forward(self, x):
        self.axes = reduced_axes(self, self.axis, np.ndim(x))
        shifted, m = _shift(self, x, self.axes)
        s = np.exp(shifted).sum(axis=self.axes, keepdims=True)
        log_s = np.log(s)
        lse = m + log_s
        self.probs = np.exp(shifted - log_s)  # not exp(x - lse): x - lse loses digits when x is large
        if self.keepdims:
            return lse
        return lse.reshape(()) if self.axes is None else np.squeeze(lse, self.axes)

    def backward(self, upstream):
        grad = expand_reduced(upstream, self.probs.shape, self.axes, self.keepdims)
        return (grad * self.probs,)
