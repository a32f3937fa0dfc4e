"""Activation blocks: the non-linearities of the lecture's part two."""

from __future__ import annotations

import numpy as np
from numpy import maximum, multiply, ndarray, tanh

from ..backend import cast, is_foreign, masked, namespace_of, values_of, xp_of
from .base import Op, Written, zero_of
from .elementwise import Where, _either


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow: exp is only taken of -|x|."""
    xp = namespace_of(x) if is_foreign(x) else np
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class _Activation(Op):
    """An elementwise activation, offered as a function, a Tensor method and in expressions."""

    arity = 1
    fresh_grads = True
    in_expressions = True


class ReLU(_Activation):
    """y = max(x, 0);  dy/dx = [x > 0] (0 at x = 0, as in PyTorch).  Shapes: x (...) -> y (...).

    In the graph, backward masks the upstream gradient in place when the engine says it
    is free (:attr:`Op.upstream_is_free`): in an MLP that saves a fresh array per layer
    (see ``benchmarks/README.md``).
    """

    functions = methods = ("relu",)
    reuses_upstream = True
    backward_records = True  # the mask is a constant; the engine never frees a recorded upstream
    array_api = True
    saves = ("out",)  # the output is the cache: out > 0 exactly where x > 0

    def forward(self, x):
        if type(x) is not ndarray:
            if is_foreign(x):
                xp = namespace_of(x)
                out = xp.maximum(x, xp.zeros((), dtype=x.dtype))
                self.saved = (out,)
                return out
            x = np.asarray(x)
        out = maximum(x, zero_of(x.dtype))
        self.saved = (out,)
        return out

    def backward(self, upstream):
        (out,) = self.saved
        if type(out) is not ndarray and is_foreign(values_of(out)):  # the standard multiplies no booleans into
            # floats (out a Tensor in a recorded backward: its comparison gives an array)
            return (upstream * cast(out != 0, upstream.dtype),)
        # out != 0 is out > 0 for out = max(x, 0), except at NaN, whose gradient passes as in PyTorch
        mask = out != zero_of(out.dtype)
        if self.upstream_is_free and upstream.shape == out.shape:
            return (multiply(upstream, mask, out=upstream),)
        return (upstream * mask,)

    def written(self, n, y, x):
        return Written(n.call("relu", x), (n.indicator(x, ">", "0"),))


class LeakyReLU(_Activation):
    """y = x if x > 0 else s*x;  dy/dx = 1 if x > 0 else s.  Shapes: x (...) -> y (...)."""

    functions = methods = ("leaky_relu",)
    saves = ("mask",)
    array_api = True

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = float(negative_slope)

    def params(self):
        return {"negative_slope": self.negative_slope}

    def forward(self, x):
        mask = x > 0
        self.saved = (mask,)
        return xp_of(x).where(mask, x, x * self.negative_slope)

    def backward(self, upstream):
        (mask,) = self.saved
        return (xp_of(upstream).where(mask, upstream, upstream * self.negative_slope),)

    def recorded_backward(self, upstream):
        (mask,) = self.saved
        return (Where.apply(mask, upstream, upstream * self.negative_slope),)

    def written(self, n, y, x):
        s = self.negative_slope
        return Written(n.call("leaky_relu", x),
                       (n.add(n.indicator(x, ">", "0"), n.mul(n.num(s), n.indicator(x, "≤", "0"))),))


class Sigmoid(_Activation):
    """y = 1 / (1 + exp(-x));  dy/dx = y (1 - y).  Shapes: x (...) -> y (...).

    Computed from exp(-|x|), so no overflow warning or NaN for any finite x.
    """

    functions = methods = ("sigmoid",)
    symbol = "σ"
    saves = ("out",)
    backward_records = True
    array_api = True

    def forward(self, x):
        out = stable_sigmoid(x)
        self.saved = (out,)
        return out

    def backward(self, upstream):
        (out,) = self.saved
        gy = upstream * out
        return (gy - gy * out,)  # upstream · y(1 - y), with no Python number for NumPy to promote

    def written(self, n, y, x):
        return Written(n.sigma(x), (n.mul(y, n.sub(n.one, y)),))


class Tanh(_Activation):
    """y = tanh(x);  dy/dx = 1 - y**2.  Shapes: x (...) -> y (...)."""

    functions = methods = ("tanh",)
    saves = ("out",)
    backward_records = True
    array_api = True

    def forward(self, x):
        out = tanh(x) if type(x) is ndarray or not is_foreign(x) else namespace_of(x).tanh(x)
        self.saved = (out,)
        return out

    def backward(self, upstream):
        (out,) = self.saved
        gy = upstream * out
        return (upstream - gy * out,)  # upstream · (1 - y²), with no Python number for NumPy to promote

    def written(self, n, y, x):
        return Written(n.call("tanh", x), (n.sub(n.one, n.pow(y, 2)),))


class Softplus(_Activation):
    """y = log(1 + exp(x));  dy/dx = sigmoid(x).  Shapes: x (...) -> y (...).

    Computed as max(x, 0) + log1p(exp(-|x|)), exact and without overflow.
    """

    functions = methods = ("softplus",)
    saves = ("x",)
    array_api = True

    def forward(self, x):
        self.saved = (x,)
        xp = xp_of(x)
        zero = 0 if xp is np else xp.zeros((), dtype=x.dtype)
        return xp.maximum(x, zero) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, upstream):
        (x,) = self.saved
        return (upstream * stable_sigmoid(x),)

    def recorded_backward(self, upstream):
        (x,) = self.saved
        return (upstream * x.sigmoid(),)

    def written(self, n, y, x):
        return Written(n.call("softplus", x), (n.sigma(x),))


def _sigmoid(x):
    """σ(x) of an array (stable) or, in a recorded backward, of a Tensor (its recorded sigmoid)."""
    return stable_sigmoid(x) if isinstance(x, (np.ndarray, np.generic, int, float)) or is_foreign(x) else x.sigmoid()


_abs = _either("abs")


class SiLU(_Activation):
    """y = x σ(x) (swish);  dy/dx = σ(x) (1 + x (1 − σ(x))).  Shapes: x (...) -> y (...)."""

    functions = methods = ("silu",)
    saves = ("x",)
    array_api = True
    backward_records = True  # σ through _sigmoid: NumPy's on arrays, the recorded op on Tensors

    def forward(self, x):
        self.saved = (x,)
        return x * stable_sigmoid(x)

    def backward(self, upstream):
        (x,) = self.saved
        s = _sigmoid(x)
        return (upstream * (s * (x * (1 - s) + 1)),)

    def written(self, n, y, x):
        s = n.sigma(x)
        return Written(n.call("silu", x), (n.mul(s, n.add(n.one, n.mul(x, n.sub(n.one, s)))),))


class ELU(_Activation):
    """y = x if x > 0 else α (exp(x) − 1);  dy/dx = 1 if x > 0 else α exp(x) = y + α.  Shapes: x (...) -> y (...)."""

    functions = methods = ("elu",)
    saves = ("x", "out")
    array_api = True

    def __init__(self, alpha: float = 1.0):
        self.alpha = float(alpha)

    def params(self):
        return {"alpha": self.alpha}

    def forward(self, x):
        xp = xp_of(x)
        if xp is not np:
            out = xp.where(x > 0, x, self.alpha * xp.expm1(xp.minimum(x, xp.zeros((), dtype=x.dtype))))
            self.saved = (x, out)
            return out
        out = np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))  # expm1 of x <= 0 only: no overflow
        out = out.astype(np.result_type(x), copy=False)
        self.saved = (x, out)
        return out

    def backward(self, upstream):
        x, out = self.saved
        xp = xp_of(upstream)
        if xp is not np:
            return (upstream * xp.where(x > 0, xp.ones_like(out), out + self.alpha),)
        return (upstream * np.where(x > 0, 1, out + self.alpha).astype(upstream.dtype, copy=False),)

    def recorded_backward(self, upstream):
        x, out = self.saved
        return (Where.apply(x > 0, upstream, upstream * (out + self.alpha)),)

    def written(self, n, y, x):
        return Written(n.call("elu", x), (n.add(n.indicator(x, ">", "0"),
                                                n.mul(n.add(y, n.num(self.alpha)), n.indicator(x, "≤", "0"))),))


class Softsign(_Activation):
    """y = x / (1 + |x|);  dy/dx = 1 / (1 + |x|)².  Shapes: x (...) -> y (...)."""

    functions = methods = ("softsign",)
    saves = ("x",)
    backward_records = True
    array_api = True

    def forward(self, x):
        self.saved = (x,)
        return x / (1 + _abs(x))

    def backward(self, upstream):
        (x,) = self.saved
        d = _abs(x) + 1
        return (upstream / (d * d),)

    def written(self, n, y, x):
        return Written(n.call("softsign", x), (n.div(n.one, n.pow(n.add(n.one, n.call("abs", x)), 2)),))


class Hardtanh(_Activation):
    """y = min(max(x, min_val), max_val);  dy/dx = 1 where min_val < x < max_val, else 0 (as PyTorch).

    Shapes: x (...) -> y (...).
    """

    functions = methods = ("hardtanh",)
    saves = ("x",)
    backward_records = True  # the upstream times a mask
    array_api = True

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0):
        if not min_val < max_val:
            raise ValueError(f"hardtanh: min_val must be below max_val, got {min_val} and {max_val}")
        self.min_val, self.max_val = float(min_val), float(max_val)

    def params(self):
        return {"min_val": self.min_val, "max_val": self.max_val}

    def forward(self, x):
        self.saved = (x,)
        return xp_of(x).clip(x, self.min_val, self.max_val)

    def backward(self, upstream):
        (x,) = self.saved
        return (masked(upstream, (x > self.min_val) & (x < self.max_val)),)

    def written(self, n, y, x):
        return Written(n.call("hardtanh", x),
                       (n.indicator(n.num(self.min_val), "<", f"{x} < {n.num(self.max_val)}"),))
