"""Peak memory of an MLP training step, and no growth over many steps: chainrule beside hand-written NumPy.

The case is the medium MLP of :mod:`chainrule.bench.mlp_step` (batch 256,
784-512-256-10, float32, ReLU, softmax cross-entropy, SGD). Each contender runs
in its own fresh Python process (``python -c``), so neither sees the other's
heap, and in each:

1. the batch and the model are made, and the BLAS library is woken with the
   same throwaway matrix products for both (its buffers are not the framework's);
   glibc's malloc is set (``mallopt``, both processes alike) to hand every
   block of 64 KiB or more back to the system when it is freed, so the RSS
   follows the arrays alive rather than what the allocator keeps;
2. ``gc.collect()``, then the resident set's high-water mark is reset (Linux:
   ``/proc/self/clear_refs``) and the current RSS read: the **base** (data set,
   model, interpreter, libraries);
3. a few training steps; **peak** = high-water mark (``VmHWM``) − base: what a
   step costs above the data set and the model;
4. more steps, to 10,000 (1,000 with ``--quick``), with malloc keeping freed
   blocks for reuse as usual (anything kept from step to step still grows the
   heap), the RSS (``VmRSS``) sampled
   every few hundred: **growth** = last sample − first sample after warm-up,
   and the least-squares slope over those samples;
5. a cross-check independent of the allocator: a second batch and model made
   under ``tracemalloc``, then the peak of what Python and NumPy allocate in a
   few steps above them (NumPy reports its array buffers to tracemalloc).

The garbage collector runs as it does for a user (on). The ratio to report is
chainrule / NumPy of the peak; both processes also check that they computed the
same losses. Usage: ``python -m chainrule.bench.memory [--quick] [--steps N] [--out FILE]``
(or ``python benchmarks/memory.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .common import (
    MB,
    METHOD,
    SummaryRow,
    add_script_arguments,
    check,
    end_report,
    facts_lines,
    finish,
    machine_facts,
    median,
    ratio,
    set_malloc,
    text_table,
)

CONTENDERS = ("numpy", "chainrule")
PRESETS: dict[str, dict[str, Any]] = {
    # steps: the long run; sample_every: RSS sampling period; warmup: steps before growth is counted;
    # peak_steps: steps whose high-water mark is the peak; rounds: processes per contender (the peak's median).
    "tiny": {"size": "tiny", "steps": 20, "sample_every": 5, "warmup": 5, "peak_steps": 3, "rounds": 1},
    "quick": {"size": "medium", "steps": 1_000, "sample_every": 50, "warmup": 100, "peak_steps": 5, "rounds": 1},
    "full": {"size": "medium", "steps": 10_000, "sample_every": 250, "warmup": 500, "peak_steps": 5, "rounds": 3},
    "soak": {"size": "medium", "steps": 100_000, "sample_every": 1_000, "warmup": 1_000, "peak_steps": 5,
             "rounds": 1},
}
#: The soak's promise: after warm-up, the resident set of a long run grows by less than this (bytes).
SOAK_GROWTH_LIMIT = 1 * MB
#: For the peak, glibc's malloc maps every block of this size or more on its own and unmaps it when
#: freed (``mallopt(M_MMAP_THRESHOLD)``, which also stops its moving threshold), in both processes
#: alike: the RSS then follows the arrays alive, not the freed memory the allocator decides to keep.
PEAK_MALLOC = (64 * 1024, 128 * 1024)  # (mmap threshold, trim threshold)
#: For the long run, the opposite: freed blocks stay in the heap for reuse (fast, as a long training run
#: would want); anything kept alive from step to step still grows the heap, and so the RSS.
GROWTH_MALLOC = (32 * MB, 64 * MB)


# -- inside the measured process ------------------------------------------------------------------


def _proc_status() -> dict[str, int]:
    """VmRSS, VmHWM, ... in bytes from /proc/self/status (empty where there is no /proc)."""
    out = {}
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Vm"):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def _ru_maxrss() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def rss_now() -> int | None:
    """The current resident set size in bytes (Linux); ``None`` where it cannot be read."""
    return _proc_status().get("VmRSS")


def rss_peak() -> int:
    """The resident set's high-water mark in bytes (VmHWM, else ``ru_maxrss``)."""
    return _proc_status().get("VmHWM") or _ru_maxrss()


def reset_peak() -> bool:
    """Reset the high-water mark to the current RSS (Linux >= 4.0); ``False`` where that is impossible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _wake_blas(sizes: list[int], batch: int, dtype: Any) -> None:
    """The matrix products of one step's shapes on throwaway arrays: BLAS allocates its buffers now."""
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        a = np.ones((batch, n_in), dtype)
        W = np.ones((n_out, n_in), dtype)
        z = a @ W.T
        _ = z.T @ a
        _ = z @ W
    del a, W, z, _


def measure(contender: str, *, size: str = "medium", dtype: str = "float32", steps: int = 1000,
            sample_every: int = 50, warmup: int = 100, peak_steps: int = 5, threads: int | None = None
            ) -> dict[str, Any]:
    """Measure one contender in this process (meant to be a fresh one: see :func:`run`); returns figures in bytes."""
    import gc
    import time
    import tracemalloc

    from .common import thread_limit
    from .mlp_step import MAKERS, SIZES, make_case

    malloc_set = set_malloc(*PEAK_MALLOC)
    with thread_limit(threads):
        batch, sizes = SIZES[size]
        np_dtype = np.dtype(dtype).type
        x, y, params = make_case(size, np_dtype)
        step, weights = MAKERS[contender](params, x, y, np_dtype)
        model_bytes = sum(np.asarray(w).nbytes for w in weights())
        data_bytes = x.nbytes + y.nbytes
        del params
        _wake_blas(sizes, batch, np_dtype)
        gc.collect()
        hwm_reset = reset_peak()
        base = rss_now()
        base_peak = rss_peak()
        losses = [float(step())]
        for _ in range(peak_steps - 1):
            step()
        peak = rss_peak()
        after = rss_now()
        if malloc_set:
            set_malloc(*GROWTH_MALLOC)
        samples: list[tuple[int, int, float]] = []
        start = time.perf_counter()
        for i in range(peak_steps, steps):
            loss = step()
            if (i + 1) % sample_every == 0 or i + 1 == steps:
                samples.append((i + 1, rss_now() or rss_peak(), time.perf_counter() - start))
        if steps > peak_steps:
            losses.append(float(loss))
        end_peak = rss_peak()

        # The cross-check: a fresh batch and model made under tracemalloc, then the peak of a few steps above them.
        tracemalloc.start()
        x2, y2, params2 = make_case(size, np_dtype)
        step2, _ = MAKERS[contender](params2, x2, y2, np_dtype)
        del params2
        gc.collect()
        traced_base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(peak_steps):
            step2()
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    if base is not None and hwm_reset:
        peak_above, how = peak - base, "VmHWM after a reset - VmRSS (/proc/self)"
    else:  # no /proc, or the high-water mark could not be reset: the rise of ru_maxrss, a lower bound
        base = base if base is not None else base_peak
        peak_above, how = max(0, peak - base_peak), "rise of ru_maxrss (a lower bound: the mark was not reset)"
    return {
        "contender": contender, "size": size, "dtype": dtype, "batch": batch, "layers": sizes, "steps": steps,
        "data_bytes": data_bytes, "model_bytes": model_bytes, "base_rss": base,
        "peak_above_base": peak_above, "retained_after_steps": (after - base) if after is not None else None,
        "peak_over_whole_run_above_base": end_peak - (base if hwm_reset else base_peak),
        "traced_peak_above_base": traced_peak - traced_base,
        "samples": samples, "warmup": warmup, "sample_every": sample_every, "peak_steps": peak_steps,
        "hwm_reset": hwm_reset, "peak_method": how, "malloc": (
            f"glibc mallopt: mmap threshold {PEAK_MALLOC[0] // 1024} KiB for the peak, "
            f"{GROWTH_MALLOC[0] // MB} MiB (trim {GROWTH_MALLOC[1] // MB} MiB) for the long run"
            if malloc_set else "the platform's allocator, untuned"),
        "rss_source": "VmRSS" if after is not None else "ru_maxrss",
        "losses": losses, "gc_enabled": gc.isenabled(),
    }


def _worker_main(config_json: str) -> None:
    """Entry point of the fresh process: measure, print one JSON line."""
    config = json.loads(config_json)
    contender = config.pop("contender")
    print(json.dumps(measure(contender, **config)))


# -- the parent -----------------------------------------------------------------------------------


def _subprocess_env() -> dict[str, str]:
    """The environment for the measured processes: this chainrule importable even from a source checkout."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def measure_in_subprocess(contender: str, *, timeout: float | None = None, **config: Any) -> dict[str, Any]:
    """Run :func:`measure` in a fresh interpreter (``python -c``) and return its figures.

    ``timeout`` (seconds) defaults to 15 minutes plus 50 ms a step, so a soak of 100,000 steps
    on a slow shared machine is not cut short.
    """
    if timeout is None:
        timeout = 900 + 0.05 * config.get("steps", 0)
    code = "import sys; from chainrule.bench.memory import _worker_main; _worker_main(sys.argv[1])"
    payload = json.dumps({"contender": contender, **config})
    proc = subprocess.run([sys.executable, "-c", code, payload], capture_output=True, text=True, timeout=timeout,
                          env=_subprocess_env())
    if proc.returncode != 0:
        raise RuntimeError(f"memory benchmark: the {contender} process failed (exit {proc.returncode}):\n"
                           f"{proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def growth(samples: list[list[float]], warmup: int) -> dict[str, float | None]:
    """RSS growth after warm-up: last − first sample (bytes) and the least-squares slope (bytes per 1,000 steps)."""
    after = [(s, r) for s, r, *_ in samples if s >= warmup]
    if len(after) < 2:
        return {"final_minus_after_warmup": None, "slope_per_1000_steps": None, "max_minus_min": None}
    steps_, rss = np.array([s for s, _ in after], float), np.array([r for _, r in after], float)
    slope = float(np.polyfit(steps_, rss, 1)[0]) * 1000 if np.ptp(steps_) > 0 else 0.0
    return {"final_minus_after_warmup": float(rss[-1] - rss[0]), "slope_per_1000_steps": slope,
            "max_minus_min": float(rss.max() - rss.min()), "from_step": int(steps_[0]), "to_step": int(steps_[-1])}


def flat_memory(samples: list[list[float]], warmup: int) -> dict[str, Any]:
    """The soak's check: the RSS grew by less than :data:`SOAK_GROWTH_LIMIT` from ``warmup`` to the end."""
    g = growth(samples, warmup)
    grown = g["final_minus_after_warmup"]
    if grown is None:
        return check(False, f"no RSS samples after step {warmup:,}: run more steps than the warm-up")
    return check(grown < SOAK_GROWTH_LIMIT, f"chainrule's RSS grew by {grown / MB:+.3f} MB from step "
                 f"{g['from_step']:,} to {g['to_step']:,} (limit: under {SOAK_GROWTH_LIMIT / MB:.0f} MB)")


def _growth_mb(samples: list[list[float]], warmup: int) -> dict[str, Any]:
    g = growth(samples, warmup)
    mb = {k: (None if g.get(k) is None else g[k] / MB) for k in ("final_minus_after_warmup", "max_minus_min")}
    slope = g["slope_per_1000_steps"]
    return {**mb, "slope_mb_per_1000_steps": None if slope is None else slope / MB,
            "from_step": g.get("from_step"), "to_step": g.get("to_step")}


def run(preset: str = "quick", *, threads: int | None = None, **overrides: Any) -> dict[str, Any]:
    """Measure both contenders, each in fresh processes, alternating; return the results (JSON-ready)."""
    params = {**PRESETS[preset], **overrides}
    rounds = params.pop("rounds")
    long_cfg = {**params, "threads": threads}
    short_cfg = {**long_cfg, "steps": params["peak_steps"]}
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CONTENDERS}
    for r in range(rounds):  # the long run first (it also gives a peak), then short ones for the peak's median
        order = CONTENDERS if r % 2 == 0 else CONTENDERS[::-1]
        for c in order:
            runs[c].append(measure_in_subprocess(c, **(long_cfg if r == 0 else short_cfg)))
    figures: dict[str, dict[str, Any]] = {}
    for c, rs in runs.items():
        first = rs[0]
        figures[c] = {
            "peak_above_base_mb": median([x["peak_above_base"] for x in rs]) / MB,
            "peak_runs_mb": [x["peak_above_base"] / MB for x in rs],
            "traced_peak_above_base_mb": median([x["traced_peak_above_base"] for x in rs]) / MB,
            "retained_after_steps_mb": (first["retained_after_steps"] / MB
                                        if first["retained_after_steps"] is not None else None),
            "peak_over_whole_run_above_base_mb": first["peak_over_whole_run_above_base"] / MB,
            "base_rss_mb": first["base_rss"] / MB,
            "data_mb": first["data_bytes"] / MB,
            "model_mb": first["model_bytes"] / MB,
            "growth": _growth_mb(first["samples"], params["warmup"]),
            "losses": first["losses"],
            "peak_method": first["peak_method"],
        }
    ln, lc = figures["numpy"]["losses"], figures["chainrule"]["losses"]
    tol = 1e-4 if params.get("dtype", "float32") == "float32" else 1e-10
    checks = {
        "same_first_loss": check(abs(ln[0] - lc[0]) <= tol * max(1.0, abs(ln[0])),
                                 f"loss of the first step: numpy {ln[0]:.8g}, chainrule {lc[0]:.8g}"),
        "same_last_loss": check(abs(ln[-1] - lc[-1]) <= 1e-2 * max(1.0, abs(ln[-1])),
                                f"loss after {params['steps']} steps: numpy {ln[-1]:.6g}, chainrule {lc[-1]:.6g}"),
    }
    if preset == "soak":
        checks["flat_memory"] = flat_memory(runs["chainrule"][0]["samples"], params["warmup"])
    facts = machine_facts(())
    facts["threads_limit"] = threads
    return {
        "benchmark": "memory", "preset": preset, "params": {**params, "rounds": rounds},
        "case": {"size": params["size"], "dtype": params.get("dtype", "float32"),
                 "batch": runs["numpy"][0]["batch"], "layers": runs["numpy"][0]["layers"]},
        "method": {**{k: METHOD[k] for k in ("statistic",)}, "processes": "one fresh process per contender and "
                   "round (python -c), contenders alternating", "peak": figures["numpy"]["peak_method"],
                   "malloc": runs["numpy"][0]["malloc"],
                   "gc": "on, as for a user"},
        "machine": facts,
        "figures": figures,
        "peak_ratio": ratio(figures["chainrule"]["peak_above_base_mb"], figures["numpy"]["peak_above_base_mb"]),
        "traced_ratio": ratio(figures["chainrule"]["traced_peak_above_base_mb"],
                              figures["numpy"]["traced_peak_above_base_mb"]),
        "samples": {c: runs[c][0]["samples"] for c in CONTENDERS},
        "checks": checks,
        "notes": [],
    }


def summary_rows(results: dict[str, Any]) -> list[SummaryRow]:
    case = results["case"]
    label = f"{case['size']} MLP step {case['dtype']}"
    f = results["figures"]
    na = {"torch": "n/a", "sklearn": "n/a"}
    steps = results["params"]["steps"]
    g = {c: f[c]["growth"]["final_minus_after_warmup"] for c in CONTENDERS}
    return [
        SummaryRow(f"memory: {label}, peak RSS above data+model", "MB",
                   {c: f[c]["peak_above_base_mb"] for c in CONTENDERS}, dict(na)),
        SummaryRow(f"memory: {label}, peak traced allocations", "MB",
                   {c: f[c]["traced_peak_above_base_mb"] for c in CONTENDERS}, dict(na)),
        SummaryRow(f"memory: RSS growth over {steps:,} steps (after warm-up)", "MB",
                   {c: v for c, v in g.items() if v is not None}, {**na, **{c: "-" for c, v in g.items() if v is None}},
                   ratios=False),
    ]


def report(results: dict[str, Any]) -> str:
    case, f = results["case"], results["figures"]
    lines = facts_lines(results["machine"])
    lines.append(f"Memory of an MLP training step: batch {case['batch']}, {'-'.join(map(str, case['layers']))}, "
                 f"{case['dtype']}; each contender in its own fresh process")
    body = []
    for c in CONTENDERS:
        x, g = f[c], f[c]["growth"]
        slope = g.get("slope_mb_per_1000_steps")
        body.append([c, f"{x['data_mb'] + x['model_mb']:.2f}", f"{x['base_rss_mb']:.1f}",
                     f"{x['peak_above_base_mb']:.2f}", f"{x['traced_peak_above_base_mb']:.2f}",
                     "-" if x["retained_after_steps_mb"] is None else f"{x['retained_after_steps_mb']:.2f}",
                     "-" if g["final_minus_after_warmup"] is None else f"{g['final_minus_after_warmup']:+.3f}",
                     "-" if slope is None else f"{slope:+.4f}"])
    lines.append(text_table(["contender", "data+model MB", "base RSS MB", "peak above MB", "traced peak MB",
                             "kept MB", "growth MB", "MB/1000 steps"], body))
    pr, tr = results["peak_ratio"], results["traced_ratio"]
    lines.append(f"chainrule / NumPy, peak RSS above data+model: {pr:.2f}×; traced: {tr:.2f}×"
                 if pr is not None and tr is not None else "ratio: not available")
    p = results["params"]
    lines.append(f"growth: RSS sampled every {p['sample_every']} steps over {p['steps']:,}; counted from step "
                 f"{p['warmup']} (after warm-up) to the end. peak: {f['numpy']['peak_method']}, median of "
                 f"{p['rounds']} process(es).")
    return end_report(lines, results)


def main(argv: list[str] | None = None, *, default_out: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog="memory", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 steps instead of 10,000, one process each")
    parser.add_argument("--soak", action="store_true",
                        help="100,000 steps, one process each: the resident set must grow by under 1 MB after "
                        "warm-up (about 15 minutes on two idle cores)")
    parser.add_argument("--steps", type=int, default=None, help="steps of the long run")
    parser.add_argument("--threads", type=int, default=None, help="limit BLAS threads (threadpoolctl)")
    add_script_arguments(parser, default_out)
    args = parser.parse_args(argv)
    preset = "tiny" if args.tiny else "quick" if args.quick else "soak" if args.soak else "full"
    overrides = {"steps": args.steps} if args.steps else {}
    results = run(preset, threads=args.threads, **overrides)
    return finish(results, report, args.out)


if __name__ == "__main__":
    sys.exit(main())
