"""``fit``: the training loop, with a history, early stopping, extra metrics and a progress bar.

One epoch is one pass over the training data in mini-batches; for each batch:
forget the gradients, forward, loss, backward (the chain rule through the
graph), optimiser step. Full-batch gradient descent is ``batch_size=None``.

Using it for classification (or anything else)::

    history = fit(model, CrossEntropyLoss(), Adam(model.parameters(), lr=1e-2),
                  train_ds, test_data=val_ds, epochs=200, batch_size=32, seed=0,
                  metrics={"accuracy": accuracy},          # fn(pred ndarray, target ndarray) -> float
                  tol=1e-4, patience=10, restore_best=True)
    history["test_accuracy"][-1], history.best_epoch

Metric functions receive the model's raw output (an ndarray, e.g. logits) on the
whole train or test set in eval mode and the matching target array, and return
a float; they are recorded as ``train_<name>`` and ``test_<name>``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ..backend import is_foreign, like, reshaped, to_numpy
from ..data.datasets import ArrayDataset
from ..data.loader import DataLoader, as_dataset
from ..data.stream import StreamLoader
from ..errors import ConfigError, SerializationError
from ..grad_mode import no_grad
from ..tensor import values_of
from .checkpoint import load_checkpoint, restore, save_checkpoint
from .history import History
from .progress import progress_bar

Metric = Callable[[np.ndarray, np.ndarray], float]
#: A callback gets (epoch, history, model) after every epoch; returning True stops training.
Callback = Callable[[int, History, Any], Any]


def _to_array(x: Any) -> np.ndarray:
    return to_numpy(values_of(x))


def _device_array(model: Any) -> Any:
    """One of the model's parameter arrays (what batches must match: NumPy, or another library on a GPU)."""
    for p in getattr(model, "parameters", lambda: ())():
        return p._data
    return None


def predict(model: Any, X: Any, batch_size: int | None = None) -> np.ndarray:
    """The model's output on X in eval mode without a graph, as an ndarray (batched when asked; computed on
    the model's device, the result brought back).

    The model's ``training`` flag is restored afterwards.
    """
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    ref = _device_array(model)
    try:
        with no_grad():
            X = _to_array(X)
            if batch_size is None or len(X) <= batch_size:
                return _to_array(model(like(X, ref)))
            parts = [_to_array(model(like(X[i:i + batch_size], ref))) for i in range(0, len(X), batch_size)]
            return np.concatenate(parts)
    finally:
        if was_training and hasattr(model, "train"):
            model.train()


def evaluate_loss(model: Any, loss_fn: Any, data: Any, metrics: Mapping[str, Metric] | None = None,
                  batch_size: int | None = None) -> tuple[float, dict[str, float]]:
    """Loss (and metrics) of ``model`` on a whole data set, in eval mode, without a graph.

    The loss is computed on the full set at once (or batched and combined by the
    loss's ``reduction``); returns ``(loss, {metric name: value})``.
    """
    ds = as_dataset(data)
    X, Y = ds.arrays[0], ds.arrays[1]
    pred = predict(model, X, batch_size)
    with no_grad():
        loss = float(_to_array(loss_fn(pred, Y)))  # on the host: the loss of the outputs brought back
    values = {name: float(fn(pred, Y)) for name, fn in (metrics or {}).items()}
    return loss, values


def _gap(loss: float, optimum: float, scale: float) -> float:
    """(loss − optimum) / |optimum|, relative to 1e-12 of ``scale`` (the first loss) when the optimum
    is smaller than that: a data set fitted exactly has an optimum of rounding noise, not a scale."""
    return (loss - optimum) / max(abs(optimum), 1e-12 * abs(scale), np.finfo(np.float64).tiny)


def _combine(loss_fn: Any) -> str:
    return "sum" if getattr(loss_fn, "reduction", "mean") == "sum" else "mean"


def fit(
    model: Any,
    loss_fn: Any,
    optimizer: Any,
    train_data: ArrayDataset | DataLoader | tuple,
    *,
    test_data: ArrayDataset | tuple | None = None,
    epochs: int = 100,
    batch_size: int | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
    seed: int | np.random.Generator | None = 0,
    scheduler: Any = None,
    tol: float | None = None,
    patience: int = 1,
    monitor: str = "auto",
    restore_best: bool = False,
    metrics: Mapping[str, Metric] | None = None,
    eval_train: bool = False,
    optimum: float | None = None,
    target_gap: float | None = None,
    callbacks: Iterable[Callback] = (),
    progress: bool | None = None,
    description: str = "training",
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
) -> History:
    """Train ``model`` by mini-batch gradient descent and record what happened.

    Parameters
    ----------
    model : a Module (or any callable with ``parameters()``); called on a batch X (b, ...).
    loss_fn : ``loss_fn(prediction, target) -> scalar Tensor``; its ``reduction``
        ("sum" or "mean") says how batch losses add up to the epoch loss.
    optimizer : an :mod:`chainrule.optim` optimiser over the model's parameters.
    train_data : ArrayDataset, tuple ``(X, Y)``, or a ready DataLoader or
        :class:`~chainrule.data.StreamLoader` (a file larger than memory; then ``batch_size``,
        ``shuffle``, ``drop_last`` and ``seed`` are not used).
    test_data : ArrayDataset or ``(X, Y)`` evaluated after every epoch (validation).
    epochs : maximum number of epochs.
    batch_size : objects per step; ``None`` is full-batch gradient descent.
    shuffle, drop_last : mini-batch order and the short last batch (see DataLoader).
    seed : seed (or Generator) of the shuffling: the same seed, model and data give
        the same run, number for number.
    scheduler : a learning-rate schedule, stepped after every epoch.
    tol, patience : early stopping: stop when the monitored loss has improved on its
        best by less than ``tol`` (relative) for ``patience`` epochs in a row.
    monitor : "train", "test" or "auto" (test when there is test data).
    restore_best : put back the parameters of the best monitored epoch at the end.
    metrics : ``{name: fn(prediction ndarray, target ndarray) -> float}`` evaluated on
        the whole train and test sets after every epoch (eval mode).
    eval_train : record the exact training loss after each epoch (one extra pass)
        instead of the running combination of the batch losses.
    optimum : the best achievable training loss (e.g. the closed form); then
        ``history.gap`` records (train_loss − optimum) / |optimum|.
    target_gap : with ``optimum``, stop once the gap is at most this. In full-batch mode the
        check comes before the step (the forward pass gives the exact loss), so no step is
        wasted: the last epoch then takes no step and records NaN as its grad_norm.
    callbacks : functions ``(epoch, history, model)`` called after every epoch; one
        returning True stops training.
    progress : progress bar: None (auto: on a terminal with rich), True, False.
    checkpoint : a file to write the whole state of the run to (model, optimiser, schedule,
        mini-batch order, best parameters, history; see :mod:`chainrule.train.checkpoint`),
        every ``checkpoint_every`` epochs and when training stops.
    resume : go on from ``checkpoint`` when it exists (the same model, optimiser and data
        as the run that wrote it): the run ends with the same parameters, bit for bit, as
        one never interrupted. From a checkpoint of a run that had stopped, only the ending
        is done again (``restore_best``).

    Returns
    -------
    History (see :class:`~chainrule.train.history.History`); ``stop_reason`` is "diverged"
    when the loss became NaN or infinite (lower the learning rate).
    """
    if isinstance(train_data, (DataLoader, StreamLoader)):
        loader = train_data
    else:
        loader = DataLoader(as_dataset(train_data), batch_size=batch_size, shuffle=shuffle,
                            drop_last=drop_last, rng=np.random.default_rng(seed) if not isinstance(
                                seed, np.random.Generator) else seed)
    train_ds = loader.dataset  # None for a file streamed from disk (StreamLoader)
    if train_ds is None and (eval_train or metrics):
        raise ConfigError("fit: eval_train and metrics evaluate the whole training set in memory; a StreamLoader's "
                          "file is not: give test_data (evaluated after every epoch) instead")
    test_ds = as_dataset(test_data) if test_data is not None else None
    if monitor == "auto":
        monitor = "test" if test_ds is not None else "train"
    if monitor not in ("train", "test") or (monitor == "test" and test_ds is None):
        raise ConfigError(f"fit: monitor must be 'train', 'test' (with test data) or 'auto', got {monitor!r}")
    if epochs < 0:
        raise ConfigError(f"fit: epochs must be >= 0, got {epochs}")
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise ConfigError(f"fit: checkpoint_every must be a whole number >= 1, got {checkpoint_every!r}")
    if resume and checkpoint is None:
        raise ConfigError("fit: resume=True needs checkpoint= (the file to go on from)")
    metrics = dict(metrics or {})
    params = list(model.parameters())
    device_ref = params[0]._data if params and is_foreign(params[0]._data) else None
    combine = _combine(loss_fn)
    history = History(monitor=monitor)
    for name in metrics:
        history.metrics[f"train_{name}"] = []
        if test_ds is not None:
            history.metrics[f"test_{name}"] = []
    best_state = None
    stale = 0
    first_epoch = 1
    scale = None  # the first loss: what a gap to an optimum of (nearly) zero is measured against
    finished = False  # a resumed run that had already stopped: only its ending is left to do
    if resume and os.path.exists(checkpoint):
        state = load_checkpoint(checkpoint)
        try:
            restore(state, model=model, optimizer=optimizer, scheduler=scheduler, rng=loader.rng)
        except SerializationError as exc:
            raise SerializationError(f"cannot resume from {os.fspath(checkpoint)!r}: {exc}") from None
        history, stale, best_state, first_epoch = state.history, state.stale, state.best, state.epoch + 1
        scale = history.train_loss[0] if history.train_loss else None
        finished = state.finished
    start = time.perf_counter() - (history.seconds[-1] if history.seconds else 0.0)
    callbacks = list(callbacks)
    if finished:
        first_epoch = epochs + 1
    else:
        history.stop_reason = "epochs"

    has_train = hasattr(model, "train")
    if has_train:
        model.train()
    # Full-batch GD towards a known optimum: the loss of each forward pass is the exact training loss,
    # so once it meets the target no further step is taken (that last epoch records NaN as grad_norm).
    check_before_step = (optimum is not None and target_gap is not None and len(loader) == 1
                         and train_ds is not None and loader.batch_size >= len(train_ds))
    reached = False
    with progress_bar(epochs, progress, description) as bar:
        for epoch in range(first_epoch, epochs + 1):
            lr = optimizer.param_groups[0]["lr"]
            total = 0.0
            count = 0
            norm_sum = 0.0
            steps = 0
            for batch in loader:
                xb, yb = batch[0], batch[1]
                if device_ref is not None:  # the model lives on another array library (a GPU): the batch too
                    xb, yb = like(xb, device_ref), like(yb, device_ref)
                for p in params:
                    p.grad = None
                loss = loss_fn(model(xb), yb)
                if check_before_step and _gap(loss.item(), optimum, scale or loss.item()) <= target_gap:
                    reached = True
                    value, count, norm_sum, steps = loss.item(), xb.shape[0], math.nan, 1
                    total = value if combine == "sum" else value * count
                    break
                loss.backward()
                sq = 0.0
                for p in params:
                    g = p.grad
                    if g is not None:
                        flat = reshaped(g, (-1,))
                        sq += float(flat @ flat)
                norm_sum += math.sqrt(sq)
                optimizer.step()
                value = loss.item()
                b = xb.shape[0]
                total += value if combine == "sum" else value * b
                count += b
                steps += 1
            history.samples_seen += count
            train_loss = total if combine == "sum" else total / max(count, 1)
            if scale is None:  # the first epoch (a resumed run has it from its history)
                scale = train_loss
            if scheduler is not None:
                scheduler.step()

            needs_train_eval = eval_train or bool(metrics)
            if needs_train_eval:
                exact, values = evaluate_loss(model, loss_fn, train_ds, metrics)
                if eval_train:
                    train_loss = exact
                for name, v in values.items():
                    history.metrics[f"train_{name}"].append(v)
            test_loss = math.nan
            if test_ds is not None:
                test_loss, values = evaluate_loss(model, loss_fn, test_ds, metrics)
                for name, v in values.items():
                    history.metrics[f"test_{name}"].append(v)

            elapsed = time.perf_counter() - start
            history.epoch.append(epoch)
            history.train_loss.append(train_loss)
            history.test_loss.append(test_loss)
            history.grad_norm.append(norm_sum / max(steps, 1))
            history.lr.append(lr)
            history.seconds.append(elapsed)
            if optimum is not None:
                history.gap.append(_gap(train_loss, optimum, scale or train_loss))
            bar.update(epoch, train_loss, history.samples_seen / elapsed if elapsed > 0 else 0.0,
                       test_loss if test_ds is not None else None)

            watched = test_loss if monitor == "test" else train_loss
            stop = None
            if not math.isfinite(train_loss) or (monitor == "test" and not math.isfinite(test_loss)):
                stop = "diverged"
            else:
                improved = watched < history.best_loss
                small = tol is not None and math.isfinite(history.best_loss) and (
                    history.best_loss - watched <= tol * abs(history.best_loss))
                if improved:
                    history.best_loss, history.best_epoch = watched, epoch
                    if restore_best:
                        best_state = model.state_dict()
                stale = stale + 1 if small else 0
                if tol is not None and stale >= patience:
                    stop = "tolerance"
                elif reached or (target_gap is not None and history.gap and history.gap[-1] <= target_gap):
                    stop = "target"
                elif any(cb(epoch, history, model) is True for cb in callbacks):
                    stop = "callback"
            if stop is not None:
                history.stop_reason = stop
            if checkpoint is not None and (stop is not None or epoch == epochs or epoch % checkpoint_every == 0):
                save_checkpoint(checkpoint, model=model, optimizer=optimizer, history=history, epoch=epoch,
                                stale=stale, scheduler=scheduler, rng=loader.rng, best=best_state,
                                finished=stop is not None)
            if stop is not None:
                break

    if restore_best and best_state is not None and history.best_epoch != (history.epoch[-1] if history else None):
        model.load_state_dict(best_state)
        history.restored_best = True
    if hasattr(model, "train"):
        model.train()
    return history
