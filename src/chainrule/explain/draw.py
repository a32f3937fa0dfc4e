"""``draw``: the graph that produced any Tensor, in the spirit of micrograd's ``draw_dot``.

Variable nodes show name, shape, value and (where known) gradient; op nodes show the
operation; edges run forward. Values of intermediates are shown where the graph still
holds what is needed to recompute them (pure ops whose inputs are known).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..tensor import Tensor, register_notebook_display
from .model import Graph, graph_from_tensor
from .render import write_rendering


class Drawing:
    """A drawable graph: ``render("dot" | "svg" | "png")``, ``save(path)``, and Jupyter display."""

    def __init__(self, graph: Graph, title: str = ""):
        self.graph = graph
        self.title = title

    def render(self, fmt: str = "dot") -> str | bytes:
        """Graphviz source (``dot``, always available) or ``svg``/``png`` made by Graphviz's ``dot``."""
        from .render_dot import render_graphviz, to_dot

        dot = to_dot(self.graph, title=self.title, show_grad_edges=False)
        if fmt == "dot":
            return dot
        return render_graphviz(dot, fmt)

    def save(self, path, fmt: str | None = None):
        """Write the drawing; the format comes from the suffix (``.dot``, ``.svg``, ``.png``)."""
        path = Path(path)
        fmt = fmt or {".svg": "svg", ".png": "png"}.get(path.suffix.lower(), "dot")
        return write_rendering(self.render(fmt), path)

    def __str__(self) -> str:
        return self.render("dot")  # type: ignore[return-value]

    def _repr_svg_(self) -> str:
        from .render_html import graph_svg

        return graph_svg(self.graph)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"image/svg+xml": self._repr_svg_(), "text/plain": f"<Drawing of {len(self.graph.nodes)} ops>"}


def draw(tensor: Tensor, names: dict[str, Any] | None = None) -> Drawing:
    """Draw the graph that produced ``tensor``.

    Parameters
    ----------
    tensor : any Tensor; a leaf draws as a single node.
    names : optional ``{name: tensor}`` for leaves and intermediates of the graph, e.g.
        ``draw(loss, names={"theta": theta, "mu": mu})``; the rest are named
        automatically (leaves ``p1, p2, …``, intermediates E, F, G, …).

    Returns
    -------
    Drawing; ``.render("svg")`` needs Graphviz's ``dot`` program, ``.render("dot")`` does not.
    """
    if not isinstance(tensor, Tensor):
        from ..errors import ExpressionError

        raise ExpressionError(f"draw needs a Tensor, got {type(tensor).__name__}")
    by_id: dict[int, str] = {}
    leaves: dict[int, str] = {}
    for label, t in (names or {}).items():
        if isinstance(t, Tensor):
            if t.op is None:
                leaves[id(t)] = label
            else:
                by_id[id(t.op)] = label
    graph, _ = graph_from_tensor(tensor, inputs=leaves, names=by_id)
    return Drawing(graph, title="")


def tensor_mimebundle(tensor: Tensor, include=None, exclude=None) -> dict:
    """What a notebook shows for a Tensor: its repr, and its graph when it has one."""
    text = repr(tensor)
    bundle = {"text/plain": text}
    if tensor.op is not None:
        from .render_html import escape, graph_svg

        svg = graph_svg(draw(tensor).graph)
        bundle["image/svg+xml"] = svg
        bundle["text/html"] = f"<div><pre>{escape(text)}</pre>{svg}</div>"
    return bundle


register_notebook_display(tensor_mimebundle)  # a Tensor in a notebook shows its graph
