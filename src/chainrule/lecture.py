"""The lecture's worked linear regression, computed the three ways the course teaches.

μ = Xθ, Δ = μ − Y, L = ΣΔ²; dL/dθ = 2Xᵀ(Xθ − Y). Used by ``chainrule demo``
and by the tests that prove the three ways agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import ops
from .gradcheck import gradcheck
from .tensor import Tensor


def make_problem(n_objects: int = 6, n_features: int = 3, seed: int = 0):
    """A tiny regression problem and the lecture's starting point θ ~ N(0, 1).

    Returns ``(X, Y, theta)`` with shapes (n, d), (n,), (d,), float64.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_objects, n_features))
    true_theta = rng.standard_normal(n_features)
    Y = X @ true_theta + 0.1 * rng.standard_normal(n_objects)
    theta = rng.standard_normal(n_features)  # the lecture's initial θ ~ N(0, 1)
    return X, Y, theta


def loss_by_hand(X: np.ndarray, Y: np.ndarray, theta: np.ndarray) -> tuple[float, np.ndarray]:
    """L and dL/dθ with the op blocks alone: forward saving caches, then backward.

    This is the lecture's homework, line by line.
    """
    matmul, sub, square, total = ops.MatMul(), ops.Sub(), ops.Square(), ops.Sum()
    mu = matmul.forward(X, theta)  # μ = Xθ          (cache: X, θ)
    delta = sub.forward(mu, Y)  # Δ = μ − Y        (cache: shapes)
    sq = square.forward(delta)  # Δ²               (cache: Δ)
    L = total.forward(sq)  # L = ΣΔ²          (cache: shape)
    dL = np.ones_like(L)  # dL/dL = 1
    (dsq,) = total.backward(dL)  # dL/dΔ² = 1 for every object
    (ddelta,) = square.backward(dsq)  # dL/dΔ = 2Δ
    dmu, _ = sub.backward(ddelta)  # dL/dμ = dL/dΔ
    _, dtheta = matmul.backward(dmu)  # dL/dθ = Xᵀ dL/dμ
    return float(L), dtheta


def loss_tensor(X, Y, theta: Tensor) -> Tensor:
    """L = Σ(Xθ − Y)² on Tensors."""
    return ((X @ theta - Y) ** 2).sum()


@dataclass
class ThreeWays:
    """dL/dθ by hand, through Tensor, by finite differences, and by the formula."""

    loss: float
    by_hand: np.ndarray
    by_tensor: np.ndarray
    numerical: np.ndarray
    formula: np.ndarray

    def max_disagreement(self) -> float:
        """Largest absolute difference between any two of the four gradients."""
        grads = [self.by_hand, self.by_tensor, self.numerical, self.formula]
        return max(float(np.max(np.abs(a - b))) for a in grads for b in grads)


def linreg_three_ways(X, Y, theta) -> ThreeWays:
    """Compute the lecture's dL/dθ three ways and by the closed formula 2Xᵀ(Xθ − Y)."""
    loss, by_hand = loss_by_hand(X, Y, theta)
    t = Tensor(np.array(theta, dtype=np.float64), requires_grad=True)
    loss_tensor(X, Y, t).backward()
    check = gradcheck(lambda th: loss_tensor(X, Y, th), [theta])
    numerical = check.checks[0].numeric
    formula = 2 * X.T @ (X @ theta - Y)
    return ThreeWays(loss, by_hand, t.grad, numerical, formula)
