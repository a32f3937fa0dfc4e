"""Benchmark: time for full-batch gradient descent to reach 1e-6 (relative) of the least-squares optimum.

The same problem, the same start θ₀ ~ N(0, 1), the same step lr = 1/λmax(2AᵀA),
the same stopping rule (L(θ) ≤ (1 + 1e-6) L*), run four ways in one process:

* ``numpy``          – hand-written NumPy: r = Xw + b − Y, L = rᵀr, g = 2Xᵀr, 2Σr;
* ``chainrule``      – ``nn.LinearRegression`` + ``nn.SumSquaredError`` + ``optim.SGD``,
                       a plain loop of zero_grad / forward / backward / step;
* ``chainrule.fit``  – the same through :func:`chainrule.fit` (history, gap, stopping);
* ``torch``          – PyTorch eager (float64): ``nn.Linear`` + sum of squares + ``optim.SGD``.

Problems: diabetes (442 × 10, standardised) and a synthetic set n × 100
(default n = 100,000 so it runs in seconds; ``--full`` gives the issue's
1,000,000 × 100, about 800 MB per copy of X).

Usage::

    python benchmarks/linreg.py                   # quick
    python benchmarks/linreg.py --full            # 1,000,000 x 100
    python benchmarks/linreg.py --large-n 300000 --repeats 5

Writes ``benchmarks/results/linreg.json`` and prints a table. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

import chainrule as cr
from chainrule import nn, optim

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "linreg.json")
REL = 1e-6


def problem_diabetes():
    ds = cr.data.load_diabetes()
    X = cr.data.Standardizer().fit_transform(ds.X)
    return "diabetes 442x10 (standardised)", X, ds.Y.astype(np.float64)


def problem_synthetic(n: int, d: int, seed: int = 0):
    ds = cr.data.make_linear(n_samples=n, n_features=d, noise=0.5, rng=seed)
    return f"synthetic {n:,}x{d}", ds.X, ds.Y


def optimum(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """θ* (weights then bias), L* and the step size 1/λmax(2AᵀA), via the Gram matrix."""
    n, d = X.shape
    G = np.empty((d + 1, d + 1))
    G[:d, :d] = X.T @ X
    s = X.sum(axis=0)
    G[:d, d] = G[d, :d] = s
    G[d, d] = n
    rhs = np.append(X.T @ Y, Y.sum())
    if n > 20000:  # well-conditioned large sets: the normal equations are exact enough and much faster
        theta = np.linalg.solve(G, rhs)
    else:
        theta = np.linalg.lstsq(np.c_[X, np.ones(n)], Y, rcond=None)[0]
    r = X @ theta[:d] + theta[d] - Y
    lr = 1.0 / (2.0 * np.linalg.eigvalsh(G)[-1])
    return theta, float(r @ r), lr


def run_numpy(X, Y, theta0, lr, target, max_iters):
    w, b = theta0[:-1].copy(), float(theta0[-1])
    for it in range(max_iters):
        r = X @ w + b - Y
        L = float(r @ r)
        if L <= target:
            return it, L
        w -= lr * 2.0 * (X.T @ r)
        b -= lr * 2.0 * float(r.sum())
    return max_iters, L


def run_chainrule(X, Y, theta0, lr, target, max_iters):
    model = nn.LinearRegression(X.shape[1], rng=0).set_theta(theta0)
    loss_fn = nn.SumSquaredError()
    opt = optim.SGD(model.parameters(), lr=lr)
    for it in range(max_iters):
        opt.zero_grad()
        loss = loss_fn(model(X), Y)
        L = loss.item()
        if L <= target:
            return it, L
        loss.backward()
        opt.step()
    return max_iters, L


def run_fit(X, Y, theta0, lr, target, max_iters):
    model = nn.LinearRegression(X.shape[1], rng=0).set_theta(theta0)
    L_star = target / (1 + REL)
    h = cr.fit(model, nn.SumSquaredError(), optim.SGD(model.parameters(), lr=lr), (X, Y), epochs=max_iters,
               optimum=L_star, target_gap=REL, progress=False)
    steps = len(h) - (1 if h.stop_reason == "target" and h.grad_norm[-1] != h.grad_norm[-1] else 0)
    return steps, h.train_loss[-1]  # the last epoch only checked the target (no step, grad_norm NaN)


def run_torch(X, Y, theta0, lr, target, max_iters):
    import torch

    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    lin = torch.nn.Linear(X.shape[1], 1, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(theta0[:-1]).reshape(1, -1))
        lin.bias.fill_(float(theta0[-1]))
    opt = torch.optim.SGD(lin.parameters(), lr=lr)
    for it in range(max_iters):
        opt.zero_grad()
        loss = ((lin(Xt).squeeze(1) - Yt) ** 2).sum()
        L = loss.item()
        if L <= target:
            return it, L
        loss.backward()
        opt.step()
    return max_iters, L


def time_methods(methods, args, repeats: int) -> dict[str, tuple[float, int, float]]:
    """Fastest of ``repeats`` runs per method; the methods take turns, so a busy machine slows all alike."""
    best: dict[str, tuple[float, int, float]] = {}
    for _ in range(repeats):
        for label, fn in methods:
            start = time.perf_counter()
            iters, L = fn(*args)
            seconds = time.perf_counter() - start
            if label not in best or seconds < best[label][0]:
                best[label] = (seconds, iters, L)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--large-n", type=int, default=100_000, help="objects of the synthetic set (default 100,000)")
    p.add_argument("--full", action="store_true", help="the issue's size: 1,000,000 x 100")
    p.add_argument("--features", type=int, default=100, help="features of the synthetic set (default 100)")
    p.add_argument("--repeats", type=int, default=5, help="runs per method; the fastest counts (default 5)")
    p.add_argument("--max-iters", type=int, default=200_000, help="give up after this many steps")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    p.add_argument("--skip-diabetes", action="store_true")
    p.add_argument("--output", default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = p.parse_args(argv)
    n_large = 1_000_000 if args.full else args.large_n

    methods = [("numpy", run_numpy), ("chainrule", run_chainrule), ("chainrule.fit", run_fit)]
    if not args.no_torch:
        try:
            import torch

            methods.append(("torch", run_torch))
            torch_version = torch.__version__
        except ImportError:
            torch_version = None
            print("PyTorch not installed: skipping it", file=sys.stderr)
    else:
        torch_version = None

    problems = []
    if not args.skip_diabetes:
        problems.append(problem_diabetes)
    problems.append(lambda: problem_synthetic(n_large, args.features))

    results = []
    for make in problems:
        name, X, Y = make()
        X = np.ascontiguousarray(X, dtype=np.float64)
        Y = np.ascontiguousarray(Y, dtype=np.float64)
        theta_star, L_star, lr = optimum(X, Y)
        theta0 = np.random.default_rng(0).standard_normal(X.shape[1] + 1)  # θ₀ ~ N(0, 1)
        target = L_star * (1 + REL)
        rows = {}
        timed = time_methods(methods, (X, Y, theta0, lr, target, args.max_iters), args.repeats)
        for label, (seconds, iters, L) in timed.items():
            rows[label] = {"seconds": seconds, "iterations": iters, "final_loss": L,
                           "gap": (L - L_star) / L_star, "reached": L <= target * (1 + 1e-12)}
        base = rows["numpy"]["seconds"]
        for r in rows.values():
            r["ratio_vs_numpy"] = r["seconds"] / base
        results.append({"problem": name, "n": X.shape[0], "d": X.shape[1], "lr": lr, "optimum_loss": L_star,
                        "methods": rows})
        print(f"\n{name}: L* = {L_star:.8g}, lr = {lr:.4g}, target L <= (1 + {REL:g}) L*")
        print(f"  {'method':<15}{'iterations':>11}{'seconds':>11}{'ms/iter':>10}{'vs numpy':>10}{'gap':>11}")
        for label, r in rows.items():
            per = 1000 * r["seconds"] / max(r["iterations"], 1)
            print(f"  {label:<15}{r['iterations']:>11d}{r['seconds']:>11.4f}{per:>10.4f}"
                  f"{r['ratio_vs_numpy']:>9.2f}x{r['gap']:>11.2e}")
        del X, Y

    report = {
        "benchmark": "full-batch GD to 1e-6 relative of the least-squares optimum",
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "torch": torch_version,
                    "chainrule": cr.__version__, "cpus": os.cpu_count(), "platform": platform.platform()},
        "repeats": args.repeats,
        "results": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
