"""Fuzzing the ``chainrule`` command line, in-process (:func:`chainrule.cli.main`).

Seeded generators (``numpy.random.Generator``, one fixed seed per subcommand) build well
over 10,000 argument lists across every subcommand and flag: numbers of the wrong type,
negative, zero, NaN, infinite, ``1e999``, huge whole numbers; missing files, folders where
files are expected, ``/dev/zero``, ``/dev/null``, a named pipe, damaged and foreign model
files, files in Latin-1 and UTF-16; outputs that are folders, in missing folders, in a
read-only folder, ``/dev/full``, a symbolic link, the command's own input file or an
existing file that is not a model; duplicated flags, unknown flags and stray words. The
training they start is tiny (a few epochs on a few rows); ``bench`` only ever meets
argument errors, ``demo``'s training sections are stubbed.

Every case must end with exit status 0 or 2 (argparse's ``SystemExit(2)`` counts; 1 only
for a training run that diverged and says so), no exception escaping, no traceback, no
warning; a failing run's stderr is one ``chainrule <command>: error: ...`` line (or
argparse's usage and error lines; an expression's caret for ``explain``), and no file in
the working folder changes or appears unless the command was asked to write exactly that
path. The counts of how the cases ended are printed per subcommand (``pytest -s``).
"""

from __future__ import annotations

import functools
import os
import stat
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli, data, nn
from chainrule.commands import demo as demo_cmd

# -- the working folder ------------------------------------------------------------------------------------


def _csv(path: Path, header: list[str], rows) -> None:
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n",
                    encoding="utf-8")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """Input files of every kind, model files, a folder, a read-only folder, a pipe and links."""
    ws = tmp_path_factory.mktemp("cli_fuzz")
    g = np.random.default_rng(0)
    X = g.standard_normal((40, 2))
    _csv(ws / "reg.csv", ["x1", "x2", "y"], np.c_[X, X @ [1.5, -2.0] + 0.1 * g.standard_normal(40)])
    _csv(ws / "one.csv", ["x", "y"], np.c_[X[:, 0], 3 * X[:, 0] + 1])
    _csv(ws / "two.csv", ["x", "y"], [[1, 2], [2, 4]])
    _csv(ws / "perfect.csv", ["x", "z", "y"], [[1, 0, 3], [2, 1, 5], [3, 0, 7], [4, 1, 9], [5, 5, 11]])
    labels = ["cat", "dog", "emu"]
    _csv(ws / "clf.csv", ["a", "b", "label"],
         [[round(g.normal(k), 3), round(g.normal(-k), 3), labels[k]] for k in range(3) for _ in range(20)])
    # 4×4 one-channel images of three classes (a bright row, column or diagonal), for train cnn
    pictures = [np.eye(4), np.zeros((4, 4)), np.zeros((4, 4))]
    pictures[1][1], pictures[2][:, 2] = 1.0, 1.0
    _csv(ws / "img.csv", [f"p{i}" for i in range(16)] + ["label"],
         [[*np.round(pictures[k].ravel() + 0.2 * g.standard_normal(16), 3), labels[k]]
          for k in range(3) for _ in range(10)])
    _csv(ws / "big.csv", ["a", "y"], [[1e308, 1], [2, 3], [4, 5], [6, 7]])
    (ws / "homework").mkdir()
    from chainrule.exercise import find, template

    (ws / "homework" / "blocks.py").write_text(template(find("blocks"), "en"), encoding="utf-8")
    _csv(ws / "dup.csv", ["a", "y", "y"], [[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 1, 1]])
    (ws / "latin1.csv").write_bytes("café,y\n1,2\n3,4\n".encode("latin-1"))
    (ws / "utf16.csv").write_bytes("x,y\n1,2\n3,4\n".encode("utf-16"))
    (ws / "empty.csv").write_bytes(b"")
    (ws / "header.csv").write_text("x,y\n", encoding="utf-8")
    (ws / "nan.csv").write_text("x,y\n1,nan\n2,3\n", encoding="utf-8")
    (ws / "long.csv").write_text("x,y\n1," + "9" * 140_000 + "\n", encoding="utf-8")
    (ws / "notes.txt").write_text("my notes, not a model\n", encoding="utf-8")
    (ws / "junk.safetensors").write_bytes(g.bytes(200))
    reg = data.load_csv(ws / "reg.csv", target="y")
    lin = nn.LinearRegression(2, rng=0)
    cr.save(lin, ws / "reg.safetensors", metadata={"task": "regression", "feature_names": reg.feature_names,
                                                   "target_name": "y"})
    from chainrule.train import train_classifier

    clf = train_classifier(data.load_csv_classification(ws / "clf.csv"), hidden=[4], epochs=2, progress=False)
    cr.save(clf.model, ws / "clf.safetensors", metadata=clf.metadata())
    moons = train_classifier(data.make_moons(40, rng=0), hidden=[4], epochs=2, progress=False)
    cr.save(moons.model, ws / "moons.safetensors",
            metadata={**moons.metadata(), "generator": {"n_samples": 40, "noise": 0.2, "seed": 0}})
    (ws / "folder").mkdir()
    (ws / "folder" / "inside.txt").write_text("inside\n", encoding="utf-8")
    (ws / "locked").mkdir()
    (ws / "locked" / "kept.txt").write_text("kept\n", encoding="utf-8")
    os.mkfifo(ws / "pipe")
    (ws / "link.json").symlink_to("notes.txt")
    (ws / "dangling.png").symlink_to("nowhere/x.png")
    os.chmod(ws / "locked", 0o555)
    yield ws
    os.chmod(ws / "locked", 0o755)


def snapshot(ws: Path) -> dict[str, tuple]:
    """Every entry under ``ws``: a regular file's bytes and mode, a link's target, a pipe or folder as such."""
    out = {}
    for root, dirs, files in os.walk(ws):
        for name in dirs + files:
            p = os.path.join(root, name)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[p] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    out[p] = ("file", f.read(), stat.S_IMODE(st.st_mode))
            else:
                out[p] = ("other", stat.S_IFMT(st.st_mode))
    return out


def restore(ws: Path, before: dict[str, tuple], after: dict[str, tuple]) -> None:
    """Put the folder back as it was: remove what appeared, rewrite what changed (as a new file)."""
    for p in sorted(set(after) - set(before), key=len, reverse=True):
        if os.path.isdir(p) and not os.path.islink(p):
            os.rmdir(p)
        else:
            os.unlink(p)
    for p, entry in before.items():
        if after.get(p) != entry and entry[0] == "file":
            if os.path.lexists(p):
                os.unlink(p)
            with open(p, "wb") as f:
                f.write(entry[1])
            os.chmod(p, entry[2])


#: Scales the number of cases (``CHAINRULE_FUZZ_SCALE=0.1`` for a quick look; CI runs them all).
SCALE = float(os.environ.get("CHAINRULE_FUZZ_SCALE", "1"))

# -- values ------------------------------------------------------------------------------------------------

BAD_NUMBERS = ["-1", "0", "-0", "nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1e999", "1e308", "-1e308",
               "9" * 30, "-" + "9" * 25, "abc", "", " ", "1.5", "0x10", "2e", "--1", "1e-320", "5e-324",
               "2147483648", "1000001", "1,2", "١", "+3", "1_0", "3 4"]
INPUTS = ["reg.csv", "one.csv", "two.csv", "perfect.csv", "clf.csv", "big.csv", "dup.csv", "latin1.csv",
          "utf16.csv", "empty.csv", "header.csv", "nan.csv", "long.csv", "notes.txt", "folder", "folder/",
          "pipe", "/dev/zero", "/dev/null", "missing.csv", "missing/x.csv", "", "/", "reg.safetensors",
          "link.json", "junk.safetensors", "locked/kept.txt"]
MODELS = ["reg.safetensors", "clf.safetensors", "moons.safetensors", "junk.safetensors", "notes.txt", "folder",
          "/dev/zero", "pipe", "missing.safetensors", "reg.csv", ""]
OUTPUT_SUFFIXES = [".png", ".svg", ".pdf", ".json", ".txt", ".md", ".csv", ".safetensors", ".xyz", "", ".html"]
OUTPUTS_EXISTING = ["notes.txt", "reg.safetensors", "clf.safetensors", "junk.safetensors", "reg.csv", "folder",
                    "folder/", "missing/x.png", "locked/x.png", "/dev/full", "/dev/null", "/", "", "pipe",
                    "link.json", "dangling.png", "folder/new.png", "/proc/version"]


class Case:
    """Builds one argument list: pieces are added as (flag, value) pairs; outputs are remembered."""

    def __init__(self, g: np.random.Generator):
        self.g = g
        self.argv: list[str] = []
        self.outputs: list[str] = []
        self.clean = bool(g.random() < 0.4)  # a clean case: only valid values, so that the runs are fuzzed too

    def pick(self, options):
        return options[int(self.g.integers(len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.g.random() < p)

    def choose(self, valid: list[str], others: list[str]) -> str:
        """One of ``valid`` (always, in a clean case), else one of ``valid + others``."""
        return self.pick(valid) if self.clean or self.chance(0.5) else self.pick(valid + others)

    def number(self, valid: list[str], p_valid: float = 0.8) -> str:
        return self.pick(valid) if self.clean or self.chance(p_valid) else self.pick(BAD_NUMBERS)

    def output(self, suffix: str | None = None) -> str:
        if self.clean or self.chance(0.6):
            end = suffix if suffix is not None and (self.clean or self.chance(0.8)) else self.pick(OUTPUT_SUFFIXES)
            name = f"out{int(self.g.integers(3))}{end}"
            name = name if self.chance(0.7) else str(Path.cwd() / name)
        else:
            name = self.pick(OUTPUTS_EXISTING)
        self.outputs.append(name)
        return name

    def add(self, flag: str, value: str | None = None) -> None:
        self.argv.append(flag)
        if value is not None:
            if value.startswith("-") and self.chance(0.5):
                self.argv[-1] = f"{flag}={value}"  # how a negative number gets past argparse's option test
            else:
                self.argv.append(value)

    def noise(self, flags: list[str]) -> None:
        """Unknown flags, stray words, a flag without its value, ``--help``."""
        if self.clean:
            return
        if self.chance(0.04):
            self.argv.insert(int(self.g.integers(len(self.argv) + 1)),
                             self.pick(["--bogus", "-z", "stray", "--", "-", "--no-such=1", "-h"]))
        if self.chance(0.03):
            self.argv.append(self.pick(flags))  # a flag left without its value


def flags_of(table: dict, case: Case, p: float) -> None:
    """Each flag of ``table`` with probability ``p`` (sometimes twice), in a random order."""
    chosen = [f for f in table if case.chance(p)]
    case.g.shuffle(chosen)
    for flag in chosen:
        for _ in range(2 if case.chance(0.08) else 1):
            value = table[flag](case)
            case.add(flag, value)


# -- one table of flags per subcommand ------------------------------------------------------------------


def _common_train(c: Case, plot_suffix=".png") -> dict:
    return {
        "--lr": lambda c: c.number(["auto", "0.01", "0.1", "1e-4", "5", "1000", "1e-9"]),
        "--batch-size": lambda c: c.number(["1", "2", "8", "32", "2147483647"]),
        "--momentum": lambda c: c.number(["0", "0.5", "0.9", "0.999"]),
        "--weight-decay": lambda c: c.number(["0", "0.01", "1", "1000"]),
        "--schedule": lambda c: c.choose(["none", "step", "cosine"], ["linear", ""]),
        "--tol": lambda c: c.number(["0", "1e-6", "0.5", "1"]),
        "--patience": lambda c: c.number(["1", "2", "3"]),
        "--seed": lambda c: c.number(["0", "1", "42", "9223372036854775807"]),
        "--test-size": lambda c: c.number(["0", "0.2", "0.5", "0.9", "0.99"]),
        "--plot": lambda c: c.output(plot_suffix),
        "--save": lambda c: c.output(".safetensors"),
        "--history": lambda c: c.output(".json"),
        "--force": None,
        "--progress": None,
        "--quiet": None,
    }


def _with_switches(table: dict) -> dict:
    return {flag: (make if make is not None else (lambda c: None)) for flag, make in table.items()}


def build_train_linreg(c: Case) -> None:
    c.argv += ["train", "linreg"]
    table = _with_switches({
        "--data": lambda c: c.choose(["synthetic", "diabetes", "reg.csv", "one.csv", "two.csv", "perfect.csv"],
                                     ["iris", "synthetic.csv"] + INPUTS),
        "--target": lambda c: c.choose(["-1"], ["y", "x", "0", "5", "nope", ""]),
        "--delimiter": lambda c: c.choose([","], [";", "tab", "\\t", "", "ab", "1", '"', "|"]),
        "--n-samples": lambda c: c.number(["2", "3", "5", "20", "60", "1000000000"]),
        "--n-features": lambda c: c.number(["1", "2", "3", "1000000000"]),
        "--noise": lambda c: c.number(["0", "0.1", "1", "1000000"]),
        "--no-standardize": None,
        "--loss": lambda c: c.choose(["sse", "mse"], ["mae"]),
        "--target-gap": lambda c: c.number(["0", "1e-3", "10"]),
        "--optimizer": lambda c: c.choose(["gd", "sgd", "momentum", "nesterov", "adam"], ["lbfgs"]),
        "--plot-fit": lambda c: c.output(".png"),
        **_common_train(c),
    })
    flags_of(table, c, 0.18)
    c.noise(list(table))
    c.add("--epochs", c.number(["1", "2", "3"], 0.93))  # last: a valid count wins; never a long run


def build_train_mlp(c: Case) -> None:
    c.argv += ["train", "mlp"]
    table = _with_switches({
        "--data": lambda c: c.choose(["moons", "spirals", "iris", "clf.csv"],
                                     ["wine", "digits", "diabetes", "mnist"] + INPUTS),
        "--target": lambda c: c.choose(["-1"], ["label", "y", "0", "7", ""]),
        "--delimiter": lambda c: c.choose([","], [";", "tab", "", "xy"]),
        "--n-samples": lambda c: c.number(["2", "3", "10", "40", "1000000000"]),
        "--noise": lambda c: c.number(["0", "0.1", "2"]),
        "--no-standardize": None,
        "--val-size": lambda c: c.number(["0", "0.1", "0.3", "0.9"]),
        "--hidden": lambda c: c.choose(["4", "3,2", "none", "8, 4"], ["", "0", "-1", "x", "70000", "4,,4", "4;4",
                                                                     "1e3", ",".join(["2"] * 101)]),
        "--activation": lambda c: c.choose(["relu", "tanh", "gelu"], ["swish", ""]),
        "--dropout": lambda c: c.number(["0", "0.1", "0.5"]),
        "--label-smoothing": lambda c: c.number(["0", "0.1"]),
        "--dtype": lambda c: c.choose(["float64", "float32"], ["float16", "int8"]),
        "--no-restore-best": None,
        "--optimizer": lambda c: c.choose(["adam", "sgd", "gd", "momentum", "nesterov"], ["rmsprop"]),
        "--plot-confusion": lambda c: c.output(".png"),
        "--plot-boundary": lambda c: c.output(".png"),
        **_common_train(c),
    })
    flags_of(table, c, 0.15)
    c.noise(list(table))
    if "--data" not in c.argv:
        c.add("--data", c.pick(["moons", "spirals", "iris", "clf.csv"]))  # digits by default: keep it small
    if "--hidden" not in c.argv:
        c.add("--hidden", "4")
    c.add("--epochs", c.number(["1", "2"], 0.93))


def build_train_cnn(c: Case) -> None:
    c.argv += ["train", "cnn"]
    table = _with_switches({
        "--data": lambda c: c.choose(["img.csv"], ["moons", "iris", "digits", "clf.csv", "mnist"] + INPUTS),
        "--target": lambda c: c.choose(["-1", "label"], ["y", "0", "99", ""]),
        "--delimiter": lambda c: c.choose([","], [";", "", "xy"]),
        "--no-standardize": None,
        "--val-size": lambda c: c.number(["0", "0.1", "0.3"]),
        "--hidden": lambda c: c.choose(["none", "4"], ["0", "-1", "x", "70000", ",".join(["2"] * 101)]),
        "--channels": lambda c: c.choose(["2", "2,3", "4"], ["", "none", "0", "-2", "70000", "a,b"]),
        "--kernel-size": lambda c: c.choose(["1", "3"], ["2", "0", "-3", "17", "x", "3.0"]),
        "--image-shape": lambda c: c.choose(["1,4,4", "4,4", "2,2,4", "1x4x4"],
                                            ["4,5", "1,1,1", "0,4,4", "a,b,c", "1,4,4,1", "", "70000,1,1"]),
        "--activation": lambda c: c.choose(["relu", "tanh"], ["swish"]),
        "--dropout": lambda c: c.number(["0", "0.2"]),
        "--dtype": lambda c: c.choose(["float64", "float32"], ["float16"]),
        "--no-restore-best": None,
        "--optimizer": lambda c: c.choose(["adam", "sgd"], ["rmsprop"]),
        "--plot-confusion": lambda c: c.output(".png"),
        **_common_train(c),
    })
    flags_of(table, c, 0.15)
    c.noise(list(table))
    if "--data" not in c.argv:
        c.add("--data", "img.csv")  # digits by default: keep it small
    c.add("--epochs", c.number(["1", "2"], 0.93))


PAIRS = [("reg.safetensors", "reg.csv"), ("clf.safetensors", "clf.csv"), ("moons.safetensors", "moons"),
         ("reg.safetensors", "big.csv"), ("clf.safetensors", "reg.csv")]


def build_predict(c: Case) -> None:
    c.argv.append("predict")
    table = {
        "--model": lambda c: c.choose(["reg.safetensors", "clf.safetensors"], MODELS),
        "--delimiter": lambda c: c.choose([","], [";", "", "ab"]),
        "--output": lambda c: c.output(".csv"),
        "-o": lambda c: c.output(".csv"),
    }
    model, file = c.pick(PAIRS[:2] if c.clean else PAIRS)
    if c.clean or c.chance(0.95):
        c.add("--model", model if c.clean or c.chance(0.6) else c.pick(MODELS))
    flags_of(table, c, 0.2)
    if c.clean or c.chance(0.95):
        c.argv.append(file if c.clean or c.chance(0.6) else c.pick(INPUTS))
    c.noise(list(table))


def build_evaluate(c: Case) -> None:
    c.argv.append("evaluate")
    table = {
        "--model": lambda c: c.choose(["clf.safetensors", "moons.safetensors"], MODELS),
        "--delimiter": lambda c: c.choose([","], [";", "", "ab"]),
        "--split": lambda c: c.choose(["auto", "test", "train", "all"], ["none"]),
        "--plot-confusion": lambda c: c.output(".png"),
    }
    model, file = c.pick(PAIRS[1:3] if c.clean else PAIRS)
    if c.clean or c.chance(0.95):
        c.add("--model", model if c.clean or c.chance(0.6) else c.pick(MODELS))
    flags_of(table, c, 0.2)
    if not c.clean and c.chance(0.2):
        c.add("--target", c.pick(["label", "a", "0", "9", ""]))
    if c.clean or c.chance(0.95):
        c.argv.append(file if c.clean or c.chance(0.6)
                      else c.pick(["moons", "iris", "spirals", "clf.csv", "wine", "mnist"] + INPUTS))
    c.noise(list(table))


def build_sgd_noise(c: Case) -> None:
    c.argv.append("sgd-noise")
    table = _with_switches({
        "--data": lambda c: c.choose(["synthetic", "diabetes", "reg.csv", "perfect.csv"], ["digits"] + INPUTS),
        "--target": lambda c: c.choose(["-1"], ["y", "0", "nope"]),
        "--delimiter": lambda c: c.choose([","], [";", ""]),
        "--batch-sizes": lambda c: c.choose(["1,2", "1,4,16", "2"], ["0", "-1", "1,x", "", "1,2147483648",
                                                                    "5000", "1,,2", "9" * 30]),
        "--at": lambda c: c.choose(["init", "optimum"], ["end"]),
        "--loss": lambda c: c.choose(["sse", "mse"], ["l1"]),
        "--seed": lambda c: c.number(["0", "3", "9223372036854775807"]),
        "--plot": lambda c: c.output(".png"),
        "--json": lambda c: c.output(".json"),
    })
    flags_of(table, c, 0.2)
    c.noise(list(table))
    if "--batch-sizes" not in c.argv:
        c.add("--batch-sizes", "1,2")
    c.add("--samples", c.number(["2", "3", "5"], 0.93))


def build_exercise(c: Case) -> None:
    """list, init, check and grade, mostly refused: each check and grade starts a process (slow), so valid
    ones are few; init writes into the workspace (changes restored by the harness)."""
    c.argv.append("exercise")
    action = c.choose(["list", "init", "check", "grade"], ["", "solve", "LIST"]) if c.chance(0.95) else None
    if action is None:
        return
    c.argv.append(action)
    if action == "init":
        name = c.choose(["blocks", "mlp", "3"], ["calculus", "0", "7", "", "x" * 300])
        c.argv.append(name)
        folder = c.choose(["homework", "folder"], ["clf.csv", "locked/sub", "pipe", ""]) if c.chance(0.6) else "."
        if folder != ".":
            c.argv.append(folder)
        from chainrule.exercise import find

        try:  # the files init may write: the exercise's and those it imports
            ex = find(name)
            c.outputs += [os.path.join(folder, f"{n}.py") for n in (*ex.needs, ex.name)]
        except Exception:  # noqa: BLE001 - an unknown name writes nothing
            pass
    elif action == "check":
        c.argv.append(c.choose(["homework/blocks.py"], ["nope.py", "clf.csv", "folder", "", "pipe"]))
        if c.chance(0.4):
            c.add("--exercise", c.choose(["blocks", "graph"], ["calculus", ""]))
        if c.chance(0.3):
            c.add("--timeout", c.number(["20"], 0.2) if c.chance(0.5) else c.pick(["0", "-1", "nan", "1e9", "x"]))
    elif action == "grade":
        c.argv.append(c.choose(["folder"], ["nope", "clf.csv", ""]))
        if c.chance(0.9):
            c.add("--exercise", c.choose(["activations"], ["calculus", ""]))
        if c.chance(0.9):
            c.add("--out", c.output(".csv"))
    if c.chance(0.5):
        c.add("--lang", c.choose(["en", "ru"], ["de", "", "RU"]))
    c.noise(["--lang", "--format", "--memory", "--output"])


def build_notebooks(c: Case) -> None:
    """Copy the notebooks into a new folder, an existing one (files kept), or a path that cannot be one."""
    from chainrule.commands.notebooks import notebook_files

    c.argv.append("notebooks")
    folder = c.choose(["nbs", "folder", "nbs/deeper"], ["clf.csv", "locked/sub", "pipe", "", "link.json"])
    c.argv.append(folder)
    c.outputs += [os.path.join(folder, f.name) for f in notebook_files()]
    c.outputs += [folder, os.path.dirname(folder)]  # the folders it may make
    if c.chance(0.3):
        c.add("--lang", c.choose(["en", "ru"], ["fr"]))
    c.noise(["--lang"])


VALID_EXPLAIN = [
    ["(a + b) * (c - d)", "a=1", "b=2", "c=5", "d=3"], ["a * b", "a=2", "b=-1"], ["log(a)", "a=2"],
    ["sum((X @ w - y) ** 2)", "--random", "X:4x3,w:3,y:4"], ["exp(a) + a", "a=0.5"], ["softmax(x)", "x=[1,2,3]"],
    ["mu = X @ w; L = sum((mu - y) ** 2)", "X=[[1,2],[3,4]]", "w=[1,2]", "y=[0,1]"], ["--lecture", "2"],
    ["a / b", "a=1", "b=0"], ["sqrt(a) * b", "a=4", "b=3"], ["max(a, b)", "a=1", "b=2"],
]


def build_explain(c: Case) -> None:
    c.argv.append("explain")
    if c.clean:
        c.argv += c.pick(VALID_EXPLAIN)
        if c.chance(0.3):
            c.add("--format", c.pick(["text", "md", "latex", "json", "dot", "html"]))
        if c.chance(0.3):
            c.add("-o", c.output(c.pick([".md", ".json", ".html", ".txt", ".tex", ".dot"])))
        if c.chance(0.2):
            c.add("--seed", c.pick(["0", "1", "9223372036854775807"]))
        if c.chance(0.2):
            c.add("--no-check")
        return
    if c.chance(0.85):
        c.argv.append(c.pick([
            "(a + b) * (c - d)", "a * b", "sum((X @ w - y) ** 2)", "log(a)", "a / b", "exp(a) + a", "a",
            "sqrt(a) * b", "a +", "__import__('os')", "a.real", "", "1e999 * a", "((((a))))", "a @ b",
            "mu = X @ w; L = sum((mu - y) ** 2)", "softmax(x)", "-a", "a ** b", "max(a, b)", "foo(a)",
            "a" * 300, "(" * 60 + "a" + ")" * 60]))
    for _ in range(int(c.g.integers(0, 5))):
        c.argv.append(c.pick(["a=1", "b=2", "c=3", "d=-4", "a=[1,2]", "a=nan", "a=1e999", "b=x", "a", "=1",
                              "X=[[1,2],[3,4]]", "w=[1,2]", "y=[0,1]", "x=[1,2,3]", "a=0", "b=0", "a=1e308",
                              "a=" + "9" * 400, "a=[" * 40 + "1" + "]" * 40, "a=-1"]))
    table = _with_switches({
        "--lecture": lambda c: c.number(["1", "2", "3"], 0.7),
        "--format": lambda c: c.pick(["text", "md", "latex", "json", "dot", "html", "svg", "png", "pdf"]),
        "-o": lambda c: c.output(c.pick([".md", ".json", ".html", ".txt", ".tex", ".dot", ".png"])),
        "--wrt": lambda c: c.pick(["a", "a,b", "z", "", "a,,b"]),
        "--random": lambda c: c.pick(["X:4x3,w:3,y:4", "x:3", "a,b", "x:3x", "x:0", "x:1000000x1000000",
                                      "x:" + "9" * 25, "1x:3", "x:2x2x2", "a:1:2", "a"]),
        "--seed": lambda c: c.number(["0", "1", "9223372036854775807"]),
        "--no-check": None,
    })
    flags_of(table, c, 0.15)
    c.noise(list(table))


def build_demo(c: Case) -> None:
    c.argv.append("demo")
    if c.chance(0.9):
        c.add("--seed", c.number(["0", "1", "7", "9223372036854775807"], 0.5))
    c.noise(["--seed"])


def build_bench(c: Case) -> None:
    """Only argument errors: every case ends with an unknown benchmark name or an invalid value."""
    c.argv.append("bench")
    table = _with_switches({
        "--only": lambda c: c.pick(["op", "linreg,mlp", "", "nope", ",", "op,nope"]),
        "--full": None,
        "--out": lambda c: c.pick(["results", "notes.txt", "folder", "/dev/null", "missing/deeper", "locked/r"]),
        "--threads": lambda c: c.number(["1", "2", "4096"], 0.3),
        "--allocator": lambda c: c.pick(["steady", "default", "glibc"]),
        "--markdown": None,
    })
    flags_of(table, c, 0.3)
    c.noise(list(table))
    c.add("--only", c.pick(["nope", "op,none", "", " , ", "x" * 300]))


def build_top(c: Case) -> None:
    c.argv += c.pick([[], ["--version"], ["--help"], ["bogus"], ["-x"], ["train"], ["train", "nope"],
                      ["train", "linreg", "--help"], ["TRAIN"], ["--", "demo"], ["explain", "--help"]])


BUILDERS = {
    "explain": (build_explain, 3000),
    "train linreg": (build_train_linreg, 2000),
    "train mlp": (build_train_mlp, 700),
    "train cnn": (build_train_cnn, 300),
    "exercise": (build_exercise, 80),
    "notebooks": (build_notebooks, 40),
    "predict": (build_predict, 1600),
    "evaluate": (build_evaluate, 700),
    "sgd-noise": (build_sgd_noise, 600),
    "demo": (build_demo, 700),
    "bench": (build_bench, 500),
    "(top level)": (build_top, 300),
}


# -- the fuzz ---------------------------------------------------------------------------------------------


def check_stderr(command: str, code: int, out: str, err: str, argv: list[str]) -> None:
    lines = err.rstrip("\n").splitlines()
    assert lines, f"{argv}: exit {code} with nothing on stderr"
    last = next((i for i, line in enumerate(lines) if ": error: " in line), None)
    assert last is not None, f"{argv}: no error line in {err!r}"
    head, error = lines[:last], lines[last]
    assert error.startswith("chainrule") and len(error) < 700, f"{argv}: {error!r}"
    if head:  # argparse: its usage lines come first
        assert head[0].startswith("usage: chainrule") and all(not h.strip() or h.startswith((" ", "usage:"))
                                                              for h in head), f"{argv}: {err!r}"
    tail = lines[last + 1:]
    if command == "explain":  # an expression's syntax error shows it, with a caret under the column
        assert len(tail) <= 2, f"{argv}: {err!r}"
    else:
        assert not tail, f"{argv}: {err!r}"


@pytest.fixture
def fast_demo(monkeypatch):
    """``chainrule demo`` without its two training sections (their own tests run them); the seed still
    reaches the lecture's three-ways section."""
    monkeypatch.setattr(demo_cmd, "training_section", lambda seed, lang=None: "training: skipped by the fuzz test")
    monkeypatch.setattr(demo_cmd, "mlp_section", lambda seed, lang=None: "mlp: skipped by the fuzz test")


@pytest.fixture
def quick_plots(monkeypatch):
    """Most plots drawn but not rendered: ``Figure.savefig`` writes a stand-in to the (temporary) file it is
    given, and checks that it was told the image type (the temporary name ends in .tmp); one plot in twelve
    is rendered for real. Rendering takes a third of a second a plot, and its own tests cover it."""
    from matplotlib.figure import Figure

    real = Figure.savefig
    calls = Counter()

    def savefig(self, fname, *args, **kwargs):
        assert kwargs.get("format"), "savefig must be told the image type"
        calls["n"] += 1
        if calls["n"] % 12 == 0:
            return real(self, fname, *args, **kwargs)
        with open(fname, "wb") as f:
            f.write(b"stand-in for a " + kwargs["format"].encode() + b" image")

    monkeypatch.setattr(Figure, "savefig", savefig)


@pytest.mark.slow
@pytest.mark.parametrize("command", list(BUILDERS))
def test_fuzz_cli(command, workspace, fast_demo, quick_plots, capsysbinary, monkeypatch):
    build, n_cases = BUILDERS[command]
    monkeypatch.chdir(workspace)
    # one parser for all the cases (argparse keeps no state between parses; building it takes milliseconds)
    monkeypatch.setattr(cli, "build_parser", functools.lru_cache(maxsize=1)(cli.build_parser))
    g = np.random.default_rng(2024 + list(BUILDERS).index(command))
    n_cases = max(1, int(n_cases * SCALE))
    ends: Counter = Counter()
    slowest = (0.0, [])
    start = time.perf_counter()
    for case_no in range(n_cases):
        case = Case(g)
        build(case)
        argv = case.argv
        before = snapshot(workspace)
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                code = cli.main(list(argv))
            except SystemExit as exc:  # argparse: usage errors (2), --help and --version (0)
                code = exc.code if isinstance(exc.code, int) else 2
            except BaseException as exc:  # noqa: BLE001 - an escaping exception is the bug this test is for
                pytest.fail(f"case {case_no}: {argv}: {type(exc).__name__} escaped: {exc}")
        took = time.perf_counter() - t0
        slowest = max(slowest, (took, argv))
        out, err = (b.decode("utf-8", "replace") for b in capsysbinary.readouterr())  # png output is bytes
        after = snapshot(workspace)
        assert not caught, f"case {case_no}: {argv}: warnings {[str(w.message) for w in caught]}"
        assert "Traceback" not in err and "Traceback" not in out, f"case {case_no}: {argv}: {err}"
        if code == 1:  # a diverged training, or an exercise whose checks failed
            diverged = command.startswith("train") and "DIVERGED" in out
            assert diverged or (command == "exercise" and "chainrule exercise check" in out), \
                f"case {case_no}: {argv}: exit 1\n{out}\n{err}"
        elif code == 2:
            if err:
                check_stderr(command, code, out, err, argv)
            else:  # no command, or `train` without a task: the help, on stdout
                assert "usage: chainrule" in out, f"case {case_no}: {argv}: exit 2, nothing said"
        else:
            assert code == 0, f"case {case_no}: {argv}: exit {code!r}\n{err}"
        # nothing changes or appears unless this very path was asked for
        asked = {os.path.realpath(os.path.join(workspace, p)) for p in case.outputs if p}
        changed = [p for p in set(before) | set(after) if before.get(p) != after.get(p)]
        foreign = [p for p in changed if os.path.realpath(p) not in asked]
        assert not foreign, f"case {case_no}: {argv}: changed {foreign} (asked {sorted(asked)})"
        if code == 2:
            assert not changed, f"case {case_no}: {argv}: failed but changed {changed}"
        if changed:
            restore(workspace, before, after)
        ends[f"exit {code}"] += 1
    assert sum(ends.values()) == n_cases
    print(f"\nCLI fuzz, {command}: {n_cases} cases in {time.perf_counter() - start:.1f} s: "
          f"{dict(sorted(ends.items()))}; slowest {slowest[0] * 1000:.0f} ms: {slowest[1]}")


def test_the_fuzz_covers_ten_thousand_cases_and_every_command():
    from chainrule.cli import COMMANDS
    from chainrule.commands.train import TASKS

    assert sum(n for _, n in BUILDERS.values()) >= 10_000
    names = {m.rsplit(".", 1)[1].replace("_", "-") for m in COMMANDS} - {"train"}
    tasks = {"train " + m.rsplit(".", 1)[1].removeprefix("train_") for m in TASKS}
    assert names | tasks <= set(BUILDERS)
