"""The lecture's three worked examples, with the numbers the tests check by hand.

1. A function of +, −, × (lecture points 3–5): E = A + B, F = C − D, G = E·F and the
   output H = 2G, so that ∂H/∂A = ∂H/∂G · ∂G/∂E · ∂E/∂A.
2. A harder one (point 6): a square, and a value E that feeds two paths, whose
   gradients are summed: H = E² + E·C with E = A + B.
3. Linear regression as a graph (point 7): μ = Xθ, Δ = μ − Y, L = ΣΔ² on a tiny X,
   gradient with respect to θ only (X and Y are data).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .trace import Trace, explain


@dataclass(frozen=True)
class Lecture:
    """One example: its title, the expression, the values, and whose gradients to show."""

    title: str
    source: str
    values: dict = field(default_factory=dict)
    wrt: tuple[str, ...] | None = None


LECTURES: dict[int, Lecture] = {
    1: Lecture(
        "The computational graph of +, −, ×: compute E, F, G and the output H, then go backwards",
        "(A + B) * (C - D) * 2",
        {"A": 2.0, "B": 1.0, "C": 5.0, "D": 3.0},
    ),
    2: Lecture(
        "A square, and a value on two paths: the gradients arriving along them are summed",
        "E = A + B; F = E ** 2; G = E * C; H = F + G",
        {"A": 1.0, "B": 2.0, "C": 4.0},
    ),
    3: Lecture(
        "Linear regression as a graph: μ = Xθ, Δ = μ − Y, L = ΣΔ²",
        "μ = X @ θ; Δ = μ - Y; L = sum(Δ ** 2)",
        {
            "X": np.array([[1.0, 2.0], [3.0, 1.0], [0.0, 1.0]]),
            "θ": np.array([0.5, -1.0]),
            "Y": np.array([-1.0, 0.0, 1.0]),
        },
        ("θ",),
    ),
}


def lecture(number: int, check: bool = True, lang: str | None = None) -> Trace:
    """The trace of the lecture's example ``number`` (1, 2 or 3); see :data:`LECTURES`. ``lang`` sets the
    language its renderings use (``"ru"``: the lecture's own; default: the locale's)."""
    from ..errors import ExpressionError

    if isinstance(number, bool) or not isinstance(number, (int, np.integer)) or number not in LECTURES:
        raise ExpressionError(f"there is no lecture example {number!r}; choose 1, 2 or 3")
    if not isinstance(check, (bool, np.bool_)):
        raise ExpressionError(f"check must be True or False, got {check!r}")
    from ..lang import resolve

    ex = LECTURES[number]
    trace = explain(ex.source, wrt=list(ex.wrt) if ex.wrt else None, check=check, **ex.values)
    trace.lang = resolve(lang) if lang is not None else None
    return trace


def lecture_title(number: int, lang: str | None = None) -> str:
    """The title of the lecture's example ``number`` in ``lang``."""
    from .words import WORDS

    return WORDS.text(f"lecture_{number}", lang)
