"""Renderings of a :class:`~chainrule.explain.trace.Trace`: one set of tables, many formats.

``text`` (plain, or rich tables in colour with ``color=True``), ``md`` (GitHub tables),
``json`` (schema in :mod:`chainrule.explain.render_json`), ``latex``
(:mod:`~chainrule.explain.render_latex`), ``dot``/``svg``/``png``
(:mod:`~chainrule.explain.render_dot`) and ``html`` (:mod:`~chainrule.explain.render_html`).
Every rendering states the value, every gradient and the gradient check.
"""

from __future__ import annotations

import io
from pathlib import Path

from ..errors import ExpressionError
from ..lang import resolve
from .tables import caption, tables
from .words import WORDS

#: The renderings :meth:`Trace.render` knows.
FORMATS = ("text", "md", "latex", "json", "dot", "svg", "png", "html")
#: File suffixes that choose a format in :meth:`Trace.save` and the CLI's ``-o``.
SUFFIXES = {
    ".txt": "text", ".md": "md", ".markdown": "md", ".tex": "latex", ".json": "json", ".dot": "dot",
    ".gv": "dot", ".svg": "svg", ".png": "png", ".html": "html", ".htm": "html",
}


def render(trace, fmt: str, **options) -> str | bytes:
    """Dispatch to the rendering ``fmt`` (see :data:`FORMATS`)."""
    if fmt is not None and not isinstance(fmt, str):
        raise ExpressionError(f"the format must be a name, one of {', '.join(FORMATS)}; got {fmt!r}")
    fmt = (fmt or "text").lower()
    lang = resolve(options.get("lang"))
    if fmt in ("text", "txt"):
        return rich_text(trace, lang=lang) if options.get("color") else plain_text(trace, lang)
    if fmt in ("md", "markdown"):
        return markdown(trace, lang)
    if fmt == "json":
        from .render_json import to_json

        return to_json(trace)
    if fmt in ("latex", "tex"):
        from .render_latex import to_latex

        return to_latex(trace, standalone=options.get("standalone", True), lang=lang)
    if fmt in ("dot", "svg", "png"):
        from .render_dot import render_graphviz, to_dot, trace_edge_grads

        if trace.second is not None:  # order 2: the graph the backward pass recorded (of the first input)
            name, d = next(iter(trace.second.derivatives.items()))
            title = WORDS.text("recorded", lang, d=f"∂{trace.output}/∂{name}").split(" (")[0]
            dot = to_dot(d.graph, title=title, caption=caption(d, lang), edge_grads=trace_edge_grads(d))
        else:
            dot = to_dot(trace.graph, title=WORDS.text("trace_of", lang, title=trace.title),
                         caption=caption(trace, lang), edge_grads=trace_edge_grads(trace))
        return dot if fmt == "dot" else render_graphviz(dot, fmt)
    if fmt == "html":
        from .render_html import to_html

        return to_html(trace, lang)
    raise ExpressionError(f"unknown format {fmt[:40]!r}; choose one of {', '.join(FORMATS)}")


def write_rendering(data: str | bytes, path: Path) -> Path:
    """Write a rendering to ``path``: bytes (png) as they are, text as UTF-8; returns ``path``.

    The file is written atomically (:func:`chainrule.files.write_atomically`: a temporary file
    in the same folder replaces it at once, keeping its permissions, through a symbolic link);
    a path that cannot be written is a :class:`~chainrule.errors.ChainruleError` of one line.
    """
    from ..files import write_bytes_atomically, write_text_atomically

    if isinstance(data, bytes):
        write_bytes_atomically(path, data, "rendering")
    else:
        write_text_atomically(path, data, "rendering")
    return path


def static_svg(graph) -> str:
    """An SVG drawing made without Graphviz (used in notebooks and the html page)."""
    from .render_html import graph_svg

    return graph_svg(graph)


def notebook_html(trace) -> str:
    """Static HTML for a notebook cell: the drawing and the tables."""
    from .render_html import notebook

    return notebook(trace, trace.lang)


def _width(s: str) -> int:
    return len(s)


def plain_text(trace, lang: str | None = None) -> str:
    """Aligned plain-text tables (no colour, no box drawing beyond dashes)."""
    out = [WORDS.text("trace_of", lang, title=trace.title), ""]
    for t in tables(trace, lang):
        out.append(t.title)
        widths = [max([_width(h)] + [_width(r[i]) for r in t.rows]) for i, h in enumerate(t.headers)]
        out.append("  " + "  ".join(h.ljust(w) for h, w in zip(t.headers, widths)).rstrip())
        out.append("  " + "  ".join("-" * w for w in widths))
        for r in t.rows:
            out.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        out.append("")
    out.append(trace.check.describe(lang))
    for note in trace.notes:
        out.append(f"{WORDS.text('note', lang)}: {note}")
    return "\n".join(out) + "\n"


def rich_text(trace, width: int | None = None, lang: str | None = None) -> str:
    """Rich tables in colour (ANSI); plain text when ``rich`` is not installed."""
    try:
        from rich.console import Console
        from rich.table import Table as RichTable
        from rich.text import Text
    except ImportError:
        return plain_text(trace, lang)
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=width, highlight=False, soft_wrap=False)
    console.print(Text(WORDS.text("trace_of", lang, title=trace.title), style="bold"))
    # the parts by position: inputs, forward, backward, chain rule, result (then the second order's)
    for k, t in enumerate(tables(trace, lang)):
        rt = RichTable(title=t.title, title_justify="left", header_style="bold", show_lines=False)
        for i, h in enumerate(t.headers):
            style = None
            if k == 2 and i in (2, 5):  # the backward pass: the upstream gradient and what is passed down
                style = "magenta"
            elif k == 1 and i == 4:  # the forward pass: each value kept
                style = "cyan"
            elif k in (0, 4) and i == 1:
                style = ("cyan", "green")[k == 4]
            rt.add_column(h, style=style)
        for r in t.rows:
            rt.add_row(*r)
        console.print(rt)
    style = "green" if trace.check.passed or not trace.check.ran else "bold red"
    console.print(Text(trace.check.describe(lang), style=style))
    for note in trace.notes:
        console.print(Text(f"{WORDS.text('note', lang)}: {note}", style="yellow"))
    return buf.getvalue()


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ") or " "


def markdown(trace, lang: str | None = None) -> str:
    """GitHub-flavoured Markdown: a heading, one table per part, the check and notes."""
    out = ["## " + WORDS.text("trace_of", lang, title=f"`{trace.title}`"), ""]
    for t in tables(trace, lang):
        out.append(f"### {t.title}")
        out.append("")
        out.append("| " + " | ".join(_md_cell(h) for h in t.headers) + " |")
        out.append("|" + "|".join("---" for _ in t.headers) + "|")
        for r in t.rows:
            out.append("| " + " | ".join(_md_cell(c) for c in r) + " |")
        out.append("")
    out.append(f"**{trace.check.describe(lang)}**")
    for note in trace.notes:
        out.append("")
        out.append(f"*{WORDS.text('note', lang).capitalize()}: {note}*")
    return "\n".join(out) + "\n"
