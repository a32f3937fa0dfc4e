"""The README's Python examples run, in order, as a reader would paste them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_has_a_quickstart_of_two_commands():
    text = README.read_text(encoding="utf-8")
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", quickstart, flags=re.S)
    assert [c.strip() for c in commands] == [
        'pip install ".[all]" && chainrule demo',
        'pip install -e ".[test,oracle]" && pytest -n auto',
    ]


@pytest.mark.slow
def test_python_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    blocks = python_blocks()
    assert len(blocks) >= 5
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # our own README, not user input
    trace = namespace["trace"]
    assert trace.value == 6.0
    assert {k: float(v) for k, v in trace.gradients.items()} == {"a": 2.0, "b": 2.0, "c": 3.0, "d": -3.0}


def test_the_readme_lists_every_op_block():
    """Issue 20: the tour's op table has one row per block, with its local derivative."""
    from chainrule import ops

    text = README.read_text(encoding="utf-8")
    table = text.split("### The op set", 1)[1].split("###", 1)[0]
    rows = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert rows == set(ops.BUILTIN), set(ops.BUILTIN) ^ rows
    assert all("d" in line.split("|")[3] for line in table.splitlines() if line.startswith("| `"))
