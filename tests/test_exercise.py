"""chainrule exercise: the templates fail as written and pass when filled with the model solutions (which
live only in tests/exercises); each typical mistake gets its hint; a teacher's grading survives files that
loop, crash, print megabytes or eat memory; every text exists in English and Russian."""

from __future__ import annotations

import ast
import csv
import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

from chainrule import cli
from chainrule.exercise import EXERCISES, check, find, template
from chainrule.exercise.report import render_text

sys.path.insert(0, str(Path(__file__).parent / "exercises"))
from solutions import SOLUTIONS  # noqa: E402

TODO = re.compile(r'^(?P<indent>[ \t]*)raise NotImplementedError\("(?P<key>[^"]+)"\)\s*$', re.MULTILINE)


def filled(text: str, replace: dict[str, str] | None = None) -> str:
    """The template with every ``raise NotImplementedError("KEY")`` replaced by the model solution of KEY
    (or by ``replace[KEY]``, a learner's typical mistake)."""
    bodies = {**SOLUTIONS, **(replace or {})}

    def body(m: re.Match) -> str:
        return textwrap.indent(bodies[m["key"]].strip("\n"), m["indent"])

    return TODO.sub(body, text)


def write_exercise(folder: Path, name: str, lang: str = "en", replace: dict[str, str] | None = None,
                   fill: bool = True) -> Path:
    """The exercise's file (and the earlier ones it imports), filled with the solutions unless ``fill`` is
    False; ``replace`` swaps some solutions for mistakes."""
    ex = find(name)
    for needed in ex.needs:
        (folder / f"{needed}.py").write_text(filled(template(find(needed), lang)), encoding="utf-8")
    text = template(ex, lang)
    path = folder / f"{name}.py"
    path.write_text(filled(text, replace) if fill else text, encoding="utf-8")
    return path


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def failed(outcome) -> list[dict]:
    return [r for r in outcome.results if not r["passed"]]


# -- templates and solutions -----------------------------------------------------------------------


@pytest.mark.parametrize("name", [ex.name for ex in EXERCISES])
def test_each_template_fails_as_written(name, tmp_path):
    path = write_exercise(tmp_path, name, fill=False)
    outcome = check(path)
    assert outcome.status == "ok" and outcome.results and not outcome.passed
    assert any(r["hint"] == "todo" for r in outcome.results)


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize("name", [ex.name for ex in EXERCISES])
def test_each_template_passes_when_filled_with_the_solution(name, lang, tmp_path):
    outcome = check(write_exercise(tmp_path, name, lang))
    assert outcome.status == "ok", (outcome.error, outcome.printed)
    assert outcome.passed, [(r["check"], r["kind"], r["detail"], r["error"]) for r in failed(outcome)]
    kinds = {(r["check"].split("(")[0], r["kind"]) for r in outcome.results}
    if name == "blocks":  # every block's checks ran, and Sub's two paths (x − x)
        for block in ("MatMul", "Sub", "Square", "Sum", "Identity"):
            assert {(f"{block}.forward", "forward"), (f"{block}.backward", "backward"),
                    (f"{block}.backward", "finite_differences"), (f"{block}.backward", "upstream"),
                    (f"{block}.cache", "cache"), (f"{block}.dtype", "dtype")} <= kinds, block
        assert ("Sub.backward", "paths") in kinds


def test_the_templates_say_the_same_code_in_both_languages():
    """The English and Russian templates differ in their words only: the same code once docstrings, comments
    and strings are set aside."""

    def code(text: str) -> str:
        tree = ast.parse(text)
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                node.value = ""
        return ast.dump(tree)

    for ex in EXERCISES:
        assert code(template(ex, "en")) == code(template(ex, "ru")), ex.name
        assert re.search(r"[а-яА-Я]", template(ex, "ru")) and not re.search(r"[а-яА-Я]", template(ex, "en"))


def test_the_model_solutions_are_not_in_the_package():
    import chainrule

    package = Path(chainrule.__file__).parent
    text = "\n".join(p.read_text(encoding="utf-8") for p in package.rglob("*.py"))
    for key, body in SOLUTIONS.items():
        longest = max(body.strip().splitlines(), key=len).strip()
        if len(longest) > 25:
            assert longest not in text, (key, longest)
    for ex in EXERCISES:
        for lang in ("en", "ru"):
            assert "raise NotImplementedError" in template(ex, lang)


# -- the hints for typical mistakes ----------------------------------------------------------------


MISTAKES = [
    ("blocks", {"Square.backward": "return (upstream * self.cache,)"}, "Square.backward(delta)", "square_2x"),
    ("blocks", {"Sub.backward": "return upstream, upstream"}, "Sub.backward(Y)", "sub_minus"),
    ("blocks", {"Square.backward": "return (2 * self.cache,)"}, "Square.backward(delta)", "times_upstream"),
    ("blocks", {"Square.forward": "Square.store = delta\nreturn delta ** 2",
                "Square.backward": "return (upstream * 2 * Square.store,)"}, "Square.cache", "shared_cache"),
    ("blocks", {"Square.backward": "upstream *= 2 * self.cache\nreturn (upstream,)"}, "Square.backward",
     "upstream_changed"),
    ("blocks", {"Sum.backward": "return (upstream,)"}, "Sum.backward(s)", "gradient_shape"),
    ("blocks", {"Square.backward": "return (upstream * np.float64(2.0) * self.cache.astype(np.float64),)"},
     "Square.dtype", "dtype"),
    ("activations", {"Sigmoid.backward": "return (upstream * self.cache,)"}, "Sigmoid.backward(x)",
     "sigmoid_local"),
    ("activations", {"Tanh.backward": "return (upstream * (1 - self.cache),)"}, "Tanh.backward(x)", "tanh_local"),
    ("activations", {"Sigmoid.forward": "self.cache = 1 / (1 + np.exp(-x))\nreturn self.cache"},
     "Sigmoid at ±1000", "sigmoid_stable"),
    ("softmax", {"SoftmaxCrossEntropy.backward": "p, labels = self.cache\ng = p.copy()\n"
                 "g[np.arange(len(labels)), labels] -= 1\nreturn g * upstream, None"},
     "SoftmaxCrossEntropy.backward(logits)", "softmax_mean"),
    ("graph", {"Value.__mul__ backward": "self.grad = other.data * out.grad\nother.grad = self.data * out.grad"},
     "lecture example 2", "paths_sum"),
    ("graph", {"topological_order": "order = []\ndef visit(v):\n    for p in v.parents:\n        visit(p)\n"
               "    if v not in order:\n        order.append(v)\nvisit(root)\nreturn order"},
     "chain of 10,000 values", "recursion"),
    ("mlp", {"Linear.backward": "x, W = self.cache\nreturn upstream @ W, upstream.T @ x, upstream"},
     "Linear.backward(b)", "gradient_shape"),
]


@pytest.mark.parametrize("name, replace, where, hint", MISTAKES, ids=[m[3] + "-" + m[0] for m in MISTAKES])
def test_a_typical_mistake_gets_its_hint(name, replace, where, hint, tmp_path):
    outcome = check(write_exercise(tmp_path, name, replace=replace), timeout=120)
    wrong = failed(outcome)
    assert outcome.status == "ok" and wrong
    assert any(r["check"] == where and r["hint"] == hint for r in wrong), [(r["check"], r["hint"]) for r in wrong]


def test_the_report_names_block_input_element_and_hint_in_both_languages(tmp_path):
    path = write_exercise(tmp_path, "blocks", replace={"Square.backward": "return (upstream * self.cache,)"})
    outcome = check(path)
    en = render_text(outcome, find("blocks"), "blocks.py", "en")
    assert "FAIL   Square.backward(delta)" in en and "input delta (5,)" in en and "element (" in en
    assert "hint: the local derivative of Square is 2x; your backward returned x" in en
    ru = render_text(outcome, find("blocks"), "blocks.py", "ru")
    assert "ОШИБКА Square.backward(delta)" in ru and "вход delta (5,)" in ru
    assert "подсказка: локальная производная Square равна 2x" in ru


# -- the command line --------------------------------------------------------------------------------


def test_cli_init_never_overwrites_and_check_exits_by_result(capsys, tmp_path):
    code, out, _ = run(capsys, "exercise", "init", "linreg", tmp_path)
    assert code == 0 and "wrote" in out and (tmp_path / "blocks.py").exists() and (tmp_path / "linreg.py").exists()
    (tmp_path / "blocks.py").write_text("# mine\n", encoding="utf-8")
    code, out, _ = run(capsys, "exercise", "init", "blocks", tmp_path, "--lang", "ru")
    assert code == 0 and "оставлен" in out and (tmp_path / "blocks.py").read_text() == "# mine\n"
    code, out, _ = run(capsys, "exercise", "check", tmp_path / "linreg.py")
    assert code == 1 and "importing the file failed: ImportError" in out  # blocks.py holds no blocks now
    (tmp_path / "x").mkdir()
    good = write_exercise(tmp_path / "x", "blocks")
    code, out, _ = run(capsys, "exercise", "check", good, "--format", "json", "--lang", "ru")
    report = json.loads(out)
    assert code == 0 and report["passed"] and report["lang"] == "ru" and report["exercise"] == "blocks"
    assert all(r["what"] for r in report["results"])
    code, _, err = run(capsys, "exercise", "check", tmp_path / "nope.py")
    assert code == 2 and "nope.py: no such file" in err
    code, _, err = run(capsys, "exercise", "init", "calculus")
    assert code == 2 and "no exercise 'calculus'" in err


def test_cli_list_in_both_languages(capsys, monkeypatch):
    code, out, _ = run(capsys, "exercise", "list")
    assert code == 0 and out.count("\n") == 7 and "1. blocks" in out and "6. mlp" in out
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    code, out, _ = run(capsys, "exercise", "list")
    assert "Задания в порядке лекции" in out


HOSTILE = {
    "loops": "while True:\n    pass\n",
    "crashes": "import os\nos.abort()\n",
    "prints": "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
    "eats_memory": "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))\n",
    "exits": "raise SystemExit(3)\n",
    "network": "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=1)\n",
}


def test_grade_survives_hostile_submissions(capsys, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name, text in HOSTILE.items():
        (subs / f"{name}.py").write_text(text, encoding="utf-8")
    (subs / "alice").mkdir()
    write_exercise(subs / "alice", "activations")
    (subs / "bob").mkdir()
    write_exercise(subs / "bob", "activations", replace={"Tanh.backward": "return (upstream * (1 - self.cache),)"})
    out = tmp_path / "grades.csv"
    code, stdout, _ = run(capsys, "exercise", "grade", subs, "--exercise", "activations", "--out", out,
                          "--timeout", "8", "--memory", "600", "--output", "256")
    assert code == 0 and "graded 8 submissions" in stdout
    rows = {r["submission"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert set(rows) == {*HOSTILE, "alice", "bob"}
    assert rows["alice"]["status"] == "ok" and rows["alice"]["passed"] == rows["alice"]["total"] != "0"
    assert rows["bob"]["status"] == "ok" and rows["bob"]["Tanh.backward(x) [backward]"] == "0"
    assert rows["bob"]["ReLU.backward(x) [backward]"] == "1"
    assert rows["loops"]["status"] == "timeout"
    assert rows["crashes"]["status"] == "crashed"
    assert rows["prints"]["status"] == "output"
    assert rows["eats_memory"]["status"] == "memory"
    assert rows["exits"]["status"] == "import"
    assert rows["network"]["status"] == "import"
