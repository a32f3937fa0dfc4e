"""Classification data: bundled sets, moons and spirals, the stratified split, labelled CSV."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import (
    encode_labels,
    load_classification,
    load_csv_classification,
    load_digits,
    make_moons,
    make_spirals,
    read_feature_columns,
    stratified_split,
    stratified_split_indices,
)
from chainrule.errors import DataError, MissingDependencyError


@pytest.mark.parametrize("name,shape,classes", [
    ("digits", (1797, 64), [str(i) for i in range(10)]),
    ("iris", (150, 4), ["setosa", "versicolor", "virginica"]),
    ("breast-cancer", (569, 30), ["malignant", "benign"]),
    ("wine", (178, 13), ["class_0", "class_1", "class_2"]),
])
def test_bundled_sets(name, shape, classes):
    pytest.importorskip("sklearn")
    ds = load_classification(name)
    assert ds.X.shape == shape and ds.Y.shape == (shape[0],)
    assert ds.X.dtype == np.float64 and ds.Y.dtype == np.int64
    assert ds.info["classes"] == classes and ds.info["task"] == "classification"
    assert set(np.unique(ds.Y)) == set(range(len(classes)))
    assert len(ds.feature_names) == shape[1] and ds.name == name
    assert load_classification(name.replace("-", "_"), dtype=np.float32).X.dtype == np.float32


def test_missing_sklearn_names_the_extra(hide_package):
    hide_package("sklearn")
    with pytest.raises(MissingDependencyError, match=r"pip install 'chainrule\[data\]'"):
        load_digits()


def test_moons_are_sklearns_moons():
    sk = pytest.importorskip("sklearn.datasets")
    X, y = sk.make_moons(1000, noise=0.0, shuffle=False)
    ours = make_moons(1000, noise=0.0, shuffle=False)
    np.testing.assert_allclose(ours.X, X, atol=1e-15)
    np.testing.assert_array_equal(ours.Y, y)
    odd = make_moons(7, noise=0.0, shuffle=False)
    X7, y7 = sk.make_moons(7, noise=0.0, shuffle=False)
    np.testing.assert_allclose(odd.X, X7, atol=1e-15)
    np.testing.assert_array_equal(odd.Y, y7)


def test_moons_noise_and_seed():
    a, b, c = make_moons(1000, 0.2, rng=0), make_moons(1000, 0.2, rng=0), make_moons(1000, 0.2, rng=1)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    assert np.bincount(a.Y).tolist() == [500, 500]
    clean = make_moons(1000, 0.0, rng=0)
    residual = a.X - clean.X  # the same permutation is drawn first, so the difference is the noise
    assert abs(residual.std() - 0.2) < 0.01 and abs(residual.mean()) < 0.02
    with pytest.raises(DataError):
        make_moons(1)


def test_spirals():
    s = make_spirals(601, n_classes=3, noise=0.0, rng=0, shuffle=False)
    assert np.bincount(s.Y).tolist() == [201, 200, 200]
    r = np.hypot(s.X[:, 0], s.X[:, 1])
    assert r.max() == pytest.approx(1.0) and r.min() == 0.0
    # arm k is arm 0 turned by 2πk/3: the same radii, the angle shifted
    first = s.X[s.Y == 1][-1]
    assert np.arctan2(first[1], first[0]) == pytest.approx(2 * np.pi / 3, abs=1e-12)
    assert make_spirals(100, n_classes=2, rng=0).X.shape == (100, 2)
    with pytest.raises(DataError):
        make_spirals(10, n_classes=1)


def test_stratified_split_keeps_proportions():
    y = np.repeat(np.arange(4), [100, 50, 30, 20])
    tr, te = stratified_split_indices(y, 0.25, rng=0)
    assert len(te) == 50 and len(tr) == 150
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(200))
    # shares 25, 12.5, 7.5, 5: the one row left over goes to the largest remainder (a tie: the larger class)
    assert np.bincount(y[te]).tolist() == [25, 13, 7, 5]
    tr2, te2 = stratified_split_indices(y, 0.25, rng=0)
    np.testing.assert_array_equal(te, te2)
    assert not np.array_equal(te, stratified_split_indices(y, 0.25, rng=1)[1])
    assert len(stratified_split_indices(y, 37, rng=0)[1]) == 37


def test_stratified_split_of_digits_and_errors():
    ds = load_classification("digits")
    train, test = stratified_split(ds, 0.25, rng=0)
    assert len(test) == 450 and len(train) == 1347
    assert np.all(np.abs(np.bincount(test.Y) - np.bincount(ds.Y) * 0.25) < 1)
    assert test.info["classes"] == ds.info["classes"]
    with pytest.raises(DataError, match="test_size"):
        stratified_split_indices(np.zeros(10), 1.5)
    with pytest.raises(DataError, match="each of"):
        stratified_split_indices(np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3]), 2)


def test_encode_labels_orders():
    idx, classes = encode_labels(["cat", "dog", "ant", "dog"])
    assert classes == ["ant", "cat", "dog"] and idx.tolist() == [1, 2, 0, 2]
    idx, classes = encode_labels(["10", "2", "2", "-1"])
    assert classes == ["-1", "2", "10"] and idx.tolist() == [2, 1, 1, 0]


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_csv_with_string_labels(tmp_path):
    path = _write(tmp_path / "pets.csv", "weight;label;height\n4.0;cat;25\n30;dog;60\n5.5;cat;23\n\n20;dog;55\n")
    ds = load_csv_classification(path, target="label")
    assert ds.X.tolist() == [[4.0, 25.0], [30.0, 60.0], [5.5, 23.0], [20.0, 55.0]]
    assert ds.Y.tolist() == [0, 1, 0, 1] and ds.info["classes"] == ["cat", "dog"]
    assert ds.feature_names == ["weight", "height"] and ds.target_name == "label"
    # a saved model's classes fix the mapping; an unknown label is an error
    known = load_csv_classification(path, target=1, classes=["dog", "cat", "bird"])
    assert known.Y.tolist() == [1, 0, 1, 0]
    with pytest.raises(DataError, match="'cat' is not one of"):
        load_csv_classification(path, target="label", classes=["dog", "bird"])
    # the last column by default, no header
    plain = _write(tmp_path / "plain.csv", "1,2,yes\n3,4,no\n5,6,yes\n")
    ds2 = load_classification(plain)
    assert ds2.Y.tolist() == [1, 0, 1] and ds2.info["classes"] == ["no", "yes"]


def test_csv_errors_name_line_and_column(tmp_path):
    bad = _write(tmp_path / "bad.csv", "a,b,y\n1,2,x\n3,oops,y\n")
    with pytest.raises(DataError, match=r"line 3, column 2 \('b'\): 'oops' is not a number"):
        load_csv_classification(bad)
    empty = _write(tmp_path / "empty.csv", "a,b,y\n1,,x\n")
    with pytest.raises(DataError, match="line 2, column 2.*missing value"):
        load_csv_classification(empty)
    one = _write(tmp_path / "one.csv", "a,y\n1,x\n2,x\n")
    with pytest.raises(DataError, match="single class"):
        load_csv_classification(one)
    with pytest.raises(DataError, match="no column named 'zz'"):
        load_csv_classification(bad, target="zz")
    ragged = _write(tmp_path / "ragged.csv", "a,b,y\n1,2,x\n3,y\n")
    with pytest.raises(DataError, match="line 3: expected 3 cells"):
        load_csv_classification(ragged)
    with pytest.raises(DataError, match="unknown data set"):
        load_classification("mnist")


def test_read_feature_columns(tmp_path):
    path = _write(tmp_path / "f.csv", "id,b,a,label\n7,2.5,1.5,cat\n8,3.5,0.5,dog\n")
    X = read_feature_columns(path, ["a", "b"])
    assert X.tolist() == [[1.5, 2.5], [0.5, 3.5]]
    with pytest.raises(DataError, match=r"\['c'\] is missing"):
        read_feature_columns(path, ["a", "c"])
    bare = _write(tmp_path / "bare.csv", "1,2\n3,4\n")
    assert read_feature_columns(bare, ["a", "b"]).tolist() == [[1, 2], [3, 4]]
    with pytest.raises(DataError, match="has 2 columns but the model needs 3"):
        read_feature_columns(bare, None, 3)
    assert read_feature_columns(bare, None, 2, dtype=np.float32).dtype == np.float32


# -- bad arguments and hostile files --------------------------------------------------------------------


@pytest.mark.parametrize("make, kwargs, text", [
    (make_moons, dict(n_samples="10"), "n_samples must be"), (make_moons, dict(noise=float("inf")), "noise"),
    (make_moons, dict(rng=-1), "rng"), (make_moons, dict(dtype="int8"), "dtype"),
    (make_moons, dict(shuffle="no"), "shuffle"), (make_moons, dict(n_samples=1_000_000_000), "GiB"),
    (make_spirals, dict(n_classes=1), "n_classes"), (make_spirals, dict(turns=float("nan")), "turns"),
])
def test_generators_check_their_arguments(make, kwargs, text):
    with pytest.raises(DataError, match=text):
        make(**kwargs)


def test_classification_csv_refuses_duplicate_names_and_names_bad_lines(tmp_path):
    dup = _write(tmp_path / "dup.csv", "a,label,label\n1,x,y\n2,y,x\n")
    with pytest.raises(DataError, match="duplicate column names in the header: 'label' in columns 2, 3"):
        load_csv_classification(dup, target="label")
    unclosed = _write(tmp_path / "unclosed.csv", 'a,label\n1,"x\n2,y\n3,x\n')
    with pytest.raises(DataError, match="single class"):  # the rest of the file became one label
        load_csv_classification(unclosed)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("a,label\n1,café\n2,thé\n".encode("latin-1"))
    with pytest.raises(DataError, match="line 2: not UTF-8"):
        load_csv_classification(latin)
    with pytest.raises(DataError, match="is a folder"):
        load_classification(str(tmp_path))
    with pytest.raises(DataError, match="classes must be a list"):
        load_csv_classification(dup, classes="xy")


def test_streamed_labels_keep_their_order_over_many_blocks(tmp_path):
    rows = [f"{i},{['b', 'a', '10', '2'][i % 4]}" for i in range(10_000)]
    path = _write(tmp_path / "many.csv", "x,label\n" + "\n".join(rows) + "\n")
    ds = load_csv_classification(path)
    assert ds.info["classes"] == ["10", "2", "a", "b"]
    assert [ds.info["classes"][k] for k in ds.Y[:4]] == ["b", "a", "10", "2"] and ds.X[-1, 0] == 9999
    known = load_csv_classification(path, classes=["a", "b", "2", "10"])
    assert known.Y[:4].tolist() == [1, 0, 3, 2]


def test_feature_columns_refuse_bad_arguments(tmp_path):
    path = _write(tmp_path / "f.csv", "a,b\n1,2\n")
    with pytest.raises(DataError, match="feature_names must be"):
        read_feature_columns(path, "ab")
    with pytest.raises(DataError, match="n_features must be"):
        read_feature_columns(path, None, 0)
