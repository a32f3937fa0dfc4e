"""The linear-regression examples run, print their story and land on least squares."""

from __future__ import annotations

import ast
import os
import runpy
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")


def _path(name: str) -> str:
    return os.path.abspath(os.path.join(EXAMPLES, name))


def test_by_hand_uses_only_the_op_blocks():
    tree = ast.parse(open(_path("linreg_by_hand.py"), encoding="utf-8").read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
    assert imported == {"__future__.annotations", "numpy", "chainrule.ops"}
    source = open(_path("linreg_by_hand.py"), encoding="utf-8").read()
    assert "Tensor" not in source.replace("no Tensor", "")


def test_by_hand_example(capsys):
    result = runpy.run_path(_path("linreg_by_hand.py"), run_name="not_main")["main"]()
    out = capsys.readouterr().out
    assert "θ ~ N(0, 1)" in out and "step    0" in out and "least squares" in out
    assert result["gap"] <= 1e-12 and result["theta_error"] <= 1e-10


def test_autograd_example(capsys):
    result = runpy.run_path(_path("linreg_autograd.py"), run_name="not_main")["main"]()
    out = capsys.readouterr().out
    assert "fit():" in out and "true θ" in out
    assert result["gap"] <= 1e-12 and result["theta_error"] <= 1e-10 and result["fit_gap"] <= 1e-12


def test_both_examples_agree(capsys):
    by_hand = runpy.run_path(_path("linreg_by_hand.py"), run_name="not_main")["loss_and_gradients"]
    import numpy as np

    import chainrule as cr
    from chainrule import nn

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((10, 3)), rng.standard_normal(10)
    model = nn.LinearRegression(3, rng=1)
    loss = nn.SumSquaredError()(model(X), Y)
    loss.backward()
    L, d_theta, d_b = by_hand(X, Y, model.weight.data[0], model.bias.data[0])
    assert L == pytest.approx(loss.item(), rel=1e-14)
    np.testing.assert_allclose(d_theta, model.weight.grad[0], rtol=1e-13)
    assert float(d_b) == pytest.approx(model.bias.grad[0], rel=1e-13)
    assert cr.gradcheck(lambda w: nn.SumSquaredError()(X @ w, Y), [model.weight.data[0]]).passed


@pytest.mark.parametrize("name", ["linreg_by_hand.py", "linreg_autograd.py"])
def test_examples_run_as_scripts(name):
    out = subprocess.run([sys.executable, _path(name)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "loss gap" in out.stdout


def test_newton_example_lands_on_least_squares_in_one_step(capsys):
    """Issue 15: one Newton step with cr.func.hessian from θ ~ N(0, 1) reaches the closed form of the
    diabetes data to 1e-8, where gradient descent needs thousands of steps."""
    import numpy as np

    result = runpy.run_path(_path("newton_linreg.py"), run_name="not_main")["main"]()
    out = capsys.readouterr().out
    assert "Newton:           1 step" in out and f"gradient descent: {result['gd_steps']} steps" in out
    assert result["newton_error"] <= 1e-8
    assert result["gd_steps"] >= 1000 and result["gd_error"] <= 1e-8
    X, _ = runpy.run_path(_path("newton_linreg.py"), run_name="not_main")["diabetes"]()
    A = np.concatenate([X, np.ones((len(X), 1))], axis=1)
    np.testing.assert_allclose(result["hessian"], 2 * A.T @ A, rtol=1e-12, atol=1e-9)  # the X·1 sums are ~0
