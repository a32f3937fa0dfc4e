"""Training checkpoints: everything a run needs to go on as if it had never stopped.

A checkpoint file (safetensors, written atomically: a run killed while writing one keeps
the previous one) holds the model's parameters and buffers, the optimiser's state
(momentum buffers, Adam's moments and step count, the learning rates), the learning-rate
schedule's position, the state of the random generator that orders the mini-batches,
the random generators of the model's own modules (dropout's), the best parameters so far
(for ``restore_best``) and the history. :func:`chainrule.fit`
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

from ..errors import ChainruleError, SerializationError, require
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
    module_rngs: dict[str, Any] = field(default_factory=dict)
    #: what a caller other than ``fit`` keeps of its run (the distributed fit: the step within the epoch)
    extra: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: str | os.PathLike, *, model: Any, optimizer: Any, history: History, epoch: int,
                    stale: int = 0, scheduler: Any = None, rng: np.random.Generator | None = None,
                    best: dict[str, np.ndarray] | None = None, finished: bool = False,
                    extra: dict[str, Any] | None = None) -> None:
    """Write a checkpoint of a run after ``epoch`` (see the module's text); ``extra`` (JSON numbers, strings,
    lists and dicts) is kept for a caller that needs more of its run than ``fit`` does."""
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
        "module_rngs": _json({name: gen.bit_generator.state for name, gen in _module_rngs(model).items()}),
        "fit": _json({"epoch": epoch, "stale": stale, "finished": finished, "history": _history_state(history),
                      **({"extra": extra} if extra is not None else {})}),
    }
    write_atomically(path, lambda temporary: st.save_file(tensors, temporary, metadata=header),
                     "training checkpoint")


def load_checkpoint(path: str | os.PathLike) -> TrainingState:
    """Read a checkpoint written by :func:`save_checkpoint` (checked as any model file is, and its
    bookkeeping checked whole: a damaged file is a :class:`SerializationError`, never a traceback)."""
    tensors, meta = read_file(path)
    where = os.fspath(path)
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise SerializationError(f"{where!r} is not a chainrule training checkpoint "
                                 f"(format {meta.get('format')!r}, version {meta.get('format_version')!r})")
    try:
        return _parse(tensors, meta)
    except SerializationError as exc:
        raise SerializationError(f"{where!r}: damaged checkpoint: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise SerializationError(f"{where!r}: damaged checkpoint ({type(exc).__name__}: {exc})") from None


def _parse(tensors: dict[str, np.ndarray], meta: dict[str, str]) -> TrainingState:
    opt, scheduler, rng, run = (json.loads(meta[key]) for key in ("optimizer", "scheduler", "rng", "fit"))
    module_rngs = json.loads(meta.get("module_rngs", "{}"))
    maybe = (dict, type(None))
    for what, value, kinds in (("optimizer", opt, dict), ("scheduler", scheduler, maybe), ("rng", rng, maybe),
                               ("fit", run, dict), ("module_rngs", module_rngs, dict)):
        if not isinstance(value, kinds):
            raise SerializationError(f"its {what} entry is a {type(value).__name__}")
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
        else:
            raise SerializationError(f"unknown tensor {name!r}")
    epoch, stale = run["epoch"], run["stale"]
    if not (_whole(epoch) and _whole(stale)):
        raise SerializationError(f"epoch {epoch!r} and stale {stale!r} must be whole numbers >= 0")
    if not isinstance(opt["param_groups"], list):
        raise SerializationError("its optimiser's param_groups is not a list")
    return TrainingState(
        model=model, optimizer={"kind": opt.get("kind"), "state": state, "param_groups": opt["param_groups"]},
        scheduler=scheduler, rng=rng, history=_history_from(run["history"]), epoch=epoch,
        stale=stale, best=best or None, finished=bool(run.get("finished")), module_rngs=module_rngs,
        extra=_extra(run.get("extra")),
    )


def _extra(value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise SerializationError(f"its extra entry is a {type(value).__name__}")
    return value


def restore(state: TrainingState, *, model: Any, optimizer: Any, scheduler: Any = None,
            rng: np.random.Generator | None = None) -> None:
    """Put a run's state back into its model, optimiser, schedule and random generators.

    Everything is checked before anything changes, but for the optimiser's state, which
    :meth:`~chainrule.optim.Optimizer.load_state_dict` checks whole and puts back first: a
    checkpoint that does not fit this run raises :class:`SerializationError` and leaves the
    model as it was.
    """
    if state.optimizer.get("kind") != type(optimizer).__name__:
        raise SerializationError(f"the checkpoint holds the state of a {state.optimizer.get('kind')} optimiser, "
                                 f"not of a {type(optimizer).__name__}")
    if (scheduler is None) != (state.scheduler is None):
        raise SerializationError("the checkpoint was written with a learning-rate schedule and this run has none, "
                                 "or the other way round")
    if (rng is None) != (state.rng is None):
        raise SerializationError("the checkpoint's run shuffled its mini-batches and this one does not, "
                                 "or the other way round")
    own = model.state_dict()
    if set(own) != set(state.model):
        raise SerializationError(f"the checkpoint's model holds {sorted(state.model)}, this one {sorted(own)}")
    for name, value in state.model.items():
        if value.shape != own[name].shape or value.dtype != own[name].dtype:
            raise SerializationError(f"the checkpoint's {name!r} is {value.dtype} of shape {value.shape}, this "
                                     f"model's {own[name].dtype} of shape {own[name].shape}")
    generators = _module_rngs(model)
    if set(generators) != set(state.module_rngs):
        raise SerializationError(f"the checkpoint holds random generators for modules {sorted(state.module_rngs)}, "
                                 f"this model has them in {sorted(generators)}")
    pairs = [(rng, state.rng)] if rng is not None else []
    pairs += [(generators[name], state.module_rngs[name]) for name in generators]
    for generator, saved in pairs:  # on a scratch generator of the same kind first
        try:
            type(generator.bit_generator)().state = saved
        except (TypeError, ValueError, KeyError) as exc:
            raise SerializationError(f"the checkpoint's random state does not fit a "
                                     f"{type(generator.bit_generator).__name__} ({exc})") from None
    try:
        optimizer.load_state_dict({"state": state.optimizer["state"],
                                   "param_groups": state.optimizer["param_groups"]})
        if scheduler is not None:
            scheduler.load_state_dict(state.scheduler)
    except (ChainruleError, KeyError, TypeError, ValueError) as exc:
        raise SerializationError(f"the checkpoint's optimiser or schedule does not fit this run ({exc})") from None
    model.load_state_dict(state.model, strict=True)
    for generator, saved in pairs:
        generator.bit_generator.state = saved


def _module_rngs(model: Any) -> dict[str, np.random.Generator]:
    """The random generators the model's modules draw from while training (dropout's), by module name."""
    if not hasattr(model, "named_modules"):
        return {}
    return {name: m.rng for name, m in model.named_modules() if isinstance(getattr(m, "rng", None),
                                                                          np.random.Generator)}


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _json(value: Any) -> str:
    return json.dumps(value, default=lambda v: v.item() if isinstance(v, np.generic) else list(v))


def _history_state(history: History) -> dict[str, Any]:
    return {f.name: getattr(history, f.name) for f in fields(history)}


def _history_from(values: Any) -> History:
    """The history saved in a checkpoint, each field checked to be of its kind."""
    if not isinstance(values, dict):
        raise SerializationError(f"its history is a {type(values).__name__}, not a mapping")
    history = History()
    for f in fields(history):
        if f.name not in values:
            continue
        value, default = values[f.name], getattr(history, f.name)
        if isinstance(default, list):
            ok = isinstance(value, list) and all(_number(v) for v in value)
        elif isinstance(default, dict):
            ok = isinstance(value, dict) and all(
                isinstance(k, str) and isinstance(v, list) and all(_number(x) for x in v) for k, v in value.items())
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        elif f.name == "best_epoch":
            ok = value is None or _whole(value)
        elif f.name == "best_loss":
            ok = value is None or _number(value)
        else:
            ok = _number(value)
        if not ok:
            raise SerializationError(f"its history's {f.name!r} is {str(value)[:60]!r}")
        setattr(history, f.name, value)
    if history.best_loss is None:
        history.best_loss = math.inf
    return history


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
