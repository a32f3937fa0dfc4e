"""Renderings of one trace: every format states the same value, gradients and check."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ExpressionError, RenderError
from chainrule.explain import FORMATS, explain, lecture
from chainrule.explain.notation import fmt_value, latex_value
from chainrule.explain.render_json import SCHEMA
from chainrule.explain.render_latex import latex_text

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed (apt-get install graphviz)")


@pytest.fixture(scope="module", params=[1, 2, 3])
def trace(request):
    return lecture(request.param)


def validate(instance, schema, path="$"):
    """A small JSON Schema checker: type, enum, const, required, properties, items, anyOf."""
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
             "integer": int, "number": (int, float)}
    if "anyOf" in schema:
        errors = []
        for sub in schema["anyOf"]:
            try:
                validate(instance, sub, path)
                return
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(f"{path}: matches none of anyOf: {errors}")
    if "const" in schema:
        assert instance == schema["const"], path
    if "enum" in schema:
        assert instance in schema["enum"], f"{path}: {instance!r} not in {schema['enum']}"
    if "type" in schema:
        allowed = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(isinstance(instance, types[t]) and not (t in ("integer", "number") and isinstance(instance, bool))
                 for t in allowed)
        assert ok, f"{path}: {instance!r} is not {allowed}"
    if isinstance(instance, dict):
        for key in schema.get("required", []):
            assert key in instance, f"{path}: missing {key}"
        for key, value in instance.items():
            if key in schema.get("properties", {}):
                validate(value, schema["properties"][key], f"{path}.{key}")
            elif "additionalProperties" in schema:
                validate(value, schema["additionalProperties"], f"{path}.{key}")
    if isinstance(instance, list) and "items" in schema:
        for k, item in enumerate(instance):
            validate(item, schema["items"], f"{path}[{k}]")


def test_json_follows_the_schema_and_round_trips_the_numbers(trace):
    data = json.loads(trace.render("json"))
    validate(data, SCHEMA)
    assert data["value"] == float(trace.value)
    for name, grad in trace.gradients.items():
        np.testing.assert_array_equal(np.array(data["gradients"][name]), grad)
    assert [s["name"] for s in data["forward_steps"]] == [s.name for s in trace.forward_steps]
    assert len(data["backward_steps"]) == len(trace.backward_steps)
    assert data["check"]["passed"] is True and data["check"]["text"] == trace.check.text
    edges = {tuple(e) for e in data["graph"]["edges"]}
    assert edges == set(trace.graph.edges)


def test_json_holds_non_finite_values_as_strings():
    t = explain("log(a) * b", a=0.0, b=1.0, check=False)
    data = json.loads(t.render("json"))
    assert data["value"] == "-inf"
    validate(data, SCHEMA)


@pytest.mark.parametrize("fmt", ["text", "md", "dot", "html"])
def test_every_text_format_states_value_gradients_and_check(trace, fmt):
    out = trace.render(fmt)
    assert fmt_value(trace.value) in out
    for name, grad in trace.gradients.items():
        assert f"∂{trace.output}/∂{name}" in out
        assert fmt_value(grad) in out
    assert "gradcheck: passed" in out


def test_formats_agree_on_the_gradients():
    """The same numbers in every rendering, read back from each."""
    t = lecture(2)
    expected = {n: float(g) for n, g in t.gradients.items()}
    # text and markdown: the result rows
    for fmt in ("text", "md"):
        out = t.render(fmt)
        for n, g in expected.items():
            assert re.search(rf"∂H/∂{n}\s*\|?\s*{g:g}\b", out), (fmt, n)
    # json
    assert {k: v for k, v in json.loads(t.render("json"))["gradients"].items()} == expected
    # latex: the chain-rule equations end in the value
    tex = t.render("latex")
    for n, g in expected.items():
        assert re.search(rf"\\frac{{\\partial H}}{{\\partial {n}}} &= .* = {g:g}", tex), n
    # dot: the gradient row of each input's node
    dot = t.render("dot")
    for n, g in expected.items():
        v = t.graph.var(n).index
        assert re.search(rf"  v{v} \[.*<b>{n}</b>.*∂ {g:g}</font>", dot), n
    # html: the embedded steps and the header
    page = t.render("html")
    data = json.loads(re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', page, re.S)[1])
    final = {}
    for step in data["steps"]:
        final.update(step["grads"])
    for n, g in expected.items():
        assert final[f"v{t.graph.var(n).index}"] == f"∂ {g:g}"
        assert f"∂H/∂{n} = {g:g}" in page


def test_dot_nodes_and_edges_match_the_graph(trace):
    dot = trace.render("dot")
    g = trace.graph
    nodes = set(re.findall(r"^  (v\d+|op\d+) \[", dot, re.M))
    assert nodes == {f"v{v.index}" for v in g.vars} | {f"op{n.index}" for n in g.nodes}
    forward = set(re.findall(r"^  (\w+) -> (\w+);$", dot, re.M))
    assert forward == set(g.edges)
    back = re.findall(r'^  (op\d+) -> (v\d+) \[color="#c2255c".*label="([^"]*)"\];$', dot, re.M)
    expected = []
    for s in trace.backward_steps:
        if s.kind == "op":
            for loc in s.locals:
                expected.append((f"op{s.node}", f"v{g.var(loc.input).index}", fmt_value(loc.contribution)))
    assert sorted(back) == sorted(expected)
    for n in g.nodes:  # op symbols
        assert re.search(rf'^  op{n.index} \[.*label="{re.escape(n.symbol)}"', dot, re.M)


@needs_dot
def test_svg_and_png_by_graphviz(trace, tmp_path):
    svg = trace.render("svg")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    text = html.unescape(svg)
    assert "gradcheck: passed" in text
    for grad in trace.gradients.values():
        assert fmt_value(grad) in text
    png = trace.render("png")
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG\r\n\x1a\n")
    path = trace.save(tmp_path / "t.svg")
    assert path.read_text(encoding="utf-8") == svg


def test_missing_graphviz_names_the_package(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    t = lecture(1, check=False)
    with pytest.raises(RenderError, match="'graphviz'.*apt-get install graphviz"):
        t.render("svg")
    assert t.render("dot").startswith("digraph")  # needs nothing
    assert "<svg" in t.render("html")  # drawn without Graphviz


def test_latex_structure(trace):
    tex = trace.render("latex")
    assert tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
    assert "\\usepackage{amsmath,amssymb,booktabs}" in tex
    assert tex.count("\\toprule") == tex.count("\\bottomrule") == tex.count("\\begin{tabular}") == 3
    assert tex.count("\\midrule") == 3
    assert "\\begin{align*}" in tex and "\\end{align*}" in tex
    for s in trace.forward_steps:
        assert s.formula_tex in tex
    for grad in trace.gradients.values():
        assert latex_value(grad) in tex
    assert latex_text(trace.check.text) in tex
    assert not re.search(r"[^\x00-\x7f]", tex), "pdflatex needs ASCII (Greek as commands)"
    fragment = trace.render("latex", standalone=False)
    assert "\\documentclass" not in fragment and "\\begin{tabular}" in fragment


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
@pytest.mark.parametrize("lang", ["en", "ru"])
def test_latex_compiles(tmp_path, lang):
    """The three lectures' LaTeX compiles, in English and in Russian (T2A and babel: Debian's
    texlive-lang-cyrillic, which .ci/run installs)."""
    if lang == "ru" and subprocess.run(["kpsewhich", "t2aenc.def"], capture_output=True).returncode != 0:
        if os.environ.get("CHAINRULE_REQUIRE_BROWSER") == "1":  # CI: the Cyrillic fonts must be there
            pytest.fail("TeX's Cyrillic fonts are missing (apt-get install texlive-lang-cyrillic)")
        pytest.skip("TeX's Cyrillic fonts are not installed (texlive-lang-cyrillic)")
    for k in (1, 2, 3):
        (tmp_path / f"t{k}.tex").write_text(lecture(k, lang=lang).render("latex"), encoding="utf-8")
        proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"t{k}.tex"],
                              cwd=tmp_path, capture_output=True, timeout=120)
        assert proc.returncode == 0, proc.stdout.decode(errors="replace")[-2000:]
        assert (tmp_path / f"t{k}.pdf").stat().st_size > 1000


def test_markdown_tables():
    md = lecture(1).render("md")
    assert md.startswith("## Trace of `H = (A + B) * (C - D) * 2`")
    assert "| 3 | G | G = E · F | E = 3, F = 2 | 6 |" in md
    assert "| ∂H/∂A | 4 | 4 |" in md
    assert "| ∂H/∂A | ∂H/∂G · ∂G/∂E · ∂E/∂A | 4 |" in md  # the lecture's chain


def test_text_plain_and_rich():
    t = lecture(1)
    plain = t.render("text")
    assert "\x1b[" not in plain
    assert "3     G     G = E · F  E = 3, F = 2  6" in plain
    pytest.importorskip("rich")
    colored = t.render("text", color=True)
    assert "\x1b[" in colored
    stripped = re.sub(r"\x1b\[[0-9;]*m", "", colored)
    for s in ("G = E · F", "∂G/∂E = F", "∂H/∂A", "gradcheck: passed"):
        assert s in stripped


def test_text_falls_back_to_plain_without_rich(hide_package):
    hide_package("rich")
    t = lecture(1, check=False)
    assert t.render("text", color=True) == t.render("text")


def test_unknown_format_and_save(tmp_path):
    t = lecture(1, check=False)
    with pytest.raises(ExpressionError, match="unknown format"):
        t.render("pdf")
    assert set(FORMATS) == {"text", "md", "latex", "json", "dot", "svg", "png", "html"}
    assert json.loads(t.save(tmp_path / "t.json").read_text(encoding="utf-8"))["output"] == "H"
    assert t.save(tmp_path / "t.md").read_text(encoding="utf-8").startswith("## Trace")


def test_html_is_self_contained(trace):
    page = trace.render("html")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    assert "<script src" not in page and "<link" not in page
    assert 'id="next"' in page and "step forward" in page and "step backward" in page


def test_jupyter_reprs():
    t = lecture(1)
    bundle = t._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html", "image/svg+xml"}
    assert bundle["image/svg+xml"].startswith("<svg") and "G = E · F" in bundle["text/html"]
    assert t._repr_svg_() == bundle["image/svg+xml"]
    assert repr(t).startswith("<Trace H = (A + B)") and "value 12" in repr(t)
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (a * 3).sum()
    tb = y._repr_mimebundle_()
    assert tb["text/plain"] == repr(y) and "<svg" in tb["image/svg+xml"] and "<svg" in y._repr_html_()
    assert y._repr_svg_() == tb["image/svg+xml"]
    assert set(a._repr_mimebundle_()) == {"text/plain"} and a._repr_svg_() is None
    assert a._repr_html_().startswith("<pre>tensor(")
