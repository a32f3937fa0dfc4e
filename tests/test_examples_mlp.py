"""The MLP examples run: the homework's part two by hand, and digits with nn / optim / fit."""

from __future__ import annotations

import ast
import os
import runpy
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")


def _path(name: str) -> str:
    return os.path.abspath(os.path.join(EXAMPLES, name))


def test_by_hand_uses_only_the_op_blocks():
    source = open(_path("mlp_by_hand.py"), encoding="utf-8").read()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
    assert imported == {"__future__.annotations", "numpy", "chainrule.ops"}
    assert "Tensor" not in source.replace("no Tensor", "")


def test_by_hand_trains_the_two_layer_tanh_network(capsys):
    result = runpy.run_path(_path("mlp_by_hand.py"), run_name="not_main")["main"](steps=600)
    out = capsys.readouterr().out
    assert "2 → 16 (tanh) → 2" in out and "finite differences" in out
    assert result["finite_difference_error"] < 1e-8
    assert result["accuracy"] >= 0.97 and result["loss"] < 0.1


def test_by_hand_gradient_equals_tensor_backward(capsys):
    """The three uses of the blocks give one answer: by hand, through Tensor (and gradcheck, above)."""
    ns = runpy.run_path(_path("mlp_by_hand.py"), run_name="not_main")
    X, y, rng = ns["make_moons"](n=50)
    params = [rng.standard_normal((2, 5)), rng.standard_normal(5), rng.standard_normal((5, 2)), rng.standard_normal(2)]
    L, _, grads = ns["forward_backward"](X, y, params)
    ts = [cr.tensor(p, requires_grad=True) for p in params]
    loss = nn.CrossEntropyLoss()(((cr.tensor(X) @ ts[0] + ts[1]).tanh() @ ts[2]) + ts[3], y)
    loss.backward()
    assert L == pytest.approx(loss.item(), rel=1e-14)
    for g, t in zip(grads, ts):
        np.testing.assert_allclose(g, t.grad, rtol=1e-12, atol=1e-15)


def test_digits_example(capsys, tmp_path):
    pytest.importorskip("sklearn")
    main = runpy.run_path(_path("mlp_digits.py"), run_name="not_main")["main"]
    result = main(epochs=8, save=str(tmp_path / "d.safetensors"))
    out = capsys.readouterr().out
    assert "first batch: loss" in out and "test accuracy" in out and "recall" in out
    assert result["test_accuracy"] >= 0.95
    assert result["confusion"].sum() == 450 and len(result["history"]) == 8
    checkpoint = cr.load(tmp_path / "d.safetensors", with_metadata=True)
    assert checkpoint.metadata["classes"][3] == "3" and len(checkpoint.metadata["standardizer"]["mean"]) == 64


@pytest.mark.parametrize("name,args", [("mlp_by_hand.py", []), ("mlp_digits.py", ["--epochs", "1"])])
def test_examples_run_as_scripts(name, args):
    if name == "mlp_digits.py":
        pytest.importorskip("sklearn")
    out = subprocess.run([sys.executable, _path(name), *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "accuracy" in out.stdout


def test_cnn_example_reaches_the_mlps_accuracy_on_digits(capsys):
    """Issue 20: a small convolutional network on the 8×8 digits reaches at least the MLP example's
    test accuracy (0.9644 with its 30 epochs) in 10 epochs."""
    pytest.importorskip("sklearn")
    result = runpy.run_path(_path("cnn_digits.py"), run_name="not_main")["main"](epochs=10)
    out = capsys.readouterr().out
    assert "Conv2d" in out and "MaxPool2d" in out and "test accuracy" in out
    assert result["test_accuracy"] >= 0.9644
