"""How numbers, names and derivative formulas are written: one Unicode notation for
text, Markdown, JSON, drawings and the page, one LaTeX notation for documents.

The derivative rules in :mod:`chainrule.explain.rules` are written once against the
small interface below (``d``, ``mul``, ``pow``, ...) and rendered in either notation.
"""

from __future__ import annotations

import math

import numpy as np

#: Vectors up to this many elements, and matrices up to this many rows and columns,
#: are written out in full; anything bigger is summarised by shape and statistics.
FULL_VECTOR = 8
FULL_MATRIX = 6

_SUPERSCRIPTS = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")

_GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν",
    "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "upsilon": "υ", "phi": "φ",
    "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ",
    "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}
#: Greek letters (as typed, or spelled out) to LaTeX commands.
_LATEX_GREEK = {**{v: "\\" + k for k, v in _GREEK.items()}, **{k: "\\" + k for k in _GREEK}}
_LATEX_GREEK["µ"] = "\\mu"  # the micro sign, which Python reads as μ
_LATEX_REL = {"≤": r"\le", "≥": r"\ge", "≠": r"\neq", "<": "<", ">": ">", "=": "="}
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def fmt_scalar(x: float) -> str:
    """A number as a person writes it: ``12``, ``0.5``, ``-1.5``, ``1.23457e+08``, ``nan``."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"  # no "-0"
    return format(x, ".6g")


def fmt_value(value) -> str:
    """One line for a value: a scalar, a short vector or a small matrix in full, else a summary.

    ``None`` (a value the trace could not see) is written ``?``.
    """
    if value is None:
        return "?"
    a = np.asarray(value)
    if a.ndim == 0 or a.size == 1 and a.ndim == 0:
        return fmt_scalar(a.item())
    if a.dtype.kind not in "fiub":
        return str(a)
    if a.ndim == 1 and a.size <= FULL_VECTOR:
        return "[" + ", ".join(fmt_scalar(v) for v in a) + "]"
    if a.ndim == 2 and a.shape[0] <= FULL_MATRIX and a.shape[1] <= FULL_MATRIX:
        return "[" + ", ".join("[" + ", ".join(fmt_scalar(v) for v in row) + "]" for row in a) + "]"
    return summary(a)


def summary(a: np.ndarray) -> str:
    """``array (100, 3): mean 0.01, min -2.1, max 2.3``."""
    shape = "×".join(str(n) for n in a.shape)
    if a.size == 0:
        return f"array {shape}: empty"
    with np.errstate(all="ignore"):
        return (
            f"array {shape}: mean {fmt_scalar(np.mean(a))}, "
            f"min {fmt_scalar(np.min(a))}, max {fmt_scalar(np.max(a))}"
        )


def fmt_shape(shape: tuple[int, ...]) -> str:
    """``scalar`` or ``3×2``."""
    return "scalar" if not shape else "×".join(str(n) for n in shape)


def is_full(value) -> bool:
    """Whether :func:`fmt_value` writes this value out element by element."""
    if value is None:
        return True
    a = np.asarray(value)
    return a.ndim == 0 or (a.ndim == 1 and a.size <= FULL_VECTOR) or (
        a.ndim == 2 and a.shape[0] <= FULL_MATRIX and a.shape[1] <= FULL_MATRIX
    )


def _wrap(x: str) -> str:
    """Parenthesise a compound operand (``E + 1``) or a negative number (``−2``)."""
    if x.startswith(("−", "-")) or (" " in x and not (x.startswith("(") and x.endswith(")"))):
        return f"({x})"
    return x


class Unicode:
    """Plain Unicode maths: ``∂G/∂E = F``, ``μ = X @ θ``, ``F = E²``."""

    one = "1"

    def name(self, s: str) -> str:
        return s

    def num(self, x: float) -> str:
        return fmt_scalar(x).replace("-", "−")

    def d(self, y: str, x: str) -> str:
        return f"∂{y}/∂{x}"

    def eq(self, a: str, b: str) -> str:
        return f"{a} = {b}"

    def add(self, a: str, b: str) -> str:
        return f"{a} + {_wrap(b) if b.startswith(('−', '-')) else b}"

    def sub(self, a: str, b: str) -> str:
        return f"{a} − {_wrap(b)}"

    def mul(self, *xs: str) -> str:
        return " · ".join(_wrap(x) for x in xs)

    def matmul(self, a: str, b: str) -> str:
        return f"{_wrap(a)} @ {_wrap(b)}"

    def div(self, a: str, b: str) -> str:
        return f"{_wrap(a)} / {_wrap(b)}"

    def neg(self, a: str) -> str:
        return f"−{_wrap(a)}"

    def pow(self, a: str, p) -> str:
        text = fmt_scalar(p)
        if text.lstrip("-").isdigit():
            return _wrap(a) + text.translate(_SUPERSCRIPTS)
        return f"{_wrap(a)}^{text}"

    def T(self, a: str) -> str:
        return _wrap(a) + "ᵀ"

    def call(self, f: str, *args: str) -> str:
        return f"{f}({', '.join(args)})"

    def sqrt(self, a: str) -> str:
        return f"√{_wrap(a)}"

    def sigma(self, a: str) -> str:
        return f"σ({a})"

    def total(self, a: str) -> str:
        return f"Σ{_wrap(a)}"

    def indicator(self, a: str, rel: str, b: str) -> str:
        """Iverson bracket: 1 where the relation holds, else 0."""
        return f"[{a} {rel} {b}]"

    def text(self, s: str) -> str:
        return s


class Latex(Unicode):
    """LaTeX maths (to be placed inside ``$...$``): ``\\frac{\\partial G}{\\partial E} = F``."""

    def name(self, s: str) -> str:
        return latex_name(s)

    def num(self, x: float) -> str:
        text = fmt_scalar(x)
        if "e" in text and text not in ("inf", "-inf"):
            mant, exp = text.split("e")
            return f"{mant} \\times 10^{{{int(exp)}}}"
        return {"inf": r"\infty", "-inf": r"-\infty", "nan": r"\mathrm{NaN}"}.get(text, text)

    def d(self, y: str, x: str) -> str:
        return f"\\frac{{\\partial {y}}}{{\\partial {x}}}"

    def add(self, a: str, b: str) -> str:
        return f"{a} + {_lwrap(b) if b.startswith('-') else b}"

    def sub(self, a: str, b: str) -> str:
        return f"{a} - {_lwrap(b)}"

    def mul(self, *xs: str) -> str:
        return " \\cdot ".join(_lwrap(x) for x in xs)

    def matmul(self, a: str, b: str) -> str:
        return f"{_lwrap(a)} {_lwrap(b)}"

    def div(self, a: str, b: str) -> str:
        return f"\\frac{{{a}}}{{{b}}}"

    def neg(self, a: str) -> str:
        return f"-{_lwrap(a)}"

    def pow(self, a: str, p) -> str:
        return f"{_lwrap(a)}^{{{fmt_scalar(p)}}}"

    def T(self, a: str) -> str:
        return f"{_lwrap(a)}^{{\\top}}"

    def call(self, f: str, *args: str) -> str:
        known = {"exp": r"\exp", "log": r"\log", "tanh": r"\tanh", "max": r"\max", "min": r"\min"}
        head = known.get(f, f"\\operatorname{{{latex_escape(f)}}}")
        return f"{head}\\left({', '.join(args)}\\right)"

    def sqrt(self, a: str) -> str:
        return f"\\sqrt{{{a}}}"

    def sigma(self, a: str) -> str:
        return f"\\sigma\\left({a}\\right)"

    def total(self, a: str) -> str:
        return f"\\sum {_lwrap(a)}"

    def indicator(self, a: str, rel: str, b: str) -> str:
        return f"[{a} {_LATEX_REL.get(rel, rel)} {b}]"

    def text(self, s: str) -> str:
        return f"\\text{{{latex_escape(s)}}}"


def _lwrap(x: str) -> str:
    if x.startswith("-") or (" " in x and not x.startswith("\\frac") and not x.startswith("\\left(")):
        return f"\\left({x}\\right)"
    return x


def latex_escape(s: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in s)


def latex_name(s: str) -> str:
    """A variable name in LaTeX maths: ``θ`` and ``theta`` become ``\\theta``; ``x1`` ``x_{1}``."""
    if s in _LATEX_GREEK:
        return _LATEX_GREEK[s]
    if len(s) == 1 and s.isascii() and s.isalpha():
        return s
    head = s.rstrip("0123456789")
    if head and head != s and (head in _LATEX_GREEK or (len(head) == 1 and head.isascii() and head.isalpha())):
        return f"{latex_name(head)}_{{{s[len(head):]}}}"
    try:
        return fmt_latex_number(float(s))
    except ValueError:
        pass
    return "\\mathit{" + "".join(_LATEX_GREEK.get(c, _LATEX_SPECIAL.get(c, c)) for c in s) + "}"


def fmt_latex_number(x: float) -> str:
    return Latex().num(x)


def latex_value(value) -> str:
    """A value in LaTeX maths: a number, a bracketed row or a small matrix, else a summary."""
    if value is None:
        return "?"
    a = np.asarray(value)
    n = Latex()
    if a.ndim == 0:
        return n.num(a.item())
    if not is_full(a):
        return f"\\text{{{latex_escape(summary(a))}}}".replace("×", "$\\times$")
    if a.ndim == 1:
        return "\\left[\\begin{smallmatrix}" + " & ".join(n.num(v) for v in a) + "\\end{smallmatrix}\\right]"
    rows = " \\\\ ".join(" & ".join(n.num(v) for v in row) for row in a)
    return "\\left[\\begin{smallmatrix}" + rows + "\\end{smallmatrix}\\right]"


UNICODE = Unicode()
LATEX = Latex()
