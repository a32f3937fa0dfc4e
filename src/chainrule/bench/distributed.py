"""Training on Dask: steps per second with 1 and 2 worker processes, and the scaling efficiency, beside the same
steps in one process without Dask.

Two problems (issue 18):

* ``linreg``  linear regression on 1,000,000 x 100 float64 rows (800 MB, written as 2 ``.npy`` files, one
  shard each, that the workers memory-map), mean squared error, SGD;
* ``mlp``     the medium MLP of ``chainrule.bench.mlp_step`` (784-512-256-10, ReLU) on 20,000 synthetic rows
  (a random linear teacher's classes; 2 files, one shard each), cross-entropy, SGD;

each at a small batch (the usual one) and a large one. For each: steps per second in one process
(``chainrule.fit`` from memory), on a LocalCluster of 1 worker and of 2 (one thread each), and the
efficiency ``(steps/s on 2) / (2 x steps/s on 1)``. The parameters after the steps are checked equal on 1 and 2
workers first. A paper model of where it stops scaling is in ``benchmarks/README.md``.

Usage: ``python -m chainrule.bench.distributed [--steps 30] [--quick] [--out FILE]`` (or
``python benchmarks/dask_scaling.py``). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np

from .common import finish


def _linreg_files(folder: str, rows: int, features: int = 100, files: int = 2) -> list[str]:
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(features)
    paths = []
    for k in range(files):
        n = rows // files
        X = rng.standard_normal((n, features))
        block = np.empty((n, features + 1))
        block[:, :features] = X
        block[:, features] = X @ theta + 0.5 * rng.standard_normal(n)
        paths.append(os.path.join(folder, f"linear{k}.npy"))
        np.save(paths[-1], block)
    return paths


def _mlp_files(folder: str, rows: int, files: int = 2) -> list[str]:
    rng = np.random.default_rng(1)
    teacher = rng.standard_normal((784, 10))
    paths = []
    for k in range(files):
        X = rng.standard_normal((rows // files, 784))
        y = np.argmax(X @ teacher, axis=1)
        paths.append(os.path.join(folder, f"mlp{k}.npy"))
        np.save(paths[-1], np.column_stack([X, y]))
    return paths


def _problem(name: str, dtype: str = "float64") -> tuple[Any, Any, bool]:
    import chainrule as cr

    if name == "linreg":
        return cr.nn.LinearRegression(100, rng=0), cr.nn.MSELoss(), False
    return cr.nn.MLP(784, [512, 256], 10, rng=0), cr.nn.CrossEntropyLoss(), True


def _in_process(paths: list[str], name: str, batch: int, steps: int) -> float:
    """Steps per second of ``chainrule.fit`` in this process, from the same rows in memory."""
    import chainrule as cr

    block = np.concatenate([np.load(p) for p in paths])
    X = np.ascontiguousarray(block[:, :-1])
    Y = block[:, -1].astype(np.int64) if name == "mlp" else np.ascontiguousarray(block[:, -1])
    rows = min(len(X), batch * steps)
    model, loss, _ = _problem(name)
    opt = cr.optim.SGD(model.parameters(), lr=0.01)
    start = time.perf_counter()
    cr.fit(model, loss, opt, (X[:rows], Y[:rows]), epochs=1, batch_size=batch, progress=False)
    return -(-rows // batch) / (time.perf_counter() - start)


def _on_cluster(client: Any, paths: list[str], name: str, batch: int, steps: int) -> tuple[float, list]:
    import chainrule as cr
    from chainrule import distributed as crd

    # one shard per file, two files: one shard per worker on 2 workers (each step sends the parameters to
    # every worker and brings one gradient back per shard)
    shards = crd.shards_of(client, paths, target_dtype="int64" if name == "mlp" else None, parts=1)

    def train(steps: int) -> tuple[Any, int]:
        model, loss, _ = _problem(name)
        opt = cr.optim.SGD(model.parameters(), lr=0.01)
        count = [0]

        def stop(epoch, step, value):
            count[0] += 1
            return count[0] >= steps

        crd.fit(model, loss, opt, None, client=client, shards=shards, epochs=1, batch_size=batch, progress=False,
                on_step=stop)
        return model, count[0]

    train(2)  # warm: the shards loaded where they live, the code imported on the workers
    start = time.perf_counter()
    model, done = train(steps)
    return done / (time.perf_counter() - start), [p.numpy().copy() for p in model.parameters()]


CASES = {"linreg": (1024, 65_536), "mlp": (256, 4096)}


def run(steps: int = 30, quick: bool = False, folder: str | None = None) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    rows = {"linreg": 100_000 if quick else 1_000_000, "mlp": 4_000 if quick else 20_000}
    results: dict[str, Any] = {"benchmark": "distributed", "steps": steps, "cases": []}
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        files = {"linreg": _linreg_files(tmp, rows["linreg"]), "mlp": _mlp_files(tmp, rows["mlp"])}
        cases = [(n, b) for n, bs in CASES.items() for b in bs]
        found: dict[tuple[str, int], dict[str, Any]] = {
            (n, b): {"problem": n, "rows": rows[n], "batch": b,
                     "one_process_steps_per_second": _in_process(files[n], n, b, steps)} for n, b in cases}
        for workers in (1, 2):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
            try:
                for n, b in cases:
                    rate, params = _on_cluster(client, files[n], n, b, steps)
                    found[(n, b)][f"workers_{workers}_steps_per_second"] = rate
                    found[(n, b)][f"params_{workers}"] = params
            finally:
                client.close()
                cluster.close()
        for entry in found.values():
            same = all(np.array_equal(a, c) for a, c in zip(entry.pop("params_1"), entry.pop("params_2")))
            entry["same_parameters_on_1_and_2"] = same
            entry["efficiency"] = entry["workers_2_steps_per_second"] / (2 * entry["workers_1_steps_per_second"])
            results["cases"].append(entry)
    return results


def report(res: dict[str, Any]) -> str:
    lines = [f"{'problem':8} {'rows':>10} {'batch':>7} {'1 process':>11} {'1 worker':>10} {'2 workers':>10} "
             f"{'efficiency':>10}  same θ   (steps per second)"]
    for c in res["cases"]:
        lines.append(f"{c['problem']:8} {c['rows']:>10,} {c['batch']:>7,} {c['one_process_steps_per_second']:>11.1f} "
                     f"{c['workers_1_steps_per_second']:>10.1f} {c['workers_2_steps_per_second']:>10.1f} "
                     f"{c['efficiency']:>10.2f}  {c['same_parameters_on_1_and_2']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None, default_out: str | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m chainrule.bench.distributed", description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=30, help="timed steps per case (default 30)")
    p.add_argument("--quick", action="store_true", help="smaller data (100,000 and 4,000 rows)")
    p.add_argument("--folder", help="where to write the data files (a temporary folder in it)")
    p.add_argument("--out", default=default_out, help="write the results as JSON here")
    args = p.parse_args(argv)
    res = run(args.steps, args.quick, args.folder)
    return finish(res, report, args.out)


if __name__ == "__main__":
    sys.exit(main())
