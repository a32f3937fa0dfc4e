"""Reduction blocks: sum (the lecture's sum over objects), mean, max, min, and the
softmax family, which reduces along one axis to normalise."""

from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from ..errors import ShapeError
from .base import Op, Written, broadcast_view, shape_of


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

    Returns a read-only broadcast view shaped ``in_shape`` (for a Tensor upstream, in a recorded
    backward: a recorded ``broadcast_to``).
    """
    if axes is not None and not keepdims:  # put back the reduced axes, with size 1
        upstream = upstream.reshape(tuple(1 if i in axes else n for i, n in enumerate(in_shape)))
    if not isinstance(upstream, (np.ndarray, np.generic)):  # a Tensor
        return upstream.broadcast_to(in_shape)
    return broadcast_view(upstream, in_shape)


def _squeezed(y, axes, keepdims: bool):
    """A reduction's result computed with keepdims=True, shaped as the caller asked."""
    if keepdims:
        return y
    return y.reshape(()) if axes is None else np.squeeze(y, axes)


class _Reduction(Op):
    """A reduction over ``axis`` (None: all), offered as a function, a Tensor method and in expressions."""

    arity = 1
    in_expressions = True

    def __init__(self, axis=None, keepdims: bool = False):
        self.axis = axis
        self.keepdims = bool(keepdims)

    def params(self):
        return {"axis": self.axis, "keepdims": self.keepdims or None}

    def _call(self, n, x):
        """``name(x, axis=...)`` in notation ``n``."""
        extra = [] if self.axis is None else [f"axis={self.axis}"]
        return n.call(self.functions[0], x, *extra)


class Sum(_Reduction):
    """y = sum of x over ``axis``;  dy/dx = 1 for every summed element.

    Shapes: x (...) -> y (x's shape without ``axis``, or with size 1 there if keepdims).
    """

    functions = methods = ("sum",)
    symbol = "Σ"
    saves = ("axes", "in_shape")
    backward_records = True

    def forward(self, x):
        axes = reduced_axes(self, self.axis, np.ndim(x))
        self.saved = (axes, shape_of(x))
        return np.sum(x, axis=axes, keepdims=self.keepdims)

    def backward(self, upstream):
        axes, in_shape = self.saved
        return (expand_reduced(upstream, in_shape, axes, self.keepdims),)

    def written(self, n, y, x):
        return Written(n.total(x) if self.axis is None else self._call(n, x), (n.one,))


class Mean(_Reduction):
    """y = mean of x over ``axis``;  dy/dx = 1/n, n the number of averaged elements.

    Shapes: as :class:`Sum`.
    """

    functions = methods = ("mean",)
    saves = ("axes", "in_shape", "count")
    backward_records = True

    def forward(self, x):
        axes = reduced_axes(self, self.axis, np.ndim(x))
        shape = shape_of(x)
        count = int(np.prod(shape if axes is None else [shape[a] for a in axes]))
        self.saved = (axes, shape, count)
        if count:
            return np.mean(x, axis=axes, keepdims=self.keepdims)
        with np.errstate(invalid="ignore"):  # the mean of nothing is NaN, as in PyTorch, without NumPy's warning
            return np.sum(x, axis=axes, keepdims=self.keepdims) / count

    def backward(self, upstream):
        axes, in_shape, count = self.saved
        # with count 0 the input is empty and so is its gradient: no division by 0
        return (expand_reduced(upstream / count if count else upstream, in_shape, axes, self.keepdims),)

    def written(self, n, y, x):
        count = self.saved_value("count")  # not known once backward has freed it
        return Written(self._call(n, x), (n.div(n.one, n.num(count) if count else "n"),))


class _Extreme(_Reduction):
    """Shared forward and backward of max and min: the gradient goes to the extreme element(s).

    Ties share the gradient equally: with k elements equal to the extreme, each gets 1/k
    of it (PyTorch's ``amax``/``amin`` convention), so the gradient is the same whatever
    order the elements come in.
    """

    fresh_grads = True
    saves = ("axes", "mask", "count")

    def forward(self, x):
        axes = reduced_axes(self, self.axis, np.ndim(x))
        try:
            extreme = self._reduce(x, axis=axes, keepdims=True)
        except ValueError:
            raise ShapeError(f"{self.name}: cannot reduce an empty input of shape {shape_of(x)}") from None
        mask = x == extreme
        self.saved = (axes, mask, mask.sum(axis=axes, keepdims=True))
        return _squeezed(extreme, axes, self.keepdims)

    def backward(self, upstream):
        axes, mask, count = self.saved
        grad = expand_reduced(upstream, mask.shape, axes, self.keepdims)
        return ((grad * mask / count).astype(upstream.dtype, copy=False),)

    def recorded_backward(self, upstream):
        axes, mask, count = self.saved  # constants: which elements were the extreme, and how many
        grad = expand_reduced(upstream, mask.shape, axes, self.keepdims)
        return (grad * (mask / count).astype(upstream.dtype),)

    def written(self, n, y, x):
        return Written(self._call(n, x), (n.indicator(x, "=", y),))


class Max(_Extreme):
    """y = max of x over ``axis``;  dy/dx = [x = y] / (number of ties).  Shapes: as :class:`Sum`."""

    functions = methods = ("max",)
    _reduce = staticmethod(np.max)


class Min(_Extreme):
    """y = min of x over ``axis``;  dy/dx = [x = y] / (number of ties).  Shapes: as :class:`Sum`."""

    functions = methods = ("min",)
    _reduce = staticmethod(np.min)


def _shift(op: Op, x, axis, unshift_inf: bool = True):
    """x minus its max along ``axis`` (keepdims), with all-``-inf`` (or empty) slices left unshifted.

    With ``unshift_inf`` a slice whose max is ``+inf`` is left unshifted too (logsumexp is then
    ``inf``, as in PyTorch); without it, x - inf makes that slice NaN (softmax, as in PyTorch).
    Integer or boolean input is taken as float64 (exp of it is a float anyway).
    """
    x = np.asarray(x)
    if x.dtype.kind not in "fc":
        x = x.astype(np.float64)
    try:  # initial=-inf: an empty slice gives -inf (left unshifted below), not an error
        m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    except (np.exceptions.AxisError, TypeError) as exc:
        raise ShapeError(f"{op.name}: bad axis {axis!r} for an input of {np.ndim(x)} dimensions ({exc})") from None
    m = np.where(np.isfinite(m) if unshift_inf else m != -np.inf, m, 0)
    return x - m, m


class LogSumExp(_Reduction):
    """y = log sum_i exp(x_i) over ``axis``;  dy/dx_i = softmax(x)_i.

    Shapes: as :class:`Sum`. Max-shifted, so no overflow.
    """

    functions = methods = ("logsumexp",)
    fresh_grads = True
    saves = ("axes", "probs", "x")  # x only for a recorded backward, which recomputes probs from it

    def forward(self, x):
        axes = reduced_axes(self, self.axis, np.ndim(x))
        shifted, m = _shift(self, x, axes)
        with np.errstate(divide="ignore"):  # log 0 = -inf: the exact value for an empty or all -inf slice
            log_s = np.log(np.exp(shifted).sum(axis=axes, keepdims=True))
        # the gradient, softmax: exp(shifted - log_s), not exp(x - lse), which loses digits when x is large
        self.saved = (axes, np.exp(shifted - log_s), x)
        return _squeezed(m + log_s, axes, self.keepdims)

    def backward(self, upstream):
        axes, probs, _ = self.saved
        return (expand_reduced(upstream, probs.shape, axes, self.keepdims) * probs,)

    def recorded_backward(self, upstream):
        axes, probs, x = self.saved  # softmax as a function of x, so that its own derivative is recorded
        probs = (x - x.logsumexp(axis=axes, keepdims=True)).exp()
        return (expand_reduced(upstream, probs.shape, axes, self.keepdims) * probs,)

    def written(self, n, y, x):
        return Written(self._call(n, x), (n.call("softmax", x),))


class _Normalisation(Op):
    """Shared parameters of softmax and log-softmax, which normalise along one ``axis``."""

    arity = 1
    fresh_grads = True
    in_expressions = True
    saves = ("out",)

    def __init__(self, axis: int = -1):
        self.axis = axis

    def params(self):
        return {"axis": self.axis}


class Softmax(_Normalisation):
    """y_i = exp(x_i) / sum_j exp(x_j) along ``axis``;  dy_i/dx_j = y_i (δ_ij - y_j).

    Shapes: x (...) -> y (...). Max-shifted, so no overflow.
    """

    functions = methods = ("softmax",)
    backward_records = True

    def forward(self, x):
        e = np.exp(_shift(self, x, self.axis, unshift_inf=False)[0])
        out = e / e.sum(axis=self.axis, keepdims=True)
        self.saved = (out,)
        return out

    def backward(self, upstream):
        (out,) = self.saved
        return (out * (upstream - (upstream * out).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(_Normalisation):
    """y_i = x_i - log sum_j exp(x_j) along ``axis``;  dy_i/dx_j = δ_ij - softmax(x)_j.

    Shapes: x (...) -> y (...). Max-shifted, so no overflow.
    """

    functions = methods = ("log_softmax",)

    def forward(self, x):
        shifted = _shift(self, x, self.axis, unshift_inf=False)[0]
        with np.errstate(divide="ignore"):  # log 0 = -inf: the exact value for an empty or all -inf slice
            out = shifted - np.log(np.exp(shifted).sum(axis=self.axis, keepdims=True))
        self.saved = (out,)
        return out

    def backward(self, upstream):
        (out,) = self.saved
        return (upstream - np.exp(out) * upstream.sum(axis=self.axis, keepdims=True),)

    def recorded_backward(self, upstream):
        (out,) = self.saved
        return (upstream - out.exp() * upstream.sum(axis=self.axis, keepdims=True),)
