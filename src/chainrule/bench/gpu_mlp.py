"""One MLP training step on a GPU: chainrule on CuPy beside the same step written by hand in CuPy and PyTorch CUDA.

The step of :mod:`chainrule.bench.mlp_step` (ReLU hidden layers, mean softmax cross-entropy,
SGD), float32, at the sizes small, medium, large and xlarge (a batch of 8,192 through
4096-4096-4096-10). Contenders, timed in alternating blocks in one run (see
:mod:`chainrule.bench.common`); every step ends by reading the loss back to the host, which
waits for the GPU, so a time is the step's whole time:

* ``numpy``     (here: the floor) the hand-written step of :class:`~chainrule.bench.mlp_step.NumpyMLP`
                run with CuPy as its array module;
* ``chainrule`` ``nn.MLP`` moved with ``.to("cuda")``, ``CrossEntropyLoss``, ``optim.SGD``;
* ``torch``     the same network in PyTorch eager on CUDA.

Before timing, one step from the same weights is compared (the updated weights within 1e-4 of
the largest, float32). Needs CuPy and a GPU (``pip install 'chainrule[gpu]'``): without them it
says so in one line. Usage: ``python -m chainrule.bench.gpu_mlp [--quick] [--sizes ...]`` or
``chainrule bench --device cuda``. A benchmark, not a test.
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
    absent_note,
    add_script_arguments,
    check,
    end_report,
    facts_lines,
    finish,
    machine_facts,
    median,
    ratio,
    run_blocks,
    summary_table,
    unstable,
)
from .mlp_step import LR, SIZES, NumpyMLP, torch_default_init

GPU_SIZES = {**{k: v for k, v in SIZES.items() if k != "tiny"}, "xlarge": (8192, [4096, 4096, 4096, 10])}
REPEATS = {"small": (20, 200), "medium": (10, 100), "large": (5, 40), "xlarge": (2, 10)}
QUICK_REPEATS = {"small": (5, 40), "medium": (3, 20), "large": (2, 8), "xlarge": (1, 3)}
ROUNDS = 4
CONTENDERS = ("numpy", "chainrule", "torch")


def make_case(size: str, seed: int = 0):
    batch, sizes = GPU_SIZES[size]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    return x, y, torch_default_init(sizes, np.float32, rng)


def make_cupy(params, x, y):
    from ..backend import cupy

    cp = cupy()
    net = NumpyMLP(params, LR, xp=cp)
    xg, yg = cp.asarray(x), cp.asarray(y)
    return (lambda: net.step(xg, yg)), (lambda: [cp.asnumpy(a) for W, b in net.params for a in (W, b)])


def make_chainrule(params, x, y):
    from .mlp_step import make_chainrule as on_device

    return on_device(params, x, y, np.float32, device="cuda")


def make_torch(params, x, y):
    from .mlp_step import make_torch as on_device

    return on_device(params, x, y, np.float32, device="cuda")


MAKERS = {"numpy": make_cupy, "chainrule": make_chainrule, "torch": make_torch}


def _torch_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def bench_case(size: str, contenders: Sequence[str], preset: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    batch, sizes = GPU_SIZES[size]
    x, y, params = make_case(size)
    checks: dict[str, Any] = {}
    reference = None
    for name in contenders:  # one step each from the same weights, then the weights compared
        step, weights = MAKERS[name](params, x, y)
        step()
        got = weights()
        if reference is None:
            reference = got
            continue
        scale = max(float(np.abs(r).max()) for r in reference)
        diff = max(float(np.abs(g - r).max()) for g, r in zip(got, reference)) / scale
        checks[f"{size}_{name}"] = check(diff <= 1e-4, f"{name}, {size}: weights after one step differ from the "
                                                       f"hand-written CuPy step by {diff:.1e} of the largest")
    fns = {name: MAKERS[name](params, x, y)[0] for name in contenders}
    warm, reps = (REPEATS if preset == "full" else QUICK_REPEATS)[size]
    rounds = min(ROUNDS, reps)
    times = run_blocks(fns, rounds=rounds, per_block=-(-reps // rounds), warmup=max(1, warm // 2), first_warmup=warm)
    floor = median(times["numpy"])
    rows = [{"size": size, "batch": batch, "layers": sizes, "contender": name, "median_ms": median(times[name]) * 1e3,
             "min_ms": min(times[name]) * 1e3, "calls": len(times[name]),
             "ratio_to_cupy": ratio(median(times[name]), floor),
             "ratio_to_torch": ratio(median(times[name]), median(times["torch"])) if "torch" in times else None,
             "unstable": unstable(times[name])}
            for name in contenders]
    return rows, checks


def run(preset: str = "quick", *, sizes: Sequence[str] | None = None, threads: int | None = None,
        progress: bool = False) -> dict[str, Any]:
    """Run the benchmark (CuPy and a GPU needed: one clear error otherwise)."""
    from ..backend import cupy

    cp = cupy()
    contenders = ["numpy", "chainrule"] + (["torch"] if _torch_cuda() else [])
    notes = [] if "torch" in contenders else ["PyTorch with CUDA is not installed: no PyTorch column"]
    sizes = list(sizes or (("small", "medium", "large", "xlarge") if preset == "full" else ("small", "medium")))
    facts = machine_facts(["torch"] if "torch" in contenders else [])
    props = cp.cuda.runtime.getDeviceProperties(0)
    facts["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    facts["cuda_driver"] = cp.cuda.runtime.driverGetVersion()
    rows, checks = [], {}
    for size in sizes:
        r, c = bench_case(size, contenders, preset)
        rows += r
        checks.update(c)
        if progress:
            print(f"  done {size}", file=sys.stderr)
    return {"benchmark": "gpu_mlp", "preset": preset, "method": {**METHOD, "rounds": ROUNDS}, "machine": facts,
            "contenders": contenders, "checks": checks, "notes": notes, "results": rows}


def summary_rows(results: dict[str, Any]) -> list[SummaryRow]:
    cases: dict[str, dict[str, dict[str, Any]]] = {}
    for r in results["results"]:
        cases.setdefault(r["size"], {})[r["contender"]] = r
    out = []
    for size, by in cases.items():
        first = next(iter(by.values()))
        label = f"GPU MLP step {size} float32 (batch {first['batch']}, {'-'.join(map(str, first['layers']))})"
        notes = {c: absent_note(c) for c in CONTENDERS if c not in by}
        out.append(SummaryRow(label, "ms", {c: r["median_ms"] for c, r in by.items()}, notes,
                              flags={c: "!" for c, r in by.items() if r.get("unstable")}))
    return out


def report(results: dict[str, Any]) -> str:
    lines = facts_lines(results["machine"])
    lines.append(f"GPU: {results['machine'].get('gpu')}, CUDA driver {results['machine'].get('cuda_driver')}; "
                 "the 'NumPy by hand' column is the same step by hand in CuPy")
    lines.append(summary_table(summary_rows(results)))
    lines += [f"{r['size']}: chainrule / PyTorch CUDA = {r['ratio_to_torch']:.2f}"
              for r in results["results"] if r["contender"] == "chainrule" and r["ratio_to_torch"] is not None]
    return end_report(lines, results)


def main(argv: list[str] | None = None, *, default_out: str | None = None) -> int:
    from ..errors import ChainruleError

    parser = argparse.ArgumentParser(prog="gpu_mlp", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps; small and medium unless --sizes")
    parser.add_argument("--sizes", default=None, help="comma-separated subset of small,medium,large,xlarge")
    add_script_arguments(parser, default_out)
    args = parser.parse_args(argv)
    sizes = args.sizes.split(",") if args.sizes else None
    if sizes and any(s not in GPU_SIZES for s in sizes):
        parser.error(f"unknown size in {args.sizes!r}; choose from {', '.join(GPU_SIZES)}")
    try:
        results = run("quick" if args.quick else "full", sizes=sizes, progress=True)
    except ChainruleError as exc:
        print(f"gpu_mlp: {exc}", file=sys.stderr)
        return 2
    return finish(results, report, args.out)


if __name__ == "__main__":
    sys.exit(main())
