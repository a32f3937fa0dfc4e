"""The learner's workbench: the lecture's homework as exercises, checked block by block.

* :data:`EXERCISES` -- in the lecture's order: the blocks of linear regression, linear
  regression trained with them, the backward pass itself, activations, softmax with
  cross-entropy, and a two-layer network on the digits;
* :func:`init` -- write an exercise's template (never over a learner's file);
* :func:`check` -- import a learner's file in a separate process under time, memory and output
  limits and check every block (forward against chainrule's op, backward against that op and
  finite differences, shapes, dtype, upstream untouched, one cache per instance) and what the
  exercise trains; the report names the block, the input, the element and a hint;
* :func:`~chainrule.exercise.grade.grade` -- a teacher's folder of submissions into one CSV.

Everything a learner reads is in English and Russian (``lang="ru"``). The model solutions are
not here: they live in the project's tests, which prove that each template fails as written and
passes when filled in.
"""

from __future__ import annotations

from pathlib import Path

from ..lang import resolve
from .catalog import EXERCISES, TITLES, Exercise, find, template
from .isolate import MEMORY_MB, OUTPUT_KB, TIMEOUT_S, Outcome, run_isolated
from .messages import MESSAGES


def init(name: str, folder: str | Path = ".", lang: str | None = None) -> list[tuple[Path, bool]]:
    """Write the template of exercise ``name`` into ``folder``, with the earlier exercises' templates it
    imports when they are missing. Returns (path, written) for each file: an existing file is kept."""
    ex = find(name)
    lang = resolve(lang)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    done = []
    for needed in (*ex.needs, ex.name):
        path = root / f"{needed}.py"
        try:
            with open(path, "x", encoding="utf-8") as f:  # "x": never over an existing file
                f.write(template(find(needed), lang))
            done.append((path, True))
        except FileExistsError:
            done.append((path, False))
    return done


def exercise_of(file: str | Path, name: str | None = None) -> Exercise:
    """The exercise a file is (``--exercise``, else the file's name: ``blocks.py`` is exercise 1)."""
    return find(name if name is not None else Path(file).stem)


def check(file: str | Path, exercise: str | None = None, *, timeout: float = TIMEOUT_S,
          memory_mb: int = MEMORY_MB, output_kb: int = OUTPUT_KB) -> Outcome:
    """Check a learner's file (see :mod:`chainrule.exercise`); the exercise from its name unless given."""
    ex = exercise_of(file, exercise)
    return run_isolated(ex.name, str(file), timeout=timeout, memory_mb=memory_mb, output_kb=output_kb)


__all__ = ["EXERCISES", "TITLES", "MESSAGES", "Exercise", "Outcome", "init", "check", "exercise_of", "find",
           "template"]
