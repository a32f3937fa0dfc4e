"""The exercises, in the lecture's order: names, files, titles and what each file imports.

The templates live beside this module, one folder per language (``templates/en``,
``templates/ru``); the checks of each exercise are in :mod:`chainrule.exercise.checks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from ..errors import ConfigError
from ..lang import Catalog, resolve


@dataclass(frozen=True)
class Exercise:
    """One exercise: its number, its name (the template's file is ``NAME.py``), the exercises whose
    files it imports (written beside it by ``init``), and the lecture's point it comes from."""

    number: int
    name: str
    needs: tuple[str, ...]
    lecture_point: str


EXERCISES: tuple[Exercise, ...] = (
    Exercise(1, "blocks", (), "7.2"),
    Exercise(2, "linreg", ("blocks",), "7, 9"),
    Exercise(3, "graph", (), "3-6"),
    Exercise(4, "activations", (), "9"),
    Exercise(5, "softmax", (), "9"),
    Exercise(6, "mlp", ("activations", "softmax"), "9"),
)

TITLES = Catalog("exercise titles", {
    "blocks": {"en": "the lecture's blocks MatMul, Sub, Square, Sum and Identity: forward with a cache, backward",
               "ru": "блоки из лекции MatMul, Sub, Square, Sum и Identity: forward с cache, backward"},
    "linreg": {"en": "linear regression trained with your blocks: gradient descent, then mini-batch SGD",
               "ru": "линейная регрессия на ваших блоках: градиентный спуск, затем SGD по мини-батчам"},
    "graph": {"en": "the backward pass itself: topological order and gradients summed over several paths",
              "ru": "сам обратный проход: топологический порядок и сумма градиентов по нескольким путям"},
    "activations": {"en": "activations and their local derivatives: ReLU, sigmoid, tanh",
                    "ru": "активации и их локальные производные: ReLU, сигмоида, tanh"},
    "softmax": {"en": "softmax with cross-entropy, the classifier's loss, as one block",
                "ru": "softmax с кросс-энтропией, функция потерь классификатора, одним блоком"},
    "mlp": {"en": "a two-layer network with ReLU trained on the digits with your blocks",
            "ru": "двухслойная сеть с ReLU, обученная на цифрах на ваших блоках"},
})


def find(name: str) -> Exercise:
    """The exercise called ``name`` (its name, ``NAME.py``, or its number)."""
    key = str(name).strip().lower().removesuffix(".py")
    for ex in EXERCISES:
        if key in (ex.name, str(ex.number)):
            return ex
    raise ConfigError(f"no exercise {str(name)[:40]!r}; choose one of "
                      f"{', '.join(f'{e.number} {e.name}' for e in EXERCISES)}")


def template(ex: Exercise, lang: str | None = None) -> str:
    """The template file's text in ``lang``: the blocks with their contract and ``TODO`` bodies."""
    folder = resources.files("chainrule.exercise") / "templates" / resolve(lang)
    return (folder / f"{ex.name}.py").read_text(encoding="utf-8")


__all__ = ["Exercise", "EXERCISES", "TITLES", "find", "template"]
