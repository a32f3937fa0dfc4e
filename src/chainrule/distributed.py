"""Data-parallel training on a Dask cluster: synchronous SGD, each step's mini-batch gradient computed where
the data lives and averaged.

The lecture's first point, that a mini-batch gradient is an unbiased estimate of the full gradient, is what
makes this sound: a mini-batch drawn across many machines is a mini-batch all the same. Dask (with
``distributed``) runs the same code on a laptop's ``LocalCluster`` or on Kubernetes, Slurm or a cloud.

How one step goes (:func:`fit`):

1. The data are *shards* held by the workers: the row blocks of a Dask array, the partitions of a Dask
   DataFrame, or row ranges of files (a ``.npy``'s are memory-mapped on their worker, so a shard need not
   fit in its memory either). Each epoch, every shard is permuted (from the seed, the epoch and the shard's number)
   and cut into as many slices as the epoch has steps.
2. The parameters are broadcast to every worker once per step (``Client.scatter(..., broadcast=True)``:
   one copy per worker, not one per task); the model itself is sent once per run.
3. Each shard's task computes, with chainrule, the loss and gradient of its slice: a forward and a backward
   on the worker.
4. The driver adds the gradients, weighted by the slices' sizes (a ``"mean"`` loss) or not (``"sum"``),
   in the order of the shards, and takes one optimiser step.

So a step's gradient is the gradient of one mini-batch made of all the shards' slices, the same whatever the
number of workers: training on 1 worker and on k gives the same parameters, bit for bit. A worker that dies
does not lose the run: Dask computes its tasks again elsewhere (and its shards, from their source), and
the result is the same. Checkpoints (the single-process format, :mod:`chainrule.train.checkpoint`) are
written every ``checkpoint_every`` steps; a run whose client or cluster is lost goes on from the last one
with ``resume=True``.

What this does not do, and what it would change (see ``benchmarks/README.md``, "Training on Dask"): every
step waits for the slowest worker and moves the parameters out and the gradients back (2 x parameter bytes
per worker per step). *Local SGD* (each worker takes several steps on its own shard, and the parameters are
averaged every H steps) divides that traffic by H at the price of a gradient that is no longer one
mini-batch's; *gradient compression* (top-k, 8-bit quantisation with error feedback) shrinks each message
and adds a bias that error feedback corrects over steps. Both would break the equality with one worker.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import ConfigError, DataError, require
from .train.checkpoint import load_checkpoint, restore, save_checkpoint
from .train.history import History

# -- shards: the data each worker holds ------------------------------------------------------


class Shard:
    """A block of rows on a worker: features ``X`` (n, d) and target ``Y`` (n,), or a ``.npy`` file mapped in
    memory (then it travels between workers as its path, never as its values)."""

    def __init__(self, X: Any, Y: Any = None, *, path: str | None = None, rows: tuple[int, int] | None = None,
                 columns: Sequence[int] = (), target: int = -1, dtype: Any = np.float64, y_dtype: Any = None):
        self.path, self.rows, self.columns, self.target = path, rows, list(columns), target
        self.dtype, self.y_dtype = np.dtype(dtype), None if y_dtype is None else np.dtype(y_dtype)
        if path is not None:
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)
            self.X = mapped if rows is None else mapped[rows[0]:rows[1]]
            self.Y = None
        else:
            self.X, self.Y = np.asarray(X), np.asarray(Y)
            if self.Y.ndim == 2 and self.Y.shape[1] == 1:
                self.Y = self.Y[:, 0]
            if len(self.X) != len(self.Y):
                raise DataError(f"a shard has {len(self.X)} rows of features and {len(self.Y)} of target")

    def __len__(self) -> int:
        return len(self.X)

    def __reduce__(self):
        y_dtype = None if self.y_dtype is None else self.y_dtype.str
        if self.path is not None:
            return (_mapped_shard, (self.path, self.rows, self.columns, self.target, self.dtype.str, y_dtype))
        return (_pair_shard, (self.X, self.Y, self.dtype.str, y_dtype))

    def targets(self) -> np.ndarray:
        """The target column, all rows (without the features)."""
        return np.asarray(self.X[:, self.target] if self.path is not None else self.Y)

    def take(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows ``rows`` as ``(X, Y)`` arrays of the shard's dtypes."""
        if self.path is not None:
            block = self.X[rows]  # a gather from the mapped file
            X, y = block[:, self.columns], block[:, self.target]
        else:
            X, y = self.X[rows], self.Y[rows]
        y_dtype = self.y_dtype or (np.dtype(np.int64) if y.dtype.kind in "iub" else self.dtype)
        # C-ordered as a batch from memory is: the products' sums then run in one order whatever the source
        return np.ascontiguousarray(X, dtype=self.dtype), np.ascontiguousarray(y, dtype=y_dtype)


def _mapped_shard(path, rows, columns, target, dtype, y_dtype) -> Shard:
    return Shard(None, path=path, rows=rows, columns=columns, target=target, dtype=dtype, y_dtype=y_dtype)


def _pair_shard(X, Y, dtype, y_dtype) -> Shard:
    return Shard(X, Y, dtype=dtype, y_dtype=y_dtype)


def _frame_shard(frame, features, target, dtype, y_dtype) -> Shard:
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise DataError(f"distributed fit: the DataFrame has no column {missing[0]!r}")
    try:
        X = np.ascontiguousarray(frame[features].to_numpy(dtype=dtype))  # pandas keeps columns: rows wanted here
    except (TypeError, ValueError):
        bad = next((c for c in features if frame[c].dtype.kind not in "biuf"), features[0])
        raise DataError(f"distributed fit: column {bad!r} of the DataFrame holds {frame[bad].dtype}, not "
                        f"numbers") from None
    return Shard(X, frame[target].to_numpy(), dtype=dtype, y_dtype=y_dtype)


#: A file is cut into shards (row ranges) of about this many bytes, unless a number of shards is given.
SHARD_BYTES = 64 * 1024**2


def _open(path: str, target, features, dtype, y_dtype):
    from .data.stream import StreamLoader

    return StreamLoader(path, 1, target=target, features=features, shuffle=False, dtype=dtype,
                        target_dtype=y_dtype, prefetch=False)


def _file_parts(path: str, target, features, dtype, y_dtype, parts: int | None = None) -> list[tuple[int, int]]:
    """The shards of a file as row ranges: ``parts`` of equal size, or by default about :data:`SHARD_BYTES`
    each (run on a worker: the file need only be where the workers are). They depend on the file and
    ``parts`` alone, never on the number of workers."""
    loader = _open(path, target, features, dtype, y_dtype)
    n = loader.n_rows
    if parts is None:
        parts = max(1, math.ceil(n * (loader.n_features + 1) * 8 / SHARD_BYTES))
    parts = max(1, min(int(parts), n))
    loader.close()
    return [(k * n // parts, (k + 1) * n // parts) for k in range(parts)]


def _file_shard(path: str, rows: tuple[int, int], target, features, dtype, y_dtype) -> Shard:
    """Rows ``rows[0]`` to ``rows[1]`` (excluded) of a file as one shard: a ``.npy``'s rows mapped in memory
    (read as batches need them), a Parquet or CSV file's read (the chunks that hold them)."""
    loader = _open(path, target, features, dtype, y_dtype)
    source = loader.source
    a0, b0 = rows
    if path.lower().endswith(".npy"):
        return Shard(None, path=path, rows=(a0, b0), columns=source.columns, target=source.target, dtype=dtype,
                     y_dtype=loader.y_dtype)
    X = np.empty((b0 - a0, loader.n_features), loader.dtype)
    Y = np.empty(b0 - a0, loader.y_dtype)
    for k, (a, b) in enumerate(source.chunks):
        lo, hi = max(a, a0), min(b, b0)
        if lo >= hi:
            continue
        cx, cy = np.empty((b - a, loader.n_features), loader.dtype), np.empty(b - a, loader.y_dtype)
        source.read_into(k, cx, cy)
        X[lo - a0:hi - a0], Y[lo - a0:hi - a0] = cx[lo - a:hi - a], cy[lo - a:hi - a]
    loader.close()
    return Shard(X, Y, dtype=dtype, y_dtype=loader.y_dtype)


def describe(shard: Shard) -> dict[str, Any]:
    """What the driver needs of a shard: its rows, features, and its integer labels (for a classifier)."""
    X, Y = shard.take(np.arange(min(len(shard), 1)))
    out = {"rows": len(shard), "features": int(X.shape[1]) if X.ndim == 2 else 1, "labels": None}
    if Y.dtype.kind in "iu":
        out["labels"] = sorted(int(v) for v in np.unique(shard.targets()))
    return out


def _length(shard: Shard) -> int:
    return len(shard)


def shards_of(client: Any, data: Any, *, target: str | int | None = None, features: list | None = None,
              dtype: Any = np.float64, target_dtype: Any = None, parts: int | None = None) -> list[Any]:
    """The futures of the shards of ``data`` on ``client``'s workers: ``(X, Y)`` Dask arrays (their row
    blocks), a Dask DataFrame (its partitions; ``target`` a column name, the last by default), or a list of
    file paths (each cut into ``parts`` shards of equal rows, or by default shards of about 64 MB). Each shard
    is computed from its source, so Dask can compute it again when the worker holding it dies."""
    dask = require("dask", "distributed", "training on a Dask cluster")
    delayed = dask.delayed
    if isinstance(data, (str, os.PathLike)):
        data = [data]
    if isinstance(data, (list, tuple)) and data and all(isinstance(p, (str, os.PathLike)) for p in data):
        paths = [os.path.abspath(os.fspath(p)) for p in data]
        pieces = client.gather([client.submit(_file_parts, p, target, features, dtype, target_dtype, parts,
                                              pure=False) for p in paths])
        parts = [delayed(_file_shard, pure=True)(p, part, target, features, dtype, target_dtype)
                 for p, ranges in zip(paths, pieces) for part in ranges]
    elif isinstance(data, tuple) and len(data) == 2 and all(hasattr(a, "to_delayed") for a in data):
        X, Y = data
        if X.ndim != 2:
            raise DataError(f"distributed fit: the features are a Dask array of shape {X.shape}; give (n, d)")
        X = X.rechunk({1: -1})
        Y = Y.rechunk({0: X.chunks[0]})
        xs, ys = X.to_delayed().ravel(), Y.to_delayed().ravel()
        parts = [delayed(_pair_shard, pure=True)(x, y, dtype, target_dtype) for x, y in zip(xs, ys)]
    elif hasattr(data, "to_delayed") and hasattr(data, "columns"):
        names = list(data.columns)
        t = names[-1] if target is None else target
        if t not in names:
            shown = ", ".join(map(str, names))
            raise DataError(f"distributed fit: the DataFrame has no column {t!r} (columns: {shown})")
        f = [c for c in names if c != t] if features is None else list(features)
        parts = [delayed(_frame_shard, pure=True)(part, f, t, dtype, target_dtype) for part in data.to_delayed()]
    else:
        raise DataError("distributed fit: data must be (X, Y) Dask arrays, a Dask DataFrame, or a list of "
                        f".npy / .parquet / .csv paths; got {type(data).__name__}")
    if not parts:
        raise DataError("distributed fit: no data (no shard)")
    return client.compute(parts)


# -- one step on a worker --------------------------------------------------------------------

_LOCAL = threading.local()


def _rows(n: int, seed: int, epoch: int, shard: int, step: int, steps: int) -> np.ndarray:
    """The rows of a shard of ``n`` rows in ``step`` of ``epoch``: its slice of the shard's permutation."""
    order = np.random.default_rng([seed, epoch, shard]).permutation(n)
    return order[step * n // steps:(step + 1) * n // steps]


def _worker_model(model: Any) -> Any:
    """This worker thread's own copy of the model (tasks on one worker's threads must not share one)."""
    import copy

    cache = getattr(_LOCAL, "models", None)
    if cache is None:
        cache = _LOCAL.models = {}
    key = id(model)
    mine = cache.get(key)
    if mine is None or mine[0] is not model:
        mine = cache[key] = (model, copy.deepcopy(model))
    return mine[1]


def _own_copies(params: list[np.ndarray]) -> list[np.ndarray]:
    """The step's parameters copied into this worker's own memory, once per step and thread.

    The arrays Dask hands a task are read from its messages wherever they fell, not always on the boundary
    that NumPy's allocator gives; BLAS then takes another path through a product, and its sums round
    otherwise (by an ulp). Fresh copies make every worker compute the same bits, whatever it received."""
    held = getattr(_LOCAL, "params", None)
    if held is None or held[0] is not params:
        held = _LOCAL.params = (params, [np.array(v, copy=True) for v in params])
    return held[1]


def shard_gradient(shard: Shard, model: Any, params: list[np.ndarray], loss_fn: Any, seed: int, epoch: int,
                   step: int, steps: int, index: int) -> tuple[list[np.ndarray] | None, int, float]:
    """The task: the loss and gradient of shard ``index``'s slice of this step, at ``params``.

    Returns (one gradient per parameter, rows, loss); no rows: (None, 0, 0.0)."""
    from .grad_mode import enable_grad

    rows = _rows(len(shard), seed, epoch, index, step, steps)
    if not len(rows):
        return None, 0, 0.0
    X, Y = shard.take(rows)
    local = _worker_model(model)
    ps = list(local.parameters())
    for p, value in zip(ps, _own_copies(params)):
        p.data = value
        p.grad = None
    with enable_grad():
        loss = loss_fn(local(X), Y)
        loss.backward()
    grads = [np.zeros_like(v) if p.grad is None else np.asarray(p.grad) for p, v in zip(ps, params)]
    return grads, len(rows), float(loss.item())


def shard_evaluation(shard: Shard, model: Any, params: list[np.ndarray], loss_fn: Any,
                     block: int = 65_536) -> tuple[float, int, int]:
    """The task of :func:`evaluate`: the loss summed over the shard's rows (a "mean" loss times each block's
    rows), the rows, and for a classifier the rows whose largest output is the target's class."""
    from .grad_mode import no_grad

    local = _worker_model(model)
    for p, value in zip(local.parameters(), _own_copies(params)):
        p.data = value
    was = getattr(local, "training", False)
    if hasattr(local, "eval"):
        local.eval()
    total, correct, n = 0.0, 0, len(shard)
    try:
        with no_grad():
            for a in range(0, n, block):
                X, Y = shard.take(np.arange(a, min(a + block, n)))
                out = local(X)
                value = float(loss_fn(out, Y).item())
                total += value * len(Y) if getattr(loss_fn, "reduction", "mean") != "sum" else value
                if Y.dtype.kind in "iu" and out.ndim == 2:
                    correct += int((np.argmax(out.numpy(), axis=1) == Y).sum())
    finally:
        if was and hasattr(local, "train"):
            local.train()
    return total, n, correct


def evaluate(client: Any, shards: list, model: Any, loss_fn: Any) -> dict[str, float]:
    """The loss of ``model`` over all the shards (combined as the loss's reduction combines), and the accuracy
    of a classifier, computed on the workers."""
    model_future = client.scatter(model, broadcast=True, hash=False)
    values = client.scatter([np.asarray(p.numpy()) for p in model.parameters()], broadcast=True, hash=False)
    parts = client.gather([client.submit(shard_evaluation, s, model_future, values, loss_fn, pure=False)
                           for s in shards])
    total, n, correct = (sum(p[k] for p in parts) for k in range(3))
    mean = getattr(loss_fn, "reduction", "mean") != "sum"
    return {"loss": total / max(n, 1) if mean else total, "rows": n, "accuracy": correct / max(n, 1)}


# -- the driver ------------------------------------------------------------------------------


def _lost_worker_errors() -> tuple[type[BaseException], ...]:
    """The errors of a worker lost while a step is sent to it."""
    CommClosedError = require("distributed.comm.core", "distributed", "training on a Dask cluster").CommClosedError

    return (CommClosedError, OSError)


class Progress:
    """One line per ``every`` seconds: epoch, step, steps per second, loss, workers alive."""

    def __init__(self, client: Any, total_steps: int, show: bool | None, done: int = 0, every: float = 2.0,
                 write: Callable[[str], None] = print):
        import sys

        self.client, self.total, self.every, self.write = client, total_steps, every, write
        self.show = sys.stdout.isatty() if show is None else bool(show)
        self.last = time.perf_counter()
        self.start, self.done0 = self.last, done  # a resumed run's rate counts this run's steps only

    def workers(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))

    def update(self, epoch: int, step: int, done: int, loss: float, force: bool = False) -> None:
        now = time.perf_counter()
        if not self.show or (now - self.last < self.every and not force):
            return
        rate = (done - self.done0) / max(now - self.start, 1e-9)
        self.write(f"epoch {epoch} step {step}  {done}/{self.total} steps  {rate:.1f} steps/s  loss {loss:.6g}  "
                   f"workers alive {self.workers()}")
        self.last = now


def _check_model(model: Any) -> None:
    """Only the parameters travel each step: a model whose training also changes buffers (BatchNorm's running
    statistics) or draws random numbers (dropout) would differ between the workers' copies and the driver's."""
    for name, _ in model.named_buffers() if hasattr(model, "named_buffers") else ():
        raise ConfigError(f"distributed fit: the model keeps a buffer that training changes ({name!r}: running "
                          f"statistics), which the workers' copies would not share; not supported yet")
    for m in model.modules() if hasattr(model, "modules") else ():
        if type(m).__name__ == "Dropout" and getattr(m, "p", 0) > 0:
            raise ConfigError("distributed fit: dropout draws its masks on each worker, which would make the run "
                              "depend on where each shard is computed; not supported yet (use dropout 0)")


def fit(model: Any, loss_fn: Any, optimizer: Any, data: Any, *, client: Any, epochs: int = 1,
        batch_size: int = 256, seed: int = 0, target: str | int | None = None, features: list | None = None,
        dtype: Any = np.float64, target_dtype: Any = None, checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int = 100, resume: bool = False, progress: bool | None = None,
        on_step: Callable[[int, int, float], Any] | None = None, shards: list | None = None,
        retries: int = 5) -> History:
    """Train ``model`` by synchronous data-parallel SGD on ``client``'s Dask cluster (see the module's text).

    Parameters
    ----------
    model, loss_fn, optimizer : as for :func:`chainrule.fit`; the optimiser steps on the driver.
    data : ``(X, Y)`` Dask arrays, a Dask DataFrame, or a list of ``.npy`` / ``.parquet`` / ``.csv`` paths
        (cut into shards of equal rows, see :func:`shards_of`; the files must be readable by the workers, at
        the same path).
    client : a ``dask.distributed.Client``.
    epochs : passes over the data.
    batch_size : rows per step, all shards together (each gives its share: a step takes the same fraction
        of every shard).
    seed : the shuffling's seed: the same seed, model and data give the same run on any number of workers.
    target, features, dtype, target_dtype : the columns and dtypes (for a DataFrame and files).
    checkpoint, checkpoint_every, resume : write the run's state every ``checkpoint_every`` steps (and at the
        end); with ``resume`` go on from it when it exists, after a lost client or cluster.
    progress : a line every 2 seconds with steps per second and workers alive (None: on a terminal).
    on_step : called after every step as ``on_step(epoch, step, loss)``; returning True stops the run.
    shards : shard futures from :func:`shards_of` (to reuse them across runs); by default made from ``data``.
    retries : how many times a step is sent again when a worker is lost while it is sent (Dask itself
        computes again the tasks of a worker that dies while they run).

    Returns
    -------
    History: one entry per epoch (its loss the batches' losses combined by the loss's reduction).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"distributed fit: batch_size must be a whole number >= 1, got {batch_size!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ConfigError(f"distributed fit: epochs must be a whole number >= 0, got {epochs!r}")
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise ConfigError(f"distributed fit: checkpoint_every must be a whole number >= 1, got {checkpoint_every!r}")
    if resume and checkpoint is None:
        raise ConfigError("distributed fit: resume=True needs checkpoint= (the file to go on from)")
    _check_model(model)
    lost = _lost_worker_errors()
    if shards is None:
        shards = shards_of(client, data, target=target, features=features, dtype=dtype, target_dtype=target_dtype)
    sizes = client.gather([client.submit(_length, s, pure=False) for s in shards])
    n = int(sum(sizes))
    if n == 0:
        raise DataError("distributed fit: the data have no rows")
    steps = max(1, math.ceil(n / batch_size))
    mean = getattr(loss_fn, "reduction", "mean") != "sum"
    params = list(model.parameters())
    model_future = client.scatter(model, broadcast=True, hash=False)
    history = History(monitor="train")
    first_epoch, first_step, partial = 1, 0, {"total": 0.0, "count": 0, "norm": 0.0, "steps": 0}
    if resume and os.path.exists(checkpoint):
        state = load_checkpoint(checkpoint)
        restore(state, model=model, optimizer=optimizer)
        history = state.history
        run = state.extra or {}
        first_epoch, first_step = state.epoch + 1, int(run.get("step", 0))
        partial = dict(run.get("partial", partial))
        if (run.get("steps_per_epoch", steps), run.get("seed", seed), run.get("shards", len(shards))) != (
                steps, seed, len(shards)):
            raise ConfigError(f"distributed fit: {os.fspath(checkpoint)!r} was written by a run of "
                              f"{run.get('steps_per_epoch')} steps per epoch, seed {run.get('seed')} and "
                              f"{run.get('shards')} shards; this one has {steps}, {seed} and {len(shards)} (the "
                              f"same data, shards, batch_size and seed go on from it)")
    start = time.perf_counter() - (history.seconds[-1] if history.seconds else 0.0)
    done = (first_epoch - 1) * steps + first_step
    reporter = Progress(client, epochs * steps, progress, done)
    stop = False
    history.stop_reason = "epochs"

    def save(epoch_done: int, step_in: int, finished: bool = False) -> None:
        save_checkpoint(checkpoint, model=model, optimizer=optimizer, history=history, epoch=epoch_done,
                        finished=finished, extra={"step": step_in, "partial": partial, "steps_per_epoch": steps,
                                                  "seed": seed, "shards": len(shards)})

    for epoch in range(first_epoch, epochs + 1):
        lr = optimizer.param_groups[0]["lr"]
        for step in range(first_step if epoch == first_epoch else 0, steps):
            for attempt in range(retries + 1):
                try:
                    if attempt:  # after a lost worker: once the scheduler knows, the model again to those alive
                        time.sleep(min(0.25 * 2**attempt, 5.0))
                        client.wait_for_workers(1, timeout=60)
                        model_future = client.scatter(model, broadcast=True, hash=False)
                    values = client.scatter([np.asarray(p.numpy()) for p in params], broadcast=True, hash=False)
                    tasks = [client.submit(shard_gradient, s, model_future, values, loss_fn, seed, epoch, step,
                                           steps, i, pure=False) for i, s in enumerate(shards)]
                    results = client.gather(tasks)
                    del tasks, values
                    break
                except lost as exc:  # a worker died while the step was sent: send it again to those alive
                    if attempt == retries:
                        raise ConfigError(f"distributed fit: step {step + 1} of epoch {epoch} failed {retries + 1} "
                                          f"times as workers were lost ({type(exc).__name__}: {exc})") from exc
            count = sum(r[1] for r in results)
            if count == 0:
                continue
            total = [np.zeros_like(p.numpy()) for p in params]
            loss = 0.0
            for grads, rows, value in results:  # in the shards' order: the same sum on any number of workers
                if grads is None:
                    continue
                weight = rows / count if mean else 1.0
                for acc, g in zip(total, grads):
                    acc += g * weight if mean else g
                loss += value * weight
            for p, g in zip(params, total):
                p.grad = g
            sq = sum(float(g.ravel() @ g.ravel()) for g in total)
            optimizer.step()
            partial["total"] += loss * count if mean else loss
            partial["count"] += count
            partial["norm"] += math.sqrt(sq)
            partial["steps"] += 1
            done += 1
            reporter.update(epoch, step + 1, done, loss)
            if on_step is not None and on_step(epoch, step + 1, loss) is True:
                stop = True
            if checkpoint is not None and step + 1 < steps and (stop or done % checkpoint_every == 0):
                save(epoch - 1, step + 1)  # within the epoch: where it is, and the epoch's loss so far
            if stop:
                break
        if stop and partial["steps"] < steps:  # stopped within an epoch: no whole epoch to record
            history.stop_reason = "callback"
            break
        train_loss = partial["total"] / max(partial["count"], 1) if mean else partial["total"]
        history.epoch.append(epoch)
        history.train_loss.append(train_loss)
        history.test_loss.append(math.nan)
        history.grad_norm.append(partial["norm"] / max(partial["steps"], 1))
        history.lr.append(lr)
        history.seconds.append(time.perf_counter() - start)
        history.samples_seen += partial["count"]
        if train_loss < history.best_loss:
            history.best_loss, history.best_epoch = train_loss, epoch
        partial = {"total": 0.0, "count": 0, "norm": 0.0, "steps": 0}
        if not math.isfinite(train_loss):
            history.stop_reason, stop = "diverged", True
        elif stop:
            history.stop_reason = "callback"
        if checkpoint is not None:
            save(epoch, 0, finished=stop or epoch == epochs)
        reporter.update(epoch, steps, done, train_loss, force=True)
        if stop:
            break
    return history


def connect(scheduler: str | None = None, workers: int | None = None, threads_per_worker: int = 1) -> Any:
    """A ``Client``: to the scheduler at ``scheduler`` (``tcp://host:port``), or to a new ``LocalCluster``
    of ``workers`` processes on this machine (loopback only)."""
    distributed = require("distributed", "distributed", "training on a Dask cluster")
    if scheduler:
        try:
            return distributed.Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    cluster = distributed.LocalCluster(n_workers=workers or 1, threads_per_worker=threads_per_worker,
                                       processes=True, host="127.0.0.1", dashboard_address=None)
    return distributed.Client(cluster)


__all__ = ["fit", "shards_of", "shard_gradient", "Shard", "connect", "Progress", "describe", "evaluate"]
