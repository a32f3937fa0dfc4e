"""Renderings of a :class:`~chainrule.explain.trace.Trace`: one set of tables, many formats.

``text`` (plain, or rich tables in colour with ``color=True``), ``md`` (GitHub tables),
``json`` (schema in :mod:`chainrule.explain.render_json`), ``latex``
(:mod:`~chainrule.explain.render_latex`), ``dot``/``svg``/``png``
(:mod:`~chainrule.explain.render_dot`) and ``html`` (:mod:`~chainrule.explain.render_html`).
Every rendering states the value, every gradient and the gradient check.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExpressionError
from .notation import fmt_shape, fmt_value


@dataclass
class Table:
    """A titled table of Unicode strings, shared by the text, rich, Markdown and HTML renderings."""

    title: str
    headers: list[str]
    rows: list[list[str]]


def render(trace, fmt: str, **options) -> str | bytes:
    """Dispatch to the rendering ``fmt`` (see :data:`chainrule.explain.trace.FORMATS`)."""
    fmt = (fmt or "text").lower()
    if fmt in ("text", "txt"):
        return rich_text(trace) if options.get("color") else plain_text(trace)
    if fmt in ("md", "markdown"):
        return markdown(trace)
    if fmt == "json":
        from .render_json import to_json

        return to_json(trace)
    if fmt in ("latex", "tex"):
        from .render_latex import to_latex

        return to_latex(trace, standalone=options.get("standalone", True))
    if fmt in ("dot", "svg", "png"):
        from .render_dot import render_graphviz, to_dot, trace_edge_grads

        dot = to_dot(trace.graph, title=f"Trace of {trace.title}", caption=caption(trace),
                     edge_grads=trace_edge_grads(trace))
        return dot if fmt == "dot" else render_graphviz(dot, fmt)
    if fmt == "html":
        from .render_html import to_html

        return to_html(trace)
    from .trace import FORMATS

    raise ExpressionError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def write_rendering(data: str | bytes, path: Path) -> Path:
    """Write a rendering to ``path``: bytes (png) as they are, text as UTF-8; returns ``path``."""
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def caption(trace) -> str:
    """The closing lines every rendering carries: value, gradients, gradient check."""
    parts = [f"{trace.output} = {fmt_value(trace.value)}"]
    parts += [f"∂{trace.output}/∂{n} = {fmt_value(g)}" for n, g in trace.gradients.items()]
    parts.append(trace.check.text)
    return "\n".join(parts)


def static_svg(graph) -> str:
    """An SVG drawing made without Graphviz (used in notebooks and the html page)."""
    from .render_html import graph_svg

    return graph_svg(graph)


def notebook_html(trace) -> str:
    """Static HTML for a notebook cell: the drawing and the tables."""
    from .render_html import notebook

    return notebook(trace)


# -- the tables -------------------------------------------------------------------------------------


def _local_cells(trace, loc) -> tuple[str, str, str]:
    o = trace.output
    local = loc.text
    value = "" if loc.value is None else fmt_value(loc.value)
    passed = f"∂{o}/∂{loc.input} ← {loc.chain} = {fmt_value(loc.contribution)}"
    return local, value, passed


def tables(trace) -> list[Table]:
    """Inputs, forward pass, backward pass and result, as :class:`Table` objects."""
    g = trace.graph
    inputs = Table("Inputs", ["name", "shape", "value", "gradient"], [])
    for name in trace.inputs:
        v = g.var(name)
        inputs.rows.append([name, fmt_shape(v.shape or ()), fmt_value(v.value), "wanted" if name in trace.wrt else "—"])
    forward = Table("Forward pass (compute and keep every intermediate: the cache)",
                    ["step", "name", "operation", "inputs", "value"], [])
    for s in trace.forward_steps:
        ins = operands_text(g, s.inputs)
        forward.rows.append([str(s.step), s.name, s.formula, ins, fmt_value(s.value)])
    o = trace.output
    backward = Table(
        "Backward pass (upstream gradient × local derivative, passed down; summed where paths meet)",
        ["step", "at", "upstream", "local derivative", "its value", "passed down"], [],
    )
    for s in trace.backward_steps:
        if s.kind == "seed":
            backward.rows.append([str(s.step), s.name, f"{s.symbol} = {fmt_value(s.upstream)}", "start", "", ""])
        elif s.kind == "sum":
            terms = " + ".join(f"{fmt_value(t.value)} (via {t.via})" for t in s.terms)
            backward.rows.append([
                str(s.step), s.name, f"sum of {len(s.terms)} paths", f"{s.symbol} = {terms}", "",
                f"{s.symbol} = {fmt_value(s.total)}",
            ])
        else:
            first = True
            for loc in s.locals or [None]:
                cells = ["", "", ""] if loc is None else list(_local_cells(trace, loc))
                backward.rows.append([
                    str(s.step) if first else "", s.formula if first else "",
                    f"{s.symbol} = {fmt_value(s.upstream)}" if first else "", *cells,
                ])
                first = False
    chain = Table("Chain rule (sum over paths of the product of local derivatives)", ["gradient", "paths", "value"],
                  [])
    for name, grad in trace.gradients.items():
        chain.rows.append([f"∂{o}/∂{name}", chain_text(trace, name), fmt_value(grad)])
    result = Table("Result", ["", "value", "finite differences"], [[o, fmt_value(trace.value), ""]])
    for name, grad in trace.gradients.items():
        num = trace.check.numeric.get(name)
        result.rows.append([f"∂{o}/∂{name}", fmt_value(grad), "" if num is None else fmt_value(num)])
    return [inputs, forward, backward, chain, result]


def chain_text(trace, name: str, d=None, mul=None, plus=" + ") -> str:
    """``∂H/∂G · ∂G/∂E · ∂E/∂A`` (+ … for each further path), or a count when there are many."""
    from .trace import chain_paths

    d = d or (lambda y, x: f"∂{y}/∂{x}")
    mul = mul or (lambda parts: " · ".join(parts))
    paths = chain_paths(trace, name)
    if paths is None:
        return "more paths than written out"
    if not paths:
        return "no path (0)"
    return plus.join(mul([d(p[k], p[k + 1]) for k in range(len(p) - 1)]) if len(p) > 1 else "1" for p in paths)


def operands_text(graph, names: list[str]) -> str:
    """``E = 3, F = 2`` for a step's operands (a constant written as its value is left out)."""
    parts = []
    for n in dict.fromkeys(names):
        v = graph.var(n)
        text = fmt_value(v.value)
        if not (v.kind == "constant" and text == n):
            parts.append(f"{n} = {text}")
    return ", ".join(parts)


def _width(s: str) -> int:
    return len(s)


def plain_text(trace) -> str:
    """Aligned plain-text tables (no colour, no box drawing beyond dashes)."""
    out = [f"Trace of {trace.title}", ""]
    for t in tables(trace):
        out.append(t.title)
        widths = [max([_width(h)] + [_width(r[i]) for r in t.rows]) for i, h in enumerate(t.headers)]
        out.append("  " + "  ".join(h.ljust(w) for h, w in zip(t.headers, widths)).rstrip())
        out.append("  " + "  ".join("-" * w for w in widths))
        for r in t.rows:
            out.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        out.append("")
    out.append(trace.check.text)
    for note in trace.notes:
        out.append(f"note: {note}")
    return "\n".join(out) + "\n"


def rich_text(trace, width: int | None = None) -> str:
    """Rich tables in colour (ANSI); plain text when ``rich`` is not installed."""
    try:
        from rich.console import Console
        from rich.table import Table as RichTable
        from rich.text import Text
    except ImportError:
        return plain_text(trace)
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=width, highlight=False, soft_wrap=False)
    console.print(Text(f"Trace of {trace.title}", style="bold"))
    styles = {"Inputs": "cyan", "Result": "green"}
    for t in tables(trace):
        key = t.title.split(" (")[0]
        rt = RichTable(title=t.title, title_justify="left", header_style="bold", show_lines=False)
        for i, h in enumerate(t.headers):
            style = None
            if key == "Backward pass" and h in ("upstream", "passed down"):
                style = "magenta"
            elif key == "Forward pass" and h == "value":
                style = "cyan"
            elif key in styles and i == 1:
                style = styles[key]
            rt.add_column(h, style=style)
        for r in t.rows:
            rt.add_row(*r)
        console.print(rt)
    style = "green" if trace.check.passed or not trace.check.ran else "bold red"
    console.print(Text(trace.check.text, style=style))
    for note in trace.notes:
        console.print(Text(f"note: {note}", style="yellow"))
    return buf.getvalue()


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ") or " "


def markdown(trace) -> str:
    """GitHub-flavoured Markdown: a heading, one table per part, the check and notes."""
    out = [f"## Trace of `{trace.title}`", ""]
    for t in tables(trace):
        out.append(f"### {t.title}")
        out.append("")
        out.append("| " + " | ".join(_md_cell(h) for h in t.headers) + " |")
        out.append("|" + "|".join("---" for _ in t.headers) + "|")
        for r in t.rows:
            out.append("| " + " | ".join(_md_cell(c) for c in r) + " |")
        out.append("")
    out.append(f"**{trace.check.text}**")
    for note in trace.notes:
        out.append("")
        out.append(f"*Note: {note}*")
    return "\n".join(out) + "\n"
