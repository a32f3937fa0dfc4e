"""Mini-batches: a seeded shuffling ``DataLoader`` and ``train_test_split``."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import DataError
from ..nn.init import as_generator
from .checks import check_bool, check_seed, is_int
from .datasets import ArrayDataset


def as_dataset(data: Any) -> ArrayDataset:
    """An ArrayDataset from a dataset, a DataLoader's dataset or a tuple of arrays ``(X, Y)``."""
    if isinstance(data, ArrayDataset):
        return data
    if isinstance(data, DataLoader):
        return data.dataset
    if isinstance(data, (tuple, list)):
        return ArrayDataset(*data)
    raise DataError(f"expected an ArrayDataset or a tuple (X, Y), got {type(data).__name__}")


class DataLoader:
    """Iterate over a data set in mini-batches, reshuffled every epoch from a seeded Generator.

    Parameters
    ----------
    dataset : ArrayDataset, or a tuple of arrays ``(X, Y)``.
    batch_size : objects per batch; ``None`` means the whole set as one batch (full-batch GD).
    shuffle : draw a new permutation at the start of every epoch (every ``iter(loader)``);
        a single full batch is never shuffled (the order of a sum does not change it).
    drop_last : drop the last, smaller batch when ``len(dataset)`` is not a multiple of ``batch_size``.
    rng : Generator or seed for shuffling; the same seed gives the same sequence of epochs.

    Yields tuples of arrays ``(X_batch (b, d), Y_batch (b,))``; the full batch
    yields the arrays themselves, without a copy.
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool = False, drop_last: bool = False,
                 rng: np.random.Generator | int | None = None):
        self.dataset = as_dataset(dataset)
        n = len(self.dataset)
        if batch_size is None:
            batch_size = max(n, 1)
        if not is_int(batch_size) or batch_size < 1:
            raise DataError(f"DataLoader: batch_size must be a whole number >= 1 or None, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.shuffle = check_bool(shuffle, "shuffle", "DataLoader", DataError)
        self.drop_last = check_bool(drop_last, "drop_last", "DataLoader", DataError)
        rng = check_seed(rng, "DataLoader", DataError)
        self.rng = as_generator(rng if rng is not None else 0) if shuffle else None
        if self.drop_last and self.batch_size > n:
            raise DataError(f"DataLoader: batch_size {self.batch_size} > {n} objects with drop_last=True "
                            f"leaves no batch at all")

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        n, b = len(self.dataset), self.batch_size
        arrays = self.dataset.arrays
        if b >= n:  # one full batch: its order cannot change the gradient, so it is never shuffled
            yield arrays
            return
        order = self.rng.permutation(n) if self.shuffle else None
        stop = (n // b) * b if self.drop_last else n
        for start in range(0, stop, b):
            if order is None:
                yield tuple(a[start:start + b] for a in arrays)
            else:
                idx = order[start:start + b]
                yield tuple(a[idx] for a in arrays)

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last})")


def _count_test_rows(n: int, test_size: float | int, who: str, least: int = 0) -> int:
    """How many of ``n`` rows go to the test part: ``ceil(test_size · n)`` for a fraction in (0, 1),
    or ``test_size`` itself for a count from ``least`` up to ``n - 1``; a :class:`DataError` otherwise."""
    if isinstance(test_size, (float, np.floating)) and 0 < test_size < 1:
        return int(math.ceil(test_size * n))
    if is_int(test_size) and least <= test_size < n:
        return int(test_size)
    raise DataError(f"{who}: test_size must be a fraction in (0, 1) or a count below {n}, got {test_size!r}")


def split_indices(n: int, test_size: float | int = 0.2, rng: np.random.Generator | int | None = 0,
                  shuffle: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, test)`` for ``n`` objects; ``test_size`` a fraction in (0, 1) or a count."""
    if not is_int(n) or n < 0:
        raise DataError(f"train_test_split: the number of objects must be a whole number >= 0, got {n!r}")
    n_test = _count_test_rows(n, test_size, "train_test_split")
    if n - n_test < 1:
        raise DataError(f"train_test_split: {n} objects leave nothing to train on with test_size={test_size}")
    rng = check_seed(rng, "train_test_split", DataError)
    shuffle = check_bool(shuffle, "shuffle", "train_test_split", DataError)
    order = as_generator(rng).permutation(n) if shuffle else np.arange(n)
    return order[n_test:], order[:n_test]


def train_test_split(*data: Any, test_size: float | int = 0.2, rng: np.random.Generator | int | None = 0,
                     shuffle: bool = True) -> Any:
    """Split objects at random into a training and a test part.

    Two forms:

    * ``train_ds, test_ds = train_test_split(dataset)`` for one :class:`ArrayDataset`;
    * ``X_tr, X_te, Y_tr, Y_te = train_test_split(X, Y)`` for arrays (scikit-learn's order).

    Parameters
    ----------
    test_size : fraction of objects (rounded up) or their number.
    rng : Generator or seed (default 0: the same split every run).
    shuffle : False keeps the order (the test part is the first objects).
    """
    if len(data) == 1 and isinstance(data[0], ArrayDataset):
        ds = data[0]
        tr, te = split_indices(len(ds), test_size, rng, shuffle)
        return ds.subset(tr, name=ds.name), ds.subset(te, name=ds.name)
    arrays = [np.asarray(a) for a in data]
    ds = ArrayDataset(*arrays)
    tr, te = split_indices(len(ds), test_size, rng, shuffle)
    out: list[np.ndarray] = []
    for a in arrays:
        out.extend([a[tr], a[te]])
    return out
