"""A Hessian-vector product of an MLP's loss: chainrule's recorded backward beside PyTorch's double backward.

The loss is that of :mod:`chainrule.bench.mlp_step` (ReLU hidden layers, mean softmax
cross-entropy, the same sizes and weights); the product H v is taken with respect to
every parameter, for a fixed random direction v. Contenders, in one run, timed in
alternating blocks (see :mod:`chainrule.bench.common`):

* ``numpy``     Pearlmutter's R-operator written by hand (a forward and a backward pass of
                directional derivatives beside the ordinary ones): the floor;
* ``chainrule`` ``grad(loss, params, create_graph=True)``, then ``grad(gradients, params,
                grad_outputs=v)``: two backward passes, the first one recorded;
* ``torch``     the same two calls of ``torch.autograd.grad`` (PyTorch eager double backward).

Before timing, the three products are compared (the check fails above 5e-3 of the largest
element in float32, 1e-10 in float64; the differences measured are kept in the results).

Usage: ``python -m chainrule.bench.hvp [--quick] [--sizes small,medium,large] [--dtypes float32,float64]
[--threads N] [--out FILE]`` (or ``python benchmarks/hvp.py``). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .common import (
    METHOD,
    SummaryRow,
    add_allocator_argument,
    add_script_arguments,
    check,
    end_report,
    facts_lines,
    finish,
    median,
    ratio,
    run_blocks,
    summary_table,
    unstable,
)
from .mlp_step import SIZES, make_case, run_cases
from .mlp_step import summary_rows as mlp_summary_rows

CONTENDERS = ("numpy", "chainrule", "torch")
REPEATS = {"tiny": (1, 2), "small": (10, 100), "medium": (3, 20), "large": (1, 4)}
QUICK_REPEATS = {"tiny": (1, 2), "small": (3, 30), "medium": (2, 8), "large": (1, 2)}
ROUNDS = 4
RETRIES = 1
AGREE_TOL = {"float32": 5e-3, "float64": 1e-10}  # float32: sums over 1,024 × 2,048 terms, each library its own order


def direction(params, seed: int = 1) -> list[np.ndarray]:
    """The vector v, one array per parameter (W, b of each layer, in order)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(a.shape).astype(a.dtype) for W, b in params for a in (W, b)]


# -- the contenders: each returns a function computing H v as a list of arrays ----------------


def make_numpy(params, x, y, v):
    """Pearlmutter's R-operator: R(·) is the derivative along v of each value of the forward and backward pass."""
    Ws = [W for W, _ in params]
    bs = [b for _, b in params]
    Vs, cs = v[0::2], v[1::2]
    n = len(x)

    def hvp():
        hs, Rhs, masks = [x], [np.zeros_like(x)], []
        for k, (W, b) in enumerate(zip(Ws, bs)):
            a = hs[-1] @ W.T + b
            Ra = Rhs[-1] @ W.T + hs[-1] @ Vs[k].T + cs[k]
            if k < len(Ws) - 1:
                mask = a > 0
                masks.append(mask)
                hs.append(a * mask)
                Rhs.append(Ra * mask)
            else:
                z, Rz = a, Ra
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        delta = p.copy()
        delta[np.arange(n), y] -= 1
        delta /= n
        Rdelta = p * (Rz - (p * Rz).sum(axis=1, keepdims=True)) / n
        out = []
        for k in range(len(Ws) - 1, -1, -1):
            h, Rh = hs[k], Rhs[k]
            out.append(Rdelta.sum(axis=0))
            out.append(Rdelta.T @ h + delta.T @ Rh)
            if k:
                Rdelta_h = Rdelta @ Ws[k] + delta @ Vs[k]
                delta = (delta @ Ws[k]) * masks[k - 1]
                Rdelta = Rdelta_h * masks[k - 1]
        return out[::-1]  # W0, b0, W1, b1, ...

    return hvp


def make_chainrule(params, x, y, v):
    from .. import grad, nn

    sizes = [params[0][0].shape[1]] + [W.shape[0] for W, _ in params]
    model = nn.MLP(sizes[0], sizes[1:-1], sizes[-1], activation="relu", dtype=x.dtype, rng=0)
    linear = [i for i, m in enumerate(model) if isinstance(m, nn.Linear)]
    model.load_state_dict({f"{layer}.{name}": a for layer, (W, b) in zip(linear, params)
                           for name, a in (("weight", W), ("bias", b))})
    loss_fn = nn.CrossEntropyLoss()
    ps = list(model.parameters())

    def hvp():
        loss = loss_fn(model(x), y)
        gs = grad(loss, ps, create_graph=True)
        return list(grad(list(gs), ps, grad_outputs=v))

    return hvp


def make_torch(params, x, y, v):
    import torch

    ps = []
    for W, b in params:
        ps += [torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    vt = [torch.from_numpy(a) for a in v]

    def hvp():
        h = xt
        for k in range(0, len(ps), 2):
            h = torch.nn.functional.linear(h, ps[k], ps[k + 1])
            if k < len(ps) - 2:
                h = torch.relu(h)
        loss = torch.nn.functional.cross_entropy(h, yt)
        gs = torch.autograd.grad(loss, ps, create_graph=True)
        return [a.numpy() for a in torch.autograd.grad(gs, ps, grad_outputs=vt)]

    return hvp


MAKERS = {"numpy": make_numpy, "chainrule": make_chainrule, "torch": make_torch}


# -- measuring ---------------------------------------------------------------------------------


def bench_case(size: str, dtype: Any, contenders: Sequence[str], preset: str
               ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    batch, sizes = SIZES[size]
    dname = np.dtype(dtype).name
    x, y, params = make_case(size, dtype)
    v = direction(params)
    fns = {name: MAKERS[name](params, x, y, v) for name in contenders}
    reference = [np.asarray(a, dtype=np.float64) for a in fns["numpy"]()]
    scale = max(float(np.abs(a).max()) for a in reference)
    checks, agree = {}, {}
    for name in contenders:
        if name == "numpy":
            continue
        got = fns[name]()
        diff = max(float(np.abs(np.asarray(g, dtype=np.float64) - r).max()) for g, r in zip(got, reference)) / scale
        agree[name] = diff
        checks[f"{size}_{dname}_{name}"] = check(
            diff <= AGREE_TOL[dname] and all(np.asarray(g).dtype == dname for g in got),
            f"{name}, {size} {dname}: H v differs from the R-operator's by {diff:.1e} of its largest element "
            f"(<= {AGREE_TOL[dname]:g})")
    warm, reps = (REPEATS if preset == "full" else QUICK_REPEATS)[size]
    rounds = min(ROUNDS, reps)
    attempts, times = 0, {}
    while attempts <= RETRIES:
        attempts += 1
        times = run_blocks(fns, rounds=rounds, per_block=-(-reps // rounds), warmup=max(1, warm // 2),
                           first_warmup=warm)
        if not any(unstable(t) for t in times.values()):
            break
    floor = median(times["numpy"])
    rows = [{"size": size, "dtype": dname, "batch": batch, "layers": sizes, "contender": name,
             "median_ms": median(times[name]) * 1e3, "min_ms": min(times[name]) * 1e3, "calls": len(times[name]),
             "ratio_to_numpy": ratio(median(times[name]), floor),
             "ratio_to_torch": ratio(median(times[name]), median(times["torch"])) if "torch" in times else None,
             "unstable": unstable(times[name]), "attempts": attempts, "relative_diff": agree.get(name)}
            for name in contenders]
    return rows, checks


def run(preset: str = "quick", *, sizes: Sequence[str] | None = None,
        dtypes: Sequence[str] = ("float32", "float64"), contenders: Sequence[str] = CONTENDERS,
        threads: int | None = None, progress: bool = False, allocator: str = "steady") -> dict[str, Any]:
    """Run the benchmark and return its results (JSON-ready); ``preset`` is ``tiny``, ``quick`` or ``full``."""
    present, notes, rows, checks, facts = run_cases(bench_case, preset, sizes, dtypes, contenders, threads,
                                                    progress, allocator)
    return {"benchmark": "hvp", "preset": preset, "method": {**METHOD, "rounds": ROUNDS},
            "machine": facts, "contenders": present, "checks": checks, "notes": notes, "results": rows}


def summary_rows(results: dict[str, Any]) -> list[SummaryRow]:
    return mlp_summary_rows(results, "Hessian-vector product", CONTENDERS)


def report(results: dict[str, Any]) -> str:
    lines = facts_lines(results["machine"])
    lines.append("Hessian-vector product of the MLP's loss: median ms per product; (×) = ratio to the R-operator "
                 "by hand")
    lines.append(summary_table(summary_rows(results)))
    to_torch = [f"{r['size']} {r['dtype']}: chainrule / PyTorch = {r['ratio_to_torch']:.2f}"
                for r in results["results"] if r["contender"] == "chainrule" and r["ratio_to_torch"] is not None]
    lines += to_torch
    return end_report(lines, results)


def main(argv: list[str] | None = None, *, default_out: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hvp", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer products; leaves out large unless --sizes names it")
    parser.add_argument("--sizes", default=None, help="comma-separated subset of small,medium,large")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--threads", type=int, default=None, help="limit BLAS and torch to this many threads")
    add_allocator_argument(parser)
    add_script_arguments(parser, default_out)
    args = parser.parse_args(argv)
    preset = "tiny" if args.tiny else "quick" if args.quick else "full"
    sizes = args.sizes.split(",") if args.sizes else None
    if sizes and any(s not in SIZES for s in sizes):
        parser.error(f"unknown size in {args.sizes!r}; choose from {', '.join(SIZES)}")
    results = run(preset, sizes=sizes, dtypes=args.dtypes.split(","), threads=args.threads, progress=True,
                  allocator=args.allocator)
    return finish(results, report, args.out)


if __name__ == "__main__":
    sys.exit(main())
