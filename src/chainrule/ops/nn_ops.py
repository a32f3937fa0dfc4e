"""Neural-network blocks: GELU, dropout, and two fused ops for the hot path of an MLP.

* :class:`GELU` -- x Φ(x), exact (erf) or with PyTorch's tanh approximation.
* :class:`Dropout` -- inverted dropout with a given or seeded mask.
* :class:`Linear` -- y = x Wᵀ + b in one node (PyTorch's weight layout, (out, in)).
* :class:`SoftmaxCrossEntropy` -- log-softmax and negative log-likelihood in one
  node, whose backward is the famous ``softmax - target``.

NumPy and the array API standard have no ``erf``; :func:`erf` and :func:`erfc` here are accurate
to about 1e-16 in float64, on either (checked against :func:`math.erf` in the tests). They are
piecewise Chebyshev interpolants whose coefficients are computed, once and on
first use, from :func:`math.erf` and :func:`math.erfc` themselves.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from ..backend import is_foreign, namespace_of, numpy_dtype, reshaped, to_numpy, xp_of
from ..errors import DTypeError, ShapeError
from .base import Op, Written, shape_of

# -- erf and erfc, vectorised ---------------------------------------------------------

_SQRT_PI = math.sqrt(math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
#: Taylor coefficients of erf(x)/x in u = x²: 2/√π (-1)^n / (n! (2n + 1)); 17 terms reach 1 ulp for |x| <= 1.
_ERF_TAYLOR = tuple(2 / _SQRT_PI * (-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(17))
#: Pieces of [1, 6) where erfcx(x) = exp(x²) erfc(x) is interpolated (it is smooth and slowly varying).
_ERFCX_PIECES = ((1.0, 2.0), (2.0, 3.5), (3.5, 6.0))
_ERFCX_DEGREE = 22


def _chebyshev_fit(f, a: float, b: float, n: int) -> np.ndarray:
    """Coefficients c_k of the degree n-1 Chebyshev interpolant of ``f`` on [a, b].

    c_k = (2 - [k = 0]) / n · Σ_j f(x_j) cos(k θ_j), θ_j = π (j + ½) / n, x_j = mid + half·cos θ_j.
    """
    odd = 2 * np.arange(n) + 1  # θ_j = π (2j + 1) / (2n)
    fx = np.array([f(0.5 * (b - a) * math.cos(math.pi * o / (2 * n)) + 0.5 * (b + a)) for o in odd])
    # k θ_j reduced modulo 2π in integers first, so cos is taken of a small, exactly known angle
    angles = (np.outer(np.arange(n), odd) % (4 * n)) * (np.pi / (2 * n))
    c = (2.0 / n) * (np.cos(angles) @ fx)
    c[0] /= 2
    return c


def _clenshaw(c: np.ndarray, t):
    """Σ c_k T_k(t) for t in [-1, 1], by Clenshaw's recurrence (on any namespace's arrays)."""
    b1 = b2 = 0.0
    t2 = 2 * t
    for ck in c[:0:-1]:
        b1, b2 = t2 * b1 - b2 + float(ck), b1
    return t * b1 - b2 + float(c[0])


@cache
def _erfcx_pieces() -> tuple:
    """Chebyshev coefficients of erfcx on each piece, computed once from math.erfc and math.exp."""

    def erfcx(x):
        hi = _high_part(np, x)  # exp(x²) = exp(hi²) exp((x - hi)(x + hi)), hi² exact
        return math.erfc(x) * math.exp(hi * hi) * math.exp((x - hi) * (x + hi))

    return tuple((a, b, _chebyshev_fit(erfcx, a, b, _ERFCX_DEGREE)) for a, b in _ERFCX_PIECES)


def _high_part(xp, a):
    """``a`` rounded to 20 bits after the binary point: for a < 32, a_hi² is exact in float64."""
    return xp.round(a * 1048576.0) / 1048576.0


def _exp_minus_square(xp, a):
    """exp(-a²) without the rounding error of a² (up to a² · 1e-16 relative otherwise)."""
    hi = _high_part(xp, a)
    with np.errstate(under="ignore"):
        return xp.exp(-hi * hi) * xp.exp((hi - a) * (hi + a))


def _where_put(xp, out, mask, f, a):
    """``out`` with ``f(a)`` where ``mask`` holds: on NumPy, ``f`` of the selected elements only, written in
    place; on the standard's arrays (a GPU's), ``f`` of all and a ``where``, which needs no sync and no
    data-dependent shape."""
    if xp is np:
        if mask.any():
            out[mask] = f(a[mask])
        return out
    with np.errstate(all="ignore"):  # f of the elements not selected may overflow (array-api-strict warns)
        return xp.where(mask, f(a), out)


def _erf_series(xp, z):
    """erf(z) by its Taylor series, exact to 1 ulp for |z| <= 1 (z is clipped to [-1, 1] first)."""
    z = xp.clip(z, -1.0, 1.0)
    u = z * z
    r = xp.full_like(u, _ERF_TAYLOR[-1])
    for c in _ERF_TAYLOR[-2::-1]:  # Horner, in place
        r *= u
        r += c
    r *= z
    return r


def _erfc_large(xp, a):
    """erfc(a) for a >= 1, as exp(-a²) · erfcx(a): relatively accurate however small."""
    under = a > 27.0  # erfc(27) < 1e-318: zero in float64 (inf included; NaN stays NaN)
    a = xp.where(under, 27.0, a)
    g = xp.full_like(a, math.nan)
    for lo, hi, c in _erfcx_pieces():
        g = _where_put(xp, g, (a >= lo) & (a < hi),
                       lambda am, lo=lo, hi=hi, c=c: _clenshaw(c, (2 * am - (lo + hi)) / (hi - lo)), a)

    def asymptotic(am):  # 1/(a√π) Σ (-1)^n (2n-1)!! / (2a²)^n; 30 terms: 1e-16 relative at a = 6
        inv = 1 / (2 * am * am)
        term, total = 1.0, 1.0
        for n in range(1, 30):
            term = term * (-(2 * n - 1) * inv)
            total = total + term
        return total / (am * _SQRT_PI)

    g = _where_put(xp, g, a >= _ERFCX_PIECES[-1][1], asymptotic, a)
    return xp.where(under, 0.0, _exp_minus_square(xp, a) * g)


def _float64_of(x) -> tuple:
    """The namespace of ``x``, and ``x`` as a flat float64 array (a 0-d array too: NumPy turns 0-d results
    into scalars, which cannot be assigned into), with the dtype and shape to give the result back in."""
    if is_foreign(x):
        xp = namespace_of(x)
        dtype = x.dtype if xp.isdtype(x.dtype, "real floating") else xp.float64
        return xp, xp.reshape(xp.astype(x, xp.float64), (-1,)), dtype, tuple(x.shape)
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    return np, np.asarray(x, dtype=np.float64).reshape(-1), dtype, x.shape


def _back(xp, out, dtype, shape):
    """A float64 result back in the input's shape and dtype."""
    out = xp.reshape(out, shape)
    return out.astype(dtype, copy=False) if xp is np else xp.astype(out, dtype)


def erf(x):
    """The error function erf(x) = 2/√π ∫₀ˣ exp(-t²) dt, elementwise (float64 inside; dtype kept).

    Taylor series for |x| < 1, 1 - exp(-x²) erfcx(|x|) beyond: within 1 ulp of
    :func:`math.erf` for |x| < 1 and within 2e-16 everywhere. NumPy's arrays, and the standard's.
    """
    xp, v, dtype, shape = _float64_of(x)
    big = ~(xp.abs(v) < 1)  # NaN counts as big and stays NaN
    out = _where_put(xp, _erf_series(xp, v), big, lambda vb: xp.copysign(1 - _erfc_large(xp, xp.abs(vb)), vb), v)
    return _back(xp, out, dtype, shape)


def erfc(x):
    """The complementary error function 1 - erf(x), elementwise, relatively accurate in the right tail."""
    xp, v, dtype, shape = _float64_of(x)

    def tail(vb):
        large = _erfc_large(xp, xp.abs(vb))
        return xp.where(vb < 0, 2 - large, large)

    out = _where_put(xp, 1 - _erf_series(xp, v), ~(xp.abs(v) < 1), tail, v)
    return _back(xp, out, dtype, shape)


def normal_cdf(x):
    """Φ(x) = P(N(0, 1) <= x) = erfc(-x/√2) / 2, relatively accurate in the left tail."""
    xp, v, dtype, shape = _float64_of(x)
    out = erfc(v * -_INV_SQRT_2)
    out *= 0.5
    return _back(xp, out, dtype, shape)


# -- the ops ---------------------------------------------------------------------------


class GELU(Op):
    """y = x Φ(x);  dy/dx = Φ(x) + x φ(x), φ the standard normal density.  Shapes: x (...) -> y (...).

    ``approximate="tanh"`` uses PyTorch's y = x/2 (1 + tanh(u)), u = √(2/π)(x + 0.044715 x³),
    whose derivative is (1 + t)/2 + x/2 (1 - t²) √(2/π)(1 + 3·0.044715 x²), t = tanh(u).
    """

    arity = 1
    fresh_grads = True
    functions = methods = ("gelu",)
    in_expressions = True
    saves = ("x", "tanh_or_cdf")  # tanh(u) with approximate="tanh", else Φ(x)
    array_api = True
    _C = math.sqrt(2.0 / math.pi)
    _K = 0.044715

    def __init__(self, approximate: str = "none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def params(self):
        return {"approximate": self.approximate if self.approximate != "none" else None}

    def forward(self, x):
        if self.approximate == "tanh":
            t = xp_of(x).tanh(self._C * (x + self._K * x * x * x))
            self.saved = (x, t)
            return 0.5 * x * (1 + t)
        cdf = normal_cdf(x)
        self.saved = (x, cdf)
        return x * cdf

    def backward(self, upstream):
        x, t_or_cdf = self.saved
        if self.approximate == "tanh":
            t = t_or_cdf
            du = self._C * (1 + 3 * self._K * x * x)
            return (upstream * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du),)
        pdf = _INV_SQRT_2PI * xp_of(x).exp(-0.5 * x * x)
        return (upstream * (t_or_cdf + x * pdf),)

    def recorded_backward(self, upstream):
        x, _ = self.saved  # tanh(u) or Φ(x) recomputed from x, so that their derivatives are recorded
        if self.approximate == "tanh":
            t = ((x + x * x * x * self._K) * self._C).tanh()
            du = (x * x * (3 * self._K) + 1) * self._C
            return (upstream * ((t + 1) * 0.5 + x * 0.5 * (1 - t * t) * du),)
        pdf = (x * x * -0.5).exp() * _INV_SQRT_2PI
        return (upstream * (NormalCDF.apply(x) + x * pdf),)

    def written(self, n, y, x):
        return Written(n.call("gelu", x), (n.add(n.call("Φ", x), n.mul(x, n.call("φ", x))),))


class NormalCDF(Op):
    """y = Φ(x), the standard normal distribution function;  dy/dx = φ(x) = exp(-x²/2) / √(2π).

    Shapes: x (...) -> y (...). Used by the recorded backward of :class:`GELU`, whose derivative
    holds Φ(x).
    """

    arity = 1
    fresh_grads = True
    symbol = "Φ"
    saves = ("x",)
    array_api = True

    def forward(self, x):
        self.saved = (x,)
        return normal_cdf(x)

    def backward(self, upstream):
        (x,) = self.saved
        return (upstream * (_INV_SQRT_2PI * xp_of(x).exp(-0.5 * x * x)),)

    def recorded_backward(self, upstream):
        (x,) = self.saved
        return (upstream * ((x * x * -0.5).exp() * _INV_SQRT_2PI),)


class Dropout(Op):
    """y = x · m / (1 - p), m ~ Bernoulli(1 - p) kept elementwise;  dy/dx = m / (1 - p).

    Shapes: x (...) -> y (...). Inverted dropout, as PyTorch: the kept values are
    scaled up in training so nothing changes at evaluation time.

    Parameters
    ----------
    p : probability of dropping each element, in [0, 1].
    rng : ``numpy.random.Generator`` that draws the mask (when ``mask`` is not given).
    mask : boolean "keep" mask shaped like x, to replay a known draw.
    """

    arity = 1
    fresh_grads = True
    pure = False  # it draws a new mask each time it runs
    saves = ("keep", "scale")
    backward_records = True  # the upstream times a constant
    array_api = True  # the mask is drawn by NumPy's generator (the same draw on every device), then moved

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None, mask=None):
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout: p must be in [0, 1], got {p}")
        if mask is None and rng is None and 0.0 < p < 1.0:
            raise ValueError("dropout: give a seeded numpy.random.Generator (rng=) or a mask")
        self.p, self.rng, self.mask = p, rng, mask

    def params(self):
        return {"p": self.p}

    def forward(self, x):
        if type(x) is not np.ndarray and is_foreign(x):  # the same mask as on NumPy, moved to x's library
            xp = namespace_of(x)
            host = Dropout(self.p, self.rng, None if self.mask is None else to_numpy(self.mask))
            host.forward(np.zeros(tuple(x.shape), numpy_dtype(x.dtype)))
            keep, scale = (xp.asarray(a) for a in host.saved)
            self.saved = (keep, scale)
            return x * scale
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
        if self.mask is not None:
            keep = np.asarray(self.mask, dtype=bool)
            if keep.shape != x.shape:
                raise ShapeError(f"dropout: mask of shape {keep.shape} for an input of shape {x.shape}")
        elif self.p == 0.0:
            keep = np.ones(x.shape, dtype=bool)
        elif self.p == 1.0:
            keep = np.zeros(x.shape, dtype=bool)
        else:
            keep = self.rng.random(x.shape, dtype=np.float32 if dtype == np.float32 else np.float64) >= self.p
        scale = keep * np.asarray(0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p), dtype=dtype)
        self.saved = (keep, scale)
        return x * scale

    def backward(self, upstream):
        _, scale = self.saved
        return (upstream * scale,)


class Linear(Op):
    """y = x Wᵀ + b;  dy/dx = upstream W, dy/dW = upstreamᵀ x, dy/db = upstream summed over rows.

    Shapes: x (..., in), W (out, in), b (out,) or None -> y (..., out). One node
    instead of three (transpose, matmul, add). Only what backward will use is
    kept: x for dW, W for dx; so the data matrix of a first layer, which needs
    no gradient, costs no matmul in backward and is not even referenced.
    """

    fresh_grads = True
    saves = ("x", "weight", "has_bias")
    backward_records = True  # matmuls, a transpose, reshapes and a sum: the same on Tensors
    array_api = True

    def forward(self, x, weight, *bias):
        if len(bias) > 1:
            raise ShapeError(f"linear: takes x, weight and an optional bias, got {2 + len(bias)} inputs")
        bias = bias[0] if bias else None
        w_shape = shape_of(weight)
        if len(w_shape) != 2 or len(shape_of(x)) < 1 or shape_of(x)[-1] != w_shape[1]:
            raise ShapeError(
                f"linear: input of shape {shape_of(x)} does not fit a weight of shape {w_shape} "
                f"(weight is (out_features, in_features); the input's last axis must be in_features)"
            )
        if bias is not None and shape_of(bias) != (w_shape[0],):
            raise ShapeError(f"linear: bias of shape {shape_of(bias)} for a weight of shape {w_shape}")
        need = self.needs_input_grad
        self.saved = (x if need[1] else None, weight if need[0] else None, bias is not None)
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    def backward(self, upstream):
        need, (x, weight, has_bias) = self.needs_input_grad, self.saved
        dx = dw = db = None
        if need[0]:
            dx = upstream @ weight
        bias_grad = has_bias and need[2]
        if need[1] or bias_grad:
            g2 = reshaped(upstream, (-1, upstream.shape[-1])) if upstream.ndim != 2 else upstream
            if need[1]:
                x2 = reshaped(x, (-1, x.shape[-1])) if x.ndim != 2 else x
                dw = g2.T @ x2
            if bias_grad:
                native = type(g2) is np.ndarray or not is_foreign(g2)
                db = g2.sum(axis=0) if native else namespace_of(g2).sum(g2, axis=0)
        return (dx, dw, db) if has_bias else (dx, dw)


class SoftmaxCrossEntropy(Op):
    """L_i = -Σ_c q_ic log softmax(z_i)_c;  dL_i/dz_i = softmax(z_i) Σ_c q_ic - q_i.

    Shapes: logits z (N, C) or (C,); target either class indices (N,) / () of an
    integer dtype, or probabilities (N, C) / (C,) -> loss () for ``reduction``
    "mean" or "sum", (N,) for "none". The smoothed target is
    q = (1 - ε) · target + ε / C (the one-hot vector for an index target), as
    PyTorch's ``cross_entropy(..., label_smoothing=ε)``; with index targets
    Σ_c q_ic = 1 and the gradient is exactly softmax - q. ``ignore_index`` rows
    (index targets only) contribute nothing and do not count in the mean.
    The gradient for probability targets is -(1 - ε) log softmax(z).
    """

    arity = 2
    fresh_grads = True
    # the logits and the target only for a recorded backward, which recomputes softmax from them
    saves = ("logp", "index", "valid", "q", "scale", "single", "logits", "target")

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0, ignore_index: int = -100):
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"softmaxcrossentropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"softmaxcrossentropy: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.reduction = reduction
        self.label_smoothing = float(label_smoothing)
        self.ignore_index = int(ignore_index)

    def params(self):
        return {
            "reduction": self.reduction if self.reduction != "mean" else None,
            "label_smoothing": self.label_smoothing or None,
        }

    array_api = True  # another library's arrays take _forward_array_api / _backward_array_api

    def forward(self, logits, target):
        if type(logits) is not np.ndarray and is_foreign(logits):
            return self._forward_array_api(logits, target)
        z = np.asarray(logits)
        if z.ndim not in (1, 2):
            raise ShapeError(f"softmaxcrossentropy: logits must be (N, C) or (C,), got shape {z.shape}")
        t = np.asarray(target)
        single = z.ndim == 1
        if single:
            z, t = z[None], t[None]
        n, c = z.shape
        if c == 0:
            raise ShapeError(f"softmaxcrossentropy: logits of shape {np.shape(logits)} have no classes; "
                             f"the class axis (the last) needs at least one")
        eps = self.label_smoothing
        # log softmax, max-shifted: no overflow for any finite logits
        shifted = z - z.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        index = valid = q = None
        if t.dtype.kind in "iu":
            if t.shape != (n,):
                raise ShapeError(f"softmaxcrossentropy: class-index target of shape {np.shape(target)} "
                                 f"for logits of shape {np.shape(logits)}")
            ignore = self.ignore_index
            lo, hi = (t.min(), t.max()) if n else (0, 0)
            if 0 <= lo and hi < c and not lo <= ignore <= hi:  # the usual batch: two reductions suffice
                index = t
            else:
                keep = t != ignore
                bad = keep & ((t < 0) | (t >= c))
                if bad.any():
                    raise ShapeError(f"softmaxcrossentropy: target class {int(t[bad][0])} is out of range "
                                     f"for {c} classes (valid: 0..{c - 1})")
                index = np.where(keep, t, 0)
                valid = None if keep.all() else keep
            picked = logp[np.arange(n), index]
            losses = -(1 - eps) * picked if eps else -picked
            if eps:
                losses = losses - (eps / c) * logp.sum(axis=1)
            if valid is not None:
                losses = losses * valid
            count = n if valid is None else int(valid.sum())
        elif t.dtype.kind == "f":
            if t.shape != z.shape:
                raise ShapeError(f"softmaxcrossentropy: probability target of shape {np.shape(target)} "
                                 f"for logits of shape {np.shape(logits)}")
            q = (1 - eps) * t + eps / c if eps else t
            losses = -(q * logp).sum(axis=1)
            count = n
        else:
            raise DTypeError(f"softmaxcrossentropy: target must hold class indices (an integer dtype) or "
                             f"probabilities (a float dtype), got dtype {t.dtype}")
        scale = (1.0 / count if count else np.nan) if self.reduction == "mean" else 1.0
        self.saved = (logp, index, valid, q, scale, single, logits, target)
        if self.reduction == "none":
            return losses[0] if single else losses
        total = losses.sum()
        return total * scale if self.reduction == "mean" else total

    def _forward_array_api(self, logits, target):
        """The same loss in the standard's functions (no integer-array indexing, no in-place writes): the
        target as smoothed one-hot rows q, the loss -Σ q log softmax, saved for :meth:`_backward_array_api`."""
        xp = namespace_of(logits)
        z = logits
        if z.ndim not in (1, 2):
            raise ShapeError(f"softmaxcrossentropy: logits must be (N, C) or (C,), got shape {tuple(z.shape)}")
        t = xp.asarray(target) if is_foreign(target) else xp.asarray(np.asarray(target))
        single = z.ndim == 1
        if single:
            z, t = xp.reshape(z, (1, -1)), xp.reshape(t, (1,) + tuple(t.shape))
        n, c = z.shape
        if c == 0:
            raise ShapeError("softmaxcrossentropy: logits have no classes; the class axis needs at least one")
        eps = self.label_smoothing
        shifted = z - xp.max(z, axis=1, keepdims=True)
        logp = shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
        if xp.isdtype(t.dtype, "integral"):
            if tuple(t.shape) != (n,):
                raise ShapeError(f"softmaxcrossentropy: class-index target of shape {tuple(t.shape)} for logits "
                                 f"of shape {tuple(z.shape)}")
            if n and not bool(xp.all((t >= 0) & (t < c))):
                raise ShapeError(f"softmaxcrossentropy: a target class is out of range for {c} classes (and "
                                 f"ignore_index is not supported on this array library yet)")
            q = xp.astype(xp.reshape(xp.arange(c), (1, c)) == xp.reshape(t, (n, 1)), z.dtype)
        elif xp.isdtype(t.dtype, "real floating"):
            if tuple(t.shape) != (n, c):
                raise ShapeError(f"softmaxcrossentropy: probability target of shape {tuple(t.shape)} for logits "
                                 f"of shape {tuple(z.shape)}")
            q = t
        else:
            raise DTypeError(f"softmaxcrossentropy: target must hold class indices or probabilities, got {t.dtype}")
        if eps:
            q = q * (1 - eps) + eps / c
        losses = -xp.sum(q * logp, axis=1)
        scale = (1.0 / n if n else float("nan")) if self.reduction == "mean" else 1.0
        self.saved = (logp, None, None, q, scale, single, logits, target)
        if self.reduction == "none":
            return losses[0, ...] if single else losses
        total = xp.sum(losses)
        return total * scale if self.reduction == "mean" else total

    def _backward_array_api(self, upstream):
        logp, _, _, q, scale, single, _, target = self.saved
        xp = namespace_of(logp)
        n = logp.shape[0]
        w = xp.reshape(upstream, (n, 1)) if self.reduction == "none" else upstream * scale
        need = self.needs_input_grad
        dz = (xp.exp(logp) * xp.sum(q, axis=1, keepdims=True) - q) * w if need[0] else None
        probabilities = not xp.isdtype(xp.asarray(target).dtype if is_foreign(target) else
                                       xp.asarray(np.asarray(target)).dtype, "integral")
        dt = -(1 - self.label_smoothing) * logp * w if probabilities and need[1] else None
        if single:
            dz = None if dz is None else dz[0, ...]
            dt = None if dt is None else dt[0, ...]
        return dz, dt

    def backward(self, upstream):
        if type(self.saved[0]) is not np.ndarray and is_foreign(self.saved[0]):
            return self._backward_array_api(upstream)
        logp, index, valid, q, scale, single, _, _ = self.saved
        n, c = logp.shape
        eps = self.label_smoothing
        if self.reduction == "none":
            w = np.reshape(upstream, (n, 1))
        else:
            w = upstream * scale  # a 0-d array: the same weight for every row
        need = self.needs_input_grad
        dz = dt = None
        if need[0]:
            p = np.exp(logp)
            if index is not None:  # softmax - q, with q one-hot smoothed
                dz = p
                dz[np.arange(n), index] -= 1 - eps
                if eps:
                    dz -= eps / c
                if valid is not None:
                    dz *= valid[:, None]
            else:
                dz = p * q.sum(axis=1, keepdims=True) - q
            dz = dz * w
        if index is None and need[1]:
            dt = -(1 - eps) * logp * w
        if single:
            dz = None if dz is None else dz[0]
            dt = None if dt is None else dt[0]
        return dz, dt

    def recorded_backward(self, upstream):
        logp, index, valid, q, scale, single, logits, target = self.saved
        n, c = logp.shape
        eps = self.label_smoothing
        z = logits.reshape(1, c) if single else logits
        w = upstream.reshape(n, 1) if self.reduction == "none" else upstream * scale
        need = self.needs_input_grad
        dz = dt = None
        if index is not None:  # q: the smoothed one-hot target, a constant
            q = np.full((n, c), eps / c, dtype=logp.dtype)
            q[np.arange(n), index] += 1 - eps
            if need[0]:
                dz = z.softmax(axis=-1) - q
                if valid is not None:
                    dz = dz * valid[:, None]
        elif numpy_dtype(target.dtype).kind in "iu":  # the standard's arrays: the smoothed one-hot q was saved
            if need[0]:
                dz = z.softmax(axis=-1) - q
        else:  # q as a function of the target, which may itself require grad
            t = target.reshape(1, c) if single else target
            q = t * (1 - eps) + eps / c if eps else t
            if need[0]:
                dz = z.softmax(axis=-1) * q.sum(axis=1, keepdims=True) - q
            if need[1]:
                dt = z.log_softmax(axis=-1) * w * -(1 - eps)
        dz = None if dz is None else dz * w
        if single:
            dz = None if dz is None else dz[0]
            dt = None if dt is None else dt[0]
        return dz, dt
