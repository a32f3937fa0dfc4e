"""Fuzzing the CSV reader (``chainrule.data.read_csv``, ``load_csv``, ``load_csv_classification``,
``read_feature_columns``) and ``chainrule train linreg --data FILE``.

Seeded generators (``numpy.random.Generator``, fixed seeds) write well over 10,000 files,
family by family: well-formed tables in every dialect the reader takes (delimiters, a
header or none, quotes, spaces, CRLF / CR / LF line ends, blank lines, a BOM), the same
tables mutated (bytes flipped, inserted, deleted, truncated; cells emptied or set to NaN,
Inf, 1e999 or text; rows made ragged; duplicate and empty header names; unclosed quotes;
NUL bytes; over-long cells), other encodings (Latin-1, UTF-16), random bytes, and empty,
blank and header-only files. Every file must either load, giving exactly the numbers
written when it was well-formed, or raise :class:`~chainrule.errors.DataError` with one
line naming the file, and the line (and column) for a problem inside the rows. A subset
goes through ``chainrule train linreg --data FILE`` in-process: exit 0 (or 1 for a
reported divergence) or 2 with one line, never a traceback.

A generated million-row file is read with :mod:`tracemalloc` watching: the peak stays
under three times the float64 array it gives.

The counts of how the cases ended are printed (``pytest -s``).
"""

from __future__ import annotations

import codecs
import os
import re
import time
import tracemalloc
import warnings
from collections import Counter

import numpy as np
import pytest

from chainrule import cli
from chainrule.data import load_csv, load_csv_classification, read_csv, read_feature_columns
from chainrule.errors import ChainruleError, DataError

#: Problems inside the rows: the message must say which line.
NEEDS_LINE = ("is not a number", "is not a finite number", "missing value", "cells separated by",
              "empty column name", "duplicate column names", "cell longer than", "not UTF-8 text",
              "missing class label", "is too large for")
#: Problems of the whole file or of the call: no line to name.
WHOLE_FILE = ("no data rows", "the file is empty", "needs at least two columns", "is UTF-16 text",
              "holds a single class", "no column named", "is out of range", "is not one of the model's classes",
              "columns but the model needs", "missing (header:")
DELIMITERS = [",", ";", "\t", "|"]


def check_error(exc: ChainruleError, path: str, counts: Counter) -> None:
    """One short line naming the file, and the line for a problem inside the rows."""
    text = str(exc)
    assert isinstance(exc, DataError), f"{type(exc).__name__}: {text}"
    assert "\n" not in text and len(text) < 400 + len(path), text
    assert path in text, text
    kind = next((k for k in NEEDS_LINE if k in text), None)
    if kind is not None:
        assert re.search(r"line \d+", text), text
    else:
        kind = next((k for k in WHOLE_FILE if k in text), None)
        assert kind is not None, f"unexpected kind of error: {text}"
    counts[f"DataError: {kind}"] += 1


# -- generators ------------------------------------------------------------------------------------------


def number_text(g: np.random.Generator, value: float) -> str:
    style = g.integers(6)
    if style == 0:
        return repr(value)
    if style == 1:
        return f"{value:.17g}"
    if style == 2:
        return f"{value:.17e}"
    if style == 3:
        return str(int(round(value))) if abs(value) < 1e15 else repr(value)
    if style == 4:
        return repr(value) if repr(value).startswith("-") else f"+{value!r}"
    return f"{value:.6f}"


def cell_value(text: str) -> float:
    return float(text)


def well_formed(g: np.random.Generator) -> tuple[bytes, dict]:
    """A valid table: random shape, dialect and number spellings; returns the bytes and what they hold."""
    width = int(g.integers(1, 6))
    rows = int(g.integers(1, 25))
    delimiter = DELIMITERS[int(g.integers(len(DELIMITERS)))] if width > 1 else ","
    header = bool(g.integers(2))
    scale = float(10.0 ** g.integers(-5, 6))
    values = np.round(g.standard_normal((rows, width)) * scale, int(g.integers(0, 8)))
    texts = [[number_text(g, float(v)) for v in row] for row in values]
    numbers = np.array([[cell_value(t) for t in row] for row in texts]).reshape(rows, width)
    names = [f"c{j}" + ("é" if g.integers(4) == 0 else "") for j in range(width)]
    quote = g.integers(5) == 0
    pad = g.integers(5) == 0

    def cell(t: str) -> str:
        t = f" {t} " if pad else t
        return f'"{t}"' if quote else t

    end = ["\n", "\r\n", "\r"][int(g.integers(3))]
    lines = ([delimiter.join(cell(n) for n in names)] if header else []) + [
        delimiter.join(cell(t) for t in row) for row in texts]
    if g.integers(4) == 0:  # blank lines here and there
        for _ in range(int(g.integers(1, 4))):
            lines.insert(int(g.integers(1 if header else 0, len(lines) + 1)), "")
    text = end.join(lines) + (end if g.integers(4) else "")
    data = text.encode("utf-8")
    if g.integers(6) == 0:
        data = codecs.BOM_UTF8 + data
    return data, {"numbers": numbers, "names": names if header else None, "delimiter": delimiter}


def mutated(g: np.random.Generator) -> bytes:
    data, info = well_formed(g)
    text = data.decode("utf-8-sig")
    kind = int(g.integers(12))
    if kind == 0:  # flip some bytes
        raw = bytearray(data)
        for _ in range(int(g.integers(1, 4))):
            if raw:
                raw[int(g.integers(len(raw)))] = int(g.integers(256))
        return bytes(raw)
    if kind == 1:  # insert random bytes
        raw = bytearray(data)
        at = int(g.integers(len(raw) + 1))
        return bytes(raw[:at]) + g.bytes(int(g.integers(1, 6))) + bytes(raw[at:])
    if kind == 2:  # delete or truncate
        at = int(g.integers(len(data) + 1))
        return data[:at] if g.integers(2) else data[:at] + data[at + int(g.integers(1, 5)):]
    lines = re.split(r"(\r\n|\r|\n)", text)
    body = [i for i in range(0, len(lines), 2) if lines[i]]
    if not body:
        return data
    i = body[int(g.integers(len(body)))]
    cells = lines[i].split(info["delimiter"])
    j = int(g.integers(len(cells)))
    if kind == 3:
        cells[j] = ["", " ", "nan", "NaN", "inf", "-Infinity", "1e999", "-1e400", "abc", "1,5", "0x1F", "--1",
                    "1e", "١٢", "1_000", "True", "\x00", "1 2", '"', '""'][int(g.integers(20))]
    elif kind == 4:  # ragged
        if g.integers(2) and len(cells) > 1:
            del cells[j]
        else:
            cells.insert(j, "7")
    elif kind == 5:  # duplicate / empty names in the first line
        i = body[0]
        cells = lines[i].split(info["delimiter"])
        if len(cells) > 1:
            cells[-1] = cells[0] if g.integers(2) else ""
        else:
            cells = cells + cells
    elif kind == 6:  # an unclosed quote
        cells[j] = '"' + cells[j]
    elif kind == 7:  # a NUL byte
        cells[j] = cells[j] + "\x00"
    elif kind == 8:  # an over-long cell (more than the csv module's 131,072 characters)
        cells[j] = "1" * int(g.integers(131_000, 140_000)) if g.integers(4) == 0 else "9" * 400
    elif kind == 9:  # values whose squares overflow, and values near the float limits
        cells[j] = ["1e308", "-1.7976931348623157e308", "1e200", "5e-324", "1e-310"][int(g.integers(5))]
    elif kind == 10:  # a stray delimiter or quote character inside
        cells[j] = cells[j] + ['"', "'", ";", ",", "|", "\t"][int(g.integers(6))]
    else:  # another line end inside a cell
        cells[j] = cells[j] + ["\r", "\n", "\x0b", "\x0c", "\u2028"][int(g.integers(5))]
    lines[i] = info["delimiter"].join(cells)
    return "".join(lines).encode("utf-8")


def encoded(g: np.random.Generator) -> bytes:
    data, _ = well_formed(g)
    text = data.decode("utf-8-sig").replace("c0", "café" if g.integers(2) else "Straße")
    text = text if "é" in text or "ß" in text else "naïve," + text
    return text.encode(["latin-1", "utf-16", "utf-16-le", "utf-32", "cp1252"][int(g.integers(5))], errors="replace")


def degenerate(g: np.random.Generator) -> bytes:
    return [b"", b"\n", b"\r\n\r\n", b"   \n \t\n", b"a,b\n", b"a,b\n\n\n", codecs.BOM_UTF8, codecs.BOM_UTF8 + b"x,y\n",
            b"1\n", b",\n,\n", b'""\n', b"a\n1\n2\n", b"\xef\xbb", b"\xff\xfe", b"\x00\x00\x00"][int(g.integers(15))]


FAMILIES = {
    "well-formed": lambda g: well_formed(g)[0],
    "mutated": mutated,
    "encoding": encoded,
    "random bytes": lambda g: g.bytes(int(g.integers(0, 300))),
    "degenerate": degenerate,
}


# -- the fuzz ---------------------------------------------------------------------------------------------


def write_new(path, data: bytes) -> None:
    """Write ``data`` to a new file at ``path`` (rewriting a file in place can wait on the disk: ext4 flushes
    a truncated file on close)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    with open(path, "wb") as f:
        f.write(data)


def read_any(g: np.random.Generator, path: str):
    """One of the four readers, with random but valid arguments."""
    which = int(g.integers(4))
    if which == 0:
        return read_csv(path, header=[None, True, False][int(g.integers(3))],
                        dtype=[np.float64, np.float32][int(g.integers(2))])
    if which == 1:
        return load_csv(path, target=[None, 0, -1, "c0", "c1"][int(g.integers(5))])
    if which == 2:
        return load_csv_classification(path, target=[None, 0, -1, "c0"][int(g.integers(4))])
    return read_feature_columns(path, [None, ["c0"], ["c1", "c0"]][int(g.integers(3))])


@pytest.mark.slow
def test_fuzz_csv_reader(tmp_path):
    """At least 10,000 generated files through the readers: each loads or raises one clear DataError."""
    g = np.random.default_rng(20240611)
    counts: Counter = Counter()
    per_family: dict[str, Counter] = {name: Counter() for name in FAMILIES}
    path = str(tmp_path / "fuzz.csv")
    n_cases = 10_500
    names = list(FAMILIES)
    weights = np.array([0.25, 0.45, 0.1, 0.1, 0.1])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning is a bug here too
        for case in range(n_cases):
            family = names[int(g.choice(len(names), p=weights))]
            if family == "well-formed":
                data, info = well_formed(g)
            else:
                data, info = FAMILIES[family](g), None
            write_new(path, data)
            t0 = time.perf_counter()
            try:
                if info is not None:  # a well-formed table loads, exactly
                    table = read_csv(path)
                    np.testing.assert_array_equal(table.data, info["numbers"], err_msg=f"case {case}: {data[:200]!r}")
                    assert table.names == info["names"] and table.delimiter in (info["delimiter"], ",")
                    outcome = "loaded exactly"
                else:
                    read_any(g, path)
                    outcome = "loaded"
            except ChainruleError as exc:
                check_error(exc, path, counts)
                outcome = "DataError"
            except Exception as exc:  # noqa: BLE001 - anything else is the bug this test is for
                pytest.fail(f"case {case} ({family}): {type(exc).__name__}: {exc}\nbytes: {data[:300]!r}")
            assert time.perf_counter() - t0 < 2.0, f"case {case} took too long: {data[:200]!r}"
            per_family[family][outcome] += 1
    total = sum(sum(c.values()) for c in per_family.values())
    assert total == n_cases >= 10_000
    print(f"\nCSV fuzz: {total} files in {time.perf_counter() - start:.1f} s")
    for family, c in per_family.items():
        print(f"  {family:<13} {dict(c)}")
    for kind, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"    {n:>6}  {kind}")
    assert per_family["well-formed"]["loaded exactly"] == sum(per_family["well-formed"].values())
    assert per_family["mutated"]["DataError"] > 1000 and per_family["random bytes"]["DataError"] > 500


@pytest.mark.slow
def test_fuzz_csv_through_train_linreg(tmp_path, capsys):
    """A subset through ``chainrule train linreg --data FILE``: exit 0 (1 for a reported divergence) or 2
    with one line; never a traceback, and the file is never changed."""
    g = np.random.default_rng(7)
    ends: Counter = Counter()
    for case in range(300):
        family = ["well-formed", "mutated", "mutated", "encoding", "random bytes", "degenerate"][int(g.integers(6))]
        data = FAMILIES[family](g)
        path = tmp_path / f"case{case % 7}.csv"
        write_new(path, data)
        argv = ["train", "linreg", "--data", str(path), "--epochs", str(int(g.integers(1, 4))), "--quiet",
                "--test-size", ["0", "0.2", "0.5"][int(g.integers(3))]]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                code = cli.main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        assert path.read_bytes() == data
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("chainrule train linreg: error: "), err
        elif code == 1:
            assert "DIVERGED" in out, out
        else:
            assert code == 0 and "gap to the closed form" in out and err == "", (code, err)
        ends[f"exit {code}"] += 1
    print(f"\ntrain linreg --data FILE: {dict(ends)}")
    assert sum(ends.values()) == 300 and ends["exit 0"] > 20 and ends["exit 2"] > 100


@pytest.mark.slow
def test_a_million_rows_stream_in_bounded_memory(tmp_path):
    """~1e6 rows (two columns) are read with a peak under three times the float64 array they give."""
    n = 1_000_000
    path = tmp_path / "million.csv"
    rng = np.random.default_rng(3)
    a = rng.integers(-10**6, 10**6, size=n)
    with open(path, "w", encoding="utf-8") as f:
        f.write("x,y\n")
        f.write("\n".join(map("{0},{1}".format, a.tolist(), (a // 3 + 7).tolist())))
        f.write("\n")
    tracemalloc.start()
    try:
        ds = load_csv(path, target="y")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    array_bytes = n * 2 * 8
    assert ds.X.shape == (n, 1) and ds.Y[-1] == a[-1] // 3 + 7 and ds.X[0, 0] == a[0]
    print(f"\n{n:,} rows: peak {peak / 1e6:.1f} MB traced for a {array_bytes / 1e6:.1f} MB array "
          f"({peak / array_bytes:.2f}x)")
    assert peak < 3 * array_bytes
