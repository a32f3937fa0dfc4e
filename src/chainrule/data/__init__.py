"""``chainrule.data``: data sets, mini-batches, splitting, standardising, CSV and built-in data.

* :class:`ArrayDataset` – arrays indexed together, with feature and target names,
* :class:`DataLoader` – seeded shuffling mini-batches (``drop_last``; ``batch_size=None``: full batch),
* :func:`train_test_split`, :class:`Standardizer` (fit on the training part only),
* :func:`read_csv` / :func:`load_csv` – header names, target by name or index,
  delimiter detection, errors naming line and column,
* :func:`load_diabetes` (the ``data`` extra) and :func:`make_linear` (known θ and noise).

New data modules (e.g. classification sets) add their exports at the end of this
file (append-only).
"""

from .builtin import BUILTIN, DIABETES_FEATURES, load_dataset, load_diabetes, make_linear
from .csvfile import CSVTable, detect_delimiter, load_csv, read_csv, save_csv
from .datasets import ArrayDataset
from .loader import DataLoader, as_dataset, split_indices, train_test_split
from .preprocessing import Standardizer
from .stream import StreamLoader

__all__ = [
    "ArrayDataset", "DataLoader", "as_dataset", "split_indices", "train_test_split", "Standardizer",
    "CSVTable", "read_csv", "load_csv", "save_csv", "detect_delimiter",
    "load_diabetes", "make_linear", "load_dataset", "BUILTIN", "DIABETES_FEATURES",
]

# -- classification data -----------------------------------------------------------
from .classification import (
    CLASSIFICATION_SETS,
    classes_of,
    encode_labels,
    load_breast_cancer,
    load_classification,
    load_csv_classification,
    load_digits,
    load_iris,
    load_wine,
    make_moons,
    make_spirals,
    read_feature_columns,
    stratified_split,
    stratified_split_indices,
)

__all__ += [
    "CLASSIFICATION_SETS", "classes_of", "encode_labels", "load_breast_cancer", "load_classification",
    "load_csv_classification", "load_digits", "load_iris", "load_wine", "make_moons", "make_spirals",
    "read_feature_columns", "stratified_split", "stratified_split_indices",
]

# -- data larger than memory: mini-batches streamed from .npy, Parquet and CSV files --------
__all__ += ["StreamLoader"]
