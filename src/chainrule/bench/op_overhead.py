"""Per-op bookkeeping cost of chainrule's graph, against the floor and PyTorch eager.

A chain of tiny elementwise ops (add, mul, tanh in turn) on a (4, 4) float64
array, forward + backward. At this size the arithmetic is nearly free, so the
time per op is the framework's own overhead. Contenders, in one run:

* ``numpy``     hand-written NumPy with explicit caches (the floor);
* ``chainrule`` the same chain on Tensors, ``.backward()``;
* ``torch``     PyTorch eager, when installed.

Then a long chain (1,000,000 ops; 100,000 with ``--quick``): chainrule against the
NumPy loop. Every figure is measured twice, with the cyclic garbage collector
paused in the timed region (the headline, as :mod:`timeit` does) and with it on,
to show what the collector costs each contender.

Usage: ``python -m chainrule.bench.op_overhead [--quick] [--out FILE]``
(or ``python benchmarks/op_overhead.py``). A benchmark, not a test: it asserts
nothing about time; it checks that every contender computes the same gradient.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import Tensor
from .common import (
    LABELS,
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
    ratio,
    run_blocks,
    summary_table,
    timing_run,
)

SHAPE = (4, 4)
CONTENDERS = ("chainrule", "numpy", "torch")
#: Sizes and repeats: short chain length, rounds of blocks, timed calls per block; the long chain's.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"n": 30, "rounds": 1, "per_block": 1, "long_n": 300, "long_rounds": 1},
    "quick": {"n": 1000, "rounds": 5, "per_block": 3, "long_n": 100_000, "long_rounds": 1},
    "full": {"n": 1000, "rounds": 7, "per_block": 3, "long_n": 1_000_000, "long_rounds": 3},
}
GC_MODES = {"gc paused": True, "gc on": False}


def numpy_chain(x0: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    """The floor: forward saving caches in a list, backward walking it in reverse."""
    caches = []
    x = x0
    for i in range(n):
        k = i % 3
        if k == 0:
            x = x + c
            caches.append(None)
        elif k == 1:
            caches.append(x)
            x = x * c
        else:
            x = np.tanh(x)
            caches.append(x)
    g = np.ones_like(x)
    for i in range(n - 1, -1, -1):
        k = i % 3
        if k == 1:
            g = g * c
        elif k == 2:
            y = caches[i]
            g = g * (1 - y * y)
    return g


def forward_chain(y: Any, c: Any, n: int, tanh: Callable[[Any], Any]) -> Any:
    """The chain's forward pass on a framework's tensors: add ``c``, multiply by ``c``, ``tanh``, in turn."""
    for i in range(n):
        k = i % 3
        if k == 0:
            y = y + c
        elif k == 1:
            y = y * c
        else:
            y = tanh(y)
    return y


def chainrule_chain(x0: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    x = Tensor(x0, requires_grad=True)
    forward_chain(x, c, n, Tensor.tanh).backward(np.ones_like(x0))
    return x.grad


def torch_chain(x0: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    import torch

    x = torch.tensor(x0, requires_grad=True)
    forward_chain(x, torch.tensor(c), n, torch.tanh).backward(torch.ones_like(x))
    return x.grad.numpy()


CHAINS: dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    "numpy": numpy_chain, "chainrule": chainrule_chain, "torch": torch_chain,
}


def _time_chains(names: Sequence[str], x0: np.ndarray, c: np.ndarray, n: int, rounds: int,
                 per_block: int) -> dict[str, dict[str, float]]:
    """Median seconds per op, ``{gc mode: {contender: s}}``; every (contender, gc mode) pair takes turns."""
    fns, paused = {}, {}
    for name in names:
        for mode, is_paused in GC_MODES.items():
            key = f"{name}|{mode}"
            fns[key] = (lambda f=CHAINS[name]: f(x0, c, n))
            paused[key] = is_paused
    times = run_blocks(fns, rounds=rounds, per_block=per_block, warmup=1 if n <= 10_000 else 0, gc_paused=paused)
    out: dict[str, dict[str, float]] = {mode: {} for mode in GC_MODES}
    for key, samples in times.items():
        name, mode = key.split("|")
        out[mode][name] = median(samples) / n
    return out


def run(preset: str = "quick", *, contenders: Sequence[str] = CONTENDERS, threads: int | None = None,
        allocator: str = "steady", **overrides: int) -> dict[str, Any]:
    """Run the benchmark and return its results (JSON-ready); ``overrides`` change the preset's sizes;
    ``allocator`` as :func:`~chainrule.bench.common.fix_allocator` takes it."""
    params = {**PRESETS[preset], **overrides}
    names, notes = floor_and_available(contenders)
    n, long_n = params["n"], params["long_n"]
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(SHAPE)
    c = rng.uniform(0.5, 1.0, SHAPE)

    with timing_run(threads, allocator, names) as facts:
        # Same answer first: a benchmark of wrong numbers is worthless.
        n_check = min(300, n)
        ref = numpy_chain(x0, c, n_check)
        checks = {}
        for name in names[1:]:
            err = float(np.max(np.abs(CHAINS[name](x0, c, n_check) - ref) / (np.abs(ref) + 1e-300)))
            checks[f"{name}_gradient"] = check(err <= 1e-10, f"{name} vs numpy, {n_check}-op chain: "
                                               f"max relative difference {err:.1e} (<= 1e-10)")
        short = _time_chains(names, x0, c, n, params["rounds"], params["per_block"])
        long_names = [m for m in names if m != "torch"]
        long = _time_chains(long_names, x0, c, long_n, params["long_rounds"], 1)

    results: dict[str, Any] = {
        "benchmark": "op_overhead",
        "preset": preset,
        "params": params,
        "shape": list(SHAPE),
        "dtype": "float64",
        "short_n": n,
        "long_n": long_n,
        "method": {**METHOD, "samples_short": params["rounds"] * params["per_block"],
                   "samples_long": params["long_rounds"]},
        "machine": facts,
        "checks": checks,
        "notes": notes,
    }
    for label, figures in ((f"chain_{n}", short), (f"chain_{long_n}", long)):
        for mode, suffix in (("gc paused", ""), ("gc on", "_gc_on")):
            per_op = figures[mode]
            results[f"{label}_us_per_op{suffix}"] = {k: v * 1e6 for k, v in per_op.items()}
            results[f"{label}_ratio_to_numpy{suffix}"] = {k: ratio(v, per_op["numpy"]) for k, v in per_op.items()}
    if "torch" in short["gc paused"]:
        results["chainrule_over_torch"] = ratio(short["gc paused"]["chainrule"], short["gc paused"]["torch"])
        results["chainrule_over_torch_gc_on"] = ratio(short["gc on"]["chainrule"], short["gc on"]["torch"])
    results["gc_on_over_gc_paused"] = {k: ratio(short["gc on"][k], v) for k, v in short["gc paused"].items()}
    return results


def summary_rows(results: dict[str, Any], *, detailed: bool = False) -> list[SummaryRow]:
    """The table's lines: µs per op, gc paused and gc on, short chain (with torch) then long chain."""
    rows = []
    n, long_n = results["short_n"], results["long_n"]
    modes = [("", "gc paused"), ("_gc_on", "gc on")]
    for label, n_ops, torch_note in ((f"chain_{n}", n, absent_note("torch")), (f"chain_{long_n}", long_n, "n/a")):
        for suffix, mode in modes if (detailed or n_ops == n) else modes[:1]:
            values = results[f"{label}_us_per_op{suffix}"]
            notes = {} if "torch" in values else {"torch": torch_note}
            rows.append(SummaryRow(f"tiny op fwd+bwd, {n_ops:,}-op chain, {mode}", "µs/op", dict(values), notes))
    return rows


def report(results: dict[str, Any]) -> str:
    """The benchmark's own printout: machine facts, the table, the chainrule/PyTorch ratio, the GC effect."""
    lines = facts_lines(results["machine"])
    lines.append(f"Tiny-op chain, {tuple(results['shape'])} {results['dtype']}, forward + backward: median µs per "
                 f"op; (×) = ratio to hand-written NumPy")
    lines.append(summary_table(summary_rows(results, detailed=True), CONTENDERS))
    if "chainrule_over_torch" in results:
        lines.append(f"chainrule / PyTorch eager: {results['chainrule_over_torch']:.2f} (gc paused), "
                     f"{results['chainrule_over_torch_gc_on']:.2f} (gc on)")
    effect = ", ".join(f"{LABELS[k]} {v:.2f}" for k, v in results["gc_on_over_gc_paused"].items() if v is not None)
    lines.append(f"cost of the cyclic GC, {results['short_n']:,}-op chain (gc on / gc paused): {effect}")
    return end_report(lines, results)


def main(argv: list[str] | None = None, *, default_out: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog="op_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 100,000-op long chain")
    parser.add_argument("--threads", type=int, default=None, help="limit BLAS and torch threads (threadpoolctl)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    add_allocator_argument(parser)
    add_script_arguments(parser, default_out)
    args = parser.parse_args(argv)
    preset = "tiny" if args.tiny else "quick" if args.quick else "full"
    contenders = [c for c in CONTENDERS if not (args.no_torch and c == "torch")]
    results = run(preset, contenders=contenders, threads=args.threads, allocator=args.allocator)
    return finish(results, report, args.out)


if __name__ == "__main__":
    sys.exit(main())
