"""The training progress bar: ``rich.progress`` on a terminal with rich installed, quiet otherwise."""

from __future__ import annotations

import sys
from typing import Any


def rich_available() -> bool:
    try:
        import rich.progress  # noqa: F401
    except ImportError:
        return False
    return True


def want_progress(progress: bool | None) -> bool:
    """``None`` (auto): on when stdout is a terminal and rich is installed; True/False force it."""
    if progress is None:
        return sys.stdout.isatty() and rich_available()
    return bool(progress) and rich_available()


class QuietProgress:
    """The do-nothing bar used when output is not a terminal."""

    def __enter__(self) -> QuietProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def update(self, epoch: int, loss: float, rate: float, test_loss: float | None = None) -> None:
        return None


class RichProgress(QuietProgress):
    """Epoch counter, bar, current loss, throughput (objects per second) and time left."""

    def __init__(self, total: int, description: str = "training"):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("epochs  loss {task.fields[loss]}"),
            TextColumn("{task.fields[test]}"),
            TextColumn("{task.fields[rate]} obj/s"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._task = self._progress.add_task(description, total=total, loss="-", test="", rate="-")

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    def update(self, epoch: int, loss: float, rate: float, test_loss: float | None = None) -> None:
        test = f"test {test_loss:.6g}" if test_loss is not None and test_loss == test_loss else ""
        self._progress.update(self._task, completed=epoch, loss=f"{loss:.6g}", test=test, rate=f"{rate:,.0f}")


def progress_bar(total: int, progress: bool | None = None, description: str = "training") -> QuietProgress:
    """The bar to use for ``total`` epochs (see :func:`want_progress`)."""
    return RichProgress(total, description) if want_progress(progress) else QuietProgress()
