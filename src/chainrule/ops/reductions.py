"""Reduction blocks: sum (the lecture's sum over objects), mean, max, min, and the
softmax family, which reduces along one axis to normalise."""

from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from ..backend import cast, constant, eye, is_foreign, like, namespace_of, reshaped, transposed, xp_of
from ..errors import ConfigError, ShapeError
from .base import Op, Written, broadcast_view, shape_of


def reduced_axes(op: Op, axis, ndim: int) -> tuple[int, ...] | None:
    """``axis`` (None, int or tuple) as a tuple of non-negative axes, or None for all. A 0-d input
    takes axis 0 or -1 as all of it (as PyTorch does)."""
    if axis is None:
        return None
    if ndim == 0 and axis in (0, -1, (0,), (-1,)):
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
        upstream = reshaped(upstream, tuple(1 if i in axes else n for i, n in enumerate(in_shape)))
    if type(upstream) is not np.ndarray and is_foreign(upstream):  # another array library
        return namespace_of(upstream).broadcast_to(upstream, tuple(in_shape))
    if not isinstance(upstream, (np.ndarray, np.generic)):  # a Tensor
        return upstream.broadcast_to(in_shape)
    return broadcast_view(upstream, in_shape)


def _squeezed(y, axes, keepdims: bool):
    """A reduction's result computed with keepdims=True, shaped as the caller asked."""
    if keepdims:
        return y
    if is_foreign(y):
        xp = namespace_of(y)
        return xp.reshape(y, ()) if axes is None else xp.squeeze(y, axis=axes)
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
    array_api = True

    def forward(self, x):
        xp = np if type(x) is np.ndarray or not is_foreign(x) else namespace_of(x)
        axes = reduced_axes(self, self.axis, np.ndim(x) if xp is np else x.ndim)
        self.saved = (axes, shape_of(x))
        return xp.sum(x, axis=axes, keepdims=self.keepdims)

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
    array_api = True

    def forward(self, x):
        xp = namespace_of(x) if is_foreign(x) else np
        axes = reduced_axes(self, self.axis, np.ndim(x) if xp is np else x.ndim)
        shape = shape_of(x)
        count = int(np.prod(shape if axes is None else [shape[a] for a in axes]))
        self.saved = (axes, shape, count)
        if count:
            return xp.mean(x, axis=axes, keepdims=self.keepdims)
        with np.errstate(invalid="ignore"):  # the mean of nothing is NaN, as in PyTorch, without NumPy's warning
            return xp.sum(x, axis=axes, keepdims=self.keepdims) / count

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
    array_api = True

    def forward(self, x):
        xp = xp_of(x)
        axes = reduced_axes(self, self.axis, np.ndim(x) if xp is np else x.ndim)
        try:
            extreme = (self._reduce if xp is np else getattr(xp, self._reduce.__name__))(x, axis=axes, keepdims=True)
        except ValueError:
            raise ShapeError(f"{self.name}: cannot reduce an empty input of shape {shape_of(x)}") from None
        mask = x == extreme
        count = mask.sum(axis=axes, keepdims=True) if xp is np else xp.sum(xp.astype(mask, x.dtype), axis=axes,
                                                                              keepdims=True)
        self.saved = (axes, mask, count)
        return _squeezed(extreme, axes, self.keepdims)

    def backward(self, upstream):
        axes, mask, count = self.saved
        grad = expand_reduced(upstream, tuple(mask.shape), axes, self.keepdims)
        if is_foreign(grad):
            return (grad * namespace_of(grad).astype(mask, grad.dtype) / count,)
        return ((grad * mask / count).astype(upstream.dtype, copy=False),)

    def recorded_backward(self, upstream):
        axes, mask, count = self.saved  # constants: which elements were the extreme, and how many
        grad = expand_reduced(upstream, mask.shape, axes, self.keepdims)
        if is_foreign(mask):
            return (grad * (cast(mask, upstream.dtype) / count),)
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
    if is_foreign(x):  # the standard has no initial=: an empty slice is refused there
        xp = namespace_of(x)
        if not xp.isdtype(x.dtype, "real floating"):
            x = xp.astype(x, xp.float64)
        shape = tuple(x.shape)
        over = range(len(shape)) if axis is None else [a % len(shape) for a in (axis if isinstance(axis, tuple)
                                                                                 else (axis,))]
        if any(shape[a] == 0 for a in over):  # nothing to take the max of: left unshifted, as NumPy's -inf is
            kept = tuple(1 if i in over else n for i, n in enumerate(shape))
            return x, xp.zeros(kept, dtype=x.dtype)
        try:
            m = xp.max(x, axis=axis, keepdims=True)
        except (ValueError, IndexError, TypeError) as exc:
            raise ShapeError(f"{op.name}: cannot reduce over axis {axis!r} of shape {tuple(x.shape)} ({exc})") from None
        m = xp.where(xp.isfinite(m) if unshift_inf else m != -xp.inf, m, xp.zeros_like(m))
        return x - m, m
    x = np.asarray(x)
    if x.dtype.kind not in "fc":
        x = x.astype(np.float64)
    try:  # initial=-inf: an empty slice gives -inf (left unshifted below), not an error
        m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    except (np.exceptions.AxisError, TypeError) as exc:
        raise ShapeError(f"{op.name}: bad axis {axis!r} for an input of {np.ndim(x)} dimensions ({exc})") from None
    m = np.where(np.isfinite(m) if unshift_inf else m != -np.inf, m, 0)
    return x - m, m


def _total(x, axis):
    """``x.sum(axis=axis, keepdims=True)`` for NumPy arrays and Tensors; the namespace's ``sum`` for the others."""
    return namespace_of(x).sum(x, axis=axis, keepdims=True) if is_foreign(x) else x.sum(axis=axis, keepdims=True)


class LogSumExp(_Reduction):
    """y = log sum_i exp(x_i) over ``axis``;  dy/dx_i = softmax(x)_i.

    Shapes: as :class:`Sum`. Max-shifted, so no overflow.
    """

    functions = methods = ("logsumexp",)
    fresh_grads = True
    saves = ("axes", "probs", "x")  # x only for a recorded backward, which recomputes probs from it
    array_api = True

    def forward(self, x):
        xp = xp_of(x)
        axes = reduced_axes(self, self.axis, np.ndim(x) if xp is np else x.ndim)
        shifted, m = _shift(self, x, axes)
        with np.errstate(divide="ignore"):  # log 0 = -inf: the exact value for an empty or all -inf slice
            log_s = xp.log(xp.sum(xp.exp(shifted), axis=axes, keepdims=True))
        # the gradient, softmax: exp(shifted - log_s), not exp(x - lse), which loses digits when x is large
        self.saved = (axes, xp.exp(shifted - log_s), x)
        return _squeezed(m + log_s, axes, self.keepdims)

    def backward(self, upstream):
        axes, probs, _ = self.saved
        return (expand_reduced(upstream, tuple(probs.shape), axes, self.keepdims) * probs,)

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
    array_api = True

    def forward(self, x):
        xp = xp_of(x)
        e = xp.exp(_shift(self, x, self.axis, unshift_inf=False)[0])
        out = e / xp.sum(e, axis=self.axis, keepdims=True)
        self.saved = (out,)
        return out

    def backward(self, upstream):
        (out,) = self.saved
        return (out * (upstream - _total(upstream * out, self.axis)),)


class LogSoftmax(_Normalisation):
    """y_i = x_i - log sum_j exp(x_j) along ``axis``;  dy_i/dx_j = δ_ij - softmax(x)_j.

    Shapes: x (...) -> y (...). Max-shifted, so no overflow.
    """

    functions = methods = ("log_softmax",)
    array_api = True

    def forward(self, x):
        xp = xp_of(x)
        shifted = _shift(self, x, self.axis, unshift_inf=False)[0]
        with np.errstate(divide="ignore"):  # log 0 = -inf: the exact value for an empty or all -inf slice
            out = shifted - xp.log(xp.sum(xp.exp(shifted), axis=self.axis, keepdims=True))
        self.saved = (out,)
        return out

    def backward(self, upstream):
        (out,) = self.saved
        return (upstream - xp_of(out).exp(out) * _total(upstream, self.axis),)

    def recorded_backward(self, upstream):
        (out,) = self.saved
        return (upstream - out.exp() * upstream.sum(axis=self.axis, keepdims=True),)


# -- products, moments, norms ---------------------------------------------------------------------


def _others_product(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """For every element, the product of the other elements of its slice over ``axes`` (exact with zeros:
    the products of the elements before it and after it, not out / x)."""
    xp = xp_of(x)
    shape = tuple(x.shape)
    if 0 in shape or not axes:  # nothing to multiply, or slices of one element: the empty product
        return xp.ones(shape, dtype=x.dtype)
    rest = [i for i in range(x.ndim) if i not in axes]
    moved = transposed(x, tuple(rest + list(axes)))
    flat = reshaped(moved, tuple(moved.shape[:len(rest)]) + (-1,))
    ones = xp.ones(tuple(flat.shape[:-1]) + (1,), dtype=flat.dtype)
    if xp is np:
        before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    else:  # the standard's names; reversed by flip
        before = xp.cumulative_prod(xp.concat([ones, flat[..., :-1]], axis=-1), axis=-1)
        after = xp.flip(xp.cumulative_prod(xp.concat([ones, xp.flip(flat, axis=-1)[..., :-1]], axis=-1), axis=-1),
                        axis=-1)
    inverse = tuple(int(i) for i in np.argsort(rest + list(axes)))
    return transposed(reshaped(before * after, tuple(moved.shape)), inverse)


class Prod(_Reduction):
    """y = product of x over ``axis``;  dy/dx_i = product of the other elements of x_i's slice (exact where
    x has zeros: one zero gets the product of the rest, the others 0).  Shapes: as :class:`Sum`."""

    functions = methods = ("prod",)
    fresh_grads = True
    symbol = "Π"
    saves = ("x", "axes")
    array_api = True

    def forward(self, x):
        xp = xp_of(x)
        axes = reduced_axes(self, self.axis, np.ndim(x) if xp is np else x.ndim)
        self.saved = (x, axes)
        return xp.prod(x, axis=axes, keepdims=self.keepdims)

    def backward(self, upstream):
        x, axes = self.saved
        if not is_foreign(x):
            x = np.asarray(x)
        with np.errstate(invalid="ignore", over="ignore"):
            return (expand_reduced(upstream, x.shape, axes, self.keepdims)
                    * _others_product(x, tuple(range(x.ndim)) if axes is None else axes),)

    def recorded_backward(self, upstream):
        """The products of the others as recorded products: each element replaced by 1 in a copy of its
        slice (n copies of a slice of n: memory n² per slice, for higher derivatives only)."""
        from .elementwise import Where

        x, axes = self.saved
        up = expand_reduced(upstream, x.shape, axes, self.keepdims)
        over = tuple(range(x.ndim)) if axes is None else axes
        if x.size == 0 or not over:  # slices of one element or none: the others' product is 1, a constant
            return (up * constant(x, 1, tuple(x.shape)),)
        rest = [i for i in range(x.ndim) if i not in over]
        moved = x.transpose(tuple(rest + list(over)))
        n = int(np.prod([x.shape[a] for a in over]))
        flat = moved.reshape(moved.shape[:len(rest)] + (1, n))
        others = Where.apply(eye(x, n, dtype=bool), constant(x, 1), flat).prod(axis=-1)  # (..., n): all but the i-th
        return (up * others.reshape(moved.shape).transpose(tuple(np.argsort(rest + list(over)))),)

    def written(self, n, y, x):
        return Written(self._call(n, x), (n.div(y, x),))


class Var(_Reduction):
    """y = variance of x over ``axis``, Σ (x − mean)² / (n − ddof);  dy/dx = 2 (x − mean) / (n − ddof).

    Shapes: as :class:`Sum`. ``ddof`` as NumPy's (0 by default); ``correction=`` is PyTorch's name for
    the same number (1 by default there, so ``t.var(correction=1)`` is ``torch.var(t)``).
    """

    functions = methods = ("var",)
    saves = ("x", "axes", "count")
    backward_records = True  # means, products and the upstream broadcast back: the same on Tensors
    array_api = True

    def __init__(self, axis=None, ddof: float = 0, keepdims: bool = False, *, correction: float | None = None):
        super().__init__(axis, keepdims)
        if correction is not None:  # PyTorch's name for the same number
            if ddof:
                raise ConfigError(f"{type(self).__name__.lower()}: give ddof or correction, not both")
            ddof = correction
        self.ddof = ddof

    def params(self):
        return {"axis": self.axis, "ddof": self.ddof or None, "keepdims": self.keepdims or None}

    def forward(self, x):
        axes = reduced_axes(self, self.axis, np.ndim(x))
        shape = shape_of(x)
        count = int(np.prod(shape if axes is None else [shape[a] for a in axes]))
        self.saved = (x, axes, count)
        if is_foreign(x):
            return namespace_of(x).var(x, axis=axes, correction=self.ddof, keepdims=self.keepdims)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.var(x, axis=axes, ddof=self.ddof, keepdims=self.keepdims)

    def _scaled_deviation(self, x, axes, count):
        mean = namespace_of(x).mean(x, axis=axes, keepdims=True) if is_foreign(x) else x.mean(axis=axes,
                                                                                              keepdims=True)
        centered = x - mean
        with np.errstate(divide="ignore"):
            return centered * float(np.divide(2.0, count - self.ddof))

    def backward(self, upstream):
        x, axes, count = self.saved
        if count == 0:
            return (xp_of(upstream).zeros(shape_of(x), dtype=upstream.dtype),)
        return (expand_reduced(upstream, shape_of(x), axes, self.keepdims) * self._scaled_deviation(x, axes, count),)

    def written(self, n, y, x):
        return Written(self._call(n, x), (n.div(n.mul(n.num(2), n.sub(x, n.call("mean", x))), "n"),))


class Std(Var):
    """y = standard deviation of x over ``axis``, √var;  dy/dx = (x − mean) / ((n − ddof) y).

    Shapes: as :class:`Sum`; ``ddof`` as in :class:`Var`.
    """

    functions = methods = ("std",)
    saves = ("x", "axes", "count", "out")

    def forward(self, x):
        if is_foreign(x):
            xp = namespace_of(x)
            if x.dtype == xp.float32:  # as below: the variance in float64, its root back in float32
                out = xp.astype(xp.sqrt(super().forward(xp.astype(x, xp.float64))), xp.float32)
                self.saved = (x, *self.saved[1:])
            else:
                out = xp.sqrt(super().forward(x))
            self.saved = (*self.saved, out)
            return out
        x = np.asarray(x)
        if x.dtype == np.float32:  # the variance of values near 3e38 passes float32's range; its root does not
            out = np.sqrt(super().forward(x.astype(np.float64))).astype(np.float32)
            self.saved = (x, *self.saved[1:])
        else:
            out = np.sqrt(super().forward(x))
        self.saved = (*self.saved, out)
        return out

    def backward(self, upstream):
        x, axes, count, out = self.saved
        xp = xp_of(upstream)
        if count == 0:
            return (xp.zeros(shape_of(x), dtype=upstream.dtype),)
        with np.errstate(divide="ignore", invalid="ignore"):  # y = 0 (all equal): gradient 0, as PyTorch's
            scale = xp.where(out == 0, xp.zeros_like(out), upstream / (2 * out))
        return (expand_reduced(scale, shape_of(x), axes, self.keepdims) * self._scaled_deviation(x, axes, count),)

    def recorded_backward(self, upstream):
        from .elementwise import Where

        x, axes, count, out = self.saved
        if count == 0:
            return (constant(upstream, 0, tuple(x.shape)),)
        zero = out == 0
        safe = Where.apply(zero, constant(out, 1), out)
        scale = Where.apply(zero, constant(out, 0), upstream / (safe * 2))
        return (expand_reduced(scale, x.shape, axes, self.keepdims) * self._scaled_deviation(x, axes, count),)

    def written(self, n, y, x):
        return Written(self._call(n, x), (n.div(n.sub(x, n.call("mean", x)), n.mul("n", y)),))


class Norm(_Reduction):
    """y = √(Σ x²) over ``axis``;  dy/dx = x / y (0 where y = 0, as PyTorch).

    The 2-norm of vectors along ``axis``, the Frobenius norm of all of x by default. Shapes: as :class:`Sum`.
    """

    functions = methods = ("norm",)
    saves = ("x", "axes", "norm")  # the norm with the reduced axes kept (size 1), to divide x by
    array_api = True

    def forward(self, x):
        xp = xp_of(x)
        axes = reduced_axes(self, self.axis, np.ndim(x) if xp is np else x.ndim)
        norm = xp.sqrt(xp.sum(x * x if xp is not np else np.square(x), axis=axes, keepdims=True))
        self.saved = (x, axes, norm)
        return _squeezed(norm, axes, self.keepdims)

    def backward(self, upstream):
        x, axes, norm = self.saved
        up = expand_reduced(upstream, shape_of(x), axes, self.keepdims)
        xp = xp_of(up)
        with np.errstate(divide="ignore", invalid="ignore"):
            if xp is not np:
                return (up * xp.where(norm == 0, xp.zeros_like(x), x / norm),)
            return (up * np.where(norm == 0, 0, x / norm),)

    def recorded_backward(self, upstream):
        from .elementwise import Where

        x, axes, norm = self.saved
        zero = norm == 0
        norm = (x * x).sum(axis=axes, keepdims=True).sqrt()  # recomputed from x, so that it is recorded
        x_over = x / Where.apply(zero, constant(x, 1), norm)
        return (expand_reduced(upstream, x.shape, axes, self.keepdims) * Where.apply(zero, constant(x, 0), x_over),)

    def written(self, n, y, x):
        return Written(self._call(n, x), (n.div(x, y),))


class Trace(Op):
    """y = Σ_i x[i, i], the trace of a matrix;  dy/dx = the identity.  Shapes: x (m, n) -> y ()."""

    arity = 1
    functions = methods = ("trace",)
    in_expressions = True
    saves = ("shape",)
    backward_records = True  # the upstream times a constant identity
    array_api = True

    def forward(self, x):
        if len(shape_of(x)) != 2:
            raise ShapeError(f"trace: expected a matrix (2 dimensions), got shape {shape_of(x)}")
        self.saved = (shape_of(x),)
        if is_foreign(x):
            xp = namespace_of(x)
            n = min(shape_of(x))
            return xp.sum(x * xp.eye(*shape_of(x), dtype=x.dtype)) if n else xp.zeros((), dtype=x.dtype)
        return np.asarray(np.trace(x))

    def backward(self, upstream):
        (shape,) = self.saved
        return (upstream * eye(upstream, *shape),)

    def written(self, n, y, x):
        return Written(n.call("trace", x), (n.call("I"),))


class CumSum(Op):
    """y_i = Σ_{j<=i} x_j along ``axis``;  dy_i/dx_j = [j <= i], so dL/dx is the upstream summed from the end back.

    Shapes: x (...) -> y (...); with ``axis`` None, x flattened: y (x.size,).
    """

    arity = 1
    functions = methods = ("cumsum",)
    in_expressions = True
    saves = ("in_shape",)
    backward_records = True  # slicing and cumsum, which Tensors have too
    array_api = True

    def __init__(self, axis=None):
        self.axis = axis

    def params(self):
        return {"axis": self.axis}

    def forward(self, x):
        shape = shape_of(x)
        self.saved = (shape,)
        if self.axis is not None:
            reduced_axes(self, self.axis, len(shape))  # checks the axis
        if is_foreign(x):
            xp = namespace_of(x)
            return xp.cumulative_sum(xp.reshape(x, (-1,)), axis=0) if self.axis is None else \
                xp.cumulative_sum(x, axis=self.axis % len(shape))
        return np.cumsum(x, axis=self.axis)

    def backward(self, upstream):
        (shape,) = self.saved
        if is_foreign(upstream):  # summed from the end back: flip, cumulative sum, flip
            xp = namespace_of(upstream)
            axis = 0 if self.axis is None else self.axis % len(shape)
            back = xp.flip(xp.cumulative_sum(xp.flip(upstream, axis=axis), axis=axis), axis=axis)
            return (xp.reshape(back, shape),)
        if self.axis is None:
            return (upstream[::-1].cumsum(axis=0)[::-1].reshape(shape),)
        back = (slice(None),) * (self.axis % len(shape)) + (slice(None, None, -1),)
        return (upstream[back].cumsum(axis=self.axis)[back],)

    def written(self, n, y, x):
        return Written(n.call("cumsum", x), (None,))


def _last_axis_rows(a: np.ndarray, axis: int | None) -> tuple[np.ndarray, tuple[int, ...]]:
    """``a`` with ``axis`` moved last and the rest flattened: (rows, n), and the moved shape to undo it."""
    if axis is None:
        a = np.reshape(a, -1)
        axis = 0
    moved = np.moveaxis(a, axis, -1)
    return moved.reshape(-1, moved.shape[-1] if moved.ndim else 1), moved.shape


class CumProd(Op):
    """y_i = Π_{j<=i} x_j along ``axis``;  dy_i/dx_j = Π_{k<=i, k≠j} x_k for j <= i, 0 after.

    dL/dx_j = Σ_{i>=j} g_i y_i / x_j where x_j ≠ 0; exact where x has zeros (as PyTorch's): an element
    before a slice's first zero still divides by itself, the first zero gets the product before it times
    Σ_{i>=z} g_i Π_{z<k<=i} x_k, and every element after the first zero gets 0.
    Shapes: x (...) -> y (...); with ``axis`` None, x flattened: y (x.size,).
    """

    arity = 1
    functions = methods = ("cumprod",)
    in_expressions = True
    saves = ("x", "out")
    array_api = True

    def __init__(self, axis=None):
        self.axis = axis

    def params(self):
        return {"axis": self.axis}

    def forward(self, x):
        if is_foreign(x):
            xp = namespace_of(x)
            if self.axis is not None:
                reduced_axes(self, self.axis, x.ndim)
            flat = xp.reshape(x, (-1,)) if self.axis is None else x
            axis = 0 if self.axis is None else self.axis % x.ndim
            if x.dtype == xp.float32:  # accumulated in float64, as on NumPy (and PyTorch)
                out = xp.astype(xp.cumulative_prod(xp.astype(flat, xp.float64), axis=axis), xp.float32)
            else:
                out = xp.cumulative_prod(flat, axis=axis)
            self.saved = (x, out)
            return out
        if self.axis is not None:
            reduced_axes(self, self.axis, np.ndim(x))  # checks the axis
        if np.result_type(x) == np.float32:  # PyTorch accumulates float32 in float64: a running product may
            out = np.cumprod(x, axis=self.axis, dtype=np.float64).astype(np.float32)  # pass 3e38 and come back
        else:
            out = np.cumprod(x, axis=self.axis)
        self.saved = (x, out)
        return out

    def _backward_standard(self, upstream):
        """The same exact gradient in the standard's functions, with masks where NumPy's version indexes:
        each row's first zero found by argmax, the product before it by take_along_axis."""
        x, out = self.saved
        xp = namespace_of(x)
        shape = tuple(x.shape)
        if 0 in shape:
            return xp.zeros(shape, dtype=upstream.dtype)
        axis = -1 if self.axis is None else self.axis % x.ndim
        xs_, ys, gs = ((xp.reshape(a, (1, -1)) if self.axis is None else xp.moveaxis(a, axis, -1))
                       for a in (x, out, upstream))
        n = xs_.shape[-1]
        dtype = upstream.dtype
        zero, one = xp.zeros((), dtype=dtype), xp.ones((), dtype=dtype)
        j = xp.arange(n)
        is_zero = xs_ == 0
        first = xp.where(xp.any(is_zero, axis=-1, keepdims=True),
                         xp.argmax(xp.astype(is_zero, xp.int32), axis=-1, keepdims=True), n)
        tail = xp.flip(xp.cumulative_sum(xp.flip(gs * ys, axis=-1), axis=-1), axis=-1)  # Σ_{i>=j} g_i y_i
        grad = xp.where(j < first, tail / xp.where(j < first, xs_, one), zero)
        after = xp.cumulative_prod(xp.where(j > first, xs_, one), axis=-1)  # Π_{z<k<=i} x_k
        total = xp.sum(xp.where(j >= first, gs * after, zero), axis=-1, keepdims=True)
        before = xp.where(first > 0, xp.take_along_axis(ys, xp.clip(first - 1, 0, n - 1), axis=-1), one)
        grad = xp.where(j == first, before * total, grad)
        if self.axis is None:
            return xp.reshape(grad, shape)
        return xp.moveaxis(grad, -1, axis)

    def backward(self, upstream):
        if is_foreign(upstream):
            return (self._backward_standard(upstream),)
        x, out = self.saved
        x = np.asarray(x)
        if x.size == 0:
            return (np.zeros(x.shape, upstream.dtype),)
        axis = None if self.axis is None else self.axis % max(x.ndim, 1)
        xs, moved = _last_axis_rows(x, axis)
        ys, _ = _last_axis_rows(out, axis)
        gs, _ = _last_axis_rows(np.asarray(upstream), axis)
        n = xs.shape[-1]
        zero = xs == 0
        first = np.where(zero.any(axis=-1), zero.argmax(axis=-1), n)[:, None]  # a row's first zero (n: none)
        j = np.arange(n)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            tail = np.cumsum((gs * ys)[:, ::-1], axis=-1)[:, ::-1]  # Σ_{i>=j} g_i y_i
            grad = np.where(j < first, tail / np.where(j < first, xs, 1), 0)
            rows = np.flatnonzero(first[:, 0] < n)
            if rows.size:  # the first zeros: (product before z) · Σ_{i>=z} g_i Π_{z<k<=i} x_k
                z = first[rows, 0]
                after = np.cumprod(np.where(j > z[:, None], xs[rows], 1), axis=-1)
                total = np.sum(np.where(j >= z[:, None], gs[rows] * after, 0), axis=-1)
                before = np.where(z > 0, ys[rows, np.maximum(z - 1, 0)], 1)
                grad[rows, z] = before * total
        grad = grad.astype(upstream.dtype, copy=False).reshape(moved)
        return (grad.reshape(x.shape) if self.axis is None else np.moveaxis(grad, -1, axis),)

    def recorded_backward(self, upstream):
        """Each element's partial products with itself replaced by 1 (n copies of a slice of n: memory n²
        per slice, for higher derivatives only), so that zeros stay exact as in :class:`Prod`."""
        from .elementwise import Where

        x = self.saved[0]
        shape = x.shape
        if x.size == 0:
            return (upstream.reshape(shape) * 0,)
        if self.axis is None:
            x, upstream, axis = x.reshape(-1), upstream.reshape(-1), 0
        else:
            axis = self.axis % max(x.ndim, 1)
        xm, gm = x.moveaxis(axis, -1), upstream.moveaxis(axis, -1)
        n = xm.shape[-1]
        # others[..., j, i] = Π_{k<=i, k≠j} x_k
        others = Where.apply(eye(x, n, dtype=bool), constant(x, 1),
                             xm.unsqueeze(-2).broadcast_to(xm.shape[:-1] + (n, n)))
        others = others.cumprod(axis=-1)
        later = like(np.triu(np.ones((n, n), dtype=bool)), x)  # i >= j
        grad = Where.apply(later, gm.unsqueeze(-2) * others, constant(x, 0)).sum(axis=-1)
        grad = grad.moveaxis(-1, axis)
        return (grad.reshape(shape),)

    def written(self, n, y, x):
        return Written(n.call("cumprod", x), (None,))
