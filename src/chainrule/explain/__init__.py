"""Show the chain rule: step-by-step traces and graph drawings.

:func:`explain` runs a small computation (an expression string or a function of
Tensors) forward and backward and writes every step down, as the lecture does by hand;
:func:`draw` draws the graph that produced any Tensor. A :class:`Trace` renders as
text, Markdown, LaTeX, JSON, Graphviz DOT/SVG/PNG and a self-contained interactive page.
"""

from ..errors import ExpressionError, RenderError
from .draw import Drawing, draw
from .lectures import LECTURES, lecture
from .parse import FUNCTIONS, parse
from .render import FORMATS
from .trace import BackwardStep, Check, ForwardStep, LocalStep, SumTerm, Trace, explain, name

__all__ = [
    "explain", "draw", "name", "lecture", "parse", "Trace", "Drawing", "ForwardStep", "BackwardStep", "LocalStep",
    "SumTerm", "Check", "FORMATS", "FUNCTIONS", "LECTURES", "ExpressionError", "RenderError",
]
