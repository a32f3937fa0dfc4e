"""Built-in data sets that need no network: scikit-learn's bundled diabetes, and a synthetic linear set."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import DataError, require
from ..nn.init import as_generator
from .checks import check_float_dtype, check_generated, check_option, check_seed, is_real
from .datasets import ArrayDataset

DIABETES_FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def load_diabetes(dtype: Any = np.float64) -> ArrayDataset:
    """Efron et al.'s diabetes data (442 patients, 10 features, disease progression after one year).

    The raw (unscaled) values bundled with scikit-learn; standardise them with a
    :class:`~chainrule.data.Standardizer` fitted on the training part.
    Needs the ``data`` extra: ``pip install 'chainrule[data]'``.

    Returns an ArrayDataset with X (442, 10) and Y (442,).
    """
    dtype = check_float_dtype(dtype, "load_diabetes", DataError)
    datasets = require("sklearn.datasets", "data", "the diabetes data set")
    X, Y = datasets.load_diabetes(return_X_y=True, scaled=False)
    return ArrayDataset(X.astype(dtype), Y.astype(dtype), feature_names=list(DIABETES_FEATURES),
                        target_name="progression", name="diabetes",
                        info={"source": "scikit-learn load_diabetes(scaled=False)"})


def make_linear(n_samples: int = 1000, n_features: int = 5, noise: float = 0.5, bias: float | None = 1.0,
                rng: np.random.Generator | int | None = 0, dtype: Any = np.float64) -> ArrayDataset:
    """A synthetic linear regression set with a known truth: Y = X θ_true + b_true + noise · ε.

    X ~ N(0, 1) (n, d), θ_true ~ N(0, 1) (d,), ε ~ N(0, 1) (n,); all from ``rng``.

    Parameters
    ----------
    n_samples, n_features : n and d.
    noise : standard deviation of the noise.
    bias : the true intercept (``None`` for none).
    rng : Generator or seed (default 0).

    Returns an ArrayDataset whose ``info`` holds ``true_weight`` (d,), ``true_bias`` and ``noise``.

    Raises
    ------
    DataError : an argument of the wrong type or out of its range (see
        :data:`chainrule.data.checks.OPTIONS`), or X would take more than
        :data:`~chainrule.data.checks.MAX_GENERATED_BYTES` (2 GiB) of memory.
    """
    who = "make_linear"
    n_samples = check_option(n_samples, "n_samples", who, DataError)
    n_features = check_option(n_features, "n_features", who, DataError)
    noise = check_option(noise, "noise", who, DataError)
    if bias is not None and not (is_real(bias) and math.isfinite(bias) and abs(bias) <= 1e6):
        raise DataError(f"{who}: bias must be None or a number in [-1e6, 1e6], got {bias!r}")
    rng = check_seed(rng, who, DataError)
    dtype = check_float_dtype(dtype, who, DataError)
    check_generated((n_samples, n_features), f"{who}: synthetic data")
    g = as_generator(rng)
    theta = g.standard_normal(n_features)
    X = g.standard_normal((n_samples, n_features), dtype=dtype if dtype.kind == "f" and dtype.itemsize in (4, 8)
                          else np.float64).astype(dtype, copy=False)
    Y = X @ theta.astype(dtype)
    if bias is not None:
        Y += dtype.type(bias)
    if noise:
        Y += (noise * g.standard_normal(n_samples)).astype(dtype)
    return ArrayDataset(X, Y.astype(dtype, copy=False), name="synthetic", target_name="y",
                        info={"true_weight": theta.tolist(), "true_bias": bias, "noise": float(noise)})


#: Names accepted by :func:`load_dataset` (and ``--data`` on the command line).
BUILTIN = ("diabetes", "synthetic")


def load_dataset(name: str, target: str | int | None = None, rng: np.random.Generator | int | None = 0,
                 **kwargs: Any) -> ArrayDataset:
    """``"diabetes"``, ``"synthetic"`` (``make_linear(**kwargs)``) or the path of a CSV file.

    ``target`` (a CSV column) and the ``kwargs`` each loader takes are checked: anything
    else is a :class:`DataError` naming it.
    """
    if not isinstance(name, str):
        raise DataError(f"load_dataset: name must be a data set name or a path (str), got {name!r}")
    from .csvfile import load_csv

    loaders = {"diabetes": (load_diabetes, ("dtype",)),
               "synthetic": (make_linear, ("n_samples", "n_features", "noise", "bias", "dtype")),
               "csv": (load_csv, ("delimiter", "header", "dtype", "name"))}
    if name in BUILTIN:
        kind = name
        if target is not None:
            raise DataError(f"load_dataset: target applies to CSV files only, not to {name}")
    elif name.lower().endswith((".csv", ".tsv", ".txt")) or "/" in name or "\\" in name:
        kind = "csv"
    else:
        raise DataError(f"unknown data set {name[:60]!r}: use diabetes, synthetic or the path of a .csv file")
    load, known = loaders[kind]
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise DataError(f"load_dataset: {', '.join(unknown)} cannot be given for {kind} data "
                        f"(it takes {', '.join(known)})")
    if kind == "diabetes":
        return load_diabetes(**kwargs)
    if kind == "synthetic":
        return make_linear(rng=rng, **kwargs)
    return load_csv(name, target=target, **kwargs)
