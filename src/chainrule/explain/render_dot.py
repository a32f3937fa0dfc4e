"""Graphviz drawings: DOT source (always available) and SVG/PNG made by the ``dot`` program.

Variable nodes are small tables (name and shape, value, gradient); op nodes are circles
with the operation's symbol; forward edges are grey, gradients travel back along dashed
edges in a second colour, labelled with the contribution passed down. The ``dot``
program comes from the system package (``apt-get install graphviz``); chainrule calls it
as a subprocess, with no Python binding.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from ..errors import RenderError
from .notation import fmt_shape, fmt_value

GRAD_COLOR = "#c2255c"
VALUE_COLOR = "#1c7ed6"
KIND_FILL = {"input": "#e7f5ff", "constant": "#f1f3f5", "intermediate": "#ffffff", "output": "#ebfbee",
             "leaf": "#fff9db"}
MAX_LABEL = 60


def escape(s: str) -> str:
    """Escape text for a Graphviz HTML-like label."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _short(s: str) -> str:
    return s if len(s) <= MAX_LABEL else s[: MAX_LABEL - 1] + "…"


def var_label(v) -> str:
    """The HTML-like label of a variable node: name (and shape), value, gradient."""
    shape = "" if not v.shape else f' <font point-size="9">{escape(fmt_shape(v.shape))}</font>'
    rows = [f'<tr><td bgcolor="{KIND_FILL.get(v.kind, "#ffffff")}"><b>{escape(v.name)}</b>{shape}</td></tr>']
    if v.kind != "constant" or v.value is None or v.value.ndim:
        rows.append(f'<tr><td><font color="{VALUE_COLOR}">{escape(_short(fmt_value(v.value)))}</font></td></tr>')
    if v.grad is not None:
        rows.append(f'<tr><td><font color="{GRAD_COLOR}">∂ {escape(_short(fmt_value(v.grad)))}</font></td></tr>')
    return '<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">' + "".join(rows) + "</table>>"


def to_dot(graph, title: str = "", caption: str = "", edge_grads: dict | None = None,
           show_grad_edges: bool = True) -> str:
    """Graphviz DOT source of ``graph``.

    Parameters
    ----------
    graph : a :class:`~chainrule.explain.model.Graph`.
    title, caption : text above and below the drawing.
    edge_grads : ``{(op index, input position): contribution}``; drawn as dashed
        gradient edges from the op back to the input. Default: from the variables'
        gradients (one edge per input that has one).
    show_grad_edges : draw the gradient edges at all.
    """
    lines = ["digraph chainrule {"]
    label = "\n".join(x for x in (title, caption) if x)
    lines.append(f'  graph [rankdir=LR, fontname="Helvetica", fontsize=11, labelloc=t, label={_quote(label)}];')
    lines.append('  node [fontname="Helvetica", fontsize=11];')
    lines.append('  edge [color="#868e96", arrowsize=0.7];')
    for v in graph.vars:
        lines.append(f"  v{v.index} [shape=plain, label={var_label(v)}];")
    for n in graph.nodes:
        lines.append(
            f'  op{n.index} [shape=circle, style=filled, fillcolor="#fff3bf", fixedsize=false, '
            f"label={_quote(n.symbol)}, tooltip={_quote(n.formula)}];"
        )
    for a, b in graph.edges:
        lines.append(f"  {a} -> {b};")
    if show_grad_edges:
        grads = edge_grads
        if grads is None:
            grads = {}
            for n in graph.nodes:
                for pos, i in enumerate(n.inputs):
                    if graph.vars[i].grad is not None and graph.vars[n.output].grad is not None:
                        grads[(n.index, pos)] = None
        for (node, pos), g in sorted(grads.items()):
            n = graph.nodes[node]
            lab = "" if g is None else f", label={_quote(_short(fmt_value(np.asarray(g))))}"
            lines.append(
                f"  op{n.index} -> v{n.inputs[pos]} [color={_quote(GRAD_COLOR)}, fontcolor={_quote(GRAD_COLOR)}, "
                f"style=dashed, constraint=false, fontsize=9{lab}];"
            )
    lines.append("}")
    return "\n".join(lines) + "\n"


def trace_edge_grads(trace) -> dict:
    """``{(op index, input position): contribution}`` from a trace's backward steps."""
    out = {}
    for s in trace.backward_steps:
        if s.kind != "op":
            continue
        n = trace.graph.nodes[s.node]
        used: set[int] = set()
        for loc in s.locals:
            for pos, i in enumerate(n.inputs):
                if pos not in used and trace.graph.vars[i].name == loc.input:
                    used.add(pos)
                    out[(n.index, pos)] = loc.contribution
                    break
    return out


def render_graphviz(dot: str, fmt: str) -> str | bytes:
    """Run Graphviz's ``dot -T<fmt>``: SVG text or PNG bytes.

    Raises :class:`RenderError` naming the system package when ``dot`` is not installed.
    """
    exe = shutil.which("dot")
    if exe is None:
        raise RenderError(
            f"rendering {fmt} needs Graphviz's 'dot' program, which is not installed; install the system "
            f"package 'graphviz' (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), "
            f"or use --format dot or --format html, which need nothing else"
        )
    try:
        proc = subprocess.run([exe, f"-T{fmt}"], input=dot.encode("utf-8"), capture_output=True, timeout=120,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"Graphviz's dot failed to run: {exc}") from None
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RenderError(f"Graphviz's dot failed (exit {proc.returncode}): {msg[0] if msg else 'no message'}")
    return proc.stdout.decode("utf-8") if fmt == "svg" else proc.stdout
