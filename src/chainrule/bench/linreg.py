"""Full-batch gradient descent to 1e-6 (relative) of the least-squares optimum: time and time per step.

The same problem, the same start θ₀ ~ N(0, 1), the same step lr = 1/λmax(2AᵀA),
the same stopping rule (L(θ) ≤ (1 + 1e-6) L*), run four ways in one process:

* ``numpy``          hand-written NumPy: r = Xw + b − Y, L = rᵀr, g = 2Xᵀr, 2Σr (the floor);
* ``chainrule``      ``nn.LinearRegression`` + ``nn.SumSquaredError`` + ``optim.SGD``,
                     a plain loop of zero_grad / forward / backward / step;
* ``chainrule.fit``  the same through :func:`chainrule.fit` (history, gap, stopping);
* ``torch``          PyTorch eager (float64): ``nn.Linear`` + sum of squares + ``optim.SGD``, when installed.

scikit-learn has no full-batch gradient-descent solver, so it has no column here.
Problems: diabetes (442 × 10, standardised; needs scikit-learn for the data) and
a synthetic set n × 100 (n = 100,000 by default; ``--full`` gives 1,000,000 × 100,
about 800 MB per copy of X).

Usage: ``python -m chainrule.bench.linreg [--quick | --full] [--large-n N] [--repeats R] [--output FILE]``
(or ``python benchmarks/linreg.py``). A benchmark, not a test: it checks that every
method reaches the target in the same number of steps, and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .common import (
    METHOD,
    SummaryRow,
    absent_note,
    add_allocator_argument,
    add_script_arguments,
    check,
    end_report,
    facts_lines,
    finish,
    floor_and_available,
    median,
    optional,
    ratio,
    run_blocks,
    summary_table,
    text_table,
    timing_run,
)

REL = 1e-6
METHODS = ("numpy", "chainrule", "chainrule.fit", "torch")
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"large_n": 2_000, "features": 5, "repeats": 1, "diabetes": False},
    "quick": {"large_n": 100_000, "features": 100, "repeats": 3, "diabetes": True},
    "standard": {"large_n": 100_000, "features": 100, "repeats": 5, "diabetes": True},
    "full": {"large_n": 1_000_000, "features": 100, "repeats": 5, "diabetes": True},
}


def problem_diabetes() -> tuple[str, np.ndarray, np.ndarray]:
    from ..data import Standardizer, load_diabetes

    ds = load_diabetes()
    X = Standardizer().fit_transform(ds.X)
    return "diabetes 442x10 (standardised)", X, ds.Y.astype(np.float64)


def problem_synthetic(n: int, d: int, seed: int = 0) -> tuple[str, np.ndarray, np.ndarray]:
    from ..data import make_linear

    ds = make_linear(n_samples=n, n_features=d, noise=0.5, rng=seed)
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
    L = float("inf")
    for it in range(max_iters):
        r = X @ w + b - Y
        L = float(r @ r)
        if L <= target:
            return it, L
        w -= lr * 2.0 * (X.T @ r)
        b -= lr * 2.0 * float(r.sum())
    return max_iters, L


def descend(opt: Any, loss_of: Callable[[], Any], target: float, max_iters: int) -> tuple[int, float]:
    """A framework's plain loop: zero_grad, forward (``loss_of()``), stop at the target, backward, step.

    Returns (steps taken, the last loss), as every runner does."""
    L = float("inf")
    for it in range(max_iters):
        opt.zero_grad()
        loss = loss_of()
        L = loss.item()
        if L <= target:
            return it, L
        loss.backward()
        opt.step()
    return max_iters, L


def run_chainrule(X, Y, theta0, lr, target, max_iters):
    from .. import nn, optim

    model = nn.LinearRegression(X.shape[1], rng=0).set_theta(theta0)
    loss_fn = nn.SumSquaredError()
    opt = optim.SGD(model.parameters(), lr=lr)
    return descend(opt, lambda: loss_fn(model(X), Y), target, max_iters)


def run_fit(X, Y, theta0, lr, target, max_iters):
    from .. import nn, optim
    from ..train import fit

    model = nn.LinearRegression(X.shape[1], rng=0).set_theta(theta0)
    L_star = target / (1 + REL)
    h = fit(model, nn.SumSquaredError(), optim.SGD(model.parameters(), lr=lr), (X, Y), epochs=max_iters,
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
    return descend(opt, lambda: ((lin(Xt).squeeze(1) - Yt) ** 2).sum(), target, max_iters)


RUNNERS: dict[str, Callable[..., tuple[int, float]]] = {
    "numpy": run_numpy, "chainrule": run_chainrule, "chainrule.fit": run_fit, "torch": run_torch,
}


def bench_problem(name: str, X: np.ndarray, Y: np.ndarray, methods: Sequence[str], repeats: int,
                  max_iters: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """One problem: (its results entry, its checks)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    _, L_star, lr = optimum(X, Y)
    theta0 = np.random.default_rng(0).standard_normal(X.shape[1] + 1)  # θ₀ ~ N(0, 1)
    target = L_star * (1 + REL)
    last: dict[str, tuple[int, float]] = {}

    def runner(method: str) -> Callable[[], None]:
        def call() -> None:
            last[method] = RUNNERS[method](X, Y, theta0, lr, target, max_iters)
        return call

    times = run_blocks({m: runner(m) for m in methods}, rounds=repeats, warmup=0, first_warmup=1)
    rows = {}
    for m in methods:
        iters, L = last[m]
        rows[m] = {"seconds": median(times[m]), "min_seconds": min(times[m]), "runs": len(times[m]),
                   "iterations": iters, "ms_per_step": 1e3 * median(times[m]) / max(iters, 1),
                   "final_loss": L, "gap": (L - L_star) / L_star, "reached": L <= target * (1 + 1e-12)}
    for r in rows.values():
        r["ratio_vs_numpy"] = ratio(r["seconds"], rows["numpy"]["seconds"])
    ref = rows["numpy"]["iterations"]
    checks = {}
    for m, r in rows.items():
        same = abs(r["iterations"] - ref) <= max(1, ref // 1000)
        checks[f"{name.split()[0]}_{m}"] = check(
            r["reached"] and same, f"{m} on {name}: reached the target: {r['reached']}, "
            f"{r['iterations']} steps (numpy {ref})")
    entry = {"problem": name, "n": X.shape[0], "d": X.shape[1], "lr": lr, "optimum_loss": L_star, "methods": rows}
    return entry, checks


def run(preset: str = "quick", *, contenders: Sequence[str] = METHODS, threads: int | None = None,
        max_iters: int = 200_000, allocator: str = "steady", **overrides: Any) -> dict[str, Any]:
    """Run the benchmark and return its results (JSON-ready); ``overrides`` change the preset
    (``large_n``, ``features``, ``repeats``, ``diabetes``); ``allocator`` as
    :func:`~chainrule.bench.common.fix_allocator` takes it."""
    params = {**PRESETS[preset], **overrides}
    methods, notes = floor_and_available(contenders)
    problems: list[Callable[[], tuple[str, np.ndarray, np.ndarray]]] = []
    if params["diabetes"]:
        if optional("sklearn") is None:
            notes.append("diabetes skipped: its data ships with scikit-learn (pip install scikit-learn)")
        else:
            problems.append(problem_diabetes)
    problems.append(lambda: problem_synthetic(params["large_n"], params["features"]))
    results_list, checks = [], {}
    with timing_run(threads, allocator, methods) as facts:
        for make in problems:
            name, X, Y = make()
            entry, c = bench_problem(name, X, Y, methods, params["repeats"], max_iters)
            results_list.append(entry)
            checks.update(c)
            del X, Y
    return {
        "benchmark": "full-batch GD to 1e-6 relative of the least-squares optimum",
        "name": "linreg",
        "preset": preset,
        "params": params,
        "method": {**METHOD, "runs": f"{params['repeats']} timed runs per method (median), each a whole descent"},
        "machine": facts,
        "repeats": params["repeats"],
        "checks": checks,
        "notes": notes,
        "results": results_list,
    }


def summary_rows(results: dict[str, Any]) -> list[SummaryRow]:
    """Per-step time of each problem (plain loop; then ``chainrule.fit`` on its own line)."""
    rows = []
    for entry in results["results"]:
        m = entry["methods"]
        short = entry["problem"].split(" (")[0]
        values = {k: m[k]["ms_per_step"] for k in ("numpy", "chainrule", "torch") if k in m}
        notes = {"sklearn": "n/a", **({} if "torch" in m else {"torch": absent_note("torch")})}
        rows.append(SummaryRow(f"linreg GD {short}, per step", "ms", values, notes))
        if "chainrule.fit" in m:
            rows.append(SummaryRow(f"linreg GD {short}, per step, via fit()", "ms",
                                   {"numpy": m["numpy"]["ms_per_step"], "chainrule": m["chainrule.fit"]["ms_per_step"]},
                                   {"torch": "n/a", "sklearn": "n/a"}))
    return rows


def report(results: dict[str, Any]) -> str:
    lines = facts_lines(results["machine"])
    lines.append(f"Full-batch GD to (1 + {REL:g}) L*: median of {results['repeats']} runs per method; "
                 "(×) = ratio to hand-written NumPy")
    for entry in results["results"]:
        lines.append("")
        lines.append(f"{entry['problem']}: L* = {entry['optimum_loss']:.8g}, lr = {entry['lr']:.4g}")
        body = [[label, r["iterations"], f"{r['seconds']:.4f}", f"{r['ms_per_step']:.4f}",
                 f"{r['ratio_vs_numpy']:.2f}×", f"{r['gap']:.2e}"] for label, r in entry["methods"].items()]
        lines.append(text_table(["method", "steps", "seconds", "ms/step", "vs numpy", "gap"], body))
    lines.append("")
    lines.append(summary_table(summary_rows(results), ("chainrule", "numpy", "torch")))
    return end_report(lines, results)


def main(argv: list[str] | None = None, *, default_out: str | None = None) -> int:
    p = argparse.ArgumentParser(prog="linreg", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="3 runs per method instead of 5")
    p.add_argument("--full", action="store_true", help="the large synthetic set: 1,000,000 x 100")
    p.add_argument("--large-n", type=int, default=None, help="objects of the synthetic set (default 100,000)")
    p.add_argument("--features", type=int, default=None, help="features of the synthetic set (default 100)")
    p.add_argument("--repeats", type=int, default=None, help="runs per method; the median counts (default 5)")
    p.add_argument("--max-iters", type=int, default=200_000, help="give up after this many steps")
    p.add_argument("--threads", type=int, default=None, help="limit BLAS and torch threads (threadpoolctl)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    p.add_argument("--skip-diabetes", action="store_true")
    add_allocator_argument(p)
    add_script_arguments(p, default_out, "--output", "--out")
    args = p.parse_args(argv)
    preset = "tiny" if args.tiny else "full" if args.full else "quick" if args.quick else "standard"
    overrides = {k: v for k, v in (("large_n", args.large_n), ("features", args.features),
                                   ("repeats", args.repeats)) if v is not None}
    if args.skip_diabetes:
        overrides["diabetes"] = False
    methods = [m for m in METHODS if not (args.no_torch and m == "torch")]
    results = run(preset, contenders=methods, threads=args.threads, max_iters=args.max_iters,
                  allocator=args.allocator, **overrides)
    return finish(results, report, args.output)


if __name__ == "__main__":
    sys.exit(main())
