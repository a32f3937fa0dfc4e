"""The lecture's homework: linear regression trained by backpropagation written by hand.

Only the op blocks of ``chainrule.ops`` are used, no Tensor and no graph: each
block's ``forward`` computes a value and keeps its cache, and we call the
``backward`` methods ourselves, in reverse order, passing the upstream gradient
down (the chain rule, one local step at a time):

    μ = Xθ + b      Δ = μ − Y      L = Σ Δ²
    dL/dΔ² = 1  →  dL/dΔ = 2Δ  →  dL/dμ = dL/dΔ  →  dL/dθ = Xᵀ dL/dμ,  dL/db = Σ dL/dμ

θ starts from N(0, 1), as the lecture asks. Run: python examples/linreg_by_hand.py
"""

from __future__ import annotations

import numpy as np

from chainrule import ops


def make_data(n: int = 200, d: int = 3, seed: int = 0):
    """X (n, d) ~ N(0, 1), Y = X θ_true + b_true + 0.1 ε."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    theta_true = np.array([2.0, -1.0, 0.5])[:d]
    Y = X @ theta_true + 3.0 + 0.1 * rng.standard_normal(n)
    return X, Y, rng


def loss_and_gradients(X, Y, theta, b):
    """One forward pass (saving caches) and one backward pass, block by block."""
    matmul, add, sub, square, total = ops.MatMul(), ops.Add(), ops.Sub(), ops.Square(), ops.Sum()
    # forward: every block keeps what its backward will need
    xt = matmul.forward(X, theta)        # Xθ            cache: X, θ
    mu = add.forward(xt, b)              # μ = Xθ + b    cache: shapes
    delta = sub.forward(mu, Y)           # Δ = μ − Y     cache: shapes
    sq = square.forward(delta)           # Δ²            cache: Δ
    L = total.forward(sq)                # L = ΣΔ²       cache: shape
    # backward: upstream gradient in, local derivative times it out
    (d_sq,) = total.backward(np.ones_like(L))   # dL/dΔ² = 1
    (d_delta,) = square.backward(d_sq)          # dL/dΔ = 2Δ
    d_mu, _ = sub.backward(d_delta)             # dL/dμ = dL/dΔ   (Y needs no gradient)
    d_xt, d_b = add.backward(d_mu)              # dL/d(Xθ) = dL/dμ, dL/db = Σ dL/dμ
    _, d_theta = matmul.backward(d_xt)          # dL/dθ = Xᵀ dL/d(Xθ)
    return float(L), d_theta, d_b


def main(steps: int = 100, seed: int = 0) -> dict:
    X, Y, rng = make_data(seed=seed)
    theta = rng.standard_normal(X.shape[1])       # θ ~ N(0, 1)
    b = rng.standard_normal(())                   # b ~ N(0, 1)
    A = np.concatenate([X, np.ones((len(X), 1))], axis=1)
    lr = 1.0 / (2.0 * np.linalg.eigvalsh(A.T @ A)[-1])  # 1/λmax of the Hessian 2AᵀA: a safe step

    print(f"θ ~ N(0, 1) = {np.round(theta, 4)}, b = {b:.4f}; lr = {lr:.3g}")
    for step in range(steps + 1):
        L, d_theta, d_b = loss_and_gradients(X, Y, theta, b)
        if step in (0, 1, 2, 5, 10, 20, 50) or step == steps:
            print(f"step {step:4d}  L = {L:14.6f}  |dL/dθ| = {np.linalg.norm(d_theta):.3e}")
        if step < steps:
            theta = theta - lr * d_theta
            b = b - lr * d_b

    best, *_ = np.linalg.lstsq(A, Y, rcond=None)
    L_best = float(np.sum((A @ best - Y) ** 2))
    trained = np.append(theta, b)
    gap = (L - L_best) / L_best
    err = float(np.linalg.norm(trained - best) / np.linalg.norm(best))
    print(f"trained θ, b      = {np.round(trained, 6)}")
    print(f"least squares     = {np.round(best, 6)}")
    print(f"loss gap {gap:.2e} relative, θ error {err:.2e} relative")
    return {"loss": L, "optimum": L_best, "gap": gap, "theta_error": err}


if __name__ == "__main__":
    main()
