"""The interactive page (``--format html``) and the Graphviz-free SVG drawing it shows.

The page is one self-contained file: inline SVG, CSS, the steps as embedded JSON, and a
few lines of JavaScript; no CDN, no network, no external file. "step forward" and "step
backward" walk through the forward pass and then the backward pass, highlighting the
node being computed (class ``current``), its operands (class ``operand``) and showing the
numbers of that step in the side panel. The drawing is laid out here, in Python
(columns by depth, left to right), so it needs neither Graphviz nor a layout library.
"""

from __future__ import annotations

import html
import json

import numpy as np

from .notation import fmt_shape, fmt_value

CHAR_W = 7.4  # px per character at the 12px monospace font used in the drawing
LINE_H = 17
VAR_PAD = 10
OP_R = 19
COL_GAP = 46
ROW_GAP = 22
MAX_TEXT = 34


def escape(s: str) -> str:
    """Escape text for HTML and SVG."""
    return html.escape(s, quote=True)


def _short(s: str) -> str:
    return s if len(s) <= MAX_TEXT else s[: MAX_TEXT - 1] + "…"


def _layout(graph) -> dict:
    """Positions: ``{"v3": (x, y, w, h), "op1": (cx, cy, r, r)}`` and the canvas size."""
    col: dict[str, int] = {}
    for n in graph.nodes:  # forward order
        ins = [col.get(f"v{i}") for i in n.inputs]
        known = [c for c in ins if c is not None]
        c = (max(known) + 1) if known else 1
        col[f"op{n.index}"] = c
        col[f"v{n.output}"] = c + 1
    consumers: dict[int, list[int]] = {}
    for n in graph.nodes:
        for i in n.inputs:
            consumers.setdefault(i, []).append(n.index)
    for v in graph.vars:  # leaves just left of their first consumer
        if v.producer is None:
            cs = [col[f"op{k}"] for k in consumers.get(v.index, [])]
            col[f"v{v.index}"] = (min(cs) - 1) if cs else 0
    for n in graph.nodes:  # an op sits right after its latest input
        c = max(col[f"v{i}"] for i in n.inputs) + 1 if n.inputs else col[f"op{n.index}"]
        col[f"op{n.index}"] = max(col[f"op{n.index}"], c)
    order = [f"v{v.index}" for v in graph.vars] + [f"op{n.index}" for n in graph.nodes]
    size: dict[str, tuple[float, float]] = {}
    for v in graph.vars:
        texts = [_name_line(v), _short(fmt_value(v.value)), _short("∂ " + fmt_value(v.grad if v.grad is not None
                                                                                    else np.zeros(())))]
        w = max(64.0, max(len(t) for t in texts) * CHAR_W + 2 * VAR_PAD)
        size[f"v{v.index}"] = (w, 3 * LINE_H + 8)
    for n in graph.nodes:
        size[f"op{n.index}"] = (2 * OP_R, 2 * OP_R)
    columns: dict[int, list[str]] = {}
    for key in order:
        columns.setdefault(col[key], []).append(key)
    # one sweep of barycentres: order each column by where its neighbours sit
    pos_in: dict[str, float] = {}
    neighbours: dict[str, list[str]] = {k: [] for k in order}
    for n in graph.nodes:
        for i in n.inputs:
            neighbours[f"op{n.index}"].append(f"v{i}")
            neighbours[f"v{i}"].append(f"op{n.index}")
        neighbours[f"op{n.index}"].append(f"v{n.output}")
        neighbours[f"v{n.output}"].append(f"op{n.index}")
    for c in sorted(columns):
        keys = columns[c]
        for j, k in enumerate(keys):
            nb = [pos_in[m] for m in neighbours[k] if m in pos_in]
            pos_in[k] = sum(nb) / len(nb) if nb else j
        keys.sort(key=lambda k: pos_in[k])
        for j, k in enumerate(keys):
            pos_in[k] = j
    xs: dict[int, float] = {}
    x = 20.0
    for c in sorted(columns):
        xs[c] = x
        x += max(size[k][0] for k in columns[c]) + COL_GAP
    heights = {c: sum(size[k][1] for k in keys) + ROW_GAP * (len(keys) - 1) for c, keys in columns.items()}
    total_h = max(heights.values()) if heights else 60
    boxes = {}
    for c, keys in columns.items():
        y = 20 + (total_h - heights[c]) / 2
        cw = max(size[k][0] for k in keys)
        for k in keys:
            w, h = size[k]
            boxes[k] = (xs[c] + (cw - w) / 2, y, w, h)
            y += h + ROW_GAP
    return {"boxes": boxes, "width": x - COL_GAP + 20, "height": total_h + 40}


def _name_line(v) -> str:
    return v.name if not v.shape else f"{v.name}  {fmt_shape(v.shape)}"


def _edge(a, b) -> str:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    x1, y1 = ax + aw, ay + ah / 2
    x2, y2 = bx, by + bh / 2
    dx = max((x2 - x1) / 2, 20)
    return f"M{x1:.1f},{y1:.1f} C{x1 + dx:.1f},{y1:.1f} {x2 - dx:.1f},{y2:.1f} {x2 - 2:.1f},{y2:.1f}"


_SVG_STYLE = """
.cr-svg text { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
.cr-svg .var rect { fill: #fff; stroke: #868e96; stroke-width: 1.2; rx: 6; }
.cr-svg .var.input rect { fill: #e7f5ff; } .cr-svg .var.constant rect { fill: #f1f3f5; }
.cr-svg .var.output rect { fill: #ebfbee; } .cr-svg .var.leaf rect { fill: #fff9db; }
.cr-svg .var .name { font-weight: bold; fill: #212529; }
.cr-svg .var .value { fill: #1c7ed6; } .cr-svg .var .grad { fill: #c2255c; }
.cr-svg .op circle { fill: #fff3bf; stroke: #868e96; stroke-width: 1.2; }
.cr-svg .op text { font-size: 13px; text-anchor: middle; dominant-baseline: central; }
.cr-svg .edge path { fill: none; stroke: #adb5bd; stroke-width: 1.4; marker-end: url(#cr-arrow); }
.cr-svg .edge.active path { stroke: #1c7ed6; stroke-width: 2.4; }
.cr-svg .edge.back path { stroke: #c2255c; stroke-width: 2.4; stroke-dasharray: 6 3; }
.cr-svg .node.current rect, .cr-svg .node.current circle { stroke: #f08c00; stroke-width: 3.5; }
.cr-svg .node.operand rect, .cr-svg .node.operand circle { stroke: #1c7ed6; stroke-width: 2.5; }
.cr-svg .node.receiver rect { stroke: #c2255c; stroke-width: 2.5; }
"""


def graph_svg(graph, interactive: bool = False) -> str:
    """The graph as an SVG drawing (no Graphviz): variable boxes with name, value and
    gradient; op circles with their symbol; forward edges.

    With ``interactive=True`` the elements carry the ids and classes the page's script uses.
    """
    lay = _layout(graph)
    boxes = lay["boxes"]
    w, h = lay["width"], lay["height"]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cr-svg" width="{w:.0f}" height="{h:.0f}" '
        f'viewBox="0 0 {w:.0f} {h:.0f}" role="img" aria-label="computational graph">',
        "<defs><style>" + _SVG_STYLE + "</style>"
        '<marker id="cr-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#868e96"/></marker></defs>',
    ]
    for n in graph.nodes:
        op_box = boxes[f"op{n.index}"]
        for pos, i in enumerate(n.inputs):
            parts.append(
                f'<g class="edge" id="e-op{n.index}-in{pos}" data-from="v{i}" data-to="op{n.index}">'
                f'<path d="{_edge(boxes[f"v{i}"], op_box)}"/></g>'
            )
        parts.append(
            f'<g class="edge" id="e-op{n.index}-out" data-from="op{n.index}" data-to="v{n.output}">'
            f'<path d="{_edge(op_box, boxes[f"v{n.output}"])}"/></g>'
        )
    for v in graph.vars:
        x, y, bw, bh = boxes[f"v{v.index}"]
        value = _short(fmt_value(v.value))
        grad = "" if v.grad is None else _short("∂ " + fmt_value(v.grad))
        tx = x + VAR_PAD
        parts.append(
            f'<g class="node var {v.kind}" id="v{v.index}" data-name="{escape(v.name)}">'
            f"<title>{escape(v.name)}: {escape(fmt_value(v.value))}</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{bh:.1f}" rx="6"/>'
            f'<text class="name" x="{tx:.1f}" y="{y + 17:.1f}">{escape(_name_line(v))}</text>'
            f'<text class="value" x="{tx:.1f}" y="{y + 17 + LINE_H:.1f}">{escape(value)}</text>'
            f'<text class="grad" x="{tx:.1f}" y="{y + 17 + 2 * LINE_H:.1f}">{escape(grad)}</text></g>'
        )
    for n in graph.nodes:
        x, y, bw, bh = boxes[f"op{n.index}"]
        parts.append(
            f'<g class="node op" id="op{n.index}" data-name="{escape(graph.vars[n.output].name)}">'
            f"<title>{escape(n.formula)}</title>"
            f'<circle cx="{x + bw / 2:.1f}" cy="{y + bh / 2:.1f}" r="{OP_R}"/>'
            f'<text x="{x + bw / 2:.1f}" y="{y + bh / 2:.1f}">{escape(n.symbol)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


# -- the steps the page walks through ----------------------------------------------------------------


def page_steps(trace, lang: str | None = None) -> list[dict]:
    """Everything the page shows at each step, formatted here so the page only displays it.

    Step 0 shows the inputs; then one step per forward step, then one per backward
    step. Each has ``phase``, ``title``, ``name`` (the highlighted variable), ``current``
    (ids of highlighted nodes), ``operands``, ``edges`` (forward edges to light up),
    ``back`` (edges a gradient travels along), ``fields`` (label, text, key) for the
    panel, ``values``/``grads`` to write on the drawing from this step on, and the words
    ``phaseLabel`` and ``counter`` in ``lang``.
    """
    from .tables import operands_text
    from .words import WORDS

    def w(key: str, **fields) -> str:
        return WORDS.text(key, lang, **fields)

    g = trace.graph
    steps = [{
        "phase": "start", "title": w("inputs"), "name": "", "current": [], "operands": [
            f"v{g.var(n).index}" for n in trace.inputs],
        "edges": [], "back": [], "fields": [[n, f"{n} = {fmt_value(g.var(n).value)}", "input"] for n in trace.inputs],
        "values": {}, "grads": {},
    }]
    total = len(trace.forward_steps) + len(trace.backward_steps)

    def titled(key: str, **fields) -> str:  # "Step k of n · what happens", k the step being added
        return f"{w('page_step', k=len(steps), n=total)} · {w(key, **fields)}"

    for s in trace.forward_steps:
        n = g.nodes[s.node]
        out = f"v{n.output}"
        ins = operands_text(g, s.inputs) or w("constants_only")
        steps.append({
            "phase": "forward", "title": titled("page_forward", formula=s.formula), "name": s.name,
            "current": [out, f"op{n.index}"], "operands": [f"v{i}" for i in n.inputs],
            "edges": [f"e-op{n.index}-in{p}" for p in range(len(n.inputs))] + [f"e-op{n.index}-out"], "back": [],
            "fields": [[w("operation"), s.formula, "operation"], [w("operands"), ins, "inputs"],
                       [w("value"), f"{s.name} = {fmt_value(s.value)}", "value"],
                       ["cache", w("kept"), "cache"]],
            "values": {out: _short(fmt_value(s.value))}, "grads": {},
        })
    o = trace.output
    received: dict[str, list[np.ndarray]] = {}
    expected = {}
    for s in trace.backward_steps:
        for loc in s.locals:
            expected[loc.input] = expected.get(loc.input, 0) + 1
    for s in trace.backward_steps:
        v = g.var(s.name)
        vid = f"v{v.index}"
        if s.kind == "seed":
            steps.append({
                "phase": "backward", "title": titled("page_start", name=s.name),
                "name": s.name, "current": [vid], "operands": [], "edges": [], "back": [],
                "fields": [[w("upstream"), f"{s.symbol} = {fmt_value(s.upstream)}", "upstream"]],
                "grads": {vid: _short("∂ " + fmt_value(s.upstream))}, "values": {},
            })
            continue
        if s.kind == "sum":
            terms = " + ".join(f"{fmt_value(t.value)} ({w('via', name=t.via)})" for t in s.terms)
            steps.append({
                "phase": "backward", "title": titled("page_sum", name=s.name),
                "name": s.name, "current": [vid], "operands": [], "edges": [], "back": [],
                "fields": [[w("paths"), f"{s.symbol} = {terms}", "terms"],
                           [w("sum"), f"{s.symbol} = {fmt_value(s.total)}", "total"]],
                "grads": {vid: _short("∂ " + fmt_value(s.total))}, "values": {},
            })
            continue
        n = g.nodes[s.node]
        grads = {vid: _short("∂ " + fmt_value(s.upstream))}
        locals_text, passed, back, receivers = [], [], [], []
        used: set[int] = set()
        for loc in s.locals:
            x = g.var(loc.input)
            pos = next(p for p, i in enumerate(n.inputs) if i == x.index and p not in used)
            used.add(pos)
            back.append(f"e-op{n.index}-in{pos}")
            receivers.append(f"v{x.index}")
            value = "" if loc.value is None else f" = {fmt_value(loc.value)}"
            locals_text.append(f"{loc.text}{value}")
            passed.append(f"∂{o}/∂{x.name} ← {loc.chain} = {fmt_value(loc.contribution)}")
            got = received.setdefault(x.name, [])
            got.append(loc.contribution)
            so_far = _short("∂ " + fmt_value(np.sum(got, axis=0)))
            grads[f"v{x.index}"] = so_far if len(got) == expected.get(x.name, 1) else so_far + " + …"
        steps.append({
            "phase": "backward", "title": titled("page_at", formula=s.formula),
            "name": s.name, "current": [vid, f"op{n.index}"], "operands": receivers, "edges": [], "back": back,
            "fields": [[w("upstream"), f"{s.symbol} = {fmt_value(s.upstream)}", "upstream"],
                       [w("local"), "; ".join(locals_text), "local"],
                       [w("passed_down"), "; ".join(passed), "passed"]],
            "grads": grads, "values": {},
        })
    for k, step in enumerate(steps):
        step["phaseLabel"] = w("phase_" + step["phase"])
        step["counter"] = w("counter", k=k, n=len(steps) - 1)
    return steps


_PAGE_STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #212529; background: #f8f9fa; }
header { padding: 14px 22px; background: #fff; border-bottom: 1px solid #dee2e6; }
header h1 { font-size: 20px; margin: 0 0 4px 0; }
header p { margin: 2px 0; font-size: 14px; }
.check.passed { color: #2b8a3e; } .check.failed { color: #c92a2a; font-weight: bold; }
main { display: flex; flex-wrap: wrap; gap: 18px; padding: 18px 22px; align-items: flex-start; }
#drawing { background: #fff; border: 1px solid #dee2e6; border-radius: 8px; padding: 8px; overflow: auto;
           max-width: 100%; }
#panel { background: #fff; border: 1px solid #dee2e6; border-radius: 8px; padding: 12px 16px; min-width: 340px;
         max-width: 560px; flex: 1; }
.controls { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
button { font-size: 14px; padding: 6px 12px; border-radius: 6px; border: 1px solid #adb5bd; background: #fff;
         cursor: pointer; }
button:disabled { opacity: .4; cursor: default; }
#phase { text-transform: uppercase; letter-spacing: .06em; font-size: 12px; color: #868e96; margin-top: 12px; }
#phase.forward { color: #1c7ed6; } #phase.backward { color: #c2255c; }
#step-title { font-size: 16px; margin: 4px 0 10px 0; }
#detail { margin: 0; display: grid; grid-template-columns: max-content 1fr; gap: 6px 12px; font-size: 14px; }
#detail dt { color: #868e96; } #detail dd { margin: 0; font-family: "DejaVu Sans Mono", Menlo, monospace; }
#tables { width: 100%; }
#tables table { border-collapse: collapse; margin: 6px 0 18px 0; font-size: 13px; background: #fff; }
#tables th, #tables td { border-bottom: 1px solid #dee2e6; padding: 3px 10px; text-align: left; }
#tables caption { text-align: left; font-weight: bold; padding: 4px 0; }
.notes { font-style: italic; font-size: 13px; }
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("trace-data").textContent);
  var steps = data.steps;
  var k = 0;
  var svg = document.querySelector("#drawing svg");
  function byId(id) { return svg.querySelector('[id="' + id + '"]'); }
  function setText(id, cls, text) {
    var g = byId(id);
    if (!g) { return; }
    var t = g.querySelector("text." + cls);
    if (t) { t.textContent = text; }
  }
  function render() {
    var values = Object.assign({}, data.initialValues);
    var grads = {};
    for (var i = 0; i <= k; i++) {
      Object.assign(values, steps[i].values);
      Object.assign(grads, steps[i].grads);
    }
    Object.keys(data.initialValues).forEach(function (id) { setText(id, "value", values[id]); });
    data.varIds.forEach(function (id) { setText(id, "grad", grads[id] || ""); });
    svg.querySelectorAll(".current, .operand, .receiver, .active, .back").forEach(function (el) {
      el.classList.remove("current", "operand", "receiver", "active", "back");
    });
    var s = steps[k];
    s.current.forEach(function (id) { var el = byId(id); if (el) { el.classList.add("current"); } });
    s.operands.forEach(function (id) {
      var el = byId(id);
      if (el) { el.classList.add(s.phase === "backward" ? "receiver" : "operand"); }
    });
    s.edges.forEach(function (id) { var el = byId(id); if (el) { el.classList.add("active"); } });
    s.back.forEach(function (id) { var el = byId(id); if (el) { el.classList.add("back"); } });
    var phase = document.getElementById("phase");
    phase.textContent = s.phaseLabel;
    phase.className = s.phase;
    document.getElementById("step-title").textContent = s.title;
    var dl = document.getElementById("detail");
    while (dl.firstChild) { dl.removeChild(dl.firstChild); }
    s.fields.forEach(function (f) {
      var dt = document.createElement("dt"); dt.textContent = f[0];
      var dd = document.createElement("dd"); dd.textContent = f[1]; dd.setAttribute("data-field", f[2]);
      dl.appendChild(dt); dl.appendChild(dd);
    });
    document.getElementById("counter").textContent = s.counter;
    document.getElementById("prev").disabled = k === 0;
    document.getElementById("reset").disabled = k === 0;
    document.getElementById("next").disabled = k === steps.length - 1;
    document.body.setAttribute("data-step", String(k));
  }
  function go(to) { k = Math.max(0, Math.min(steps.length - 1, to)); render(); }
  document.getElementById("next").addEventListener("click", function () { go(k + 1); });
  document.getElementById("prev").addEventListener("click", function () { go(k - 1); });
  document.getElementById("reset").addEventListener("click", function () { go(0); });
  document.addEventListener("keydown", function (e) {
    if (e.key === "ArrowRight") { go(k + 1); } else if (e.key === "ArrowLeft") { go(k - 1); }
  });
  render();
})();
"""


def _tables_html(trace, lang: str | None = None) -> str:
    from .tables import tables

    out = []
    for t in tables(trace, lang):
        out.append("<table><caption>" + escape(t.title) + "</caption><thead><tr>")
        out.append("".join(f"<th>{escape(h)}</th>" for h in t.headers) + "</tr></thead><tbody>")
        for r in t.rows:
            out.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>")
        out.append("</tbody></table>")
    return "".join(out)


def _script_json(obj) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(obj, ensure_ascii=False).replace("</", "<\\/").replace("<!--", "<\\!--")


def to_html(trace, lang: str | None = None) -> str:
    """The self-contained interactive page (see the module docstring); its title, tables and check in
    ``lang`` (the step-by-step panel's captions are English)."""
    from ..lang import resolve
    from .words import WORDS

    lang = resolve(lang)
    title = escape(WORDS.text("trace_of", lang, title=trace.title))
    g = trace.graph
    initial = {}
    for v in g.vars:
        shown = v.kind in ("input", "constant", "leaf")
        initial[f"v{v.index}"] = _short(fmt_value(v.value)) if shown else "?"
    data = {"steps": page_steps(trace, lang), "initialValues": initial, "varIds": [f"v{v.index}" for v in g.vars]}
    check_class = "passed" if trace.check.passed or not trace.check.ran else "failed"
    grads = "; ".join(f"∂{trace.output}/∂{n} = {fmt_value(v)}" for n, v in trace.gradients.items())
    note = WORDS.text("note", lang).capitalize()
    notes = "".join(f'<p class="notes">{note}: {escape(n)}</p>' for n in trace.notes)
    return (
        f"<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{title}</title>\n<style>{_PAGE_STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{title}</h1>"
        f"<p id=\"result\">{escape(trace.output)} = {escape(fmt_value(trace.value))}; {escape(grads)}</p>"
        f"<p class=\"check {check_class}\" id=\"check\">{escape(trace.check.describe(lang))}</p>{notes}</header>\n"
        "<main>\n<section id=\"drawing\">" + graph_svg(g, interactive=True) + "</section>\n"
        "<section id=\"panel\"><div class=\"controls\">"
        + "".join(f"<button id=\"{b}\" type=\"button\" title=\"{escape(WORDS.text(b + '_title', lang))}\">"
                  f"{escape(WORDS.text(b, lang))}</button>" for b in ("reset", "prev", "next"))
        + "<span id=\"counter\"></span></div>"
        "<div id=\"phase\"></div><h2 id=\"step-title\"></h2><dl id=\"detail\"></dl></section>\n"
        "<section id=\"tables\">" + _tables_html(trace, lang) + "</section>\n</main>\n"
        "<script type=\"application/json\" id=\"trace-data\">" + _script_json(data) + "</script>\n"
        "<script>" + _SCRIPT + "</script>\n</body>\n</html>\n"
    )


def notebook(trace, lang: str | None = None) -> str:
    """Static HTML for a notebook: title, drawing, tables, check."""
    from .words import WORDS

    check_class = "color:#2b8a3e" if trace.check.passed or not trace.check.ran else "color:#c92a2a"
    note = WORDS.text("note", lang).capitalize()
    notes = "".join(f"<p><em>{note}: {escape(n)}</em></p>" for n in trace.notes)
    return (
        f'<div class="chainrule-trace"><p><b>{escape(WORDS.text("trace_of", lang, title=trace.title))}</b></p>'
        + graph_svg(trace.graph)
        + _tables_html(trace, lang)
        + f'<p style="{check_class}">{escape(trace.check.describe(lang))}</p>{notes}</div>'
    )
