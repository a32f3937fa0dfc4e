"""``chainrule explain`` and ``chainrule demo``: output, files, and bad input (exit 2, one clear message)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from chainrule.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_expression_with_values(capsys):
    code, out, err = run(capsys, "explain", "(a + b) * (c - d)", "a=2", "b=1", "c=5", "d=3")
    assert code == 0 and err == ""
    assert "Trace of G = (a + b) * (c - d)" in out
    assert "3     G     G = E · F  E = 3, F = 2  6" in out
    assert "∂G/∂d  -3" in out
    assert "gradcheck: passed" in out
    assert "\x1b[" not in out  # not a TTY: plain


def test_json_format_and_wrt(capsys):
    code, out, _ = run(capsys, "explain", "a * b + c", "a=2", "b=[1, 2]", "c=3", "--format", "json", "--wrt", "a,c")
    data = json.loads(out)
    assert code == 0 and data["wrt"] == ["a", "c"]
    assert data["gradients"] == {"a": 3.0, "c": 2.0}


def test_random_values_are_seeded(capsys):
    argv = ["explain", "sum((X @ w - y) ** 2)", "--random", "X:4x2,w:2", "--random", "y:4", "--seed", "7",
            "--format", "json", "--wrt", "w"]
    _, first, _ = run(capsys, *argv)
    _, second, _ = run(capsys, *argv)
    assert first == second
    data = json.loads(first)
    rng = np.random.default_rng(7)
    X, w, y = rng.standard_normal((4, 2)), rng.standard_normal(2), rng.standard_normal(4)
    np.testing.assert_allclose(data["gradients"]["w"], 2 * X.T @ (X @ w - y), rtol=1e-12)
    _, third, _ = run(capsys, *argv[:-4], "--seed", "8", "--format", "json")
    assert json.loads(third)["value"] != data["value"]


@pytest.mark.parametrize("k, value, grads", [
    (1, 12.0, {"A": 4.0, "B": 4.0, "C": 6.0, "D": -6.0}),
    (2, 21.0, {"A": 10.0, "B": 10.0, "C": 3.0}),
    (3, 4.5, {"θ": [2.0, -5.0]}),
])
def test_lectures(capsys, k, value, grads):
    code, out, _ = run(capsys, "explain", "--lecture", str(k), "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["value"] == value and data["gradients"] == grads


def test_output_files_take_their_format_from_the_suffix(capsys, tmp_path):
    for name, check in [
        ("t.html", lambda p: p.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")),
        ("t.md", lambda p: p.read_text(encoding="utf-8").startswith("## Trace")),
        ("t.tex", lambda p: "\\begin{tabular}" in p.read_text(encoding="utf-8")),
        ("t.dot", lambda p: p.read_text(encoding="utf-8").startswith("digraph")),
        ("t.json", lambda p: json.loads(p.read_text(encoding="utf-8"))["output"] == "H"),
    ]:
        path = tmp_path / name
        code, out, _ = run(capsys, "explain", "--lecture", "1", "-o", str(path))
        assert code == 0 and f"wrote {path}" in out and check(path), name
    if shutil.which("dot"):
        code, _, _ = run(capsys, "explain", "--lecture", "2", "-o", str(tmp_path / "g.png"))
        assert code == 0 and (tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")
        code, out, _ = run(capsys, "explain", "--lecture", "2", "--format", "svg")
        assert code == 0 and "<svg" in out


@pytest.mark.parametrize("argv, message", [
    (["a +* b", "a=1", "b=2"], "syntax error"),
    (["a + x", "a=1"], "unknown name 'x'"),
    (["foo(a)", "a=1"], "unknown function 'foo'"),
    (["a + b", "a=1"], "unknown name 'b'"),
    (["a + b", "a=1", "b=2", "c=3"], "not used by the expression: c"),
    (["a + b", "a=[1,2]", "b=[1,2,3]"], "cannot broadcast shapes (2,) and (3,)"),
    (["a + b", "a=1", "b=oops"], "value for b"),
    (["a + b", "a", "b=1"], "is not NAME=VALUE"),
    (["a.real", "a=1"], "attribute access is not allowed"),
    (["a * b", "a=1", "b=2", "--wrt", "z"], "not an input"),
    (["a", "--random", "a:3x"], "--random"),
    ([], "give an expression"),
    (["a", "a=1", "--lecture", "1"], "--lecture runs a fixed example"),
])
def test_bad_input_exits_2_with_one_message(capsys, argv, message):
    code, out, err = run(capsys, "explain", *argv)
    assert code == 2 and out == ""
    assert err.startswith("chainrule explain: error: ") and message in err
    assert "Traceback" not in err
    if "syntax error" not in message and "not allowed" not in message:
        assert err.count("\n") == 1  # one line


def test_syntax_errors_show_a_caret(capsys):
    _, _, err = run(capsys, "explain", "exp(a) +* 2", "a=1")
    lines = err.splitlines()
    assert lines[1] == "  exp(a) +* 2" and lines[2] == "  " + " " * 8 + "^"  # under the *


def test_unwritable_output_is_a_clear_error(capsys, tmp_path):
    code, _, err = run(capsys, "explain", "--lecture", "1", "-o", str(tmp_path / "missing" / "t.md"))
    assert code == 2 and "missing' does not exist" in err and err.count("\n") == 1


def test_console_script_has_no_traceback_for_bad_input():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-m", "chainrule.cli", "explain", "a +", "a=1"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "syntax error" in proc.stderr


def test_demo_starts_with_the_lecture_trace(capsys, monkeypatch):
    import chainrule.commands.demo as demo

    monkeypatch.setattr(demo, "training_section", lambda seed, lang=None: "training skipped in this test",
                        raising=False)
    monkeypatch.setattr(demo, "mlp_section", lambda seed, lang=None: "mlp skipped in this test", raising=False)
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert out.startswith("Trace of H = (A + B) * (C - D) * 2")
    assert out.index("gradcheck: passed") < out.index("Linear regression, the lecture's way")
    code, out, _ = run(capsys, "demo", "--lang", "ru")
    assert code == 0 and out.startswith("Трассировка H = (A + B) * (C - D) * 2")
    assert out.index("gradcheck: пройдена") < out.index("Линейная регрессия, как в лекции")
    assert "dL/dθ тремя способами" in out and "вручную (блоки)" in out


def test_explain_order_two_on_the_command_line(capsys):
    assert main(["explain", "x**3 * y", "x=2", "y=1", "--order", "2"]) == 0
    out = capsys.readouterr().out
    assert "Recorded backward graph of ∂F/∂x" in out
    assert "∂²F/∂x²   12" in out and "∂²F/∂y²   0" in out
    assert "gradgradcheck  passed" in out
    assert main(["explain", "x * y", "x=[1,2]", "y=3", "--order", "2"]) == 2
    assert "order 2 needs an output of one number" in capsys.readouterr().err
