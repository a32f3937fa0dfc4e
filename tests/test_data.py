"""chainrule.data: datasets, seeded loaders, splitting, standardising, CSV and built-in data."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import data
from chainrule.data import checks
from chainrule.errors import DataError, MissingDependencyError, ShapeError


def _ds(n=10, d=2):
    X = np.arange(n * d, dtype=np.float64).reshape(n, d)
    return data.ArrayDataset(X, np.arange(n, dtype=np.float64), feature_names=[f"f{j}" for j in range(d)],
                             target_name="t", name="toy")


# -- ArrayDataset -------------------------------------------------------------------------------
def test_array_dataset_indexing_and_names():
    ds = _ds()
    assert len(ds) == 10 and ds.n_features == 2
    x, y = ds[3]
    np.testing.assert_array_equal(x, [6, 7])
    assert y == 3
    xb, yb = ds[np.array([1, 4])]
    assert xb.shape == (2, 2) and list(yb) == [1, 4]
    assert ds.X is ds.arrays[0] and ds.Y is ds.arrays[1]
    assert data.ArrayDataset(np.zeros((3, 2)), np.zeros(3)).feature_names == ["x0", "x1"]
    sub = ds.subset([0, 1])
    assert len(sub) == 2 and sub.feature_names == ["f0", "f1"] and sub.target_name == "t"
    assert ds.astype(np.float32).X.dtype == np.float32
    with pytest.raises(DataError, match="same first axis"):
        data.ArrayDataset(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(DataError, match="feature names"):
        data.ArrayDataset(np.zeros((3, 2)), np.zeros(3), feature_names=["a"])


# -- DataLoader -----------------------------------------------------------------------------------
def test_loader_batches_cover_everything_once():
    loader = data.DataLoader(_ds(10), batch_size=3, shuffle=True, rng=0)
    assert len(loader) == 4
    batches = list(loader)
    assert [len(b[1]) for b in batches] == [3, 3, 3, 1]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen) == list(range(10))
    for xb, yb in batches:  # rows stay together
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)


def test_loader_is_reproducible_and_reshuffles_each_epoch():
    a = data.DataLoader(_ds(20), batch_size=5, shuffle=True, rng=42)
    b = data.DataLoader(_ds(20), batch_size=5, shuffle=True, rng=np.random.default_rng(42))
    ea1, ea2 = [np.concatenate([y for _, y in a]) for _ in range(2)]
    eb1, eb2 = [np.concatenate([y for _, y in b]) for _ in range(2)]
    np.testing.assert_array_equal(ea1, eb1)
    np.testing.assert_array_equal(ea2, eb2)
    assert not np.array_equal(ea1, ea2)
    expected = np.random.default_rng(42).permutation(20)
    np.testing.assert_array_equal(ea1, expected)


def test_loader_drop_last_no_shuffle_and_full_batch():
    loader = data.DataLoader(_ds(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [list(y) for _, y in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    ds = _ds(10)
    full = list(data.DataLoader(ds, batch_size=None, shuffle=True))
    assert len(full) == 1 and full[0][0] is ds.X  # no copy
    loader = data.DataLoader((np.zeros((5, 1)), np.zeros(5)), batch_size=2)
    assert len(loader) == 3
    with pytest.raises(DataError, match="batch_size"):
        data.DataLoader(ds, batch_size=0)
    with pytest.raises(DataError, match="no batch"):
        data.DataLoader(ds, batch_size=11, drop_last=True)


# -- splitting ------------------------------------------------------------------------------------
def test_train_test_split_both_forms():
    ds = _ds(10)
    tr, te = data.train_test_split(ds, test_size=0.3, rng=1)
    assert len(tr) == 7 and len(te) == 3
    assert set(tr.Y) | set(te.Y) == set(range(10)) and not set(tr.Y) & set(te.Y)
    tr2, _ = data.train_test_split(ds, test_size=0.3, rng=1)
    np.testing.assert_array_equal(tr.Y, tr2.Y)
    X_tr, X_te, y_tr, y_te = data.train_test_split(ds.X, ds.Y, test_size=2, rng=1)
    assert X_tr.shape == (8, 2) and X_te.shape == (2, 2)
    np.testing.assert_array_equal(X_tr[:, 0], 2 * y_tr)
    _, te_ordered = data.train_test_split(ds, test_size=2, shuffle=False)
    assert list(te_ordered.Y) == [0, 1]
    with pytest.raises(DataError, match="test_size"):
        data.train_test_split(ds, test_size=1.5)


# -- Standardizer ---------------------------------------------------------------------------------
def test_standardizer_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 3.0, (200, 2))
    test = rng.normal(50.0, 1.0, (10, 2))
    s = data.Standardizer().fit(train)
    z = s.transform(train)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-12)
    np.testing.assert_allclose(s.transform(test), (test - train.mean(0)) / train.std(0))
    np.testing.assert_allclose(s.inverse_transform(s.transform(test)), test)
    again = data.Standardizer.from_state(s.state())
    np.testing.assert_allclose(again.transform(test), s.transform(test))


def test_standardizer_constant_column_dtype_and_errors():
    X = np.array([[1.0, 2.0], [1.0, 4.0]], dtype=np.float32)
    z = data.Standardizer().fit_transform(X)
    assert z.dtype == np.float32
    np.testing.assert_array_equal(z[:, 0], 0)
    with pytest.raises(DataError, match="fit"):
        data.Standardizer().transform(X)
    with pytest.raises(ShapeError, match="columns"):
        data.Standardizer().fit(X).transform(np.zeros((2, 3)))
    with pytest.raises(DataError):
        data.Standardizer.from_state({"mean": [0.0], "scale": [0.0]})


# -- CSV ------------------------------------------------------------------------------------------
def test_csv_header_target_by_name_and_index(tmp_path):
    path = tmp_path / "houses.csv"
    path.write_text("area,rooms,price\n50,2,100.5\n\n80,3,150\n120,4,230\n", encoding="utf-8")
    ds = data.load_csv(path, target="area")
    assert ds.feature_names == ["rooms", "price"] and ds.target_name == "area"
    np.testing.assert_array_equal(ds.Y, [50, 80, 120])
    ds = data.load_csv(path)
    assert ds.target_name == "price" and ds.X.shape == (3, 2) and ds.name == "houses.csv"
    assert data.load_csv(path, target=1).target_name == "rooms"
    assert data.load_csv(path, target="-3").target_name == "area"
    with pytest.raises(DataError, match="no column named 'cost'.*area"):
        data.load_csv(path, target="cost")
    with pytest.raises(DataError, match="out of range"):
        data.load_csv(path, target=5)


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_csv_delimiter_detection(tmp_path, delimiter):
    path = tmp_path / "d.csv"
    rows = [["a", "b", "y"], ["1.5", "2", "3"], ["4", "5e-1", "6"], ["7", "8", "-9"]]
    path.write_text("\n".join(delimiter.join(r) for r in rows) + "\n", encoding="utf-8")
    table = data.read_csv(path)
    assert table.delimiter == delimiter and table.names == ["a", "b", "y"]
    np.testing.assert_array_equal(table.data, [[1.5, 2, 3], [4, 0.5, 6], [7, 8, -9]])


def test_csv_without_header_and_with_bom(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("\ufeff1;2;3\n4;5;6\n", encoding="utf-8")
    table = data.read_csv(path)
    assert table.names is None and table.delimiter == ";" and table.data.shape == (2, 3)
    ds = data.load_csv(path, target=0)
    assert ds.feature_names == ["x1", "x2"] and ds.target_name == "x0"
    assert data.read_csv(path, header=True).names == ["1", "2", "3"]
    assert data.read_csv(path, dtype=np.float32).data.dtype == np.float32


@pytest.mark.parametrize("text, message", [
    ("a,b\n1,2\n3,abc\n", "line 3, column 2 \\('b'\\): 'abc' is not a number"),
    ("a,b\n1,2\n,4\n", "line 3, column 1 \\('a'\\): missing value"),
    ("a,b\n1,2\n3,nan\n", "line 3, column 2 \\('b'\\): 'nan' is not a finite number"),
    ("a,b\n1,2\n\n3,4,5\n", "line 4: expected 2 cells"),
    ("1,2\n3,x\n", "line 2, column 2: 'x' is not a number"),
    ("a,b\n", "no data rows \\(only a header\\)"),
    ("", "no data rows"),
])
def test_csv_errors_name_line_and_column(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        data.read_csv(path, header=None if text.startswith("a") or not text else False)


def test_csv_unreadable_and_too_narrow(tmp_path):
    with pytest.raises(DataError, match="nope.csv' does not exist"):
        data.read_csv(tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(DataError, match="UTF-8"):
        data.read_csv(tmp_path / "bin.csv")
    (tmp_path / "one.csv").write_text("y\n1\n2\n", encoding="utf-8")
    with pytest.raises(DataError, match="two columns"):
        data.load_csv(tmp_path / "one.csv")


def test_save_csv_round_trip(tmp_path):
    path = tmp_path / "out.csv"
    data.save_csv(path, {"x": [0.1, 0.2], "y": [1.0, 2.0]})
    table = data.read_csv(path)
    assert table.names == ["x", "y"]
    np.testing.assert_array_equal(table.data, [[0.1, 1.0], [0.2, 2.0]])


# -- built-in data sets ---------------------------------------------------------------------------
def test_diabetes():
    ds = data.load_diabetes()
    assert ds.X.shape == (442, 10) and ds.Y.shape == (442,)
    assert ds.feature_names[:3] == ["age", "sex", "bmi"] and ds.target_name == "progression"
    assert ds.X[0, 0] == 59.0 and ds.Y[0] == 151.0  # raw, unscaled values
    assert data.load_dataset("diabetes").name == "diabetes"


def test_diabetes_without_scikit_learn_names_the_extra(hide_package):
    hide_package("sklearn")
    with pytest.raises(MissingDependencyError, match=r"pip install 'chainrule\[data\]'"):
        data.load_diabetes()


def test_synthetic_linear_set_has_known_truth():
    ds = data.make_linear(n_samples=5000, n_features=3, noise=0.1, bias=2.0, rng=0)
    truth = np.array(ds.info["true_weight"])
    np.testing.assert_array_equal(truth, np.random.default_rng(0).standard_normal(3))
    theta = np.linalg.lstsq(np.c_[ds.X, np.ones(5000)], ds.Y, rcond=None)[0]
    np.testing.assert_allclose(theta[:3], truth, atol=0.01)
    assert theta[3] == pytest.approx(2.0, abs=0.01)
    residual = ds.Y - ds.X @ truth - 2.0
    assert residual.std() == pytest.approx(0.1, rel=0.05)
    again = data.make_linear(n_samples=5000, n_features=3, noise=0.1, bias=2.0, rng=0)
    np.testing.assert_array_equal(ds.X, again.X)
    assert data.make_linear(10, 2, dtype=np.float32).X.dtype == np.float32
    with pytest.raises(DataError):
        data.make_linear(0)
    with pytest.raises(DataError, match="unknown data set"):
        data.load_dataset("iris")


# -- what the data functions accept (chainrule.data.checks) -----------------------------------------------


def test_option_ranges_refuse_wrong_types_and_non_finite_values():
    assert checks.check_option(3, "epochs", "f") == 3 and checks.check_option(0.5, "momentum", "f") == 0.5
    assert checks.check_option(np.int64(7), "seed", "f") == 7
    for name, value in [("epochs", 0), ("epochs", 2.0), ("epochs", True), ("seed", -1), ("seed", 2**63),
                        ("lr", float("nan")), ("lr", 1e308), ("lr", 0), ("momentum", 1.0), ("noise", float("inf")),
                        ("weight_decay", -1e-9), ("tol", "0.1"), ("test_size", None)]:
        with pytest.raises(ValueError, match=f"f: {name} must be"):
            checks.check_option(value, name, "f")
    assert checks.OPTIONS["lr"].describe() == "a number in (0, 1000]"
    assert checks.OPTIONS["epochs"].describe() == "a whole number from 1 to 1,000,000"


def test_memory_checks_say_how_much():
    with pytest.raises(DataError, match=r"37\.3 GiB of memory, more than the 2\.0 GiB allowed"):
        checks.check_generated((50, 100_000_000), "synthetic data")
    checks.check_generated((1000, 5), "synthetic data")
    assert checks.memory_budget() > 0 and checks.format_bytes(1536) == "1.5 KiB"


def test_columns_that_overflow_or_are_not_finite_are_named():
    checks.check_columns(np.ones((5, 2)), ["a", "b"], "f")
    with pytest.raises(DataError, match="column 'b' holds 1e\\+308 \\(row 2\\), too large"):
        checks.check_columns(np.array([[1.0, 2.0], [3.0, 1e308]]), ["a", "b"], "f")
    with pytest.raises(DataError, match="column 1 holds nan \\(row 1\\)"):
        checks.check_columns(np.array([[np.nan], [1.0]]), None, "f")
    with pytest.raises(DataError, match="float32"):
        checks.check_columns(np.array([1e20, 1.0]), ["y"], "f", dtype=np.float32)


@pytest.mark.parametrize("kwargs, text", [
    (dict(n_samples="5"), "n_samples must be"), (dict(n_samples=2.5), "n_samples"), (dict(n_features=0), "n_features"),
    (dict(noise=-1), "noise"), (dict(noise=float("nan")), "noise"), (dict(rng=-1), "rng"), (dict(rng="x"), "rng"),
    (dict(dtype="int32"), "dtype"), (dict(bias=float("inf")), "bias"),
    (dict(n_samples=50, n_features=100_000_000), "GiB"),
])
def test_make_linear_checks_its_arguments(kwargs, text):
    with pytest.raises(DataError, match=text):
        data.make_linear(**kwargs)


def test_load_dataset_checks_names_and_arguments(tmp_path):
    with pytest.raises(DataError, match="target applies to CSV files only"):
        data.load_dataset("synthetic", target="y")
    with pytest.raises(DataError, match="delimiter cannot be given for synthetic"):
        data.load_dataset("synthetic", delimiter=",")
    with pytest.raises(DataError, match="name must be"):
        data.load_dataset(3)


def test_loader_and_split_check_their_arguments():
    ds = _ds(10)
    for kwargs in [dict(batch_size=2.5), dict(batch_size="3"), dict(shuffle="yes"), dict(rng=-3, shuffle=True)]:
        with pytest.raises(DataError):
            data.DataLoader(ds, **kwargs)
    with pytest.raises(DataError, match="test_size"):
        data.train_test_split(ds, test_size=True)
    with pytest.raises(DataError, match="rng"):
        data.train_test_split(ds, rng=-1)


def test_standardizer_refuses_text_nan_and_overflowing_columns():
    with pytest.raises(DataError, match="expected numbers"):
        data.Standardizer().fit(np.array([["a", "b"]]))
    with pytest.raises(DataError, match="column 2 holds nan"):
        data.Standardizer().fit(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(DataError, match="too large"):
        data.Standardizer().fit(np.array([[1e300], [-1e300]]))


# -- the CSV reader against hostile files -------------------------------------------------------------------
@pytest.mark.parametrize("content, message", [
    ("café,y\n1,2\n".encode("latin-1"), r"line 1: not UTF-8 text at byte offset 3 \(byte 0xe9\)"),
    ("a,b\n1,2\n".encode("utf-16"), "is UTF-16 text"),
    (b"a,y,y\n1,2,3\n", "duplicate column names in the header: 'y' in columns 2, 3"),
    (b"a,b\n1,\"2\n3,4\n", r"line 3, column 2 \('b'\): '2\\n3,4' is not a number"),  # an unclosed quote
    (b"a,b\n1," + b"9" * 140_000 + b"\n", "line 2: a cell longer than 131,072 characters"),
    (b"a,b\n1,2\n3,inf\n", "line 3, column 2 \\('b'\\): 'inf' is not a finite number"),
    (b"a,b\n1,2\n3,-1e999\n", "'-1e999' is not a finite number"),
    (b"\n \n", "no data rows"),
])
def test_csv_reader_names_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        data.read_csv(path)


def test_csv_reader_refuses_what_is_not_a_regular_file(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.csv")
    for path, message in [("/dev/zero", "not a regular file"), (tmp_path, "is a folder"),
                          (tmp_path / "pipe.csv", "not a regular file"), (tmp_path / "nope.csv", "does not exist")]:
        with pytest.raises(DataError, match=message):
            data.read_csv(path)
    with pytest.raises(DataError, match="expected a file name"):
        data.read_csv(3)
    with pytest.raises(DataError, match="NUL"):
        data.read_csv("a\0b.csv")


def test_csv_reader_takes_crlf_cr_quotes_bom_and_float32(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_bytes(b"\xef\xbb\xbf\"a\" ; b\r\n 1 ;\"2.5\"\r\n\r\n3;4\r")
    table = data.read_csv(path)
    assert table.names == ["a", "b"] and table.data.tolist() == [[1, 2.5], [3, 4]]
    path.write_bytes(b"a,b\r1,2\r")
    assert data.read_csv(path).data.tolist() == [[1, 2]]
    path.write_text("a,b\n1e39,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="'1e39' is too large for float32"):
        data.read_csv(path, dtype=np.float32)
    with pytest.raises(DataError, match="dtype must be a floating type"):
        data.read_csv(path, dtype=np.int64)


def test_csv_blocks_with_a_bad_row_far_down_name_its_line(tmp_path):
    path = tmp_path / "long.csv"
    rows = [f"{i},{2 * i}" for i in range(10_000)]
    rows[9_000] = "1,x"
    path.write_text("a,b\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 9002, column 2 \\('b'\\): 'x' is not a number"):
        data.read_csv(path)
    rows[9_000] = ""  # a blank line is skipped, in the middle of a block too
    path.write_text("a,b\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert data.read_csv(path).data.shape == (9_999, 2)


def test_a_file_larger_than_the_memory_budget_is_refused(tmp_path, monkeypatch):
    from chainrule.data import csvfile

    path = tmp_path / "d.csv"
    path.write_text("a,b\n" + "1,2\n" * 100, encoding="utf-8")
    monkeypatch.setattr(csvfile, "memory_budget", lambda: 100)
    with pytest.raises(DataError, match="reading this .* file would take"):
        data.read_csv(path)


def test_delimiters_that_cannot_separate_numbers_are_refused(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    for bad in ["", "ab", '"', "\n", "1", "-", "."]:
        with pytest.raises(DataError, match="delimiter"):
            data.read_csv(path, delimiter=bad)
