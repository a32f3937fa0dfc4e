"""One Newton step against thousands of gradient-descent steps: the lecture's linear regression.

The loss L(θ) = Σ(Xθ + b − Y)² is a quadratic: its Hessian, 2[X 1]ᵀ[X 1], is the same
everywhere, so Newton's method, θ ← θ − H⁻¹ ∇L, lands on the least-squares solution in
one step from any start. Gradient descent, the lecture's way, takes small steps along
−∇L and needs thousands of them on the diabetes data, whose features are correlated
(the Hessian's condition number is the price).

The Hessian comes from ``chainrule.func.hessian`` (a derivative of the recorded
gradient, ``create_graph=True``), over the model's own parameters through
``chainrule.func.functional_call``. Run: python examples/newton_linreg.py
"""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import data, nn, optim


def diabetes() -> tuple[np.ndarray, np.ndarray]:
    """The diabetes data (442 patients, 10 features), features standardised."""
    ds = data.load_diabetes()
    return data.Standardizer().fit(ds.X).transform(ds.X), ds.Y


def parameters_vector(model: nn.LinearRegression) -> np.ndarray:
    return np.concatenate([model.weight.numpy().ravel(), model.bias.numpy().ravel()])


def newton_step(model: nn.LinearRegression, loss_fn, X, Y) -> np.ndarray:
    """θ − H⁻¹ ∇L at the model's parameters, with H from chainrule.func.hessian."""
    params = dict(model.named_parameters())  # {"weight": (1, d), "bias": (1,)}
    names = list(params)

    def loss_at(p):
        return loss_fn(cr.func.functional_call(model, p, (X,)), Y)

    H = cr.func.hessian(loss_at, params)  # a dict of dicts: H[a][b] has shape a.shape + b.shape
    sizes = [params[k].size for k in names]
    H = np.block([[H[a][b].numpy().reshape(sa, sb) for b, sb in zip(names, sizes)] for a, sa in zip(names, sizes)])
    g = np.concatenate([gi.ravel() for gi in cr.grad(loss_at(params), list(params.values()))])
    return parameters_vector(model) - np.linalg.solve(H, g), H


def gradient_descent_steps(model: nn.LinearRegression, loss_fn, X, Y, best: np.ndarray, tol: float,
                           max_steps: int = 200_000) -> int:
    """Full-batch gradient descent (step 1/λmax of the Hessian) until θ is within ``tol`` of ``best``."""
    opt = optim.SGD(model.parameters(), lr=cr.train.auto_lr(X))
    for step in range(max_steps + 1):
        if np.linalg.norm(parameters_vector(model) - best) <= tol * np.linalg.norm(best):
            return step
        opt.zero_grad()
        loss_fn(model(X), Y).backward()
        opt.step()
    return max_steps


def main(tol: float = 1e-8, seed: int = 0, max_steps: int = 200_000) -> dict:
    X, Y = diabetes()
    best = nn.least_squares(X, Y)  # the closed form, (d + 1,): weights, then the bias
    loss_fn = nn.SumSquaredError()

    model = nn.LinearRegression(X.shape[1], rng=np.random.default_rng(seed))  # θ ~ N(0, 1)
    theta0 = parameters_vector(model)
    theta1, H = newton_step(model, loss_fn, X, Y)
    newton_error = float(np.linalg.norm(theta1 - best) / np.linalg.norm(best))
    cond = float(np.linalg.cond(H))
    print(f"diabetes: {X.shape[0]} patients, {X.shape[1]} standardised features; Hessian 2[X 1]ᵀ[X 1], "
          f"condition number {cond:.0f}")
    print(f"Newton:           1 step   from θ ~ N(0, 1): relative distance to least squares {newton_error:.1e}")

    gd = nn.LinearRegression(X.shape[1], rng=np.random.default_rng(seed))  # the same start
    assert np.array_equal(parameters_vector(gd), theta0)
    steps = gradient_descent_steps(gd, loss_fn, X, Y, best, tol, max_steps)
    gd_error = float(np.linalg.norm(parameters_vector(gd) - best) / np.linalg.norm(best))
    print(f"gradient descent: {steps} steps from the same θ: relative distance {gd_error:.1e} "
          f"(step size 1/λmax, until within {tol:g})")
    return {"newton_error": newton_error, "newton_steps": 1, "gd_steps": steps, "gd_error": gd_error,
            "hessian": H, "condition": cond}


if __name__ == "__main__":
    main()
