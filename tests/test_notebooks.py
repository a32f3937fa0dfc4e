"""The lecture's notebooks run from top to bottom (nbclient, a real Jupyter kernel) and show what they
promise; ``chainrule notebooks DIR`` copies them out of the installed package without overwriting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainrule import cli
from chainrule.commands.notebooks import notebook_files

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
#: What each notebook's outputs must show (one lecture point each).
SHOWN = {
    "01_graph_and_chain_rule.ipynb": ["dH/dA = 4.0", "Backward pass", "image/svg+xml", "sum of 2 paths",
                                      "Обратный проход"],
    "02_linear_regression.ipynb": ["dL/dθ by hand", "image/png", "closed form"],
    "03_sgd_gradient_noise.ipynb": ["image/png", "(full ", "variance", "σ²/b"],
    "04_mlp.ipynb": ["Trace of", "MLP classifier on digits", "image/png"],
}


def test_the_repository_folder_is_the_packaged_one():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(SHOWN)
    assert sorted(f.name for f in notebook_files()) == sorted(SHOWN)
    for path in NOTEBOOKS.glob("*.ipynb"):  # kept without outputs: the tests make them
        book = json.loads(path.read_text(encoding="utf-8"))
        assert all(not c.get("outputs") for c in book["cells"] if c["cell_type"] == "code"), path.name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHOWN))
def test_each_notebook_runs_and_shows_its_point(name, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbclient.NotebookClient(book, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
                            ).execute()
    code = [c for c in book.cells if c.cell_type == "code"]
    assert code and all(c.outputs for c in code), [c.source[:60] for c in code if not c.outputs]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    shown = json.dumps([c.outputs for c in code], ensure_ascii=False)
    for text in SHOWN[name]:
        assert text in shown, text


def test_cli_copies_the_notebooks_and_keeps_existing_files(capsys, tmp_path):
    target = tmp_path / "nb"
    assert cli.main(["notebooks", str(target)]) == 0
    assert sorted(p.name for p in target.iterdir()) == sorted(SHOWN)
    (target / "04_mlp.ipynb").write_text("mine", encoding="utf-8")
    assert cli.main(["notebooks", str(target), "--lang", "ru"]) == 0
    out = capsys.readouterr().out
    assert "оставлен" in out and (target / "04_mlp.ipynb").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    assert cli.main(["notebooks", str(tmp_path / "file")]) == 2
