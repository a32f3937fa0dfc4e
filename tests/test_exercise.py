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
    ("activations", {"Sigmoid.forward": "self.cache = np.exp(x) / (1 + np.exp(x))\nreturn self.cache"},
     "Sigmoid at ±1000", "sigmoid_stable"),  # inf / inf at +1000
    ("softmax", {"SoftmaxCrossEntropy.backward": "p, labels = self.cache\ng = p.copy()\n"
                 "g[np.arange(len(labels)), labels] -= 1\nreturn g * upstream, None"},
     "SoftmaxCrossEntropy.backward(logits)", "softmax_mean"),
    ("graph", {"Value.__mul__ backward": "self.grad = other.data * out.grad\nother.grad = self.data * out.grad"},
     "lecture example 2", "paths_sum"),
    ("graph", {"Value.__mul__ backward": "self.grad = other.data * out.grad\nother.grad = self.data * out.grad",
               "topological_order": "order, seen = [], set()\ndef visit(v):\n    if id(v) in seen:\n        return\n"
               "    seen.add(id(v))\n    for p in reversed(v.parents):\n        visit(p)\n    order.append(v)\n"
               "visit(root)\nreturn order"},
     "x · x, 3a + 5a", "paths_sum_same"),  # = instead of +=, whatever the order of the walk
    ("graph", {"backward": "pass"}, "lecture example 1", "backward_rule"),
    ("blocks", {"MatMul.forward": "self.cache = (X, theta)\nreturn X @ theta, self.cache"}, "MatMul.forward",
     "output_not_numbers"),
    ("blocks", {"Sub.backward": "return upstream"}, "Sub.backward", "return_tuple"),
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


CORRECT_VARIANTS = [
    ("blocks", {"Sum.forward": "self.cache = np.shape(s)\nreturn float(np.sum(s))"}),  # a float, as allowed
    ("blocks", {"Sum.backward": "return (np.broadcast_to(upstream, self.cache),)",  # a read-only view
                "MatMul.backward": "X, theta = self.cache\nreturn [np.outer(upstream, theta), np.dot(X.T, upstream)]"}),
    ("activations", {"Sigmoid.forward": "y = np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))"
                                        "\nself.cache = y\nreturn y",  # warns at ±1000, yet right
                     "ReLU.forward": "self.cache = x >= 0\nreturn np.where(x >= 0, x, 0 * x)"}),
    ("softmax", {"SoftmaxCrossEntropy.forward": "z = logits - logits.max(axis=1, keepdims=True)\n"
                 "total = np.exp(z).sum(axis=1, keepdims=True)\nself.cache = (np.exp(z) / total, labels)\n"
                 "picked = z[np.arange(len(labels)), labels] - np.log(total[:, 0])\n"
                 "return float(-picked.mean())"}),  # a float; log-softmax written out
]


@pytest.mark.parametrize("name, replace", CORRECT_VARIANTS, ids=[f"{n}-{i}" for i, (n, _) in
                                                                 enumerate(CORRECT_VARIANTS)])
def test_a_correct_solution_written_differently_passes(name, replace, tmp_path):
    outcome = check(write_exercise(tmp_path, name, replace=replace))
    assert outcome.passed, [(r["check"], r["kind"], r["detail"], r["error"]) for r in failed(outcome)]


def test_a_dataclass_value_imports_and_passes(tmp_path):
    text = filled(template(find("graph"), "en")).replace(
        '"""\n\n\nclass Value:', '"""\nfrom dataclasses import dataclass\n\n\nclass Value:', 1)
    text = text.replace("class Value:", "@dataclass(eq=False)\nclass Value:", 1)
    text = "from __future__ import annotations\n" + text
    (tmp_path / "graph.py").write_text(text, encoding="utf-8")
    outcome = check(tmp_path / "graph.py")
    assert outcome.status == "ok" and outcome.passed, (outcome.error, failed(outcome))


def test_broken_returns_give_a_report_not_a_crash(tmp_path):
    outcome = check(write_exercise(tmp_path, "graph", replace={"Value.__mul__ backward": "self.grad = None"}))
    assert outcome.status == "ok" and not outcome.passed
    outcome = check(write_exercise(tmp_path, "blocks", replace={"Identity.forward": "return 'x'"}))
    assert outcome.status == "ok"
    assert [r["hint"] for r in failed(outcome) if r["check"] == "Identity.forward"] == ["output_not_numbers"]
    assert any(r["check"] == "Square.forward" and r["passed"] for r in outcome.results)  # the others still checked


def test_a_wrong_backward_is_not_blamed_on_the_cache(tmp_path):
    outcome = check(write_exercise(tmp_path, "blocks", replace={"Square.backward": "return (2 * self.cache,)"}))
    assert [r for r in failed(outcome) if r["kind"] == "cache"] == []


def test_runs_that_end_early_say_how(tmp_path):
    prints = check(write_exercise(tmp_path, "blocks", replace={"Identity.forward": "print('x' * 2_000_000)\nreturn x"}),
                   output_kb=256)
    assert prints.status == "output"
    exits = check(write_exercise(tmp_path, "blocks", replace={"Identity.forward": "import os\nos._exit(0)"}))
    assert exits.status == "exited" and exits.error == "0"
    assert "ended the process (exit status 0)" in render_text(exits, find("blocks"), "blocks.py", "en")


def test_the_json_report_is_strict_json(capsys, tmp_path):
    path = write_exercise(tmp_path, "blocks", replace={"Square.forward": "self.cache = delta\n"
                                                       "return delta ** 2 + np.log(-np.abs(delta))"})
    code, out, _ = run(capsys, "exercise", "check", path, "--format", "json")
    assert code == 1
    json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_the_network_is_off_even_below_pythons_socket_module(tmp_path):
    (tmp_path / "blocks.py").write_text(
        "import _socket\ns = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)\ns.connect(('127.0.0.1', 9))\n",
        encoding="utf-8")
    outcome = check(tmp_path / "blocks.py")
    assert outcome.status == "import" and ("network" in outcome.error or "unreachable" in outcome.error), \
        outcome.error


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
    (tmp_path / "blocks.txt").write_text("x = 1\n", encoding="utf-8")
    code, _, err = run(capsys, "exercise", "check", tmp_path / "blocks.txt", "--exercise", "blocks")
    assert code == 2 and "must end in .py" in err


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
    # a submission that tries to spoil the others' files: it runs on a copy of its own
    (subs / "vandal.py").write_text("from pathlib import Path\nfor p in Path(__file__).parent.parent.rglob('*.py'):\n"
                                    "    p.write_text('raise SystemExit')\n", encoding="utf-8")
    out = tmp_path / "grades.csv"
    code, stdout, _ = run(capsys, "exercise", "grade", subs, "--exercise", "activations", "--out", out,
                          "--timeout", "8", "--memory", "600", "--output", "256")
    assert code == 0 and "graded 9 submissions" in stdout
    rows = {r["submission"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert set(rows) == {*HOSTILE, "alice", "bob", "vandal"}
    assert rows["alice"]["status"] == "ok" and rows["alice"]["passed"] == rows["alice"]["total"] != "0"
    assert len({r["total"] for r in rows.values()}) == 1  # the same columns for every submission
    assert rows["loops"]["passed"] == "0" and rows["loops"]["ReLU.backward(x) [backward]"] == "0"
    assert rows["bob"]["status"] == "ok" and rows["bob"]["Tanh.backward(x) [backward]"] == "0"
    assert rows["bob"]["ReLU.backward(x) [backward]"] == "1"
    assert rows["loops"]["status"] == "timeout"
    assert rows["crashes"]["status"] == "crashed"
    assert rows["prints"]["status"] == "output"
    assert rows["eats_memory"]["status"] == "memory"
    assert rows["exits"]["status"] == "import"
    assert rows["network"]["status"] == "import"
