"""Plots with matplotlib (the ``plot`` extra), drawn off-screen (Agg) straight to a file.

Only ``matplotlib.figure.Figure`` is used, never ``pyplot``, so no global backend
or window state is touched:

* :func:`plot_history` – train/test loss per epoch on a log scale (and the optimum),
* :func:`plot_sgd_noise` – variance of the mini-batch gradient against the batch size,
  log-log, with the theory line,
* :func:`plot_fit_line` – for one-feature data: the points and the fitted line.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import ChainruleError, require


def _figure(width: float = 6.4, height: float = 4.4):
    require("matplotlib", "plot", "plotting")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | os.PathLike) -> str:
    path = os.fspath(path)
    try:
        fig.savefig(path, dpi=110)
    except (OSError, ValueError) as exc:
        raise ChainruleError(f"cannot write the plot {path!r}: {exc}") from exc
    return path


def plot_history(history: Any, path: str | os.PathLike, optimum: float | None = None, title: str | None = None,
                 log: bool = True, per_object: tuple[int, int] | None = None, ylabel: str = "loss") -> str:
    """Train and test loss against the epoch (log y axis), with the optimum as a dashed line.

    Parameters
    ----------
    history : a :class:`~chainrule.train.history.History`.
    path : the image file to write (.png, .svg, .pdf).
    optimum : the closed-form training loss, drawn for reference.
    per_object : ``(n_train, n_test)``: divide the losses by these, so that a sum loss
        (the lecture's L = ΣΔ²) compares across sets of different sizes.
    ylabel : label of the y axis.
    """
    fig = _figure()
    ax = fig.add_subplot()
    epochs = np.asarray(history.epoch)
    n_train, n_test = per_object or (1, 1)
    ax.plot(epochs, np.asarray(history.train_loss) / n_train, label="train loss", color="tab:blue")
    if history.has_test:
        ax.plot(epochs, np.asarray(history.test_loss) / n_test, label="test loss", color="tab:orange")
    if optimum is not None:
        ax.axhline(optimum / n_train, color="k", linestyle="--", linewidth=1, label="closed-form optimum (train)")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Training loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_sgd_noise(result: Any, path: str | os.PathLike, title: str | None = None) -> str:
    """Total variance of the mini-batch gradient against b, log-log: measured points, the theory
    (σ²/b)(n−b)/(n−1) for sampling without replacement, and σ²/b (with replacement) for comparison."""
    fig = _figure()
    ax = fig.add_subplot()
    b = np.array([r.batch_size for r in result.rows], dtype=float)
    v = np.array([r.variance for r in result.rows])
    se = np.array([r.variance_se for r in result.rows])
    top = min(float(b.max()), result.n - 1) if result.n > 1 else float(b.max())
    grid = np.unique(np.geomspace(1, max(top, 1), 200))
    ax.plot(grid, result.theory(grid), color="k", label="theory: (σ²/b)(n−b)/(n−1)")
    ax.plot(grid, result.sigma2 / grid, color="gray", linestyle=":", label="σ²/b (with replacement)")
    keep = v > 0
    ax.errorbar(b[keep], v[keep], yerr=2 * se[keep], fmt="o", color="tab:red", capsize=3,
                label=f"measured ({result.samples} batches each, ±2 s.e.)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size b")
    ax.set_ylabel("E‖g_B − ∇L‖²")
    ax.set_title(title or f"Mini-batch gradient noise (n = {result.n})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_fit_line(X: Any, Y: Any, predict: Any, path: str | os.PathLike, feature_name: str = "x",
                  target_name: str = "y", title: str | None = None) -> str:
    """The objects of a one-feature data set and the fitted line ``predict(x_grid)``.

    Parameters
    ----------
    X : (n, 1) or (n,) raw feature values. Y : (n,) targets.
    predict : function from raw features (m, 1) to predictions (m,).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 2 and X.shape[1] != 1 or X.ndim > 2:
        raise ChainruleError(f"plot_fit_line: needs one feature, got X of shape {X.shape}")
    x = X.reshape(-1)
    fig = _figure()
    ax = fig.add_subplot()
    ax.scatter(x, np.asarray(Y), s=12, alpha=0.6, label="objects")
    grid = np.linspace(x.min(), x.max(), 100)
    ax.plot(grid, np.asarray(predict(grid[:, None])).reshape(-1), color="tab:red", label="fitted line")
    ax.set_xlabel(feature_name)
    ax.set_ylabel(target_name)
    ax.set_title(title or "Linear regression")
    ax.legend()
    return _save(fig, path)


__all__ = ["plot_history", "plot_sgd_noise", "plot_fit_line"]
