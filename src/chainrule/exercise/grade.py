"""``chainrule exercise grade``: a teacher's folder of submissions, checked one by one, into one CSV.

A submission is either a file ``DIR/NAME.py`` (any name) or a folder ``DIR/STUDENT/`` holding the
exercise's file (``blocks.py``, and the earlier files it imports). Each runs isolated
(:func:`~chainrule.exercise.isolate.run_isolated`): one that loops, crashes or prints megabytes
is recorded as such and the next one runs. The CSV has one row per submission and one column per
check (1 passed, 0 failed or never reached); ``passed`` of ``total`` counts them all, the same columns for
every submission. Each submission runs on a copy of its files, so none can change another's.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from pathlib import Path

from ..errors import ConfigError
from .catalog import Exercise
from .isolate import MEMORY_MB, OUTPUT_KB, TIMEOUT_S, Outcome, run_isolated


def submissions(folder: str | Path, ex: Exercise) -> list[tuple[str, Path]]:
    """(name, file) of every submission in ``folder``, sorted by name."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"{folder}: not a folder of submissions")
    found = []
    for entry in sorted(root.iterdir()):
        if entry.is_file() and entry.suffix == ".py":
            found.append((entry.stem, entry))
        elif entry.is_dir() and (entry / f"{ex.name}.py").is_file():
            found.append((entry.name, entry / f"{ex.name}.py"))
    return found


def grade(folder: str | Path, ex: Exercise, *, timeout: float = TIMEOUT_S, memory_mb: int = MEMORY_MB,
          output_kb: int = OUTPUT_KB, progress=None) -> tuple[list[str], list[dict[str, object]]]:
    """Check every submission; returns (the CSV's columns, one row per submission)."""
    rows, checks = [], []
    for name, file in submissions(folder, ex):
        with tempfile.TemporaryDirectory(prefix="chainrule-grade-") as tmp:
            # each runs on a copy of its own files: one submission cannot change another's
            copy = Path(tmp) / "submission"
            if file.parent == Path(folder):
                copy.mkdir()
                shutil.copy2(file, copy / f"{ex.name}.py")
            else:
                shutil.copytree(file.parent, copy, symlinks=True)
            outcome: Outcome = run_isolated(ex.name, str(copy / f"{ex.name}.py"), timeout=timeout,
                                            memory_mb=memory_mb, output_kb=output_kb)
        row: dict[str, object] = {"submission": name, "file": str(file), "status": outcome.status}
        for r in outcome.results:
            column = f"{r['check']} [{r['kind']}]"
            if column not in checks:
                checks.append(column)
            row[column] = int(bool(r["passed"]))
        rows.append(row)
        if progress:
            progress(name, outcome)
    for row in rows:  # one set of columns for all: a check a run never reached counts as not passed
        for column in checks:
            row.setdefault(column, 0)
        row["passed"] = sum(int(row[c]) for c in checks)
        row["total"] = len(checks)
    columns = ["submission", "file", "status", "passed", "total", *checks]
    return columns, rows


def to_csv(columns: list[str], rows: list[dict[str, object]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


__all__ = ["grade", "submissions", "to_csv"]
