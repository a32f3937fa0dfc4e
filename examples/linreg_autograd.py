"""The same linear regression, with the graph doing the chain rule: Tensor, nn and optim.

Compare with ``linreg_by_hand.py``: the model is ``nn.LinearRegression`` (θ ~ N(0, 1)),
the loss the lecture's L = ΣΔ² (``nn.SumSquaredError``), and ``loss.backward()``
walks the recorded graph backwards. Then the same with ``chainrule.fit``.
Run: python examples/linreg_autograd.py
"""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import data, nn, optim


def main(steps: int = 100, seed: int = 0) -> dict:
    ds = data.make_linear(n_samples=200, n_features=3, noise=0.1, rng=seed)
    X, Y = ds.X, ds.Y
    rng = np.random.default_rng(seed)
    model = nn.LinearRegression(3, rng=rng)        # weight (1, 3) and bias (1,), both ~ N(0, 1)
    loss_fn = nn.SumSquaredError()                 # L = Σ(μ − Y)²
    lr = cr.train.auto_lr(X)                       # 1/λmax of the Hessian 2AᵀA
    opt = optim.SGD(model.parameters(), lr=lr)     # full batch: gradient descent

    for step in range(steps + 1):
        opt.zero_grad()
        loss = loss_fn(model(X), Y)                # forward: records the graph
        loss.backward()                            # backward: the chain rule, automatically
        if step in (0, 1, 2, 5, 10, 20, 50) or step == steps:
            print(f"step {step:4d}  L = {loss.item():14.6f}  dL/dθ = {np.round(model.weight.grad[0], 4)}")
        if step < steps:
            opt.step()                             # θ ← θ − lr · dL/dθ, in place

    best = nn.LinearRegression.closed_form(X, Y)
    L_best = loss_fn(best(X), Y).item()
    L = loss.item()
    err = float(np.linalg.norm(model.theta - best.theta) / np.linalg.norm(best.theta))
    print(f"trained θ, b  = {np.round(model.theta, 6)}")
    print(f"least squares = {np.round(best.theta, 6)}")
    print(f"true θ, b     = {np.round(ds.info['true_weight'], 6)}, {ds.info['true_bias']}")
    print(f"loss gap {(L - L_best) / L_best:.2e} relative, θ error {err:.2e} relative")

    # The same training with the library's loop, which also keeps a history.
    again = nn.LinearRegression(3, rng=np.random.default_rng(seed))
    history = cr.fit(again, loss_fn, optim.SGD(again.parameters(), lr=lr), (X, Y), epochs=steps,
                     optimum=L_best, progress=False)
    print(f"fit(): {len(history)} epochs, final gap {history.gap[-1]:.2e}")
    return {"loss": L, "optimum": L_best, "gap": (L - L_best) / L_best, "theta_error": err,
            "fit_gap": history.gap[-1]}


if __name__ == "__main__":
    main()
