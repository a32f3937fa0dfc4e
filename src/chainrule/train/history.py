"""``History``: what happened in each epoch of :func:`chainrule.fit`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class History:
    """Per-epoch records of a training run (lists, one entry per epoch run).

    Attributes
    ----------
    epoch : 1, 2, ...
    train_loss : the epoch's training loss (mini-batch losses combined by the loss's
        ``reduction``: sums add up, means are weighted by batch size; with
        ``eval_train=True`` the exact loss after the epoch, in eval mode).
    test_loss : loss on the test / validation data after the epoch (NaN without one).
    grad_norm : mean over the epoch's steps of the gradient's L2 norm (all parameters).
    lr : learning rate of the first parameter group during the epoch.
    seconds : wall time since the start of training, at the end of the epoch.
    metrics : ``{"train_<name>": [...], "test_<name>": [...]}`` for each extra metric.
    gap : relative gap (train_loss − optimum) / |optimum| when an optimum was given.
    best_epoch, best_loss : the best monitored loss and its epoch.
    monitor : ``"train"`` or ``"test"``: the loss used for early stopping and ``restore_best``.
    stop_reason : why training ended ("epochs", "tolerance", "target", "diverged", "callback").
    restored_best : whether the best parameters were put back at the end.
    samples_seen : training objects processed.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    gap: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    best_loss: float = math.inf
    monitor: str = "train"
    stop_reason: str = ""
    restored_best: bool = False
    samples_seen: int = 0

    def __len__(self) -> int:
        return len(self.epoch)

    def __getitem__(self, key: str) -> list[float]:
        """A column by name: ``train_loss``, ``test_loss``, ``grad_norm``, ``lr``, ``gap`` or a metric."""
        if key in self.metrics:
            return self.metrics[key]
        if key in ("epoch", "train_loss", "test_loss", "grad_norm", "lr", "seconds", "gap"):
            return getattr(self, key)
        raise KeyError(f"history has no column {key!r}; columns: {self.columns()}")

    def columns(self) -> list[str]:
        cols = ["epoch", "train_loss", "test_loss", "grad_norm", "lr", "seconds"]
        if self.gap:
            cols.append("gap")
        return cols + list(self.metrics)

    @property
    def has_test(self) -> bool:
        return any(not math.isnan(v) for v in self.test_loss)

    @property
    def samples_per_second(self) -> float:
        return self.samples_seen / self.seconds[-1] if self.seconds and self.seconds[-1] > 0 else math.nan

    def last(self, key: str) -> float:
        """The final value of a column (NaN when empty)."""
        col = self[key]
        return col[-1] if col else math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (NaN kept as float NaN, which ``json`` writes as NaN)."""
        out: dict[str, Any] = {c: list(self[c]) for c in self.columns()}
        out.update(best_epoch=self.best_epoch, best_loss=self.best_loss, monitor=self.monitor,
                   stop_reason=self.stop_reason, restored_best=self.restored_best, samples_seen=self.samples_seen)
        return out

    def table(self, every: int | None = None) -> str:
        """A plain-text table of the epochs (every ``every``-th row plus the last)."""
        n = len(self)
        if not n:
            return "(no epochs)"
        every = every or max(1, n // 10)
        cols = [c for c in self.columns() if c not in ("seconds",)]
        lines = ["  ".join(f"{c:>14}" for c in cols)]
        for i in range(n):
            if i % every and i != n - 1:
                continue
            cells = []
            for c in cols:
                v = self[c][i]
                cells.append(f"{v:>14d}" if isinstance(v, int) else f"{v:>14.6g}")
            lines.append("  ".join(cells))
        return "\n".join(lines)
