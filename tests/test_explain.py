"""chainrule.explain: the lecture's examples traced, checked against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import ops
from chainrule.errors import ChainruleError, ExpressionError, ShapeError
from chainrule.explain import FUNCTIONS, explain, lecture, name, parse
from chainrule.explain.trace import chain_paths


def steps_by_name(trace):
    return {s.name: s for s in trace.backward_steps if s.kind == "op"}


def assert_reverse_topological(trace):
    """Each op's backward step comes after the steps of every op that consumed its output."""
    g = trace.graph
    position = {s.node: k for k, s in enumerate(trace.backward_steps) if s.kind == "op"}
    for n in g.nodes:
        for i in n.inputs:
            producer = g.vars[i].producer
            if producer in position and n.index in position:
                assert position[n.index] < position[producer]


# -- lecture 1: E = A + B, F = C − D, G = E·F, H = 2G, with A=2, B=1, C=5, D=3 ------------------------


def test_lecture1_forward_by_hand():
    t = lecture(1)
    assert [s.name for s in t.forward_steps] == ["E", "F", "G", "H"]
    assert [s.formula for s in t.forward_steps] == ["E = A + B", "F = C − D", "G = E · F", "H = G · 2"]
    assert [s.operation for s in t.forward_steps] == ["add", "sub", "mul", "mul"]
    assert [s.inputs for s in t.forward_steps] == [["A", "B"], ["C", "D"], ["E", "F"], ["G", "2"]]
    assert [float(s.value) for s in t.forward_steps] == [3.0, 2.0, 6.0, 12.0]
    assert t.output == "H" and float(t.value) == 12.0
    assert t.inputs == ["A", "B", "C", "D"]


def test_lecture1_backward_by_hand():
    t = lecture(1)
    seed = t.backward_steps[0]
    assert seed.kind == "seed" and seed.name == "H" and seed.symbol == "∂H/∂H" and float(seed.upstream) == 1
    by = steps_by_name(t)
    # H = 2G: upstream 1, local ∂H/∂G = 2
    (h,) = by["H"].locals
    assert (h.text, float(h.value), float(h.contribution)) == ("∂H/∂G = 2", 2.0, 2.0)
    # G = E·F: upstream ∂H/∂G = 2; ∂G/∂E = F = 2 -> 4; ∂G/∂F = E = 3 -> 6
    assert by["G"].symbol == "∂H/∂G" and float(by["G"].upstream) == 2.0
    ge, gf = by["G"].locals
    assert (ge.text, float(ge.value), float(ge.contribution)) == ("∂G/∂E = F", 2.0, 4.0)
    assert (gf.text, float(gf.value), float(gf.contribution)) == ("∂G/∂F = E", 3.0, 6.0)
    assert ge.chain == "∂H/∂G · ∂G/∂E"
    # F = C − D: upstream 6; ∂F/∂C = 1 -> 6, ∂F/∂D = −1 -> −6
    assert float(by["F"].upstream) == 6.0
    assert [(loc.input, float(loc.value), float(loc.contribution)) for loc in by["F"].locals] == [
        ("C", 1.0, 6.0), ("D", -1.0, -6.0)]
    # E = A + B: upstream 4; both locals 1
    assert float(by["E"].upstream) == 4.0
    assert [(loc.input, float(loc.contribution)) for loc in by["E"].locals] == [("A", 4.0), ("B", 4.0)]
    assert not [s for s in t.backward_steps if s.kind == "sum"]  # a tree: nothing to sum
    assert len(t.backward_steps) == 5
    assert_reverse_topological(t)
    assert {k: float(v) for k, v in t.gradients.items()} == {"A": 4.0, "B": 4.0, "C": 6.0, "D": -6.0}
    assert t.check.ran and t.check.passed and t.check.max_abs_error < 1e-6
    # the lecture's chain: dH/dA = dH/dG · dG/dE · dE/dA
    assert chain_paths(t, "A") == [["H", "G", "E", "A"]]


def test_lecture1_matches_tensor_backward():
    A, B, C, D = (cr.tensor(v, requires_grad=True) for v in (2.0, 1.0, 5.0, 3.0))
    ((A + B) * (C - D) * 2).backward()
    t = lecture(1)
    for n, tensor in zip("ABCD", (A, B, C, D)):
        assert float(t.gradients[n]) == float(tensor.grad)


# -- lecture 2: E = A + B, F = E², G = E·C, H = F + G, with A=1, B=2, C=4 -----------------------------


def test_lecture2_two_paths_are_summed():
    t = lecture(2)
    assert [(s.name, float(s.value)) for s in t.forward_steps] == [("E", 3.0), ("F", 9.0), ("G", 12.0), ("H", 21.0)]
    assert t.forward_steps[1].formula == "F = E²"
    by = steps_by_name(t)
    (fe,) = by["F"].locals
    assert (fe.text, float(fe.value), float(fe.contribution)) == ("∂F/∂E = 2 · E", 6.0, 6.0)
    ge, gc = by["G"].locals
    assert (ge.text, float(ge.contribution)) == ("∂G/∂E = C", 4.0)
    assert (gc.text, float(gc.contribution)) == ("∂G/∂C = E", 3.0)
    (total,) = [s for s in t.backward_steps if s.kind == "sum"]
    assert total.name == "E" and total.symbol == "∂H/∂E"
    assert {term.via: float(term.value) for term in total.terms} == {"F": 6.0, "G": 4.0}
    assert float(total.total) == 10.0
    order = [s.name if s.kind != "sum" else "sum" for s in t.backward_steps]
    assert order.index("sum") > max(order.index("F"), order.index("G"))
    assert order.index("sum") == order.index("E") - 1  # summed, then E passes it down
    assert float(by["E"].upstream) == 10.0
    assert {k: float(v) for k, v in t.gradients.items()} == {"A": 10.0, "B": 10.0, "C": 3.0}
    assert sorted(chain_paths(t, "A")) == [["H", "F", "E", "A"], ["H", "G", "E", "A"]]
    assert t.check.passed


# -- lecture 3: μ = Xθ, Δ = μ − Y, L = ΣΔ² ------------------------------------------------------------


def test_lecture3_linear_regression_by_hand():
    t = lecture(3)
    values = {s.name: s.value for s in t.forward_steps}
    np.testing.assert_array_equal(values["μ"], [-1.5, 0.5, -1.0])
    np.testing.assert_array_equal(values["Δ"], [-0.5, 0.5, -2.0])
    np.testing.assert_array_equal(values["E"], [0.25, 0.25, 4.0])
    assert float(t.value) == 4.5 and t.output == "L"
    assert [s.formula for s in t.forward_steps] == ["μ = X @ θ", "Δ = μ − Y", "E = Δ²", "L = ΣE"]
    assert t.wrt == ["θ"] and list(t.gradients) == ["θ"]
    np.testing.assert_array_equal(t.gradients["θ"], [2.0, -5.0])  # 2Xᵀ(Xθ − Y)
    by = steps_by_name(t)
    np.testing.assert_array_equal(by["E"].upstream, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(by["Δ"].upstream, [-1.0, 1.0, -4.0])
    (mu_local,) = by["μ"].locals  # only θ: X is data
    assert mu_local.input == "θ" and mu_local.text == "∂μ/∂θ = X" and mu_local.chain == "Xᵀ @ ∂L/∂μ"
    np.testing.assert_array_equal(mu_local.value, [[1, 2], [3, 1], [0, 1]])
    (delta_local,) = by["Δ"].locals  # only μ: Y is data
    assert delta_local.input == "μ"
    assert t.graph.var("X").grad is None and t.graph.var("Y").grad is None
    assert t.check.passed and t.check.max_abs_error < 1e-6


# -- naming ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, values, expected",
    [
        ("(a + b) * (c - d)", dict(a=1, b=2, c=3, d=4), ["E", "F", "G"]),
        ("(A + B) * (C - D)", dict(A=1, B=2, C=3, D=4), ["E", "F", "G"]),
        ("e * f + g", dict(e=1, f=2, g=3), ["H", "I"]),  # letters taken by inputs (any case) are skipped
        ("E = a * b; E + 1", dict(a=1, b=2), ["E", "F"]),
        ("x = a * b; y = x + 1; F = y * 2; y * F", dict(a=1, b=2), ["x", "y", "F", "E"]),
    ],
)
def test_intermediates_take_the_next_free_capital_letters(source, values, expected):
    t = explain(source, **values)
    assert [s.name for s in t.forward_steps] == expected


def test_explicit_names_and_identity():
    t = explain("E = a; E * 2", a=3)
    assert [s.formula for s in t.forward_steps] == ["E = a", "F = E · 2"]
    assert float(t.gradients["a"]) == 2.0


# -- the engine's numbers, the local derivatives, and summation at inputs ----------------------------


def test_input_on_two_paths_gets_a_sum_step_after_its_last_contribution():
    t = explain("a * b + a", a=2, b=5)
    sums = [s for s in t.backward_steps if s.kind == "sum"]
    assert [s.name for s in sums] == ["a"]
    assert sorted(float(term.value) for term in sums[0].terms) == [1.0, 5.0]
    assert float(sums[0].total) == 6.0 == float(t.gradients["a"])
    assert t.backward_steps[-1].kind == "sum"
    assert [s.step for s in t.backward_steps] == list(range(1, len(t.backward_steps) + 1))


def test_same_value_twice_in_one_op():
    t = explain("E = a + 1; E * E", a=2)
    (s,) = [s for s in t.backward_steps if s.kind == "sum"]
    assert s.name == "E" and [float(x.value) for x in s.terms] == [3.0, 3.0] and float(s.total) == 6.0
    assert float(t.gradients["a"]) == 6.0


def _values_for(names, rng):
    return {n: rng.uniform(0.5, 1.5, size=3) for n in names}


@pytest.mark.parametrize("fname", sorted(FUNCTIONS))
def test_every_function_traces_and_passes_gradcheck(fname):
    calls = {
        "maximum": "maximum(a, b * 0.9)", "minimum": "minimum(a, b * 0.9)", "matmul": "matmul(a, b)",
        "reshape": "reshape(a, (3, 1))", "power": "power(a, 3)", "leaky_relu": "leaky_relu(a - 1, 0.1)",
        "relu": "relu(a - 1)", "abs": "abs(a - 1)", "softmax": "softmax(a)", "log_softmax": "log_softmax(a)",
        "transpose": "transpose(a)", "arcsin": "arcsin(a - 1)", "arccos": "arccos(a - 1)",
        "clip": "clip(a, 0.6, 1.0)", "hardtanh": "hardtanh(a, -1.0, 1.0)", "elu": "elu(a - 1)",
        "sign": "sign(a - 1)", "softsign": "softsign(a - 1)", "trace": "trace(reshape(a, (3, 1)) * a)",
    }
    expr = calls.get(fname, f"{fname}(a)")
    rng = np.random.default_rng(0)
    values = _values_for(parse(expr).free_names, rng)
    t = explain(f"sum({expr} * w)", w=[0.3, -1.2, 2.0], **values)
    assert t.check.ran and t.check.passed, t.check.text
    # trace's gradients are the engine's: compare with Tensor.backward directly
    tensors = {k: cr.tensor(v, requires_grad=True) for k, v in values.items()}
    program = parse(f"sum({expr} * w)")
    out = program.evaluate({**tensors, "w": cr.tensor([0.3, -1.2, 2.0], requires_grad=True)}).data
    out.backward()
    for k, tensor in tensors.items():
        np.testing.assert_allclose(t.gradients[k], tensor.grad, rtol=0, atol=0)


def test_local_derivative_times_upstream_is_what_backward_passed_down():
    """For elementwise ops the trace's local value × upstream (summed back over broadcasting)
    equals the contribution the op's own backward returned."""
    t = explain(
        "sum(exp(a) * b / (c + 2) - sqrt(c) + tanh(a) * sigmoid(b) + log(c) ** 3 + softplus(a) - a ** b)",
        a=[0.2, 0.5, 0.9], b=1.5, c=[[1.0, 2.0, 3.0]],
    )
    checked = 0
    for s in t.backward_steps:
        if s.kind != "op" or t.graph.nodes[s.node].type in ("MatMul",):
            continue
        for loc in s.locals:
            if loc.value is None:
                continue
            product = np.asarray(s.upstream) * loc.value
            got = ops.unbroadcast(np.broadcast_to(product, np.broadcast_shapes(product.shape, loc.contribution.shape)),
                                  loc.contribution.shape)
            np.testing.assert_allclose(got, loc.contribution, rtol=1e-12, atol=1e-12)
            checked += 1
    assert checked >= 15
    assert t.check.passed


def test_power_with_a_tensor_exponent_is_one_step():
    t = explain("a ** b", a=2.0, b=3.0)
    assert [s.operation for s in t.forward_steps] == ["power"]
    assert float(t.value) == pytest.approx(8.0)
    assert float(t.gradients["a"]) == pytest.approx(12.0)  # b a^(b-1)
    assert float(t.gradients["b"]) == pytest.approx(8.0 * np.log(2.0))


def test_constants_fold_and_scalar_output_of_constants():
    t = explain("a * (2 + 3)", a=2)
    assert [s.formula for s in t.forward_steps] == ["E = a · 5"]
    assert float(t.gradients["a"]) == 5.0
    t = explain("2 + 3")
    assert float(t.value) == 5.0 and t.gradients == {} and not t.check.ran


def test_output_that_is_an_input():
    t = explain("a", a=[1.0, 2.0])
    assert t.forward_steps == [] and t.output == "a"
    np.testing.assert_array_equal(t.gradients["a"], [1.0, 1.0])


def test_non_scalar_output_is_noted_and_seeded_with_ones():
    t = explain("a * b", a=[1.0, 2.0, 3.0], b=2.0)
    assert any("not one number" in n for n in t.notes)
    np.testing.assert_array_equal(t.gradients["a"], [2.0, 2.0, 2.0])
    assert float(t.gradients["b"]) == 6.0
    assert t.check.passed


def test_wrt_limits_the_gradients_and_the_steps():
    t = explain("a * b + c", a=2, b=3, c=4, wrt="a")
    assert list(t.gradients) == ["a"] and float(t.gradients["a"]) == 3.0
    inputs = {loc.input for s in t.backward_steps for loc in s.locals}
    assert inputs == {"E", "a"}
    with pytest.raises(ExpressionError, match="not an input"):
        explain("a * b", a=1, b=2, wrt=["z"])


def test_check_can_be_skipped_and_is_stated():
    t = explain("a * b", a=1, b=2, check=False)
    assert not t.check.ran and "not run" in t.check.text


# -- functions of Tensors -------------------------------------------------------------------------------


def test_function_with_named_intermediates_matches_the_expression():
    X = np.array([[1.0, 2.0], [3.0, 1.0], [0.0, 1.0]])
    Y = np.array([-1.0, 0.0, 1.0])

    def loss(theta):
        mu = name(X @ theta, "μ")
        delta = name(mu - Y, "Δ")
        return (delta**2).sum()

    t = explain(loss, theta=[0.5, -1.0])
    assert t.kind == "function" and t.source == "loss(theta)"
    assert [s.name for s in t.forward_steps] == ["μ", "Δ", "E", "F"]
    np.testing.assert_array_equal(t.forward_steps[1].value, [-0.5, 0.5, -2.0])
    np.testing.assert_array_equal(t.gradients["theta"], [2.0, -5.0])
    np.testing.assert_array_equal(t.graph.var("c1").value, X)  # kept by matmul's cache
    assert t.check.passed


def test_function_leaves_outside_tensors_untouched_and_sums_paths():
    w = cr.tensor([1.0, 2.0], requires_grad=True)

    def f(a, b):
        return (cr.exp(a * b) + a * w).sum()

    t = explain(f, a=1.0, b=0.5)
    assert w.grad is None  # the trace captures its inputs' gradients only
    expected_a = 0.5 * np.exp(0.5) * 2 + 3.0
    assert float(t.gradients["a"]) == pytest.approx(expected_a)
    assert [s.name for s in t.backward_steps if s.kind == "sum"] == ["a"]
    assert t.check.passed


def test_function_errors():
    with pytest.raises(ExpressionError, match="no value given for b"):
        explain(lambda a, b: a * b, a=1)
    with pytest.raises(ExpressionError, match="no parameter c"):
        explain(lambda a: a, a=1, c=2)
    with pytest.raises(ExpressionError, match="must return a Tensor"):
        explain(lambda a: 3.0, a=1)
    with pytest.raises(ExpressionError):
        explain(42)


# -- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, values, error, text",
    [
        ("a + x", dict(a=1), ExpressionError, "unknown name 'x'"),
        ("foo(a)", dict(a=1), ExpressionError, "unknown function 'foo'"),
        ("a + b", dict(a=1, b=2, c=3), ExpressionError, "not used by the expression: c"),
        ("a + b", dict(a=[1, 2], b=[1, 2, 3]), ShapeError, "cannot broadcast shapes (2,) and (3,)"),
        ("a @ b", dict(a=[1, 2], b=[1, 2, 3]), ShapeError, "matmul"),
        ("sum(a, axis=3)", dict(a=[1, 2]), ShapeError, "bad axis"),
        ("sum(a, axis=(0, 0))", dict(a=[1.0, 2.0]), ChainruleError, "sum"),
        ("a * b", dict(a="x", b=1), ExpressionError, "value for a"),
        ("a * b", dict(a=[[1, 2], [3]], b=1), ExpressionError, "value for a"),
    ],
)
def test_bad_values_give_one_clear_error(source, values, error, text):
    with pytest.raises(error) as info:
        explain(source, **values)
    assert text in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kwargs, text", [
    (dict(wrt=3), "wrt must name inputs"), (dict(wrt=["y", 3]), "wrt must name inputs"),
    (dict(wrt={"y": 1}), "wrt must name inputs"), (dict(check="yes"), "check must be True or False"),
    (dict(y=None), "value for y must be"), (dict(y=b"3"), "value for y must be"),
])
def test_api_arguments_get_the_command_lines_clear_errors(kwargs, text):
    values = {"y": 3, **kwargs}
    with pytest.raises(ExpressionError, match=text):
        explain("y", **values)


def test_lecture_and_render_check_their_arguments():
    for bad in ["1", 1.5, True, [1], 4]:
        with pytest.raises(ExpressionError, match="no lecture example"):
            lecture(bad)
    with pytest.raises(ExpressionError, match="check must be"):
        lecture(1, check=None)
    trace = explain("a * b", a=1, b=2)
    with pytest.raises(ExpressionError, match="the format must be a name"):
        trace.render(3)
    with pytest.raises(ExpressionError, match="path must be a file name"):
        trace.save(3)


def test_trace_save_is_atomic_and_clear_about_bad_paths(tmp_path):
    trace = explain("a * b", a=1, b=2)
    with pytest.raises(ChainruleError, match="is a folder"):
        trace.save(tmp_path)
    with pytest.raises(ChainruleError, match="does not exist"):
        trace.save(tmp_path / "missing" / "t.md")
    (tmp_path / "t.md").write_text("old", encoding="utf-8")
    trace.save(tmp_path / "t.md")
    assert (tmp_path / "t.md").read_text(encoding="utf-8").startswith("## Trace")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.md"]


# -- second derivatives (issue 15) ----------------------------------------------------------------


def test_order_two_gives_the_hessian_and_the_recorded_backward_graph():
    import chainrule as cr

    t = cr.explain("x**3 * y", x=2, y=1, order=2)
    H = t.second.hessian
    assert float(H["x"]["x"]) == 12.0 and float(H["x"]["y"]) == 12.0 and float(H["y"]["y"]) == 0.0  # 6xy, 3x², 0
    assert t.second.check.ran and t.second.check.passed
    assert abs(float(t.second.numeric["x"]["x"]) - 12.0) < 1e-5
    # ∂F/∂x = 3x²·y as the backward pass recorded it: the seed times y, times 3, times x²
    d = t.second.derivatives["x"]
    assert [s.formula for s in d.forward_steps] == ["E = 1 · y", "F = E · 3", "G = x²", "H = F · G"]
    assert float(d.value) == 12.0 and float(d.gradients["x"]) == 12.0 and float(d.gradients["y"]) == 12.0
    text = t.render("text")
    assert "Recorded backward graph of ∂F/∂x" in text and "∂²F/∂x∂y" in text and "Second derivatives" in text


def test_order_two_on_arrays_and_functions_matches_func_hessian():
    import chainrule as cr

    X = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]])
    Y = np.array([1.0, 0.0, 2.0])
    t = cr.explain("sum((X @ theta - Y) ** 2)", X=X, Y=Y, theta=[0.3, -0.2], wrt="theta", order=2)
    np.testing.assert_allclose(t.second.hessian["theta"]["theta"], 2 * X.T @ X, rtol=1e-12)
    assert t.second.check.passed

    def f(a, b):
        return (a.tanh() * b).sum()

    t = cr.explain(f, a=[0.1, 0.7], b=[2.0, -1.0], order=2)
    H = cr.func.hessian(lambda a, b: (a.tanh() * b).sum(), (np.array([0.1, 0.7]), np.array([2.0, -1.0])))
    np.testing.assert_allclose(t.second.hessian["a"]["b"], H[0][1].numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.second.hessian["a"]["a"], H[0][0].numpy(), rtol=1e-12)


def test_order_two_refuses_what_it_cannot_show():
    import chainrule as cr

    with pytest.raises(ExpressionError, match="order 2 needs an output of one number"):
        cr.explain("x * y", x=[1.0, 2.0], y=3, order=2)
    with pytest.raises(ExpressionError, match="order must be 1"):
        cr.explain("x * y", x=1, y=2, order=3)


def test_order_two_json_follows_the_schema():
    import json

    import chainrule as cr
    from chainrule.explain.render_json import SCHEMA
    from test_explain_render import validate

    data = json.loads(cr.explain("x**3 * y", x=2, y=1, order=2).render("json"))
    validate(data, SCHEMA)
    for derivative in data["second_order"]["derivatives"].values():
        validate(derivative, SCHEMA)
    assert [h["symbol"] for h in data["second_order"]["hessian"]] == ["∂²F/∂x²", "∂²F/∂x∂y", "∂²F/∂y∂x", "∂²F/∂y²"]
    assert data["second_order"]["derivatives"]["x"]["value"] == 12.0
    assert json.loads(cr.explain("x * y", x=1, y=2).render("json"))["second_order"] is None


def test_order_two_in_latex_and_dot():
    import chainrule as cr

    t = cr.explain("x**3 * y", x=2, y=1, order=2)
    tex = t.render("latex")
    assert r"\subsection*{Second derivatives}" in tex and r"\frac{\partial^2 F}{\partial x^2}" in tex
    assert r"Recorded backward graph of $\partial F/\partial x$" in tex
    dot = t.render("dot")
    assert dot.startswith("digraph") and "Recorded backward graph of ∂F/∂x" in dot


def test_power_of_two_values_is_one_step_and_right_at_zero():
    """Issue 20: a ** b with b a value is one op (not exp(b log a)), with PyTorch's values and gradients."""
    t = explain("x ** y", x=0, y=0)
    assert [s.formula for s in t.forward_steps] == ["E = pow(x, y)"]
    assert float(t.value) == 1.0 and float(t.gradients["x"]) == 0.0 and float(t.gradients["y"]) == 0.0
    t = explain("x ** y", x=-2, y=2)
    assert float(t.value) == 4.0 and float(t.gradients["x"]) == -4.0 and np.isnan(t.gradients["y"])
