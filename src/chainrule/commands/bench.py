"""``chainrule bench``: measure chainrule on this machine beside hand-written NumPy, PyTorch and scikit-learn.

Runs the quick versions of the benchmarks in :mod:`chainrule.bench` (about a
minute on two busy cores; ``--full`` for the long ones) and prints one table:
each case, chainrule, the hand-written NumPy floor, PyTorch eager and
scikit-learn side by side, with ratios to the floor, under the machine's facts
(CPU, cores, NumPy, the BLAS libraries and their thread counts).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from ..errors import ConfigError
from ._args import option


def register(sub) -> None:
    from ..bench.common import add_allocator_argument

    p = sub.add_parser(
        "bench",
        help="measure speed and memory beside hand-written NumPy, PyTorch and scikit-learn",
        description="Run chainrule's benchmarks (quick versions unless --full) and print one table: "
        "chainrule, hand-written NumPy (the floor), PyTorch eager and scikit-learn side by side, "
        "with ratios to NumPy and the machine's facts. PyTorch and scikit-learn are optional: "
        "a missing one is skipped with a note.",
    )
    p.add_argument("--only", default="op,linreg,mlp,memory,hvp,conv", metavar="LIST",
                   help="comma-separated benchmarks to run, of op,linreg,mlp,memory,hvp,conv (default: all)")
    p.add_argument("--full", action="store_true",
                   help="the full versions (1,000,000-op chain, large MLP, 10,000 steps of memory; minutes)")
    p.add_argument("--out", metavar="DIR", help="also write each benchmark's JSON results (and summary.json) here "
                   "(a folder; made if missing, checked before any benchmark runs)")
    p.add_argument("--threads", type=option("threads"), default=None, metavar="N",
                   help="limit BLAS and PyTorch to N threads (needs threadpoolctl); default: their own choice")
    add_allocator_argument(p)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cpu (default): the benchmarks above; cuda: the MLP step on a GPU, chainrule on CuPy beside "
                   "CuPy by hand and PyTorch CUDA (needs CuPy and a GPU)")
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # tiny sizes, for the tests
    p.set_defaults(func=run)


def check_out_folder(path: str) -> None:
    """``--out``: a folder that exists and can be written in, or one that can be made (its nearest
    existing parent is a folder that can be written in). Refused with one line otherwise."""
    text = os.fspath(path)
    if not text or "\0" in text:
        raise ConfigError(f"--out {text[:40]!r} is not a folder name")
    here = os.path.realpath(text)
    if os.path.exists(here) and not os.path.isdir(here):
        raise ConfigError(f"--out {text!r} is a file, not a folder")
    parent = here
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ConfigError(f"--out {text!r}: {parent!r} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {text!r}: cannot write in the folder {parent!r}")


def run(args: argparse.Namespace) -> int:
    from .. import bench
    from ..bench.common import (
        CONTENDERS,
        facts_lines,
        failed_checks,
        machine_facts,
        optional,
        summary_table,
        write_json,
    )

    if args.device == "cuda":
        return run_gpu(args)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in bench.BENCHMARKS]
    if unknown or not names:
        shown = ", ".join(repr(n[:20]) for n in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise ConfigError(f"unknown benchmark(s) {shown or '(none given)'}; "
                          f"choose from {', '.join(bench.BENCHMARKS)}")
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {args.threads}")
        if optional("threadpoolctl") is None:
            raise ConfigError("--threads needs threadpoolctl to limit the BLAS threads (pip install threadpoolctl)")
    if args.out is not None:
        check_out_folder(args.out)
    preset = "tiny" if args.tiny else "full" if args.full else "quick"

    all_results: dict[str, dict[str, Any]] = {}
    rows, problems = [], []
    for name in names:
        mod = bench.module(name)
        print(f"running {name} ({preset}) ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            extra = {"allocator": args.allocator} if name in bench.TIMING else {}
            results = mod.run(preset, threads=args.threads, **extra)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            problems.append(f"{name}: failed: {type(exc).__name__}: {exc}")
            continue
        print(f"  {name} took {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        all_results[name] = results
        rows.extend(mod.summary_rows(results))
        problems += [f"{name}: CHECK FAILED: {f}" for f in failed_checks(results)]

    facts = machine_facts(CONTENDERS)
    facts["threads_limit"] = args.threads
    timed = [r for n, r in all_results.items() if n in bench.TIMING]
    if timed:
        facts["allocator"] = timed[-1]["machine"].get("allocator")
    notes = sorted({n for r in all_results.values() for n in r.get("notes", [])})
    print("\n".join(facts_lines(facts)))
    print(f"chainrule bench ({preset}): median per step / per op; (×) = ratio to hand-written NumPy, lower is better")
    print(summary_table(rows, markdown=args.markdown))
    for note in notes:
        print(f"note: {note}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if args.out:
        from pathlib import Path

        out = Path(args.out)
        for name, results in all_results.items():
            write_json(out / bench.RESULT_FILES[name], results)
        write_json(out / "summary.json", {"preset": preset, "machine": facts, "rows": [r.to_dict() for r in rows],
                                          "notes": notes, "problems": problems})
        print(f"results written to {out}/")
    return 1 if problems else 0


def run_gpu(args: argparse.Namespace) -> int:
    """``--device cuda``: the GPU MLP benchmark (one clear line, exit 2, without CuPy or a GPU)."""
    from ..backend import cupy
    from ..bench import gpu_mlp
    from ..bench.common import failed_checks, summary_table, write_json

    cupy()  # before anything else: the one line when there is no GPU
    if args.out is not None:
        check_out_folder(args.out)
    results = gpu_mlp.run("tiny" if args.tiny else "full" if args.full else "quick", progress=True)
    print(gpu_mlp.report(results))
    if args.markdown:
        print(summary_table(gpu_mlp.summary_rows(results), markdown=True))
    if args.out:
        from pathlib import Path

        write_json(Path(args.out) / "gpu_mlp.json", results)
    return 1 if failed_checks(results) else 0
