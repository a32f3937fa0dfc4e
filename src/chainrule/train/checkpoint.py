"""Training checkpoints: everything a run needs to go on as if it had never stopped.

A checkpoint file (safetensors, written atomically: a run killed while writing one keeps
the previous one) holds the model's parameters and buffers, the optimiser's state
(momentum buffers, Adam's moments and step count, the learning rates), the learning-rate
schedule's position, the state of the random generator that orders the mini-batches,
the best parameters so far (for ``restore_best``) and the history. :func:`chainrule.fit`
writes one every ``checkpoint_every`` epochs and, with ``resume=True``, goes on from it:
the run ends with the same parameters, bit for bit, as one that was never interrupted.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..errors import SerializationError, require
from ..files import write_atomically
from ..serialization import read_file
from .history import History

FORMAT = "chainrule-checkpoint"
FORMAT_VERSION = "1"


@dataclass
class TrainingState:
    """What :func:`load_checkpoint` reads: the arrays by group, and the run's bookkeeping."""

    model: dict[str, np.ndarray]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any] | None
    rng: dict[str, Any] | None
    history: History
    epoch: int
    stale: int
    best: dict[str, np.ndarray] | None = None
    finished: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: str | os.PathLike, *, model: Any, optimizer: Any, history: History, epoch: int,
                    stale: int = 0, scheduler: Any = None, rng: np.random.Generator | None = None,
                    best: dict[str, np.ndarray] | None = None, finished: bool = False) -> None:
    """Write a checkpoint of a run after ``epoch`` (see the module's text)."""
    st = require("safetensors.numpy", "io", "saving a training checkpoint")
    tensors = {f"model.{name}": np.ascontiguousarray(value) for name, value in model.state_dict().items()}
    for name, value in (best or {}).items():
        tensors[f"best.{name}"] = np.ascontiguousarray(value)
    opt = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for i, entry in opt["state"].items():
        for key, value in entry.items():
            if isinstance(value, np.ndarray):
                tensors[f"optimizer.{i}.{key}"] = np.ascontiguousarray(value)
            else:
                scalars.setdefault(str(i), {})[key] = value
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "optimizer": _json({"kind": type(optimizer).__name__, "scalars": scalars,
                            "param_groups": opt["param_groups"]}),
        "scheduler": _json(None if scheduler is None else scheduler.state_dict()),
        "rng": _json(None if rng is None else rng.bit_generator.state),
        "fit": _json({"epoch": epoch, "stale": stale, "finished": finished, "history": _history_state(history)}),
    }
    write_atomically(path, lambda temporary: st.save_file(tensors, temporary, metadata=header),
                     "training checkpoint")


def load_checkpoint(path: str | os.PathLike) -> TrainingState:
    """Read a checkpoint written by :func:`save_checkpoint` (checked as any model file is)."""
    tensors, meta = read_file(path)
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise SerializationError(f"{os.fspath(path)!r} is not a chainrule training checkpoint "
                                 f"(format {meta.get('format')!r}, version {meta.get('format_version')!r})")
    try:
        opt, scheduler, rng, run = (json.loads(meta[key]) for key in ("optimizer", "scheduler", "rng", "fit"))
    except (KeyError, ValueError) as exc:
        raise SerializationError(f"{os.fspath(path)!r}: damaged checkpoint metadata ({exc})") from None
    state: dict[int, dict[str, Any]] = {int(i): dict(values) for i, values in opt.get("scalars", {}).items()}
    model, best = {}, {}
    for name, value in tensors.items():
        group, _, rest = name.partition(".")
        if group == "model":
            model[rest] = value
        elif group == "best":
            best[rest] = value
        elif group == "optimizer":
            index, _, key = rest.partition(".")
            state.setdefault(int(index), {})[key] = value
    return TrainingState(
        model=model, optimizer={"kind": opt.get("kind"), "state": state, "param_groups": opt["param_groups"]},
        scheduler=scheduler, rng=rng, history=_history_from(run["history"]), epoch=int(run["epoch"]),
        stale=int(run["stale"]), best=best or None, finished=bool(run.get("finished")),
    )


def restore(state: TrainingState, *, model: Any, optimizer: Any, scheduler: Any = None,
            rng: np.random.Generator | None = None) -> None:
    """Put a run's state back into its model, optimiser, schedule and mini-batch generator."""
    if state.optimizer.get("kind") != type(optimizer).__name__:
        raise SerializationError(f"the checkpoint holds the state of a {state.optimizer.get('kind')} optimiser, "
                                 f"not of a {type(optimizer).__name__}")
    model.load_state_dict(state.model, strict=True)
    optimizer.load_state_dict({"state": state.optimizer["state"], "param_groups": state.optimizer["param_groups"]})
    if (scheduler is None) != (state.scheduler is None):
        raise SerializationError("the checkpoint was written with a learning-rate schedule and this run has none, "
                                 "or the other way round")
    if scheduler is not None:
        scheduler.load_state_dict(state.scheduler)
    if (rng is None) != (state.rng is None):
        raise SerializationError("the checkpoint's run shuffled its mini-batches and this one does not, "
                                 "or the other way round")
    if rng is not None:
        rng.bit_generator.state = state.rng


def _json(value: Any) -> str:
    return json.dumps(value, default=lambda v: v.item() if isinstance(v, np.generic) else list(v))


def _history_state(history: History) -> dict[str, Any]:
    return {f.name: getattr(history, f.name) for f in fields(history)}


def _history_from(values: dict[str, Any]) -> History:
    history = History()
    for f in fields(history):
        if f.name in values:
            setattr(history, f.name, values[f.name])
    if history.best_loss is None:
        history.best_loss = math.inf
    return history
