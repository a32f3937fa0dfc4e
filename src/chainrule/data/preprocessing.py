"""``Standardizer``: features shifted to mean 0 and scaled to standard deviation 1, fitted on training data only."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError, ShapeError
from .checks import check_columns


class Standardizer:
    """z = (x − mean) / scale, column by column, with the statistics of the data given to :meth:`fit`.

    Fit it on the training part only and apply the same ``transform`` to the test
    part and to new data; otherwise test information leaks into training.

    Attributes (after fit)
    ----------------------
    mean : (d,) column means. scale : (d,) column standard deviations (ddof=0);
    a constant column gets scale 1 so it becomes 0 instead of NaN.

    dtype in = dtype out: float32 data stays float32.
    """

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    @property
    def fitted(self) -> bool:
        return self.mean is not None

    def fit(self, X: Any) -> Standardizer:
        """Learn the column means and standard deviations of X (n, d) (or (n,) for one column)."""
        X = np.asarray(getattr(X, "data", X))
        if X.ndim not in (1, 2) or len(X) == 0:
            raise ShapeError(f"Standardizer.fit: expected a non-empty (n, d) or (n,) array, got shape {X.shape}")
        if X.dtype.kind not in "biuf":
            raise DataError(f"Standardizer.fit: expected numbers, got an array of {X.dtype}")
        Xf = X.astype(np.float64)
        check_columns(Xf, None, "Standardizer.fit")  # finite, and squares that do not overflow
        self.mean = Xf.mean(axis=0)
        scale = Xf.std(axis=0)
        self.scale = np.where(scale > 0, scale, 1.0)
        return self

    def _check(self, X: Any, what: str) -> np.ndarray:
        if not self.fitted:
            raise DataError(f"Standardizer.{what}: call fit(X_train) first")
        X = np.asarray(getattr(X, "data", X))
        if X.dtype.kind not in "biuf":
            raise DataError(f"Standardizer.{what}: expected numbers, got an array of {X.dtype}")
        if X.shape[1:] != np.shape(self.mean):
            raise ShapeError(f"Standardizer.{what}: fitted on {np.size(self.mean)} columns, got shape {X.shape}")
        return X

    def transform(self, X: Any) -> np.ndarray:
        """(X − mean) / scale. Shape (n, d) -> (n, d); float dtype kept."""
        X = self._check(X, "transform")
        dtype = X.dtype if X.dtype.kind == "f" else np.float64
        return ((X - self.mean.astype(dtype)) / self.scale.astype(dtype)).astype(dtype, copy=False)

    def fit_transform(self, X: Any) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Z · scale + mean, back to the original units."""
        Z = self._check(Z, "inverse_transform")
        dtype = Z.dtype if Z.dtype.kind == "f" else np.float64
        return (Z * self.scale.astype(dtype) + self.mean.astype(dtype)).astype(dtype, copy=False)

    def state(self) -> dict[str, list[float]]:
        """JSON-able statistics (saved in model files as metadata ``standardizer``)."""
        if not self.fitted:
            raise DataError("Standardizer.state: not fitted")
        return {"mean": np.atleast_1d(self.mean).tolist(), "scale": np.atleast_1d(self.scale).tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Standardizer:
        """Rebuild from :meth:`state`'s dict."""
        try:
            mean = np.asarray(state["mean"], dtype=np.float64)
            scale = np.asarray(state["scale"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"Standardizer.from_state: bad statistics {state!r}") from exc
        if mean.shape != scale.shape or np.any(scale <= 0) or not np.all(np.isfinite(mean)):
            raise DataError("Standardizer.from_state: mean and scale must be finite, equally long, scale > 0")
        s = cls()
        s.mean, s.scale = mean, scale
        return s

    def __repr__(self) -> str:
        return f"Standardizer(fitted on {np.size(self.mean)} columns)" if self.fitted else "Standardizer()"
