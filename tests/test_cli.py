"""The command line's own behaviour: help, version, the demo, errors."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys

import pytest

from chainrule import data
from chainrule.cli import main
from chainrule.commands import _args
from chainrule.commands.bench import check_out_folder
from chainrule.errors import ChainruleError


def test_demo_prints_the_three_ways_side_by_side(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "by hand (blocks)" in out and "Tensor.backward" in out and "finite differences" in out
    line = next(s for s in out.splitlines() if "largest disagreement" in s)
    assert float(line.rsplit(":", 1)[1]) < 1e-6


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_module_entry_point_and_version():
    out = subprocess.run(
        [sys.executable, "-m", "chainrule", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("chainrule ")


# -- bad input to the command line: one line, exit status 2, before any work ------------------------------

def _run(capsys, *argv):
    """(exit status, stdout, stderr) of ``chainrule argv``, argparse's SystemExit included."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_error_line(err: str, command: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"chainrule {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("argv", [
    ["demo"], ["explain", "a", "a=1"], ["train", "linreg", "--data", "synthetic", "--epochs", "1"],
    ["train", "mlp", "--data", "moons", "--epochs", "1"], ["sgd-noise", "--samples", "2"],
])
@pytest.mark.parametrize("seed", ["-1", "1.5", "nan", "9" * 30, "x"])
def test_every_seed_flag_takes_a_non_negative_whole_number(capsys, argv, seed):
    code, out, err = _run(capsys, *argv, f"--seed={seed}")
    assert code == 2 and out == "" and "argument --seed: expected a whole number" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("flag, value", [
    ("--tol", "nan"), ("--momentum", "1e999"), ("--momentum", "-1"), ("--momentum", "1"), ("--lr", "1e308"),
    ("--lr", "0"), ("--lr", "-inf"), ("--noise", "inf"), ("--noise", "-0.5"), ("--weight-decay", "1e999"),
    ("--weight-decay", "-1"), ("--epochs", "0"), ("--epochs", "1e3"), ("--epochs", "10000000"),
    ("--batch-size", "0"), ("--patience", "-2"), ("--test-size", "1"), ("--test-size", "nan"),
    ("--n-samples", "0"), ("--n-features", "-3"), ("--target-gap", "-1"), ("--target-gap", "inf"),
])
def test_train_linreg_numbers_out_of_range_are_refused_by_argparse(capsys, flag, value):
    code, out, err = _run(capsys, "train", "linreg", "--data", "synthetic", f"{flag}={value}")
    assert code == 2 and out == ""
    assert err.splitlines()[-1].startswith(f"chainrule train linreg: error: argument {flag}: ")


@pytest.mark.parametrize("flag, value", [
    ("--dropout", "1"), ("--label-smoothing", "nan"), ("--val-size", "-0.1"), ("--hidden", "-1"),
    ("--hidden", "70000"), ("--hidden", ",".join(["4"] * 101)), ("--noise", "1e999"), ("--n-samples", "-5"),
])
def test_train_mlp_numbers_out_of_range_are_refused_by_argparse(capsys, flag, value):
    code, _, err = _run(capsys, "train", "mlp", f"{flag}={value}")
    assert code == 2 and f"argument {flag}: " in err


@pytest.mark.parametrize("argv", [
    ["sgd-noise", "--samples", "1"], ["sgd-noise", "--batch-sizes", "0,2"], ["sgd-noise", "--batch-sizes", "1,x"],
    ["bench", "--threads", "0"], ["bench", "--threads", "nan"], ["explain", "--lecture", "4"],
    ["train", "linreg", "--delimiter", "ab"], ["predict", "--model", "m", "x.csv", "--delimiter", "7"],
])
def test_other_numbers_and_choices_are_refused_by_argparse(capsys, argv):
    code, _, err = _run(capsys, *argv)
    assert code == 2 and "error: argument" in err and "Traceback" not in err


def test_the_argparse_types_share_the_library_ranges():
    assert _args.seed("0") == 0 and _args.seed(str(2**63 - 1)) == 2**63 - 1
    assert _args.option("lr")("1000") == 1000 and _args.parse_lr(" auto ") == "auto"
    assert _args.option("momentum")("0") == 0 and _args.delimiter("tab") == "\t"
    for parse, text in [(_args.seed, "-1"), (_args.seed, str(2**63)), (_args.option("lr"), "1000.5"),
                        (_args.option("tol"), "nan"), (_args.positive_int, "0"), (_args.fraction, "1"),
                        (_args.option("samples"), "1"), (_args.delimiter, '"')]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
    with pytest.raises(argparse.ArgumentTypeError, match=r"got '9999999999999999999999999999999999999\.\.\.'"):
        _args.option("epochs")("9" * 5000)  # a long value is cut short in the message


@pytest.fixture
def files(tmp_path):
    """A regression CSV, a text file that is not a model, a folder."""
    ds = data.make_linear(40, 2, rng=1)
    data.save_csv(tmp_path / "d.csv", {"a": ds.X[:, 0], "b": ds.X[:, 1], "y": ds.Y})
    (tmp_path / "notes.txt").write_text("not a model\n", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    return tmp_path


@pytest.fixture
def model_file(files):
    """A classifier saved as m.safetensors beside the other files."""
    import chainrule as cr
    from chainrule.train import train_classifier

    result = train_classifier(data.make_moons(40, rng=0), hidden=[3], epochs=1, progress=False)
    cr.save(result.model, files / "m.safetensors", metadata=result.metadata())
    return files / "m.safetensors"


@pytest.mark.parametrize("flag", ["--history", "--plot", "--save", "--plot-fit"])
@pytest.mark.parametrize("where", ["folder", "missing/x.out", "/dev/full", "/"])
def test_train_output_paths_are_checked_before_training(capsys, files, monkeypatch, flag, where):
    monkeypatch.chdir(files)
    code, out, err = _run(capsys, "train", "linreg", "--data", "synthetic", "--n-features", "1", "--epochs", "1",
                          flag, where)
    line = _one_error_line(err, "train linreg")
    assert code == 2 and out == "" and flag in line and repr(where) in line  # nothing trained, nothing printed


@pytest.mark.parametrize("argv, flag", [
    (["sgd-noise", "--samples", "2", "--json"], "--json"), (["sgd-noise", "--samples", "2", "--plot"], "--plot"),
    (["train", "mlp", "--data", "moons", "--epochs", "1", "--plot-confusion"], "--plot-confusion"),
    (["train", "mlp", "--data", "moons", "--epochs", "1", "--history"], "--history"),
    (["explain", "a", "a=1", "-o"], "--output"), (["evaluate", "--model", "m.safetensors", "iris",
                                                    "--plot-confusion"], "--plot-confusion"),
    (["predict", "--model", "m.safetensors", "d.csv", "-o"], "--output"),
])
@pytest.mark.parametrize("where", ["folder", "missing/out.png", "/dev/full"])
def test_every_output_flag_is_checked_first(capsys, files, model_file, monkeypatch, argv, flag, where):
    monkeypatch.chdir(files)
    code, out, err = _run(capsys, *argv, where)
    assert code == 2 and out == "" and flag in _one_error_line(err, argv[0] if argv[0] != "train" else "train mlp")


def test_a_plot_must_name_an_image_type(capsys, files, monkeypatch):
    monkeypatch.chdir(files)
    code, out, err = _run(capsys, "train", "linreg", "--data", "synthetic", "--epochs", "1", "--plot", "loss.xyz")
    assert code == 2 and out == "" and ".xyz is not an image type" in _one_error_line(err, "train linreg")


def test_two_outputs_naming_one_file_and_an_output_naming_the_input_are_refused(capsys, files, monkeypatch):
    monkeypatch.chdir(files)
    before = (files / "d.csv").read_bytes()
    code, _, err = _run(capsys, "train", "linreg", "--data", "d.csv", "--epochs", "1", "--history", "d.csv")
    assert code == 2 and "is the file read by --data" in _one_error_line(err, "train linreg")
    assert (files / "d.csv").read_bytes() == before
    code, _, err = _run(capsys, "train", "linreg", "--data", "synthetic", "--n-features", "1", "--epochs", "1",
                        "--plot", "h.png", "--plot-fit", "./h.png")
    assert code == 2 and "both name" in _one_error_line(err, "train linreg") and not (files / "h.png").exists()


@pytest.mark.parametrize("source", ["/dev/zero", "folder", "missing.csv"])
def test_every_input_file_must_be_a_regular_file(capsys, files, monkeypatch, source):
    monkeypatch.chdir(files)
    for argv, command in [(["train", "linreg", "--data", source], "train linreg"),
                          (["train", "mlp", "--data", source], "train mlp"),
                          (["sgd-noise", "--data", source], "sgd-noise"),
                          (["predict", "--model", source, "d.csv"], "predict"),
                          (["evaluate", "--model", source, "iris"], "evaluate")]:
        code, out, err = _run(capsys, *argv)
        line = _one_error_line(err, command)
        assert code == 2 and out == "" and source.rstrip("/") in line, line


def test_a_fifo_is_refused_without_blocking(capsys, files, monkeypatch):
    monkeypatch.chdir(files)
    os.mkfifo(files / "pipe.csv")
    code, _, err = _run(capsys, "train", "linreg", "--data", "pipe.csv")
    assert code == 2 and "not a regular file" in _one_error_line(err, "train linreg")


def test_synthetic_sizes_that_cannot_fit_say_how_much_memory(capsys):
    code, out, err = _run(capsys, "train", "linreg", "--data", "synthetic", "--n-features", "100000000",
                          "--n-samples", "50")
    line = _one_error_line(err, "train linreg")
    assert code == 2 and out == "" and "37.3 GiB" in line and "2.0 GiB allowed" in line
    code, _, err = _run(capsys, "train", "mlp", "--data", "moons", "--n-samples", "1000000000")
    assert code == 2 and "14.9 GiB" in _one_error_line(err, "train mlp")


def test_save_replaces_only_a_model_file_unless_forced(capsys, files, monkeypatch):
    monkeypatch.chdir(files)
    argv = ["train", "linreg", "--data", "synthetic", "--n-samples", "30", "--epochs", "1", "--save"]
    code, out, err = _run(capsys, *argv, "notes.txt")
    line = _one_error_line(err, "train linreg")
    assert code == 2 and out == "" and "'notes.txt'" in line and "--force" in line
    assert (files / "notes.txt").read_text() == "not a model\n"
    assert _run(capsys, *argv, "model.safetensors")[0] == 0
    first = (files / "model.safetensors").read_bytes()
    code, out, _ = _run(capsys, *argv, "model.safetensors", "--seed", "3")  # a model file: replaced
    assert code == 0 and "saved the model" in out and (files / "model.safetensors").read_bytes() != first
    code, out, _ = _run(capsys, *argv, "notes.txt", "--force")
    assert code == 0 and (files / "notes.txt").read_bytes()[:8] != b"not a mo"


def test_save_keeps_permissions_and_writes_through_a_link(capsys, files, monkeypatch):
    monkeypatch.chdir(files)
    argv = ["train", "linreg", "--data", "synthetic", "--n-samples", "30", "--epochs", "1", "--save"]
    assert _run(capsys, *argv, "real.safetensors")[0] == 0
    os.chmod(files / "real.safetensors", 0o640)
    (files / "link.safetensors").symlink_to("real.safetensors")
    code, _, _ = _run(capsys, *argv, "link.safetensors", "--seed", "5")
    assert code == 0 and (files / "link.safetensors").is_symlink()
    assert stat.S_IMODE(os.stat(files / "real.safetensors").st_mode) == 0o640
    import chainrule as cr

    assert cr.load(files / "link.safetensors").metadata["train"]["seed"] == 5


def test_a_refused_run_leaves_existing_outputs_untouched(capsys, files, monkeypatch):
    monkeypatch.chdir(files)
    (files / "h.json").write_text("old history\n", encoding="utf-8")
    code, _, _ = _run(capsys, "train", "linreg", "--data", "synthetic", "--epochs", "1", "--history", "h.json",
                      "--plot", "missing/p.png")
    assert code == 2 and (files / "h.json").read_text() == "old history\n"
    assert sorted(p.name for p in files.iterdir()) == ["d.csv", "folder", "h.json", "notes.txt"]  # no leftovers


def test_bench_out_folder_is_checked(tmp_path):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    check_out_folder(str(tmp_path / "new" / "deeper"))  # made later: its parent can be written in
    for bad in [tmp_path / "file", tmp_path / "file" / "sub", ""]:
        with pytest.raises(ChainruleError):
            check_out_folder(str(bad))


def test_main_reports_memory_errors_in_one_line(capsys, monkeypatch):
    import chainrule.commands.demo as demo

    def boom(seed, lang=None):
        raise MemoryError

    monkeypatch.setattr(demo, "three_ways_section", boom)
    monkeypatch.setattr(demo, "lecture_trace_section", lambda lang=None: "")
    code, _, err = _run(capsys, "demo")
    assert code == 2 and "out of memory" in _one_error_line(err, "demo")


def test_tiny_perfectly_linear_data_trains_and_reports_a_zero_gap(capsys, tmp_path):
    two = tmp_path / "two.csv"
    two.write_text("x,y\n1,2\n2,4\n", encoding="utf-8")
    exact = tmp_path / "exact.csv"
    exact.write_text("x,z,y\n" + "".join(f"{i},{i % 3},{2 * i - 3 * (i % 3) + 1}\n" for i in range(12)),
                     encoding="utf-8")
    for path, extra in [(two, []), (two, ["--test-size", "0"]), (exact, ["--epochs", "3000"])]:
        code, out, err = _run(capsys, "train", "linreg", "--data", path, *extra)
        assert code == 0 and err == ""
        assert "gap to the closed form: loss 0.000e+00 relative" in out, out


def test_overflowing_values_duplicate_names_and_long_cells_are_refused_naming_them(capsys, tmp_path):
    big = tmp_path / "big.csv"
    big.write_text("a,b,y\n1,1e308,1\n2,3,4\n5,6,7\n", encoding="utf-8")
    code, _, err = _run(capsys, "train", "linreg", "--data", big)
    assert code == 2 and "column 'b' holds 1e+308" in _one_error_line(err, "train linreg")
    dup = tmp_path / "dup.csv"
    dup.write_text("a,y,y\n1,2,3\n4,5,6\n", encoding="utf-8")
    code, _, err = _run(capsys, "train", "linreg", "--data", dup, "--target", "y")
    assert code == 2 and "duplicate column names" in _one_error_line(err, "train linreg") and "'y'" in err
    long = tmp_path / "long.csv"
    long.write_text("a,y\n1,2\n3," + "4" * 200_000 + "\n", encoding="utf-8")
    code, _, err = _run(capsys, "train", "linreg", "--data", long)
    assert code == 2 and "line 3: a cell longer than 131,072 characters" in _one_error_line(err, "train linreg")


def test_diverging_training_says_so_without_warnings(capsys, recwarn):
    code, out, err = _run(capsys, "train", "linreg", "--data", "synthetic", "--lr", "1000", "--epochs", "50")
    assert code == 1 and "DIVERGED" in out and err == ""
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_predict_refuses_outputs_that_overflow(capsys, tmp_path):
    import chainrule as cr
    from chainrule import nn

    model = nn.LinearRegression(1, rng=0)
    cr.save(model, tmp_path / "m.safetensors", metadata={"feature_names": ["x"]})
    (tmp_path / "huge.csv").write_text("x\n1e308\n", encoding="utf-8")
    code, out, err = _run(capsys, "predict", "--model", tmp_path / "m.safetensors", tmp_path / "huge.csv")
    assert code == 2 and out == "" and "too large" in _one_error_line(err, "predict")


@pytest.mark.skipif(not os.path.exists("/proc/version"), reason="needs Linux's /proc")
def test_an_output_in_a_folder_where_no_file_can_be_made_is_refused_first(capsys):
    code, out, err = _run(capsys, "sgd-noise", "--samples", "2", "--batch-sizes", "1", "--json", "/proc/version")
    assert code == 2 and out == "" and "cannot write in the folder '/proc'" in _one_error_line(err, "sgd-noise")
