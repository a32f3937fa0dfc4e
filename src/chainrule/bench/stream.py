"""Data larger than memory: linear regression trained from a file streamed by ``StreamLoader``, beside the same
training from an array held in memory.

The benchmark writes a file of about ``--size-gb`` GB (``.npy`` or Parquet; float64, 100 features and a target,
``Y = Xθ + noise``), written a block at a time so that writing it needs no more memory than reading it. Then,
each in a fresh process:

* ``stream``     ``fit`` of ``nn.LinearRegression`` with SGD, one epoch, from ``StreamLoader(file)``;
* ``in memory``  the same from the whole array loaded first (``fit`` with ``batch_size``: chainrule's
                 ``DataLoader``, shuffled), the load not timed.

It reports rows per second of each, their ratio, and each process's peak memory (``ru_maxrss``), the best of
``--repeats`` runs each, alternating. The file is in the system's page cache after it is written (as it is
for every epoch after the first on a machine with the memory to cache it); a first read from a cold disk
adds the disk's time. Targets (issue 18): the stream's peak memory under 300 MB for a 2 GB file, its
throughput within 1.2x of memory's.

Usage: ``python -m chainrule.bench.stream [--size-gb 2] [--format npy|parquet] [--batch-size 1024]
[--folder DIR] [--out FILE]`` (or ``python benchmarks/stream.py``). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from .common import finish

FEATURES = 100
BLOCK_ROWS = 16_384  # rows per block written (a Parquet row group: see the README on row group sizes)


def write_file(path: str, rows: int, fmt: str, seed: int = 0) -> None:
    """``rows`` rows of (x₁..x₁₀₀, y), y = xθ + 0.5 ε, written a block at a time."""
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(FEATURES)
    writer = None
    if fmt == "npy":
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(rows, FEATURES + 1))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        names = [f"x{j}" for j in range(FEATURES)] + ["y"]
        schema = pa.schema([(n, pa.float64()) for n in names])
        writer = pq.ParquetWriter(path, schema, compression="none")
    for start in range(0, rows, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, rows)
        X = rng.standard_normal((stop - start, FEATURES))
        y = X @ theta + 0.5 * rng.standard_normal(stop - start)
        if writer is None:
            out[start:stop, :FEATURES] = X
            out[start:stop, FEATURES] = y
            out.flush()
        else:
            import pyarrow as pa

            cols = [pa.array(X[:, j]) for j in range(FEATURES)] + [pa.array(y)]
            writer.write_table(pa.Table.from_arrays(cols, schema=writer.schema), row_group_size=BLOCK_ROWS)
        del X, y
    if writer is None:
        del out
    else:
        writer.close()
    with open(path, "rb+") as f:  # on disk before anything is timed (no write-back competing with the runs)
        os.fsync(f.fileno())


def _peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM (Linux), the high-water mark of this program's own memory
    only. Not ``ru_maxrss``, which Linux carries over from the parent that started the process (here, the
    one that has just written the file through a memory map)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux, bytes on macOS


def child(mode: str, path: str, batch_size: int) -> dict[str, Any]:
    """One training run in this process: its time, rows per second and peak memory."""
    import chainrule as cr
    from chainrule.data import StreamLoader

    model = cr.nn.LinearRegression(FEATURES, rng=0)
    opt = cr.optim.SGD(model.parameters(), lr=1e-3)
    loss = cr.nn.MSELoss()
    if mode == "stream":
        data: Any = StreamLoader(path, batch_size, rng=0)
        rows = data.n_rows
        start = time.perf_counter()
        history = cr.fit(model, loss, opt, data, epochs=1, progress=False)
    else:
        if path.endswith(".npy"):
            A = np.load(path)
        else:
            import pyarrow.parquet as pq

            A = np.column_stack([c.to_numpy() for c in pq.read_table(path).columns])
        X, Y = np.ascontiguousarray(A[:, :FEATURES]), np.ascontiguousarray(A[:, FEATURES])
        del A
        rows = len(Y)
        start = time.perf_counter()
        history = cr.fit(model, loss, opt, (X, Y), epochs=1, batch_size=batch_size, seed=0, progress=False)
    seconds = time.perf_counter() - start
    return {"mode": mode, "rows": rows, "seconds": seconds, "rows_per_second": rows / seconds,
            "peak_rss_mb": _peak_rss_mb(), "final_loss": history.train_loss[-1]}


def run(size_gb: float = 2.0, fmt: str = "npy", batch_size: int = 1024, folder: str | None = None,
        repeats: int = 3) -> dict[str, Any]:
    rows = int(size_gb * 1e9 // (8 * (FEATURES + 1)))
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = os.path.join(tmp, f"linear.{fmt}")
        t = time.perf_counter()
        write_file(path, rows, fmt)
        written = time.perf_counter() - t
        size = os.path.getsize(path)
        runs: dict[str, list[dict[str, Any]]] = {"stream": [], "memory": []}
        for r in range(repeats):
            for mode in (("stream", "memory") if r % 2 == 0 else ("memory", "stream")):
                proc = subprocess.run([sys.executable, "-m", "chainrule.bench.stream", "--child", mode, path,
                                       "--batch-size", str(batch_size)], capture_output=True, text=True)
                if proc.returncode != 0:
                    raise SystemExit(f"the {mode} run failed:\n{proc.stderr[-2000:]}")
                runs[mode].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    best = {m: min(v, key=lambda r: r["seconds"]) for m, v in runs.items()}
    return {
        "benchmark": "stream", "format": fmt, "file_bytes": size, "rows": rows, "features": FEATURES,
        "batch_size": batch_size, "write_seconds": written, "runs": runs,
        "stream_rows_per_second": best["stream"]["rows_per_second"],
        "memory_rows_per_second": best["memory"]["rows_per_second"],
        "slowdown": best["memory"]["rows_per_second"] / best["stream"]["rows_per_second"],
        "stream_peak_rss_mb": max(r["peak_rss_mb"] for r in runs["stream"]),
        "memory_peak_rss_mb": max(r["peak_rss_mb"] for r in runs["memory"]),
    }


def report(res: dict[str, Any]) -> str:
    return "\n".join([
        f"linear regression, one epoch of SGD (batch {res['batch_size']}) on {res['file_bytes'] / 1e9:.2f} GB "
        f"of {res['format']} ({res['rows']:,} rows x {res['features']} features; written in "
        f"{res['write_seconds']:.1f} s)",
        f"  streamed   {res['stream_rows_per_second']:>12,.0f} rows/s   peak memory "
        f"{res['stream_peak_rss_mb']:7.0f} MB",
        f"  in memory  {res['memory_rows_per_second']:>12,.0f} rows/s   peak memory "
        f"{res['memory_peak_rss_mb']:7.0f} MB",
        f"  streamed / in memory: {res['slowdown']:.2f}x the time (target <= 1.2x); peak memory target < 300 MB",
    ])


def main(argv: list[str] | None = None, default_out: str | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m chainrule.bench.stream", description=__doc__.split("\n")[0])
    p.add_argument("--size-gb", type=float, default=2.0)
    p.add_argument("--format", choices=("npy", "parquet"), default="npy")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--folder", help="where to write the file (a temporary folder in it; default: the system's)")
    p.add_argument("--out", default=default_out, help="write the results as JSON here")
    p.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.batch_size)))
        return 0
    res = run(args.size_gb, args.format, args.batch_size, args.folder, args.repeats)
    return finish(res, report, args.out)


if __name__ == "__main__":
    sys.exit(main())
