"""Activation blocks: the non-linearities of the lecture's part two."""

from __future__ import annotations

import numpy as np
from numpy import maximum, multiply, ndarray, tanh  # globals: cheaper to read than np.name (see chainrule.ops.base)

from .base import Op, zero_of


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow: exp is only taken of -|x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class ReLU(Op):
    """y = max(x, 0);  dy/dx = [x > 0] (0 at x = 0, as in PyTorch).  Shapes: x (...) -> y (...).

    In the graph, backward masks the upstream gradient in place when the engine says it
    is free (:attr:`Op.upstream_is_free`): in an MLP that saves a fresh array per layer
    and its trip through the caches, 2-3 % of a medium training step (measured).
    """

    arity = 1
    reuses_upstream = True

    def forward(self, x):
        if type(x) is not ndarray:
            x = np.asarray(x)
        self.zero = zero = zero_of(x.dtype)  # cheaper for NumPy than the number 0 (see zero_of)
        self.out = maximum(x, zero)  # the output is the cache: out > 0 exactly where x > 0
        return self.out

    def backward(self, upstream):
        out = self.out
        if self.upstream_is_free and upstream.shape == out.shape:
            return (multiply(upstream, out > self.zero, out=upstream),)
        return (upstream * (out > self.zero),)


class LeakyReLU(Op):
    """y = x if x > 0 else s*x;  dy/dx = 1 if x > 0 else s.  Shapes: x (...) -> y (...)."""

    arity = 1

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = float(negative_slope)

    def params(self):
        return {"negative_slope": self.negative_slope}

    def forward(self, x):
        self.mask = x > 0
        return np.where(self.mask, x, x * self.negative_slope)

    def backward(self, upstream):
        return (np.where(self.mask, upstream, upstream * self.negative_slope),)


class Sigmoid(Op):
    """y = 1 / (1 + exp(-x));  dy/dx = y (1 - y).  Shapes: x (...) -> y (...).

    Computed from exp(-|x|), so no overflow warning or NaN for any finite x.
    """

    arity = 1

    def forward(self, x):
        self.out = stable_sigmoid(x)
        return self.out

    def backward(self, upstream):
        gy = upstream * self.out
        return (gy - gy * self.out,)  # upstream · y(1 - y), with no Python number for NumPy to promote


class Tanh(Op):
    """y = tanh(x);  dy/dx = 1 - y**2.  Shapes: x (...) -> y (...)."""

    arity = 1

    def forward(self, x):
        self.out = tanh(x)
        return self.out

    def backward(self, upstream):
        gy = upstream * self.out
        return (upstream - gy * self.out,)  # upstream · (1 - y²), with no Python number for NumPy to promote


class Softplus(Op):
    """y = log(1 + exp(x));  dy/dx = sigmoid(x).  Shapes: x (...) -> y (...).

    Computed as max(x, 0) + log1p(exp(-|x|)), exact and without overflow.
    """

    arity = 1

    def forward(self, x):
        self.x = x
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))

    def backward(self, upstream):
        return (upstream * stable_sigmoid(self.x),)
