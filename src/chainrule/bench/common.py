"""What every benchmark shares: the machine's facts, the timing method, tables and JSON.

The timing method, applied identically to every contender
---------------------------------------------------------
* **Medians** of several timed calls, never the best or the mean: one stall of a
  busy machine moves neither the median much nor the ratio between contenders.
* **Alternating blocks**: the contenders take turns, round after round (A B C,
  A C B, C A B, C B A, ...: the start rotates, every other round reversed), so a
  load that drifts during the run touches every contender alike. Blocks rather
  than single interleaved calls because BLAS threads keep spinning for a while
  after a call and would steal the cores of the next library's call; each block
  starts with untimed warm-up calls.
* **The cyclic garbage collector paused** inside each timed region
  (``gc.disable()`` just before the clock starts, re-enabled right after it
  stops; ``gc.collect()`` before each block, outside the clock; the objects
  that exist before timing starts, the imported libraries' above all, are moved
  out of the collector's sight with ``gc.freeze()``). This is
  :mod:`timeit`'s own default; it takes the collector's unpredictable pauses out
  of the figures. ``op_overhead`` measures both ways and prints the difference.

Optional libraries (PyTorch, scikit-learn, threadpoolctl) are looked up with
:func:`optional`; a contender whose library is missing is skipped with a note.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Contender names, in the order tables show them, and how tables label them.
CONTENDERS = ("chainrule", "numpy", "torch", "sklearn")
LABELS = {"chainrule": "chainrule", "numpy": "NumPy by hand", "torch": "PyTorch", "sklearn": "scikit-learn"}
#: The import name and the pip name of each optional contender.
OPTIONAL = {"torch": ("torch", "torch"), "sklearn": ("sklearn", "scikit-learn")}

METHOD = {
    "statistic": "median",
    "order": "contenders in alternating blocks (rotating start), untimed warm-up at the start of each block",
    "gc": "cyclic garbage collector paused inside each timed region (gc.disable(), as timeit does); "
          "gc.collect() before each block, outside the clock",
    "clock": "time.perf_counter",
}


# -- optional libraries ---------------------------------------------------------------------------


def optional(name: str) -> Any | None:
    """The module ``name`` if it imports, else ``None`` (torch, sklearn, threadpoolctl are all optional)."""
    try:
        return __import__(name)
    except ImportError:
        return None


def available(contender: str) -> bool:
    """Whether a contender can run here: numpy and chainrule always, the others when installed."""
    if contender not in OPTIONAL:
        return True
    return optional(OPTIONAL[contender][0]) is not None


def missing_note(contender: str) -> str:
    _, pip_name = OPTIONAL[contender]
    return f"{LABELS[contender]} not installed: skipped (pip install {pip_name})"


def split_available(wanted: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the contenders that can run, notes for those that cannot)."""
    present = [c for c in wanted if available(c)]
    return present, [missing_note(c) for c in wanted if c not in present]


def floor_and_available(wanted: Sequence[str]) -> tuple[list[str], list[str]]:
    """(``numpy``, the floor, always first, then those of ``wanted`` that can run; notes for those that cannot)."""
    present, notes = split_available([c for c in wanted if c != "numpy"])
    return ["numpy", *present], notes


# -- the machine ----------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, sysctl on macOS), else platform's guess."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            import subprocess

            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                 timeout=5)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def blas_info() -> list[dict[str, Any]]:
    """The BLAS/OpenMP libraries loaded in this process and their thread counts.

    With threadpoolctl (optional) the list is exact, one entry per loaded library
    (NumPy's OpenBLAS, PyTorch's, SciPy's, OpenMP runtimes, ...). Without it,
    NumPy's build configuration names the BLAS, and the thread count is what the
    usual environment variables say, if anything.
    """
    threadpoolctl = optional("threadpoolctl")
    if threadpoolctl is not None:
        keys = ("user_api", "internal_api", "version", "num_threads", "architecture", "filepath")
        return [{k: info.get(k) for k in keys} for info in threadpoolctl.threadpool_info()]
    name = "unknown"
    try:
        config = np.show_config(mode="dicts")  # NumPy >= 1.26
        blas = config.get("Build Dependencies", {}).get("blas", {})
        name = f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - older NumPy or an odd build
        pass
    env = next((f"{v}={os.environ[v]}" for v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")
                if os.environ.get(v)), None)
    return [{"user_api": "blas", "internal_api": name, "version": None, "num_threads": env,
             "note": "thread count from the environment, if set; pip install threadpoolctl to see it"}]


def machine_facts(contenders: Sequence[str] = ()) -> dict[str, Any]:
    """Python, NumPy, CPU, cores, load, BLAS libraries and thread counts, optional libraries' versions.

    Call it after the contenders' libraries are imported (it imports those named in
    ``contenders``), so that every loaded BLAS shows up in ``blas``.
    """
    from .. import __version__

    facts: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "chainrule": __version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
    }
    if hasattr(os, "sched_getaffinity"):
        facts["cpus_usable"] = len(os.sched_getaffinity(0))
    if hasattr(os, "getloadavg"):
        facts["load_average"] = [round(v, 2) for v in os.getloadavg()]
    if "torch" in contenders and (torch := optional("torch")) is not None:
        facts["torch"] = torch.__version__
        facts["torch_threads"] = torch.get_num_threads()
    if "sklearn" in contenders and (sklearn := optional("sklearn")) is not None:
        facts["sklearn"] = sklearn.__version__
    threadpoolctl = optional("threadpoolctl")
    facts["threadpoolctl"] = threadpoolctl.__version__ if threadpoolctl is not None else None
    facts["blas"] = blas_info()
    return facts


def _owner(filepath: str | None) -> str:
    """The package a shared library ships with, from its path: ``numpy``, ``scipy``, ``torch``, ..."""
    if not filepath:
        return ""
    for part in reversed(Path(filepath).parts[:-1]):
        if part not in ("lib", "lib64", ".libs", "site-packages"):
            return part.removesuffix(".libs")
    return ""


def blas_summary(facts: Mapping[str, Any]) -> str:
    """``openblas 0.3.30 [numpy] (2 threads); OpenMP libgomp [torch] (2 threads); torch intra-op (2 threads)``."""
    parts = []
    infos = sorted(facts.get("blas", []), key=lambda info: info.get("user_api", "blas") != "blas")
    for info in infos:
        owner = _owner(info.get("filepath"))
        where = f" [{owner}]" if owner else ""
        if info.get("user_api", "blas") == "blas":
            version = f" {info['version']}" if info.get("version") else ""
            threads = info.get("num_threads")
            count = f"{threads} threads" if threads else "threads unknown: pip install threadpoolctl"
            parts.append(f"{info.get('internal_api')}{version}{where} ({count})")
        elif info.get("user_api") == "openmp":
            parts.append(f"OpenMP{where} ({info.get('num_threads')} threads)")
    text = "; ".join(parts) or "unknown"
    if "torch_threads" in facts:
        text += f"; torch {facts['torch']} intra-op ({facts['torch_threads']} threads)"
    return text


def facts_lines(facts: Mapping[str, Any]) -> list[str]:
    """The machine's facts as a few lines of text for the top of a table."""
    cores = f"{facts.get('cpus')} cores"
    if facts.get("cpus_usable") not in (None, facts.get("cpus")):
        cores += f" ({facts['cpus_usable']} usable)"
    load = facts.get("load_average")
    versions = [f"python {facts['python']}", f"numpy {facts['numpy']}", f"chainrule {facts['chainrule']}"]
    if facts.get("torch"):
        versions.append(f"torch {facts['torch']}")
    if facts.get("sklearn"):
        versions.append(f"scikit-learn {facts['sklearn']}")
    lines = [f"machine: {facts.get('cpu')}, {cores}" + (f", load average {load[0]:.2f}" if load else "")
             + f"; {facts.get('platform')}",
             "versions: " + ", ".join(versions),
             "BLAS: " + blas_summary(facts)]
    if facts.get("allocator"):
        lines.append(f"malloc: {facts['allocator']}")
    if facts.get("threads_limit"):
        lines.append(f"threads limited to {facts['threads_limit']} (threadpoolctl / torch.set_num_threads)")
    return lines


@contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """Limit BLAS (through threadpoolctl) and PyTorch to ``threads`` threads; ``None`` leaves them alone."""
    if threads is None:
        yield
        return
    threadpoolctl = optional("threadpoolctl")
    if threadpoolctl is None:
        raise RuntimeError("limiting threads needs threadpoolctl (pip install threadpoolctl)")
    torch = optional("torch")
    before = torch.get_num_threads() if torch is not None else None
    with threadpoolctl.threadpool_limits(limits=threads):
        if torch is not None:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            if torch is not None and before is not None:
                torch.set_num_threads(before)


# -- the allocator --------------------------------------------------------------------------------

MB = 1024 * 1024
#: glibc's ``mallopt`` parameter numbers (``<malloc.h>``).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: (mmap threshold, trim threshold) in bytes for ``allocator="steady"``: blocks up to 32 MiB (the
#: most glibc allows) come from the heap, and the heap goes back to the system only when 1 GiB of
#: its top is free.
STEADY_MALLOC = (32 * MB, 1024 * MB)
ALLOCATORS = ("steady", "default")
_malloc_fixed: list[tuple[int, int]] = []  # the thresholds set so far in this process


def set_malloc(mmap_threshold: int, trim_threshold: int) -> bool:
    """glibc ``mallopt`` (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD) in bytes; ``False`` where there is no glibc.

    For the whole process, and for good: it also turns off glibc's own moving thresholds.
    """
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        done = bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(
            libc.mallopt(M_TRIM_THRESHOLD, trim_threshold))
    except (OSError, AttributeError):
        return False
    if done:
        _malloc_fixed.append((mmap_threshold, trim_threshold))
    return done


def fix_allocator(allocator: str = "steady") -> str:
    """Put malloc in the state a timing benchmark runs in; returns what holds, for the machine facts.

    Left alone, glibc's malloc moves its thresholds as a process frees big blocks, and
    hands the top of its heap back to the system whenever more than twice the current
    threshold is free there. Whether a step's big arrays land on pages already mapped, or
    on fresh ones that fault in one by one (kernel time, 4 KiB a fault), then depends on
    what the process did before, not on the code being timed. Measured here (medium MLP,
    float64, one BLAS thread): alone in its process, each of chainrule and hand-written
    NumPy faulted 1,776 times a step and ran 18.5 ms instead of 13.6 ms; in one process,
    NumPy's step stopped faulting once chainrule's had run while chainrule's went on, and
    the same code measured 1.5x or 1.07x the floor depending on which contenders ran.

    ``"steady"`` (the default) fixes both thresholds at :data:`STEADY_MALLOC` for every
    contender alike, so none of them pays for another's history; ``"default"`` leaves
    malloc as it is. Either way the setting is the process's and lasts: a steady malloc
    set earlier stays steady.
    """
    if allocator not in ALLOCATORS:
        raise ValueError(f"allocator must be one of {', '.join(ALLOCATORS)}, got {allocator!r}")
    if allocator == "steady" and _malloc_fixed[-1:] != [STEADY_MALLOC]:
        set_malloc(*STEADY_MALLOC)
    if not _malloc_fixed:
        return "as the process found it" + (
            " (glibc's moving thresholds: a step may page-fault or not depending on what ran before it)"
            if platform.libc_ver()[0] == "glibc" else "")
    mmap_threshold, trim_threshold = _malloc_fixed[-1]
    return (f"glibc, fixed for every contender alike: blocks up to {mmap_threshold / MB:g} MiB from the heap, "
            f"heap trimmed above {trim_threshold / MB:g} MiB free" + ("" if allocator == "steady" else
                                                                     " (set earlier in this process)"))


def add_allocator_argument(parser: Any) -> None:
    """The ``--allocator`` option of every timing benchmark's command line (see :func:`fix_allocator`)."""
    parser.add_argument("--allocator", choices=ALLOCATORS, default="steady",
                        help="steady: fix glibc malloc's thresholds, so that no contender's time depends on what "
                             "ran before it (default); default: leave malloc as it is")


@contextmanager
def timing_run(threads: int | None, allocator: str, contenders: Sequence[str]) -> Iterator[dict[str, Any]]:
    """The frame of a timing benchmark's run: malloc fixed (:func:`fix_allocator`), BLAS and PyTorch held to
    ``threads`` (:func:`thread_limit`); yields a dict that, once the block is done, holds the machine's facts
    (taken inside the limit, with the contenders' libraries loaded), ``threads_limit`` and ``allocator``."""
    malloc = fix_allocator(allocator)
    facts: dict[str, Any] = {}
    with thread_limit(threads):
        yield facts
        facts.update(machine_facts(contenders))
    facts["threads_limit"] = threads
    facts["allocator"] = malloc


# -- the scripts ----------------------------------------------------------------------------------


def add_script_arguments(parser: Any, default_out: str | None, *out_flags: str) -> None:
    """The last options of every benchmark script: the hidden ``--tiny`` (the tests' sizes) and the JSON
    results file (``--out`` unless ``out_flags`` name others)."""
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # for the tests
    parser.add_argument(*(out_flags or ("--out",)), default=default_out, help="JSON results file" +
                        (f" (default {default_out})" if default_out else " (default: print only)"))


# -- timing ---------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], *, gc_paused: bool = True) -> float:
    """Seconds one call of ``fn`` takes; the cyclic collector paused during the call unless ``gc_paused=False``."""
    was_enabled = gc.isenabled()
    if gc_paused:
        gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        if was_enabled:
            gc.enable()


def run_blocks(
    fns: Mapping[str, Callable[[], Any]],
    *,
    rounds: int,
    per_block: int = 1,
    warmup: int = 1,
    first_warmup: int | None = None,
    gc_paused: bool | Mapping[str, bool] = True,
) -> dict[str, list[float]]:
    """Time every function in alternating blocks; returns the seconds of each timed call, per key.

    Parameters
    ----------
    fns : key -> a function of no arguments (one call = one timed unit: a step, a chain, a whole fit).
    rounds : how many times every key gets a block; the starting key rotates each round and every
        other round runs reversed (A B C, A C B, C A B, C B A, ...), so no key always follows the same one.
    per_block : timed calls per block (each timed on its own, so the median sees them all).
    warmup : untimed calls at the start of each block (wakes the library's threads and caches).
    first_warmup : untimed calls at the start of a key's first block (default ``warmup``).
    gc_paused : pause the cyclic collector inside each timed call; a mapping gives it per key.
    """
    keys = list(fns)
    times: dict[str, list[float]] = {k: [] for k in keys}
    # Everything alive now (imported modules: PyTorch alone brings hundreds of thousands of objects)
    # goes to the collector's permanent generation for the duration: the gc.collect() before each
    # block stays cheap, and with gc on a contender pays for its own objects, not for the imports.
    gc.collect()
    gc.freeze()
    try:
        _blocks(fns, keys, times, rounds, per_block, warmup, first_warmup, gc_paused)
    finally:
        gc.unfreeze()
    return times


def _blocks(fns, keys, times, rounds, per_block, warmup, first_warmup, gc_paused) -> None:
    for r in range(rounds):
        order = keys[r % len(keys):] + keys[:r % len(keys)] if keys else []
        if r % 2:
            order.reverse()  # who follows whom changes too, not only who starts
        for key in order:
            fn = fns[key]
            paused = gc_paused if isinstance(gc_paused, bool) else gc_paused.get(key, True)
            gc.collect()
            for _ in range(first_warmup if (r == 0 and first_warmup is not None) else warmup):
                fn()
            for _ in range(per_block):
                times[key].append(timed(fn, gc_paused=paused))


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def unstable(samples: Sequence[float], factor: float = 3.0) -> bool:
    """Whether timings are bimodal: the median over ``factor`` times the fastest call.

    On a busy machine a multi-threaded BLAS call can wait a whole scheduler time
    slice for its second thread; when that happens to most calls of one contender,
    its median measures the machine, not the library. Benchmarks flag (and retry) such cases.
    """
    return len(samples) >= 3 and median(samples) > factor * min(samples)


def ratio(value: float | None, floor: float | None) -> float | None:
    """``value / floor``, or ``None`` when either is missing or the floor is zero."""
    if value is None or floor is None or floor == 0 or value != value or floor != floor:
        return None
    return value / floor


# -- tables ---------------------------------------------------------------------------------------


def text_table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str | None = None) -> str:
    """A plain text table; ``align`` is one of ``l``/``r`` per column (default: first left, the rest right)."""
    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    align = align or "l" + "r" * (len(header) - 1)

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)).rstrip()

    lines = [fmt(cells[0]), "  ".join("-" * w for w in widths)]
    lines += [fmt(row) for row in cells[1:]]
    return "\n".join(lines)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def format_value(value: float, unit: str) -> str:
    """A figure with its unit, three significant-ish digits: ``4.12 µs``, ``0.153 ms``, ``12.4 MB``."""
    if value != value:
        return "-"
    digits = 3 if abs(value) < 1 else 2 if abs(value) < 100 else 1 if abs(value) < 1000 else 0
    return f"{value:.{digits}f} {unit}"


@dataclass
class SummaryRow:
    """One line of ``chainrule bench``'s table: a case and each contender's figure (smaller is better).

    ``values`` maps a contender to its figure in ``unit``; ``notes`` maps a contender
    to text shown instead of a figure (``not installed``, ``n/a``).
    """

    case: str
    unit: str
    values: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    floor: str = "numpy"
    ratios: bool = True  # False where a ratio means nothing (a growth near zero)
    flags: dict[str, str] = field(default_factory=dict)  # a mark after a figure, e.g. "!" for unstable timings

    def cell(self, contender: str) -> str:
        if contender in self.values:
            text = format_value(self.values[contender], self.unit)
            r = ratio(self.values[contender], self.values.get(self.floor))
            if self.ratios and contender != self.floor and r is not None:
                text += f" ({r:.2f}×)"
            return text + self.flags.get(contender, "")
        return self.notes.get(contender, "n/a")

    def to_dict(self) -> dict[str, Any]:
        floor = self.values.get(self.floor)
        return {"case": self.case, "unit": self.unit, "values": self.values, "notes": self.notes,
                "ratio_to_numpy": {k: ratio(v, floor) for k, v in self.values.items()} if self.ratios else None}


def summary_table(rows: Sequence[SummaryRow], contenders: Sequence[str] = CONTENDERS, *,
                  markdown: bool = False) -> str:
    """The side-by-side table: case, then one column per contender with its ratio to hand-written NumPy."""
    header = ["case"] + [LABELS[c] for c in contenders]
    body = [[row.case] + [row.cell(c) for c in contenders] for row in rows]
    return markdown_table(header, body) if markdown else text_table(header, body)


def absent_note(contender: str) -> str:
    """What a table shows for a contender that did not run: ``not installed``, or ``skipped`` (left out by a flag)."""
    return "skipped" if available(contender) else "not installed"


# -- results --------------------------------------------------------------------------------------


def check(passed: bool, detail: str) -> dict[str, Any]:
    """A correctness pre-check's outcome, as stored in a benchmark's results under ``checks``."""
    return {"passed": bool(passed), "detail": detail}


def failed_checks(results: Mapping[str, Any]) -> list[str]:
    """Names and details of the correctness checks that failed (an empty list when all passed)."""
    return [f"{name}: {c['detail']}" for name, c in results.get("checks", {}).items() if not c["passed"]]


def end_report(lines: list[str], results: Mapping[str, Any]) -> str:
    """A benchmark's printout: ``lines``, then the results' notes and the correctness checks that failed."""
    lines = [*lines, *results["notes"], *(f"CHECK FAILED: {f}" for f in failed_checks(results))]
    return "\n".join(lines)


def finish(results: Mapping[str, Any], report: Callable[[Mapping[str, Any]], str],
           out: str | os.PathLike[str] | None) -> int:
    """End of a benchmark script: print the report, write the JSON when asked, and give the exit
    status (1 when a correctness check inside the benchmark failed)."""
    print(report(results))
    if out:
        print(f"written to {write_json(out, results)}")
    return 1 if failed_checks(results) else 0


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as JSON (atomically: see :mod:`chainrule.files`), making the folder if needed."""
    from ..files import write_text_atomically

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomically(out, json.dumps(data, indent=2, default=_json_default), "results file")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
