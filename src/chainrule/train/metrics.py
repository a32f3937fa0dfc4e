"""Classification metrics: accuracy and the confusion matrix, from labels or from scores.

Predictions may be given as class indices (n,) or as scores (n, K) (logits or
probabilities: the predicted class is the arg-max of each row), or for a binary
model with one output as scores (n,) / (n, 1) of a logit (class 1 when > 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError


def predicted_classes(scores: Any) -> np.ndarray:
    """Class indices (n,) from scores (n, K) (arg-max), one logit per row (n, 1) (> 0), or indices (n,)."""
    s = np.asarray(getattr(scores, "data", scores))
    if s.ndim == 2 and s.shape[1] == 1:
        return (s[:, 0] > 0).astype(np.int64)
    if s.ndim == 2:
        return s.argmax(axis=1)
    if s.ndim == 1 and s.dtype.kind == "f" and not np.all(s == np.round(s)):
        return (s > 0).astype(np.int64)  # a binary model's logits
    if s.ndim == 1:
        return s.astype(np.int64)
    raise ShapeError(f"predictions must be indices (n,) or scores (n, K), got shape {s.shape}")


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(getattr(y_true, "data", y_true)).reshape(-1).astype(np.int64)
    p = predicted_classes(y_pred)
    if t.shape != p.shape:
        raise ShapeError(f"{t.size} true labels but {p.size} predictions")
    return t, p


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of objects whose predicted class is the true one (0.0 for no objects).

    Parameters
    ----------
    y_true : class indices (n,).
    y_pred : class indices (n,) or scores (n, K).
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p)) if t.size else 0.0


def accuracy_metric(prediction: Any, target: Any) -> float:
    """:func:`accuracy` in the argument order of :func:`chainrule.fit`'s ``metrics`` (prediction first)."""
    return accuracy(target, prediction)


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """Counts C (K, K): ``C[i, j]`` objects of true class i predicted as class j (scikit-learn's layout).

    The diagonal holds the correct predictions; row sums are the class sizes.
    ``n_classes`` defaults to one more than the largest label seen (or the score width).
    """
    t, p = _pair(y_true, y_pred)
    k = n_classes
    if k is None:
        scores = np.asarray(getattr(y_pred, "data", y_pred))
        k = scores.shape[1] if scores.ndim == 2 and scores.shape[1] > 1 else 0
        k = max(k, int(t.max(initial=-1)) + 1, int(p.max(initial=-1)) + 1)
    if t.size and (t.min() < 0 or p.min() < 0 or t.max() >= k or p.max() >= k):
        raise ShapeError(f"confusion_matrix: labels must lie in 0..{k - 1}")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def softmax(logits: Any) -> np.ndarray:
    """Class probabilities (n, K) from logits (n, K), max-shifted; a one-logit binary model gives (n, 2)."""
    z = np.asarray(getattr(logits, "data", logits))
    if z.ndim == 2 and z.shape[1] == 1:  # one logit x: P(class 1) = σ(x)
        z = np.concatenate([np.zeros_like(z), z], axis=1)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class ConfusionTracker:
    """A :func:`chainrule.fit` callback recording the confusion matrix on (X, y) after every epoch.

    >>> tracker = ConfusionTracker(X_test, y_test, n_classes=10)
    >>> fit(..., callbacks=[tracker]); tracker.matrices[-1]      # (10, 10) counts of the last epoch
    """

    def __init__(self, X: Any, y: Any, n_classes: int, batch_size: int | None = None):
        self.X, self.y = X, np.asarray(y)
        self.n_classes = int(n_classes)
        self.batch_size = batch_size
        self.matrices: list[np.ndarray] = []

    def __call__(self, epoch: int, history: Any, model: Any) -> None:
        from .fit import predict

        self.matrices.append(confusion_matrix(self.y, predict(model, self.X, self.batch_size), self.n_classes))


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall and F1 of every class from a confusion matrix (0 where undefined)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(cm.sum(axis=0) > 0, tp / cm.sum(axis=0), 0.0)
        recall = np.where(cm.sum(axis=1) > 0, tp / cm.sum(axis=1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": cm.sum(axis=1).astype(np.int64)}


def format_confusion_matrix(cm: np.ndarray, labels: list[str] | None = None, max_label: int = 12) -> str:
    """The confusion matrix as an aligned text table: rows true classes, columns predicted ones."""
    cm = np.asarray(cm)
    k = cm.shape[0]
    labels = [str(s)[:max_label] for s in (labels if labels is not None else range(k))]
    corner = "true \\ pred"
    lw = max([len(corner)] + [len(s) for s in labels])
    cw = max([len(s) for s in labels] + [len(str(int(cm.max(initial=0))))]) + 1
    lines = [f"{corner:<{lw}} " + "".join(f"{s:>{cw}}" for s in labels) + f"{'recall':>{8}}"]
    recall = per_class(cm)["recall"]
    for i in range(k):
        lines.append(f"{labels[i]:<{lw}} " + "".join(f"{int(v):>{cw}}" for v in cm[i]) + f"{recall[i]:>8.3f}")
    return "\n".join(lines)


__all__ = [
    "accuracy", "accuracy_metric", "softmax", "ConfusionTracker", "confusion_matrix", "predicted_classes",
    "per_class", "format_confusion_matrix",
]
