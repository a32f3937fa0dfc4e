"""``ArrayDataset``: equally long arrays indexed together, with names and a description."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError


class ArrayDataset:
    """Arrays that share their first axis (objects), indexed together, like PyTorch's ``TensorDataset``.

    Parameters
    ----------
    *arrays : arrays of shapes (n, ...), usually features X (n, d) and targets Y (n,).
    feature_names : names of X's columns (default ``x0, x1, ...``).
    target_name : name of the target (default ``"y"``).
    name : short name of the data set, used in reports.
    info : free-form facts (e.g. a synthetic set's true θ and noise level).

    ``ds[i]`` is a tuple of the i-th rows; ``ds[idx]`` with an index array gives a batch.
    """

    def __init__(self, *arrays: Any, feature_names: list[str] | None = None, target_name: str | None = None,
                 name: str = "data", info: dict[str, Any] | None = None):
        if not arrays:
            raise DataError("ArrayDataset: needs at least one array")
        arrays = tuple(np.asarray(getattr(a, "data", a)) for a in arrays)
        n = len(arrays[0]) if arrays[0].ndim else 0
        for i, a in enumerate(arrays):
            if a.ndim == 0 or len(a) != n:
                shapes = ", ".join(str(x.shape) for x in arrays)
                raise DataError(f"ArrayDataset: every array needs the same first axis; got shapes {shapes} "
                                f"(array {i} differs)")
        self.arrays = arrays
        X = arrays[0]
        d = X.shape[1] if X.ndim == 2 else 1
        if feature_names is None:
            feature_names = [f"x{j}" for j in range(d)]
        feature_names = [str(f) for f in feature_names]
        if X.ndim == 2 and len(feature_names) != d:
            raise DataError(f"ArrayDataset: {len(feature_names)} feature names for {d} columns")
        self.feature_names = feature_names
        self.target_name = target_name or "y"
        self.name = name
        self.info = dict(info or {})

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: Any) -> tuple[np.ndarray, ...]:
        return tuple(a[index] for a in self.arrays)

    @property
    def X(self) -> np.ndarray:  # noqa: N802 - the lecture's name
        """The first array: features, shape (n, d)."""
        return self.arrays[0]

    @property
    def Y(self) -> np.ndarray:  # noqa: N802 - the lecture's name
        """The second array: targets, shape (n,) (raises when there is none)."""
        if len(self.arrays) < 2:
            raise DataError(f"{self.name}: this data set has no target array")
        return self.arrays[1]

    y = Y

    @property
    def n_features(self) -> int:
        X = self.arrays[0]
        return X.shape[1] if X.ndim == 2 else 1

    def subset(self, indices: Any, name: str | None = None) -> ArrayDataset:
        """The rows ``indices`` as a new data set with the same names."""
        return ArrayDataset(*(a[indices] for a in self.arrays), feature_names=self.feature_names,
                            target_name=self.target_name, name=name or self.name, info=self.info)

    def with_arrays(self, *arrays: Any) -> ArrayDataset:
        """The same names and info around new arrays (e.g. standardised features)."""
        return ArrayDataset(*arrays, feature_names=self.feature_names, target_name=self.target_name,
                            name=self.name, info=self.info)

    def astype(self, dtype: Any) -> ArrayDataset:
        """Floating arrays converted to ``dtype`` (others kept, e.g. integer class labels)."""
        return self.with_arrays(*(a.astype(dtype) if a.dtype.kind == "f" else a for a in self.arrays))

    def __repr__(self) -> str:
        shapes = ", ".join(str(a.shape) for a in self.arrays)
        return f"ArrayDataset({self.name!r}, {shapes})"
