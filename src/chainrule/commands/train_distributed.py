"""``chainrule train linreg|mlp --data FILE --workers N`` (or ``--scheduler tcp://HOST:PORT``): the same
training on a Dask cluster, by :mod:`chainrule.distributed` (synchronous data-parallel SGD)."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from ..errors import ChainruleError
from ._args import option
from ._files import CHECKPOINT, MODEL, check_files

#: Options of ``train`` that a run on a cluster does not take (it trains on every row, and reports no plots).
_NOT_ON_A_CLUSTER = {"plot": "--plot", "plot_fit": "--plot-fit", "plot_confusion": "--plot-confusion",
                     "plot_boundary": "--plot-boundary", "history": "--history", "tol": "--tol"}


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("on a Dask cluster (pip install 'chainrule[distributed]')")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="train on this Dask cluster (each step's gradient computed by its workers, where the "
                       "data are); --data is one or more .npy/.parquet/.csv files, comma-separated, readable by "
                       "every worker at the same path")
    where.add_argument("--workers", type=option("workers"), metavar="N",
                       help="train on a new cluster of N worker processes on this machine (loopback only)")
    g.add_argument("--shards", type=option("workers"), default=None, metavar="N",
                   help="on a cluster: cut each --data file into N shards of equal rows (default: 2 per worker); "
                   "the same shards and --seed give the same parameters on any number of workers")
    g.add_argument("--checkpoint-every", type=option("checkpoint_every"), default=100, metavar="STEPS",
                   help="on a cluster: write --checkpoint every this many steps (default 100)")


def on_a_cluster(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "scheduler", None) or getattr(args, "workers", None))


def _paths(args: argparse.Namespace) -> list[str]:
    paths = [p.strip() for p in args.data.split(",") if p.strip()]
    for p in paths:
        if not p.lower().endswith((".npy", ".parquet", ".pq", ".csv", ".tsv", ".txt")):
            raise ChainruleError(f"--data {p!r}: on a cluster, train from .npy, .parquet or .csv files")
        if args.workers and not os.path.isfile(p):  # a local cluster reads this machine's files
            raise ChainruleError(f"--data {p!r} is not a readable file")
    return paths


def _refuse_what_a_cluster_does_not_do(args: argparse.Namespace) -> None:
    for dest, flag in _NOT_ON_A_CLUSTER.items():
        if getattr(args, dest, None) not in (None, False):
            raise ChainruleError(f"{flag} is not available with --workers/--scheduler (a cluster run trains on "
                                 f"every row and reports its loss)")
    if getattr(args, "schedule", "none") != "none":
        raise ChainruleError("--schedule is not available with --workers/--scheduler")
    if getattr(args, "device", "cpu") != "cpu":
        raise ChainruleError("--device cuda is not available with --workers/--scheduler (the workers train on CPUs)")
    if args.lr == "auto" and args.task == "linreg":
        raise ChainruleError("--lr auto reads the whole data set in memory; on a cluster give --lr (e.g. 0.01)")


def run(args: argparse.Namespace) -> int:
    """Train ``args.task`` (linreg or mlp) on the cluster and print what it reached."""
    import numpy as np

    from .. import distributed as crd
    from .. import nn, optim
    from .train import save_model

    _refuse_what_a_cluster_does_not_do(args)
    paths = _paths(args)
    check_files({"--save": (args.save, MODEL), "--checkpoint": (args.checkpoint, CHECKPOINT)}, {},
                force=args.force)
    classify = args.task == "mlp"
    dtype = getattr(args, "dtype", "float64")
    client = crd.connect(args.scheduler, args.workers)
    try:
        workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        where = args.scheduler or f"a local cluster of {args.workers} worker processes"
        print(f"training on {where} ({workers} workers)")
        parts = args.shards or 2 * max(workers, 1)
        shards = crd.shards_of(client, paths, target=args.target, dtype=dtype,
                               target_dtype="int64" if classify else None, parts=parts)
        facts = client.gather([client.submit(crd.describe, s, pure=False) for s in shards])
        rows, features = sum(f["rows"] for f in facts), facts[0]["features"]
        print(f"data: {rows:,} rows x {features} features in {len(shards)} shards")
        seed = args.seed
        if classify:
            labels = sorted(set().union(*(f["labels"] or [] for f in facts)))
            if labels != list(range(len(labels))) or len(labels) < 2:
                raise ChainruleError(f"--data: the class column must hold the labels 0..C-1 (at least two), got "
                                     f"{labels[:10]}{' ...' if len(labels) > 10 else ''}")
            model: Any = nn.MLP(features, args.hidden, len(labels), activation=args.activation,
                                dropout=args.dropout, dtype=dtype, rng=seed)
            loss_fn: Any = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
        else:
            model = nn.LinearRegression(features, dtype=dtype, rng=seed)
            loss_fn = nn.SumSquaredError() if args.loss == "sse" else nn.MSELoss()
        lr = args.lr if args.lr != "auto" else (1e-3 if args.optimizer == "adam" else 0.01)
        opt = optim.build(args.optimizer, model.parameters(), lr, args.momentum, args.weight_decay)
        batch = rows if args.optimizer == "gd" and args.batch_size is None else (args.batch_size or 32)
        start = time.perf_counter()
        history = crd.fit(model, loss_fn, opt, None, client=client, shards=shards, epochs=args.epochs,
                          batch_size=batch, seed=seed, checkpoint=args.checkpoint,
                          checkpoint_every=args.checkpoint_every, resume=args.resume,
                          progress=True if args.progress is None else args.progress)
        seconds = time.perf_counter() - start
        steps = max(1, -(-rows // batch)) * len(history)
        result = crd.evaluate(client, shards, model, loss_fn)
        print(f"{len(history)} epochs, {steps:,} steps of {batch} rows in {seconds:.1f} s "
              f"({steps / max(seconds, 1e-9):.1f} steps/s); stop: {history.stop_reason}")
        line = f"train loss {result['loss']:.6g}"
        if classify:
            line += f", train accuracy {result['accuracy']:.4f}"
        else:
            w = np.asarray(model.weight.numpy()).ravel()
            shown = ", ".join(f"{v:.4g}" for v in w[:8]) + (", ..." if w.size > 8 else "")
            line += f"; θ = [{shown}], b = {float(model.bias.numpy().ravel()[0]):.4g}"
        print(line)
        if args.save:
            save_model(model, args.save, {"task": args.task, "trained_on": "dask", "rows": str(rows)})
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if args.workers and cluster is not None:
            cluster.close()
    return 1 if history.stop_reason == "diverged" else 0
