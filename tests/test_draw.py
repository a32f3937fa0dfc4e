"""chainrule.draw: the graph of any Tensor, checked node by node and edge by edge."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ExpressionError, RenderError
from chainrule.explain import Drawing, draw


def parse_dot(dot: str):
    nodes = dict(re.findall(r"^  (v\d+|op\d+) \[(.*)\];$", dot, re.M))
    edges = set(re.findall(r"^  (\w+) -> (\w+);$", dot, re.M))
    return nodes, edges


def test_draw_matches_the_graph_that_made_the_tensor():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    w = cr.tensor([0.5, -1.0], requires_grad=True)
    b = cr.tensor(0.25, requires_grad=True)
    y = (x * w + b).relu().sum()
    d = draw(y, names={"x": x, "w": w, "b": b})
    assert isinstance(d, Drawing)
    g = d.graph
    assert [n.type for n in g.nodes] == ["Mul", "Add", "ReLU", "Sum"]
    names = [v.name for v in g.vars]
    assert set(names) == {"x", "w", "b", "E", "F", "G", "H"}
    # structure: E = x·w, F = E + b, G = relu(F), H = ΣG
    assert [n.formula for n in g.nodes] == ["E = x · w", "F = E + b", "G = relu(F)", "H = ΣG"]
    nodes, edges = parse_dot(d.render("dot"))
    assert set(nodes) == {f"v{v.index}" for v in g.vars} | {f"op{n.index}" for n in g.nodes}
    expected = set()
    for n in g.nodes:
        expected |= {(f"v{i}", f"op{n.index}") for i in n.inputs}
        expected.add((f"op{n.index}", f"v{n.output}"))
    assert edges == expected
    # the edges link the right names: x -> mul -> E
    by_name = {v.name: f"v{v.index}" for v in g.vars}
    assert (by_name["x"], "op0") in edges and ("op0", by_name["E"]) in edges
    assert (by_name["E"], "op1") in edges and (by_name["b"], "op1") in edges
    # values: leaves and root from the tensors, intermediates recomputed from the pure ops
    np.testing.assert_array_equal(g.var("E").value, [0.5, -2.0])
    np.testing.assert_array_equal(g.var("F").value, [0.75, -1.75])
    np.testing.assert_array_equal(g.var("G").value, [0.75, 0.0])
    assert float(g.var("H").value) == 0.75
    assert "[0.75, -1.75]" in nodes[by_name["F"]]


def test_draw_shows_gradients_after_backward_with_retain_graph():
    a = cr.tensor(3.0, requires_grad=True)
    b = cr.tensor(-2.0, requires_grad=True)
    y = a * b + a
    y.backward(retain_graph=True)
    d = draw(y, names={"a": a, "b": b})
    assert float(d.graph.var("a").grad) == -1.0 and float(d.graph.var("b").grad) == 3.0
    assert "∂ -1" in d.render("dot")


def test_draw_names_leaves_and_constants_itself():
    p = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (p * 2.0 + np.array([1.0, 1.0])).sum()
    g = draw(y).graph
    kinds = {v.name: v.kind for v in g.vars}
    assert kinds["p1"] == "leaf"
    assert kinds["2"] == "constant"  # Mul keeps its operands: the constant's value is known
    assert "c1" in kinds  # Add does not keep them: shown by shape only


def test_draw_a_leaf_and_a_freed_graph():
    a = cr.tensor(2.0, requires_grad=True)
    g = draw(a, names={"a": a}).graph
    assert len(g.vars) == 1 and g.nodes == []
    y = a * a * a
    y.backward()
    d = draw(y)
    assert any("freed" in note for note in d.graph.notes)
    assert d.render("dot").startswith("digraph")


def test_draw_errors_and_svg(tmp_path, monkeypatch):
    with pytest.raises(ExpressionError):
        draw([1, 2])  # type: ignore[arg-type]
    a = cr.tensor(2.0, requires_grad=True)
    d = draw(a.exp())
    assert d._repr_svg_().startswith("<svg") and "exp" in d._repr_svg_()
    assert d.save(tmp_path / "g.dot").read_text(encoding="utf-8") == d.render("dot")
    if shutil.which("dot"):
        assert "<svg" in d.render("svg")
        assert d.save(tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RenderError, match="graphviz"):
        d.render("png")
