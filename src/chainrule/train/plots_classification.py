"""Plots of a classifier (matplotlib, the ``plot`` extra), drawn off-screen (Agg) straight to a file.

* :func:`plot_curves` – train/test loss and accuracy per epoch, side by side,
* :func:`plot_confusion_matrix` – counts (or row fractions) as a heat map with numbers,
* :func:`plot_decision_boundary` – for 2-D data: the predicted class over the plane, and the points.

Only ``matplotlib.figure.Figure`` is used (never ``pyplot``): no global state, no window.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ShapeError
from .plots import _figure, _save, quiet_numpy


@quiet_numpy
def plot_curves(history: Any, path: str | os.PathLike, title: str | None = None, test_label: str = "test") -> str:
    """Loss (left, log scale) and accuracy (right) against the epoch, for the train and test parts.

    Parameters
    ----------
    history : a :class:`~chainrule.train.history.History` with ``train_accuracy`` / ``test_accuracy``
        metrics (as :func:`~chainrule.train.classifier.train_classifier` records).
    path : the image file (.png, .svg, .pdf).
    test_label : what the held-out curves are called ("test" or "validation").
    """
    fig = _figure(10.0, 4.0)
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = np.asarray(history.epoch)
    ax_loss.plot(epochs, history.train_loss, label="train", color="tab:blue")
    if history.has_test:
        ax_loss.plot(epochs, history.test_loss, label=test_label, color="tab:orange")
    if history.best_epoch is not None and history.restored_best:
        ax_loss.axvline(history.best_epoch, color="k", linestyle=":", linewidth=1, label="kept (best)")
    if np.all(np.asarray(history.train_loss) > 0):
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy loss")
    ax_loss.set_title("loss")
    ax_loss.legend()
    ax_loss.grid(True, alpha=0.3)
    for name, color in (("train", "tab:blue"), ("test", "tab:orange")):
        key = f"{name}_accuracy"
        if key in history.metrics and history.metrics[key]:
            ax_acc.plot(epochs, history.metrics[key], label=test_label if name == "test" else name, color=color)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_title("accuracy")
    ax_acc.legend(loc="lower right")
    ax_acc.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


@quiet_numpy
def plot_confusion_matrix(cm: Any, path: str | os.PathLike, labels: list[str] | None = None,
                          normalize: bool = False, title: str | None = None) -> str:
    """The confusion matrix as a heat map: rows true classes, columns predicted, numbers in the cells.

    ``normalize=True`` shows each row as fractions of its class (the diagonal is the recall).
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ShapeError(f"plot_confusion_matrix: expected a square matrix, got shape {cm.shape}")
    k = cm.shape[0]
    labels = [str(s) for s in (labels if labels is not None else range(k))]
    values = cm.astype(np.float64)
    if normalize:
        rows = values.sum(axis=1, keepdims=True)
        values = np.divide(values, rows, out=np.zeros_like(values), where=rows > 0)
    size = min(12.0, 2.5 + 0.55 * k)
    fig = _figure(size + 1.2, size)
    ax = fig.add_subplot()
    im = ax.imshow(values, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_xticks(range(k), labels, rotation=45 if max(len(s) for s in labels) > 3 else 0, ha="right")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    top = values.max() if values.size else 0
    if k <= 30:
        for i in range(k):
            for j in range(k):
                text = f"{values[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                ax.text(j, i, text, ha="center", va="center", fontsize=8 if k > 10 else 10,
                        color="white" if values[i, j] > 0.6 * top else "black")
    ax.set_title(title or ("confusion matrix (row fractions)" if normalize else "confusion matrix"))
    return _save(fig, path)


@quiet_numpy
def plot_decision_boundary(predict_proba: Callable[[np.ndarray], np.ndarray], X: Any, y: Any,
                           path: str | os.PathLike, classes: list[str] | None = None, resolution: int = 250,
                           title: str | None = None, margin: float = 0.5) -> str:
    """For 2-D data: the predicted class over the plane (shaded by confidence) and the points on top.

    Parameters
    ----------
    predict_proba : function of raw points (m, 2) -> class probabilities (m, K).
    X : (n, 2) points in the units ``predict_proba`` takes. y : (n,) class indices.
    resolution : grid points per axis.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ShapeError(f"plot_decision_boundary: needs 2-D points (n, 2), got shape {X.shape}")
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    proba = np.asarray(predict_proba(grid))
    k = proba.shape[1]
    pred = proba.argmax(axis=1).reshape(gx.shape)
    confidence = proba.max(axis=1).reshape(gx.shape)
    fig = _figure(6.4, 5.6)  # first: it names the ``plot`` extra when matplotlib is missing
    from matplotlib.colors import to_rgba

    palette = [to_rgba(c) for c in ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
                                    "tab:pink", "tab:gray", "tab:olive", "tab:cyan")]
    colors = [palette[i % len(palette)] for i in range(k)]
    # class colour, faded towards white where the model is unsure
    rgb = np.array(colors)[pred][..., :3]
    strength = ((confidence - 1.0 / k) / (1 - 1.0 / k)).clip(0, 1)[..., None]
    image = 1 - (1 - rgb) * (0.15 + 0.35 * strength)
    ax = fig.add_subplot()
    ax.imshow(image, origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), aspect="auto", interpolation="bilinear")
    if k > 1:
        ax.contour(gx, gy, pred, levels=np.arange(k - 1) + 0.5, colors="k", linewidths=0.8)
    names = [str(c) for c in (classes if classes is not None else range(k))]
    for i in range(k):
        m = y == i
        if m.any():
            ax.scatter(X[m, 0], X[m, 1], s=12, color=colors[i], edgecolors="k", linewidths=0.3,
                       label=f"class {names[i]}")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or "decision boundary")
    return _save(fig, path)


__all__ = ["plot_curves", "plot_confusion_matrix", "plot_decision_boundary"]
