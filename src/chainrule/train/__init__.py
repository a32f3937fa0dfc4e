"""``chainrule.train``: the training loop and what it reports.

* :func:`fit` – mini-batch training with a history, early stopping, extra metrics,
  ``restore_best`` and a progress bar; :func:`evaluate_loss`, :func:`predict`,
* :class:`History` – per-epoch train/test loss, gradient norm, learning rate, metrics,
* :func:`train_linreg` / :class:`LinregResult` – the lecture's regression beside its closed form,
  :func:`auto_lr` – the step size from the largest eigenvalue of XᵀX,
* :func:`sgd_noise` – the mini-batch gradient as a random variable,
* :mod:`chainrule.train.plots` – loss curves, the SGD noise plot, a fitted line (matplotlib, the ``plot`` extra).

New training modules (e.g. ``metrics``) add their exports at the end of this file (append-only).
"""

from .fit import evaluate_loss, fit, predict
from .history import History
from .linreg import LinregResult, auto_lr, relative_error, train_linreg
from .progress import progress_bar, want_progress
from .sgd_noise import NoiseRow, SGDNoiseResult, sgd_noise

__all__ = [
    "fit", "evaluate_loss", "predict", "History", "train_linreg", "LinregResult", "auto_lr", "relative_error",
    "sgd_noise", "SGDNoiseResult", "NoiseRow", "progress_bar", "want_progress",
]

# -- classification ----------------------------------------------------------------
from .classifier import AUTO_LR, ClassifierResult, holdout_split, train_classifier
from .metrics import (
    ConfusionTracker,
    accuracy,
    accuracy_metric,
    confusion_matrix,
    format_confusion_matrix,
    per_class,
    predicted_classes,
    softmax,
)

__all__ += [
    "train_classifier", "ClassifierResult", "holdout_split", "AUTO_LR", "accuracy", "accuracy_metric",
    "confusion_matrix", "ConfusionTracker", "format_confusion_matrix", "per_class", "predicted_classes", "softmax",
]
