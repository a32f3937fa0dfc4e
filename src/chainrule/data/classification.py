"""Classification data: scikit-learn's bundled sets, 2-D generators, a stratified split, labelled CSV.

Every loader returns an :class:`~chainrule.data.datasets.ArrayDataset` whose
arrays are features X (n, d) (float64, or the ``dtype`` asked for) and class
indices y (n,) (int64, values 0..K-1). The class names travel in
``dataset.info["classes"]`` (a list of K strings: index i means ``classes[i]``),
so the mapping can be saved with a model and a prediction printed as a label.

* :func:`load_digits`, :func:`load_iris`, :func:`load_breast_cancer`, :func:`load_wine`:
  scikit-learn's bundled data (read from its package, no network; ``pip install
  'chainrule[data]'``).
* :func:`make_moons`, :func:`make_spirals`: 2-D pictures for decision boundaries,
  drawn from a seeded ``numpy.random.Generator``.
* :func:`stratified_split`: a train/test split that keeps every class's share.
* :func:`load_csv_classification`: numeric feature columns and a class column whose
  values may be any strings (``setosa``, ``spam``) or integers.
* :func:`load_classification`: one name (``digits``, ``moons``, ``FILE.csv`` ...) to a data set.
* :func:`read_feature_columns`: just the named numeric columns of a CSV file (for predicting),
  whatever the other columns hold.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..errors import DataError, require
from ..nn.init import as_generator
from .checks import (
    check_bool,
    check_float_dtype,
    check_generated,
    check_option,
    check_path,
    check_seed,
    is_int,
    is_real,
)
from .csvfile import _check_header, _column_position, _is_number, _Numbers, _open_table, listed
from .datasets import ArrayDataset
from .loader import _count_test_rows

#: Names accepted by :func:`load_classification` (besides a path to a ``.csv`` file).
CLASSIFICATION_SETS = ("digits", "iris", "breast-cancer", "wine", "moons", "spirals")


def classes_of(dataset: ArrayDataset) -> list[str]:
    """The class names of a classification data set (``info["classes"]``), or ``"0".."K-1"``."""
    classes = dataset.info.get("classes")
    if classes is not None:
        return [str(c) for c in classes]
    y = np.asarray(dataset.Y)
    return [str(i) for i in range(int(y.max()) + 1 if y.size else 0)]


def _classification_set(X, y, classes, name, feature_names=None, dtype=np.float64, **info) -> ArrayDataset:
    X = np.ascontiguousarray(X, dtype=dtype)
    y = np.asarray(y, dtype=np.int64)
    info = {"task": "classification", "classes": [str(c) for c in classes], **info}
    return ArrayDataset(X, y, feature_names=feature_names, target_name="class", name=name, info=info)


# -- scikit-learn's bundled data sets ---------------------------------------------------


def _sklearn_set(loader_name: str, name: str, dtype, classes=None) -> ArrayDataset:
    dtype = check_float_dtype(dtype, f"load_{name.replace('-', '_')}", DataError)
    datasets = require("sklearn.datasets", "data", f"the {name} data set")
    bunch = getattr(datasets, loader_name)()
    names = classes if classes is not None else [str(c) for c in bunch.target_names]
    features = [str(f) for f in getattr(bunch, "feature_names", [])] or None
    return _classification_set(bunch.data, bunch.target, names, name, features, dtype,
                               source=f"sklearn.datasets.{loader_name}")


def load_digits(dtype: Any = np.float64) -> ArrayDataset:
    """8×8 images of handwritten digits: X (1797, 64) with pixel values 0..16, y in 0..9."""
    return _sklearn_set("load_digits", "digits", dtype, classes=[str(i) for i in range(10)])


def load_iris(dtype: Any = np.float64) -> ArrayDataset:
    """Fisher's iris flowers: X (150, 4) in cm, y in {setosa, versicolor, virginica}."""
    return _sklearn_set("load_iris", "iris", dtype)


def load_breast_cancer(dtype: Any = np.float64) -> ArrayDataset:
    """Wisconsin diagnostic breast cancer: X (569, 30), y in {malignant, benign}."""
    return _sklearn_set("load_breast_cancer", "breast-cancer", dtype)


def load_wine(dtype: Any = np.float64) -> ArrayDataset:
    """Chemical analysis of wines from three cultivars: X (178, 13), y in {class_0, class_1, class_2}."""
    return _sklearn_set("load_wine", "wine", dtype)


# -- 2-D generators -------------------------------------------------------------------------


def _shuffle_and_jitter(X: np.ndarray, y: np.ndarray, g: np.random.Generator, shuffle: bool,
                        noise: float) -> tuple[np.ndarray, np.ndarray]:
    """The points in a random order (when asked), then with N(0, noise²) added to every coordinate."""
    if shuffle:
        order = g.permutation(len(y))
        X, y = X[order], y[order]
    if noise:
        X = X + g.normal(scale=noise, size=X.shape)
    return X, y


def _generator_args(who: str, n_samples: Any, noise: Any, rng: Any, dtype: Any, shuffle: Any
                    ) -> tuple[int, float, np.random.Generator, np.dtype]:
    """The arguments every 2-D generator shares, checked: sizes, noise, seed, dtype, and the memory it takes."""
    n_samples = check_option(n_samples, "n_samples", who, DataError)
    noise = check_option(noise, "noise", who, DataError)
    rng = check_seed(rng, who, DataError)
    dtype = check_float_dtype(dtype, who, DataError)
    check_bool(shuffle, "shuffle", who, DataError)
    check_generated((n_samples, 2), f"{who}: points")
    return n_samples, noise, as_generator(rng), dtype


def make_moons(n_samples: int = 1000, noise: float = 0.2, rng: np.random.Generator | int | None = 0,
               dtype: Any = np.float64, shuffle: bool = True) -> ArrayDataset:
    """Two interleaving half circles, as scikit-learn's ``make_moons``.

    The outer moon (class 0) is (cos t, sin t), the inner one (class 1) is
    (1 - cos t, 1 - sin t - 1/2), t evenly spaced on [0, π]; then Gaussian noise of
    standard deviation ``noise`` is added to every coordinate.

    Parameters
    ----------
    n_samples : total points; the outer moon gets ``n_samples // 2``.
    noise : standard deviation of the Gaussian noise.
    rng : Generator or seed (default 0: the same points every run).
    shuffle : shuffle the points (otherwise class 0 first).
    """
    n_samples, noise, g, dtype = _generator_args("make_moons", n_samples, noise, rng, dtype, shuffle)
    if n_samples < 2:
        raise DataError(f"make_moons: n_samples must be at least 2, got {n_samples}")
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    X = np.vstack([
        np.column_stack([np.cos(t_out), np.sin(t_out)]),
        np.column_stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5]),
    ])
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    X, y = _shuffle_and_jitter(X, y, g, shuffle, noise)
    return _classification_set(X, y, ["0", "1"], "moons", ["x1", "x2"], dtype, noise=float(noise))


def make_spirals(n_samples: int = 1000, n_classes: int = 3, noise: float = 0.05, turns: float = 1.0,
                 rng: np.random.Generator | int | None = 0, dtype: Any = np.float64,
                 shuffle: bool = True) -> ArrayDataset:
    """Interleaved spiral arms, one per class (the CS231n picture): not linearly separable at all.

    Arm k holds points at radius r in [0, 1] and angle 2π·turns·r + 2πk/K, plus
    Gaussian noise of standard deviation ``noise`` on every coordinate.

    Parameters
    ----------
    n_samples : total points, shared as evenly as possible between the arms.
    n_classes : number of arms (classes), at least 2.
    noise : standard deviation of the coordinate noise.
    turns : how many times each arm winds around the centre.
    rng : Generator or seed (default 0).
    """
    n_samples, noise, g, dtype = _generator_args("make_spirals", n_samples, noise, rng, dtype, shuffle)
    if not is_int(n_classes) or not 2 <= n_classes <= 1000:
        raise DataError(f"make_spirals: n_classes must be a whole number from 2 to 1,000, got {n_classes!r}")
    if not is_real(turns) or not 0 <= turns <= 1000:
        raise DataError(f"make_spirals: turns must be a number in [0, 1000], got {turns!r}")
    if n_samples < n_classes:
        raise DataError(f"make_spirals: n_samples ({n_samples}) must be at least n_classes ({n_classes})")
    sizes = [n_samples // n_classes + (k < n_samples % n_classes) for k in range(n_classes)]
    parts, labels = [], []
    for k, n_k in enumerate(sizes):
        r = np.linspace(0.0, 1.0, n_k)
        angle = 2 * np.pi * turns * r + 2 * np.pi * k / n_classes
        parts.append(np.column_stack([r * np.cos(angle), r * np.sin(angle)]))
        labels.append(np.full(n_k, k, dtype=np.int64))
    X, y = _shuffle_and_jitter(np.vstack(parts), np.concatenate(labels), g, shuffle, noise)
    return _classification_set(X, y, [str(k) for k in range(n_classes)], "spirals", ["x1", "x2"], dtype,
                               noise=float(noise), turns=float(turns))


# -- splitting -----------------------------------------------------------------------------


def stratified_split_indices(y: Any, test_size: float | int = 0.25, rng: np.random.Generator | int | None = 0
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, test)`` with every class in the test part in proportion to its size.

    The test part has ``ceil(test_size · n)`` rows (or ``test_size`` rows for an
    int); each class gets its share rounded by largest remainders, and keeps at
    least one training row. Both index arrays come out shuffled.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"stratified split: expected class labels of shape (n,), got shape {y.shape}")
    n = len(y)
    n_test = _count_test_rows(n, test_size, "stratified split", least=1)
    g = as_generator(check_seed(rng, "stratified split", DataError))
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    if n_test < len(classes) or n - n_test < len(classes):
        raise DataError(f"stratified split: {n_test} test rows out of {n} cannot hold each of "
                        f"{len(classes)} classes on both sides")
    exact = counts * (n_test / n)
    take = np.floor(exact).astype(int)
    # hand the rows left over to the classes with the largest remainders (ties: the larger class)
    order = np.lexsort((-counts, -(exact - take)))
    for k in order[: n_test - take.sum()]:
        take[k] += 1
    take = np.minimum(take, counts - 1)  # every class keeps a training row
    shortfall = n_test - take.sum()
    for k in np.argsort(-(counts - 1 - take), kind="stable")[:shortfall]:
        take[k] += 1
    train, test = [], []
    for k in range(len(classes)):
        rows = np.flatnonzero(inverse == k)
        rows = rows[g.permutation(len(rows))]
        test.append(rows[: take[k]])
        train.append(rows[take[k]:])
    train_idx, test_idx = np.concatenate(train), np.concatenate(test)
    return train_idx[g.permutation(len(train_idx))], test_idx[g.permutation(len(test_idx))]


def stratified_split(dataset: ArrayDataset, test_size: float | int = 0.25,
                     rng: np.random.Generator | int | None = 0) -> tuple[ArrayDataset, ArrayDataset]:
    """``(train, test)`` data sets with the class proportions of ``dataset`` kept on both sides."""
    tr, te = stratified_split_indices(dataset.Y, test_size, rng)
    return dataset.subset(tr), dataset.subset(te)


# -- labels and CSV ---------------------------------------------------------------------------


def encode_labels(values: Any) -> tuple[np.ndarray, list[str]]:
    """Class labels (strings or numbers) as indices 0..K-1, and the K class names.

    Integer-valued labels keep their numeric order (``2, 10`` not ``10, 2``); any
    other labels are sorted as strings. Returns ``(indices (n,) int64, classes)``.
    """
    texts = [str(v).strip() for v in np.asarray(values, dtype=object).reshape(-1)]
    unique = sorted(set(texts))
    try:
        numbers = {u: float(u) for u in unique}
        if all(math.isfinite(v) and v == int(v) for v in numbers.values()):
            unique.sort(key=lambda u: numbers[u])
    except ValueError:
        pass
    index = {u: i for i, u in enumerate(unique)}
    return np.array([index[t] for t in texts], dtype=np.int64), unique


def load_csv_classification(path: str | os.PathLike, target: str | int | None = None,
                            delimiter: str | None = None, header: bool | None = None,
                            dtype: Any = np.float64, classes: list[str] | None = None,
                            name: str | None = None) -> ArrayDataset:
    """A classification data set from CSV: numeric feature columns and one class column.

    Parameters
    ----------
    target : the class column, by header name or index (negative from the end); default the last.
    delimiter : one character, or ``None`` to detect it.
    header : ``None`` treats the first row as a header when a cell other than the
        class column's is not a number.
    classes : a known class list (e.g. from a saved model): labels map to these
        positions and an unknown label is an error. Default: learnt from the file
        with :func:`encode_labels`.

    The rows are streamed (see :mod:`chainrule.data.csvfile`): the features go into a
    compact buffer, each label is kept once.

    Raises
    ------
    DataError : unreadable file, a ragged row, an empty cell, a non-numeric feature
        cell (naming line and column), an unknown label, duplicate column names, or
        fewer than two classes.
    """
    who = "load_csv_classification"
    dtype = check_float_dtype(dtype, who, DataError)
    if header is not None:
        header = check_bool(header, "header", who, DataError)
    if classes is not None and (isinstance(classes, str) or not isinstance(classes, (list, tuple))):
        raise DataError(f"{who}: classes must be a list of class names, got {classes!r}")
    if name is not None and not isinstance(name, str):
        raise DataError(f"{who}: name must be a string, got {name!r}")
    path, delimiter, line, cells, blocks = _open_table(path, delimiter)
    width = len(cells)
    if width < 2:
        raise DataError(f"{path}: needs at least two columns (features and a class), found {width}")
    if header is None:  # a header unless every feature-looking cell is a number
        t_guess = width - 1
        if isinstance(target, (int, np.integer)) and not isinstance(target, (bool, np.bool_)):
            t_guess = int(target) % width
        header = isinstance(target, str) and target in cells or not all(
            _is_number(c) for j, c in enumerate(cells) if j != t_guess)
    names: list[str] | None = None
    if header:
        _check_header(path, line, cells)
        names = cells
    t = _column_position(-1 if target is None else target, names, width, path)
    keep = [j for j in range(width) if j != t]
    numbers = _Numbers(path, width, keep, names, delimiter, dtype, label=t)
    if not header:
        numbers.read([([line], [cells])])
    numbers.read(blocks)
    if not numbers.rows:
        raise DataError(f"{path}: no data rows (only a header)")
    seen = list(numbers.index)
    if classes is None:
        remap, classes = encode_labels(seen)
        if len(classes) < 2:
            raise DataError(f"{path}: the class column holds a single class {listed(classes)}; need at least two")
    else:
        classes = [str(c) for c in classes]
        position = {c: i for i, c in enumerate(classes)}
        unknown = [label for label in seen if label not in position]
        if unknown:
            raise DataError(f"{path}: class label {unknown[0][:40]!r} is not one of the model's classes "
                            f"{listed(classes)}")
        remap = np.array([position[label] for label in seen], dtype=np.int64)
    y = remap[numbers.label_codes()]
    features = [names[j] for j in keep] if names else [f"x{j}" for j in keep]
    ds = _classification_set(numbers.array(), y, classes, name or os.path.basename(path), features, dtype,
                             path=path, delimiter=delimiter)
    ds.target_name = names[t] if names else f"x{t}"
    return ds


def read_feature_columns(path: str | os.PathLike, feature_names: list[str] | None, n_features: int | None = None,
                         delimiter: str | None = None, dtype: Any = np.float64) -> np.ndarray:
    """The feature matrix (n, d) a model needs from a CSV file: its columns picked by header name.

    Other columns (a class column of strings, an id) are ignored, so the training
    file itself can be given. A file without a header must hold exactly the
    ``len(feature_names)`` (or ``n_features``) feature columns, in order.

    Raises
    ------
    DataError : a missing column (naming it), a non-numeric feature cell (line and column), a ragged row,
        duplicate column names.
    """
    who = "read_feature_columns"
    dtype = check_float_dtype(dtype, who, DataError)
    if feature_names is not None and (isinstance(feature_names, str) or not isinstance(feature_names, (list, tuple))
                                      or not all(isinstance(f, str) for f in feature_names)):
        raise DataError(f"{who}: feature_names must be a list of column names, got {feature_names!r}")
    if n_features is not None and not (is_int(n_features) and n_features >= 1):
        raise DataError(f"{who}: n_features must be a whole number >= 1, got {n_features!r}")
    path, delimiter, line, cells, blocks = _open_table(path, delimiter)
    width = len(cells)
    has_header = (not all(_is_number(c) for c in cells)
                  or bool(feature_names and set(feature_names) & set(cells)))
    names: list[str] | None = None
    if has_header:
        _check_header(path, line, cells)
        names = cells
        missing = [f for f in feature_names or [] if f not in names]
        if missing:
            raise DataError(f"{path}: the model needs columns {listed(list(feature_names))}, but {listed(missing)} "
                            f"{'is' if len(missing) == 1 else 'are'} missing (header: {listed(names)})")
        cols = [names.index(f) for f in feature_names] if feature_names else list(range(width))
    else:
        want = len(feature_names) if feature_names else n_features
        if want is not None and width != want:
            raise DataError(f"{path}: has {width} columns but the model needs {want} features; add a "
                            f"header row naming the columns to select them")
        cols = list(range(width))
    numbers = _Numbers(path, width, cols, names, delimiter, dtype)
    if not has_header:
        numbers.read([([line], [cells])])
    numbers.read(blocks)
    if not numbers.rows:
        raise DataError(f"{path}: no data rows")
    return numbers.array()


def load_classification(name: str, target: str | int | None = None, dtype: Any = np.float64,
                        rng: np.random.Generator | int | None = 0) -> ArrayDataset:
    """A classification data set by name: one of :data:`BUILTIN` or a path to a CSV file.

    ``rng`` seeds the generated sets (moons: 1,000 points, noise 0.2; spirals:
    1,000 points, 3 arms); ``target`` names the class column of a CSV file.
    """
    if not isinstance(name, str):
        raise DataError(f"load_classification: name must be a data set name or a path (str), got {name!r}")
    key = name.strip().lower().replace("_", "-")
    if target is not None and key in CLASSIFICATION_SETS:
        raise DataError(f"load_classification: target applies to CSV files only, not to {key}")
    if key == "digits":
        return load_digits(dtype)
    if key == "iris":
        return load_iris(dtype)
    if key == "breast-cancer":
        return load_breast_cancer(dtype)
    if key == "wine":
        return load_wine(dtype)
    if key == "moons":
        return make_moons(1000, noise=0.2, rng=rng, dtype=dtype)
    if key == "spirals":
        return make_spirals(1000, rng=rng, dtype=dtype)
    if "/" in name or "\\" in name or name.lower().endswith((".csv", ".tsv", ".txt")) or os.path.lexists(
            check_path(name, "load_classification")):
        return load_csv_classification(name, target=target, dtype=dtype)
    raise DataError(f"unknown data set {name[:60]!r}: give one of {', '.join(CLASSIFICATION_SETS)} "
                    f"or a path to a CSV file")


__all__ = [
    "CLASSIFICATION_SETS", "classes_of", "read_feature_columns", "load_digits", "load_iris", "load_breast_cancer",
    "load_wine",
    "make_moons", "make_spirals", "stratified_split", "stratified_split_indices", "encode_labels",
    "load_csv_classification", "load_classification",
]
