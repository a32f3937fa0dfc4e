"""Plots with matplotlib (the ``plot`` extra), drawn off-screen (Agg) straight to a file.

Only ``matplotlib.figure.Figure`` is used, never ``pyplot``, so no global backend
or window state is touched:

* :func:`plot_history` – train/test loss per epoch on a log scale (and the optimum),
* :func:`plot_sgd_noise` – variance of the mini-batch gradient against the batch size,
  log-log, with the theory line,
* :func:`plot_fit_line` – for one-feature data: the points and the fitted line.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ChainruleError, require
from ..files import check_path


def quiet_numpy(plot: Callable[..., str]) -> Callable[..., str]:
    """Draw without NumPy's floating-point warnings: a diverged run's losses reach 1e300 and inf, the
    axes' transforms overflow on them, and the curve is still the truth to draw (the report says it
    diverged)."""

    @functools.wraps(plot)
    def quietly(*args: Any, **kwargs: Any) -> str:
        with np.errstate(all="ignore"):
            return plot(*args, **kwargs)

    return quietly


def _figure(width: float = 6.4, height: float = 4.4):
    require("matplotlib", "plot", "plotting")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


#: Image types a plot can be written as, by file suffix (matplotlib's Agg, PDF, SVG and PS backends; Pillow's).
PLOT_FORMATS = ("png", "svg", "svgz", "pdf", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp")


def plot_format(path: str | os.PathLike, what: str = "plot") -> str:
    """The image type of a plot file from its suffix (``loss.png`` -> ``png``; no suffix: ``png``).

    Raises :class:`ChainruleError` naming ``what`` and the path for a suffix that is not an image
    type (:data:`PLOT_FORMATS`), so a command can refuse it before any training.
    """
    text = check_path(path, what)
    suffix = os.path.splitext(text)[1].lower().lstrip(".")
    if not suffix:
        return "png"
    if suffix not in PLOT_FORMATS:
        raise ChainruleError(f"{what} {text!r}: .{suffix[:20]} is not an image type; use a file name ending in "
                             f"{', '.join('.' + f for f in PLOT_FORMATS[:5])}, ...")
    return suffix


def check_plot_target(path: str | os.PathLike, what: str = "plot") -> str:
    """Everything that can be known about writing a plot before drawing it: the image type, and that
    matplotlib is installed (:class:`~chainrule.errors.MissingDependencyError` naming the extra)."""
    fmt = plot_format(path, what)
    require("matplotlib", "plot", "plotting")
    return fmt


def _save(fig: Any, path: str | os.PathLike, what: str = "plot") -> str:
    """Draw ``fig`` to ``path`` through a temporary file that then replaces it at once
    (:func:`chainrule.files.write_atomically`; the type is passed, as the temporary name ends in .tmp)."""
    from ..files import write_atomically

    fmt = plot_format(path, what)

    try:
        write_atomically(path, lambda temporary: fig.savefig(temporary, format=fmt, dpi=110), what)
    except (ValueError, RuntimeError) as exc:  # matplotlib's own refusals (e.g. an image too large)
        raise ChainruleError(f"cannot write the {what} {os.fspath(path)!r}: {exc}") from exc
    return os.fspath(path)


def _finite(values: np.ndarray) -> np.ndarray:
    """The values with the infinite ones (a diverged run) left out of the curve (NaN: not drawn)."""
    return np.where(np.isfinite(values), values, np.nan)


@quiet_numpy
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
    drawn = [_finite(np.asarray(history.train_loss, dtype=np.float64) / n_train)]
    ax.plot(epochs, drawn[0], label="train loss", color="tab:blue")
    if history.has_test:
        drawn.append(_finite(np.asarray(history.test_loss, dtype=np.float64) / n_test))
        ax.plot(epochs, drawn[-1], label="test loss", color="tab:orange")
    if optimum is not None and np.isfinite(optimum):
        drawn.append(np.array([optimum / n_train]))
        ax.axhline(optimum / n_train, color="k", linestyle="--", linewidth=1, label="closed-form optimum (train)")
    values = np.concatenate(drawn)
    values = values[np.isfinite(values)]
    if log and values.size and np.all(values > 0):  # a perfect fit (loss 0) stays linear
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Training loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(fig, path)


@quiet_numpy
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
    if result.sigma2 > 0 and keep.any():  # every gradient the same (a perfect fit at its optimum): no noise to log
        ax.set_yscale("log")
    ax.set_xlabel("batch size b")
    ax.set_ylabel("E‖g_B − ∇L‖²")
    ax.set_title(title or f"Mini-batch gradient noise (n = {result.n})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(fig, path)


@quiet_numpy
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


__all__ = ["plot_history", "plot_sgd_noise", "plot_fit_line", "plot_format", "check_plot_target", "PLOT_FORMATS"]
