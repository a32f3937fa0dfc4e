"""The homework's part two: a two-layer network with tanh, trained by backpropagation written by hand.

Only the op blocks of ``chainrule.ops`` are used, no Tensor and no graph. Each
block's ``forward`` computes a value and keeps its cache; we call the
``backward`` methods ourselves, last block first, handing each the upstream
gradient (the chain rule, one local step at a time):

    Z1 = X W1 + b1     H = tanh(Z1)     Z2 = H W2 + b2     L = mean cross-entropy(softmax(Z2), y)

    dL/dZ2 = (softmax(Z2) − onehot(y)) / n
    dL/dW2 = Hᵀ dL/dZ2,   dL/db2 = Σ dL/dZ2,   dL/dH = dL/dZ2 W2ᵀ
    dL/dZ1 = dL/dH · (1 − H²)                       (the tanh's local derivative)
    dL/dW1 = Xᵀ dL/dZ1,   dL/db1 = Σ dL/dZ1

The data are two interleaving half moons: no straight line separates them, so
a linear model cannot do it; the hidden tanh layer bends the boundary.
Before training, the hand-made gradient is checked against finite differences.
Run: python examples/mlp_by_hand.py
"""

from __future__ import annotations

import numpy as np

from chainrule import ops


def make_moons(n: int = 400, noise: float = 0.15, seed: int = 0):
    """Two half circles (class 0 on top, class 1 below and shifted) with Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    y = rng.integers(0, 2, n)
    X = np.where(y[:, None] == 0,
                 np.column_stack([np.cos(t), np.sin(t)]),
                 np.column_stack([1 - np.cos(t), 0.5 - np.sin(t)]))
    X = X + noise * rng.standard_normal(X.shape)
    return (X - X.mean(axis=0)) / X.std(axis=0), y, rng


def forward_backward(X, y, params):
    """One forward pass (every block saves its cache) and one backward pass, block by block."""
    W1, b1, W2, b2 = params
    mm1, add1, tanh, mm2, add2 = ops.MatMul(), ops.Add(), ops.Tanh(), ops.MatMul(), ops.Add()
    ce = ops.SoftmaxCrossEntropy()               # log-softmax + negative log-likelihood, mean over objects
    # forward
    Z1 = add1.forward(mm1.forward(X, W1), b1)    # Z1 = X W1 + b1        caches: X, W1
    H = tanh.forward(Z1)                         # H = tanh(Z1)          cache: H
    Z2 = add2.forward(mm2.forward(H, W2), b2)    # Z2 = H W2 + b2        caches: H, W2
    L = ce.forward(Z2, y)                        # L                     cache: log softmax(Z2)
    # backward: upstream gradient in, local derivative times it out
    dZ2, _ = ce.backward(np.ones(()))            # (softmax − onehot)/n; the labels get no gradient
    dHW2, db2 = add2.backward(dZ2)               # through the sum: the same gradient to both, b2's summed
    dH, dW2 = mm2.backward(dHW2)                 # dH = dZ2 W2ᵀ,  dW2 = Hᵀ dZ2
    (dZ1,) = tanh.backward(dH)                   # dZ1 = dH (1 − H²)
    dXW1, db1 = add1.backward(dZ1)
    _, dW1 = mm1.backward(dXW1)                  # dW1 = Xᵀ dZ1  (X's own gradient is not used)
    return float(L), Z2, (dW1, db1, dW2, db2)


def loss_only(X, y, params):
    W1, b1, W2, b2 = params
    H = np.tanh(X @ W1 + b1)
    return float(ops.SoftmaxCrossEntropy().forward(H @ W2 + b2, y))


def finite_difference_check(X, y, params, grads, eps: float = 1e-6, per_param: int = 5, seed: int = 1) -> float:
    """Largest |backprop − central difference| over a few random entries of every parameter."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for p, g in zip(params, grads):
        flat, gflat = p.reshape(-1), g.reshape(-1)
        for j in rng.choice(flat.size, size=min(per_param, flat.size), replace=False):
            old = flat[j]
            flat[j] = old + eps
            up = loss_only(X, y, params)
            flat[j] = old - eps
            down = loss_only(X, y, params)
            flat[j] = old
            worst = max(worst, abs((up - down) / (2 * eps) - gflat[j]))
    return worst


def main(hidden: int = 16, steps: int = 1500, lr: float = 0.5, seed: int = 0) -> dict:
    X, y, rng = make_moons(seed=seed)
    # initial weights from N(0, 1) as in the homework, scaled by 1/√fan_in so tanh starts unsaturated
    W1 = rng.standard_normal((2, hidden)) / np.sqrt(2)
    b1 = np.zeros(hidden)
    W2 = rng.standard_normal((hidden, 2)) / np.sqrt(hidden)
    b2 = np.zeros(2)
    params = [W1, b1, W2, b2]

    L, _, grads = forward_backward(X, y, params)
    fd = finite_difference_check(X, y, params, grads)
    print(f"2 → {hidden} (tanh) → 2 network on {len(X)} moon points; L = {L:.6f} at the start")
    print(f"backprop by hand vs finite differences: max |difference| = {fd:.2e}")

    for step in range(steps + 1):
        L, Z2, grads = forward_backward(X, y, params)
        if step in (0, 10, 50, 100, 300) or step % 500 == 0:
            acc = float(np.mean(Z2.argmax(axis=1) == y))
            print(f"step {step:5d}  L = {L:.6f}  accuracy = {acc:.3f}")
        if step < steps:
            for p, g in zip(params, grads):
                p -= lr * g                     # gradient descent, in place
    accuracy = float(np.mean(Z2.argmax(axis=1) == y))
    print(f"final: L = {L:.6f}, training accuracy {accuracy:.3f}")
    return {"loss": L, "accuracy": accuracy, "finite_difference_error": fd}


if __name__ == "__main__":
    main()
