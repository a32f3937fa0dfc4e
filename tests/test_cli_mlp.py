"""The command line for classifiers: train mlp, predict (labels and probabilities), evaluate, demo's end."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest

from chainrule import cli
from chainrule.commands import predict as predict_cmd
from chainrule.commands.train_mlp import parse_hidden
from chainrule.data import load_classification


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _number(pattern: str, text: str) -> float:
    return float(re.search(pattern, text).group(1))


def _test_accuracy(report: str) -> float:
    """The accuracy column of the report's "test" row."""
    return float(re.search(r"^\s+test\s+\S+\s+(\S+)$", report, re.MULTILINE).group(1))


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory):
    """iris as a CSV file whose class column holds the species names."""
    pytest.importorskip("sklearn")
    ds = load_classification("iris")
    path = tmp_path_factory.mktemp("iris") / "iris.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width", "species"])
        for x, y in zip(ds.X, ds.Y):
            w.writerow([*(repr(float(v)) for v in x), ds.info["classes"][y]])
    return path


def test_train_mlp_on_moons_with_plots_and_save(capsys, tmp_path):
    model = tmp_path / "moons.safetensors"
    code, out, _ = run(capsys, "train", "mlp", "--data", "moons", "--hidden", "32,32", "--lr", "0.01",
                       "--epochs", "25", "--seed", "0", "--save", model, "--plot", tmp_path / "curves.png",
                       "--plot-confusion", tmp_path / "cm.png", "--plot-boundary", tmp_path / "b.png",
                       "--history", tmp_path / "h.json", "--quiet")
    assert code == 0
    assert "675 training, 75 validation and 250 test objects, 2 features, 2 classes" in out
    assert "network 2 → 32 → 32 → 2, activation relu" in out and "batch size 32" in out
    test_acc = _test_accuracy(out)
    assert test_acc >= 0.96
    assert "confusion matrix (test" in out
    for name in ("curves.png", "cm.png", "b.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    history = json.loads((tmp_path / "h.json").read_text())
    assert len(history["test_accuracy"]) == 25
    # evaluate reproduces the held-out part from the saved seed: the same accuracy
    code, out, _ = run(capsys, "evaluate", "--model", model, "moons")
    assert code == 0 and "held-out test part): 250 objects, 2 classes" in out
    assert _number(r"accuracy (\S+)", out) == pytest.approx(test_acc, abs=1e-4)
    code, out, _ = run(capsys, "evaluate", "--model", model, "moons", "--split", "all")
    assert "(all rows): 1000 objects" in out


def test_train_mlp_on_a_csv_with_text_labels_then_predict_and_evaluate(capsys, tmp_path, iris_csv):
    model = tmp_path / "iris.safetensors"
    code, out, _ = run(capsys, "train", "mlp", "--data", iris_csv, "--target", "species", "--hidden", "16",
                       "--activation", "tanh", "--epochs", "60", "--lr", "0.01", "--save", model, "--quiet")
    assert code == 0 and "100 training, 12 validation and 38 test objects, 4 features, 3 classes" in out
    assert "setosa" in out and "versicolor" in out
    code, out, _ = run(capsys, "predict", "--model", model, iris_csv)
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["label", "p_setosa", "p_versicolor", "p_virginica"]
    assert len(rows) == 151
    probs = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    labels = [r[0] for r in rows[1:]]
    truth = [line.rsplit(",", 1)[1].strip() for line in iris_csv.read_text().splitlines()[1:]]
    assert np.mean([a == b for a, b in zip(labels, truth)]) >= 0.9
    # evaluate on the training file: the held-out part by default, every row on request
    code, out, _ = run(capsys, "evaluate", "--model", model, iris_csv)
    assert code == 0 and "(held-out test part): 38 objects" in out
    code, out, _ = run(capsys, "evaluate", "--model", model, iris_csv, "--split", "all",
                       "--plot-confusion", tmp_path / "cm.png")
    assert "(all rows): 150 objects, 3 classes" in out
    assert _number(r"accuracy (\S+)", out) >= 0.9
    assert re.search(r"setosa\s+1\.0000\s+1\.0000", out)  # precision and recall of the easy class
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


def test_train_mlp_float32_dropout_and_validation(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "mlp", "--data", "spirals", "--n-samples", "300", "--hidden", "16,16",
                       "--dropout", "0.1", "--dtype", "float32", "--val-size", "0.2", "--epochs", "3",
                       "--optimizer", "momentum", "--quiet")
    assert code == 0
    assert "dropout 0.1" in out and "float32" in out and "validation" in out and "3 classes" in out


def test_train_mlp_errors(capsys, tmp_path):
    code, _, err = run(capsys, "train", "mlp", "--data", "iris", "--target", "species")
    assert code == 2 and "--target applies to CSV files only" in err
    code, _, err = run(capsys, "train", "mlp", "--data", "iris", "--plot-boundary", tmp_path / "b.png")
    assert code == 2 and "needs 2-D data; iris has 4 features" in err
    code, _, err = run(capsys, "train", "mlp", "--data", tmp_path / "nope.csv")
    assert code == 2 and "nope.csv' does not exist" in err
    with pytest.raises(SystemExit):
        cli.main(["train", "mlp", "--hidden", "64,x"])
    assert parse_hidden("none") == [] and parse_hidden("8, 4") == [8, 4]


def test_evaluate_refuses_a_regression_model(capsys, tmp_path):
    model = tmp_path / "lin.safetensors"
    code, _, _ = run(capsys, "train", "linreg", "--data", "synthetic", "--epochs", "5", "--save", model)
    assert code == 0
    code, _, err = run(capsys, "evaluate", "--model", model, "iris")
    assert code == 2 and "evaluate scores classifiers" in err


def test_classification_formatter_is_registered():
    assert predict_cmd.FORMATTERS["classification"].__name__ == "format_classification"
    assert "classification" in predict_cmd.READERS


def test_train_cnn_on_digits_beats_the_mlp_then_predicts_and_evaluates(capsys, tmp_path):
    """Issue 20: a small CNN on the 8×8 digits, from the command line, at least the MLP's test accuracy on
    the same held-out quarter (both with their defaults and the same seed); its saved file serves predict
    and evaluate as an MLP's does."""
    pytest.importorskip("sklearn")
    model = tmp_path / "cnn.safetensors"
    code, cnn_out, _ = run(capsys, "train", "cnn", "--data", "digits", "--save", model, "--plot",
                           tmp_path / "curves.png", "--quiet")
    assert code == 0, cnn_out
    assert "CNN classifier on digits: 1212 training, 135 validation and 450 test objects" in cnn_out
    assert "network 1×8×8 images → conv 16 → conv 32 → 10 (kernel 3)" in cnn_out
    code, mlp_out, _ = run(capsys, "train", "mlp", "--data", "digits", "--quiet")
    assert code == 0
    cnn_acc, mlp_acc = _test_accuracy(cnn_out), _test_accuracy(mlp_out)
    assert cnn_acc >= mlp_acc and cnn_acc >= 0.96, (cnn_acc, mlp_acc)
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    code, out, _ = run(capsys, "evaluate", "--model", model, "digits")
    assert code == 0 and out.startswith("ConvNet from")
    assert _number(r"accuracy (\S+)", out) == pytest.approx(cnn_acc, abs=1e-4)
    digits = load_classification("digits")
    rows = tmp_path / "rows.csv"  # rows of pixels without a header: the model says how many it reads
    np.savetxt(rows, digits.X[:4], delimiter=",", fmt="%g")
    code, out, _ = run(capsys, "predict", "--model", model, rows)
    assert code == 0
    labels = [line.split(",")[0] for line in out.strip().splitlines()[1:]]
    assert labels == [str(v) for v in digits.Y[:4]]


def test_train_cnn_refuses_what_is_not_an_image(capsys, tmp_path):
    code, _, err = run(capsys, "train", "cnn", "--data", "moons")
    assert code == 2 and "not images" in err and "chainrule train mlp" in err
    table = tmp_path / "five.csv"
    table.write_text("a,b,c,d,e,y\n" + "\n".join("1,2,3,4,5,0" if i % 2 else "5,4,3,2,1,1" for i in range(10)))
    code, _, err = run(capsys, "train", "cnn", "--data", table)
    assert code == 2 and "5 features are not a square image; give image_shape" in err
    code, _, err = run(capsys, "train", "cnn", "--data", table, "--image-shape", "1,2,3")
    assert code == 2 and "holds 6 pixels, but the rows have 5 features" in err
    with pytest.raises(SystemExit):
        cli.main(["train", "cnn", "--kernel-size", "4"])
    assert "expected an odd kernel size from 1 to 15, got '4'" in capsys.readouterr().err


def test_demo_ends_with_a_digits_run(capsys):
    pytest.importorskip("sklearn")
    code, out, _ = run(capsys, "demo")
    assert code == 0
    tail = out[out.index("Part two"):]
    assert "MLP classifier on digits" in tail and out.rstrip().endswith("digits)")
    assert _test_accuracy(tail) >= 0.9


def test_train_mlp_resumes_from_a_checkpoint(capsys, tmp_path):
    common = ("train", "mlp", "--data", "moons", "--hidden", "8", "--optimizer", "adam", "--batch-size", "32",
              "--seed", "2", "--quiet")
    ckpt = tmp_path / "mlp.ckpt"
    assert run(capsys, *common, "--epochs", "2", "--checkpoint", ckpt)[0] == 0
    assert run(capsys, *common, "--epochs", "4", "--checkpoint", ckpt, "--resume",
               "--history", tmp_path / "resumed.json")[0] == 0
    assert run(capsys, *common, "--epochs", "4", "--history", tmp_path / "fresh.json")[0] == 0
    resumed = json.loads((tmp_path / "resumed.json").read_text())
    fresh = json.loads((tmp_path / "fresh.json").read_text())
    assert len(resumed["train_loss"]) == 4 and resumed["train_loss"] == fresh["train_loss"]
