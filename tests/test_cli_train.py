"""The command line: train linreg, predict, sgd-noise, and demo's training section."""

from __future__ import annotations

import importlib
import json
import re

import numpy as np
import pytest

from chainrule import cli, data
from chainrule.commands import predict as predict_cmd
from chainrule.commands import train as train_cmd


def run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _number(pattern: str, text: str) -> float:
    return float(re.search(pattern, text).group(1))


def test_train_linreg_on_diabetes_reports_the_gap(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "linreg", "--epochs", "5000", "--plot", str(tmp_path / "loss.png"),
                       "--history", str(tmp_path / "h.json"))
    assert code == 0
    assert "353 training and 89 test objects" in out and "optimizer gd" in out
    loss_gap = _number(r"gap to the closed form: loss (\S+) relative", out)
    theta_gap = _number(r"θ (\S+) relative", out)
    assert loss_gap <= 1e-6 and theta_gap <= 1e-4
    assert "train loss SSE" in out and "test loss SSE" in out and "bmi" in out
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    history = json.loads((tmp_path / "h.json").read_text())
    assert len(history["train_loss"]) == 5000 and history["stop_reason"] == "epochs"


def test_train_linreg_sgd_on_synthetic(capsys):
    code, out, _ = run(capsys, "train", "linreg", "--data", "synthetic", "--n-samples", "300", "--n-features", "2",
                       "--optimizer", "sgd", "--batch-size", "16", "--epochs", "20", "--seed", "3", "--quiet")
    assert code == 0 and "batch size 16" in out and "synthetic truth" in out


def test_train_save_then_predict_from_csv(capsys, tmp_path):
    ds = data.make_linear(n_samples=120, n_features=2, noise=0.1, rng=5)
    train_csv = tmp_path / "train.csv"
    data.save_csv(train_csv, {"size": ds.X[:, 0] * 10 + 50, "age": ds.X[:, 1], "price": ds.Y})
    model_path = tmp_path / "m.safetensors"
    code, out, _ = run(capsys, "train", "linreg", "--data", str(train_csv), "--target", "price", "--epochs", "500",
                       "--save", str(model_path), "--test-size", "0.25")
    assert code == 0 and "saved the model" in out and "size" in out
    # new rows with the columns in another order, an extra column, and ';' as delimiter
    new = tmp_path / "new.csv"
    new.write_text("age;id;size\n0.5;1;60\n-1;2;45\n", encoding="utf-8")
    code, out, _ = run(capsys, "predict", "--model", str(model_path), str(new))
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == "predicted_price" and len(lines) == 3
    full = data.load_csv(train_csv, target="price")
    tr, _ = data.train_test_split(full, test_size=0.25, rng=0)
    s = data.Standardizer().fit(tr.X)
    import chainrule as cr

    model, meta = cr.load(model_path, with_metadata=True)
    assert meta["feature_names"] == ["size", "age"]
    expected = model(s.transform(np.array([[60.0, 0.5], [45.0, -1.0]]))).data
    np.testing.assert_allclose([float(v) for v in lines[1:]], expected, rtol=1e-9)
    # without a header the columns must be exactly the features
    plain = tmp_path / "plain.csv"
    plain.write_text("60,0.5\n45,-1\n", encoding="utf-8")
    code, out2, _ = run(capsys, "predict", "--model", str(model_path), str(plain), "-o", str(tmp_path / "p.csv"))
    assert code == 0 and "wrote 2 predictions" in out2
    assert (tmp_path / "p.csv").read_text().splitlines() == lines


def test_predict_errors_are_clear(capsys, tmp_path):
    model_path = tmp_path / "m.safetensors"
    code, _, _ = run(capsys, "train", "linreg", "--data", "synthetic", "--n-features", "2", "--epochs", "10",
                     "--save", str(model_path))
    assert code == 0
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("x0,y\n1,2\n", encoding="utf-8")
    code, _, err = run(capsys, "predict", "--model", str(model_path), str(wrong))
    assert code == 2 and "needs columns ['x0', 'x1']" in err and "'x1'" in err
    three = tmp_path / "three.csv"
    three.write_text("1,2,3\n", encoding="utf-8")
    code, _, err = run(capsys, "predict", "--model", str(model_path), str(three))
    assert code == 2 and "has 3 columns but the model needs 2 features" in err
    bad_cell = tmp_path / "cell.csv"
    bad_cell.write_text("x0,x1\n1,2\n3,oops\n", encoding="utf-8")
    code, _, err = run(capsys, "predict", "--model", str(model_path), str(bad_cell))
    assert code == 2 and "line 3, column 2 ('x1'): 'oops' is not a number" in err
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(model_path.read_bytes()[:40])
    code, _, err = run(capsys, "predict", "--model", str(damaged), str(three))
    assert code == 2 and "not a readable safetensors file" in err


def test_predict_dispatches_on_the_task(capsys, tmp_path, monkeypatch):
    import chainrule as cr
    from chainrule import nn

    model = nn.Linear(2, 3, rng=0)
    path = tmp_path / "clf.safetensors"
    cr.save(model, path, metadata={"task": "classification", "labels": ["a", "b", "c"],
                                   "feature_names": ["u", "v"]})

    def classes(outputs, checkpoint):
        labels = checkpoint.metadata["labels"]
        return ["label"], [[labels[int(np.argmax(row))]] for row in outputs]

    importlib.import_module("chainrule.commands.train_mlp")  # registers its formatter now, not over the patch
    monkeypatch.setitem(predict_cmd.FORMATTERS, "classification", classes)
    csv = tmp_path / "x.csv"
    csv.write_text("u,v\n1,0\n0,1\n", encoding="utf-8")
    code, out, _ = run(capsys, "predict", "--model", str(path), str(csv))
    expected = [["a", "b", "c"][int(np.argmax(r))] for r in model(np.array([[1.0, 0], [0, 1]])).data]
    assert code == 0 and out.split() == ["label", *expected]


def test_sgd_noise_command(capsys, tmp_path):
    code, out, _ = run(capsys, "sgd-noise", "--batch-sizes", "1,16,256", "--samples", "400", "--plot",
                       str(tmp_path / "noise.png"), "--json", str(tmp_path / "noise.json"))
    assert code == 0 and "diabetes" in out and "without replacement" in out
    assert (tmp_path / "noise.png").read_bytes()[:4] == b"\x89PNG"
    result = json.loads((tmp_path / "noise.json").read_text())
    assert [r["batch_size"] for r in result["rows"]] == [1, 16, 256] and result["n"] == 442
    code, _, err = run(capsys, "sgd-noise", "--batch-sizes", "1,5000", "--samples", "10")
    assert code == 2 and "exceed" in err
    with pytest.raises(SystemExit):
        cli.main(["sgd-noise", "--batch-sizes", "0"])


def test_train_without_a_task_and_bad_options(capsys):
    code, out, _ = run(capsys, "train")
    assert code == 2 and "linreg" in out
    assert train_cmd.TASKS[0] == "chainrule.commands.train_linreg"
    with pytest.raises(SystemExit):
        cli.main(["train", "linreg", "--lr", "-1"])
    capsys.readouterr()
    code, _, err = run(capsys, "train", "linreg", "--data", "nowhere.csv")
    assert code == 2 and "'nowhere.csv' does not exist" in err
    code, _, err = run(capsys, "train", "linreg", "--data", "synthetic", "--plot-fit", "x.png")
    assert code == 2 and "one-feature" in err
    code, _, err = run(capsys, "train", "linreg", "--optimizer", "gd", "--batch-size", "8", "--epochs", "1")
    assert code == 2 and "full-batch" in err


def test_one_feature_fit_plot(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "linreg", "--data", "synthetic", "--n-features", "1", "--epochs", "50",
                       "--plot-fit", str(tmp_path / "line.png"))
    assert code == 0 and "fitted line" in out and (tmp_path / "line.png").exists()


def test_divergence_exits_non_zero(capsys):
    with np.errstate(all="ignore"):
        code, out, _ = run(capsys, "train", "linreg", "--data", "synthetic", "--lr", "5", "--epochs", "300")
    assert code == 1 and "DIVERGED" in out


def test_demo_continues_with_training_on_diabetes(capsys):
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "Training it: full-batch gradient descent on the diabetes data" in out
    assert _number(r"gap to the closed form: loss (\S+) relative", out) <= 1e-6


def test_checkpoint_and_resume_end_where_an_uninterrupted_run_ends(capsys, tmp_path):
    common = ("train", "linreg", "--data", "synthetic", "--n-samples", "200", "--n-features", "3",
              "--optimizer", "sgd", "--batch-size", "16", "--momentum", "0.9", "--seed", "4", "--quiet")
    ckpt = tmp_path / "run.ckpt"
    code, _, _ = run(capsys, *common, "--epochs", "3", "--checkpoint", str(ckpt))
    assert code == 0 and ckpt.exists()
    code, _, _ = run(capsys, *common, "--epochs", "6", "--checkpoint", str(ckpt), "--resume",
                     "--history", str(tmp_path / "resumed.json"))
    assert code == 0
    code, _, _ = run(capsys, *common, "--epochs", "6", "--history", str(tmp_path / "fresh.json"))
    assert code == 0
    resumed = json.loads((tmp_path / "resumed.json").read_text())
    fresh = json.loads((tmp_path / "fresh.json").read_text())
    assert len(resumed["train_loss"]) == 6
    assert resumed["train_loss"] == fresh["train_loss"]


def test_resume_needs_a_checkpoint_and_a_checkpoint_is_not_a_model(capsys, tmp_path):
    code, _, err = run(capsys, "train", "linreg", "--data", "synthetic", "--resume")
    assert code == 2 and "--resume needs --checkpoint" in err
    # a checkpoint may not overwrite a CSV file by accident
    victim = tmp_path / "data.csv"
    victim.write_text("a,b\n1,2\n", encoding="utf-8")
    code, _, err = run(capsys, "train", "linreg", "--data", "synthetic", "--epochs", "2",
                       "--checkpoint", str(victim))
    assert code == 2 and "--checkpoint" in err
    assert victim.read_text(encoding="utf-8") == "a,b\n1,2\n"
