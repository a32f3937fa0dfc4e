"""A classifier end to end: stratified split, standardise, train an MLP with cross-entropy, report.

:func:`train_classifier` is what ``chainrule train mlp``, ``chainrule demo`` and
``examples/mlp_digits.py`` run: the lecture's part two, a multi-layer network
with a non-linear activation trained by backpropagation, on real data.

Everything random comes from one seed (split, initial weights, dropout masks,
batch order), so two runs with the same seed give bit-identical weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backend import check_device
from ..data.checks import (
    check_bool,
    check_columns,
    check_float_dtype,
    check_memory,
    check_option,
    check_optional,
)
from ..data.classification import classes_of, stratified_split
from ..data.datasets import ArrayDataset
from ..data.preprocessing import Standardizer
from ..errors import ChainruleError, ConfigError, DataError
from ..nn.activations import activation as make_activation
from ..nn.classification_losses import CrossEntropyLoss
from ..nn.containers import MLP, ConvNet, conv_net_sizes
from ..optim import build, build_scheduler
from .fit import evaluate_loss, fit, predict
from .history import History
from .linreg import _checked_args
from .metrics import ConfusionTracker, accuracy, accuracy_metric, confusion_matrix, format_confusion_matrix, softmax

#: The step size ``lr="auto"`` picks for each optimiser (tuned on digits and moons).
AUTO_LR = {"adam": 3e-3, "sgd": 0.1, "gd": 0.5, "momentum": 0.03, "nesterov": 0.03}


@dataclass
class ClassifierResult:
    """A trained classifier, its history and its scores.

    Attributes
    ----------
    model : the MLP or ConvNet (its outputs are logits, one per class).
    history : per-epoch train/test loss and accuracy (``history["test_accuracy"]``).
    confusions : one test-set confusion matrix per epoch (train set without test data).
    n_val : objects held out for validation (0: the test part served as validation data;
        otherwise ``history``'s "test" columns are the validation part's).
    standardizer : the training statistics applied to the features (or None).
    classes : class names; output j of the model is ``classes[j]``.
    """

    model: MLP | ConvNet
    history: History
    standardizer: Standardizer | None
    classes: list[str]
    feature_names: list[str]
    data_name: str
    target_name: str
    optimizer: str
    lr: float
    batch_size: int | None
    seed: int
    test_size: float
    n_train: int
    n_test: int
    n_val: int
    train_loss: float
    test_loss: float
    train_accuracy: float
    test_accuracy: float
    confusion: np.ndarray
    confusions: list[np.ndarray] = field(default_factory=list)

    def prepare(self, X_raw: Any) -> np.ndarray:
        """Raw features (n, d) as the model sees them (dtype, standardisation)."""
        X = np.asarray(X_raw, dtype=self.model.dtype)
        return self.standardizer.transform(X) if self.standardizer is not None else X

    def predict_proba(self, X_raw: Any) -> np.ndarray:
        """Class probabilities (n, K) for raw features (n, d)."""
        return softmax(predict(self.model, self.prepare(X_raw)))

    def predict(self, X_raw: Any) -> np.ndarray:
        """Class indices (n,) for raw features (n, d); ``classes[i]`` names them."""
        return predict(self.model, self.prepare(X_raw)).argmax(axis=1)

    def metadata(self) -> dict[str, Any]:
        """What a saved model file carries so ``chainrule predict`` / ``evaluate`` prepare data the same way."""
        meta: dict[str, Any] = {
            "task": "classification",
            "classes": self.classes,
            "feature_names": self.feature_names,
            "target_name": self.target_name,
            "data": self.data_name,
            "split": {"method": "stratified", "test_size": self.test_size, "seed": self.seed},
            "n_val": self.n_val,
            "train": {"optimizer": self.optimizer, "lr": self.lr, "batch_size": self.batch_size,
                      "epochs": len(self.history), "best_epoch": self.history.best_epoch,
                      "train_loss": self.train_loss, "test_loss": self.test_loss,
                      "train_accuracy": self.train_accuracy, "test_accuracy": self.test_accuracy},
        }
        if self.standardizer is not None:
            meta["standardizer"] = self.standardizer.state()
        return meta

    def report(self, confusion: bool = True) -> str:
        """Final loss and accuracy on both parts, how training went, and the confusion matrix."""
        h, m = self.history, self.model
        if isinstance(m, ConvNet):
            c, hh, w = m.image_shape
            sizes = " → ".join([f"{c}×{hh}×{w} images", *(f"conv {k}" for k in m.channels),
                                *(str(s) for s in [*m.hidden, m.out_features])]) + f" (kernel {m.kernel_size})"
        else:
            sizes = " → ".join(str(s) for s in [m.in_features, *m.hidden, m.out_features])
        lines = [
            f"{'CNN' if isinstance(m, ConvNet) else 'MLP'} classifier on {self.data_name}: {self.n_train} training"
            + (f", {self.n_val} validation" if self.n_val else "") + f" and {self.n_test} test objects, "
            f"{len(self.feature_names)} features, {len(self.classes)} classes"
            + (", standardised on the training part" if self.standardizer is not None else ""),
            f"  network {sizes}, activation {m.activation}" + (f", dropout {m.dropout}" if m.dropout else "")
            + f", {m.num_parameters()} parameters, {m.dtype}",
            f"  optimizer {self.optimizer}, lr {self.lr:.6g}"
            + (", full batch" if self.batch_size is None else f", batch size {self.batch_size}")
            + f", {len(h)} epochs ({h.stop_reason}), {h.seconds[-1] if h.seconds else 0:.2f} s",
        ]
        if h.restored_best:
            watched = "validation" if self.n_val else h.monitor
            lines.append(f"  kept the parameters of epoch {h.best_epoch} (lowest {watched} loss)")
        lines.append(f"  {'':<10}{'loss':>12}{'accuracy':>12}")
        lines.append(f"  {'train':<10}{self.train_loss:>12.6f}{self.train_accuracy:>12.4f}")
        if self.n_test:
            lines.append(f"  {'test':<10}{self.test_loss:>12.6f}{self.test_accuracy:>12.4f}")
        if h.stop_reason == "diverged":
            lines.append("  training DIVERGED (the loss became NaN or infinite): lower the learning rate")
        if confusion:
            part = "test" if self.n_test else "train"
            lines.append(f"  confusion matrix ({part}; rows: true class, columns: predicted):")
            lines.extend("    " + row for row in format_confusion_matrix(self.confusion, self.classes).split("\n"))
        return "\n".join(lines)


#: Part of the training data held out for validation when early stopping or keep-best watches it.
DEFAULT_VAL_SIZE = 0.1


def _streams(seed: int) -> list[np.random.Generator]:
    """Independent generators for (split, initial weights and dropout, batch order), all from one seed."""
    return np.random.default_rng(seed).spawn(3)


def holdout_split(data: ArrayDataset, test_size: float, seed: int) -> tuple[ArrayDataset, ArrayDataset]:
    """The stratified (train, test) split :func:`train_classifier` makes for this seed, reproduced exactly.

    ``chainrule evaluate`` uses it to score a saved model on the very test part it never trained on.
    """
    check_option(test_size, "test_size", "holdout_split")
    check_option(seed, "seed", "holdout_split")
    return stratified_split(data, test_size, rng=_streams(seed)[0])


#: The most hidden layers :func:`train_classifier` builds.
MAX_LAYERS = 100


def _checked_hidden(who: str, hidden: Any) -> list[int]:
    """Hidden layer sizes: a list (or tuple) of whole numbers in :data:`~chainrule.data.checks.OPTIONS`
    ["hidden_size"], at most :data:`MAX_LAYERS` of them."""
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, (list, tuple)):
        raise ConfigError(f"{who}: hidden must be a list of layer sizes such as [64, 64], got {hidden!r}")
    if len(hidden) > MAX_LAYERS:
        raise ConfigError(f"{who}: hidden lists {len(hidden)} layers, more than {MAX_LAYERS}")
    return [check_option(h, "hidden_size", f"{who}: hidden") for h in hidden]


def _checked_conv(who: str, image_shape: Any, channels: Any, kernel_size: Any, d: int):
    """A ConvNet's image shape (default: (1, s, s) for d = s²), channels and kernel size, checked against
    the d features of every row."""
    if image_shape is None:
        side = math.isqrt(d)
        if side * side != d:
            raise ConfigError(f"{who}: {d} features are not a square image; give image_shape (channels, height, "
                              f"width)")
        image_shape = (1, side, side)
    if isinstance(image_shape, (str, bytes)) or len(tuple(image_shape)) != 3:
        raise ConfigError(f"{who}: image_shape must be (channels, height, width), got {image_shape!r}")
    image_shape = tuple(check_option(v, "hidden_size", f"{who}: image_shape") for v in image_shape)
    if math.prod(image_shape) != d:
        raise ConfigError(f"{who}: image_shape {image_shape} holds {math.prod(image_shape)} pixels, but the rows "
                          f"have {d} features")
    channels = _checked_hidden(who, list(channels) if isinstance(channels, tuple) else channels)
    if not channels:
        raise ConfigError(f"{who}: a convolutional network needs one stage or more in channels")
    if not isinstance(kernel_size, (int, np.integer)) or isinstance(kernel_size, bool) or kernel_size < 1 \
            or kernel_size % 2 == 0 or kernel_size > 15:
        raise ConfigError(f"{who}: kernel_size must be an odd whole number from 1 to 15, got {kernel_size!r}")
    return image_shape, channels, int(kernel_size)


def train_classifier(
    data: ArrayDataset,
    *,
    hidden: Any = (64,),
    activation: str = "relu",
    dropout: float = 0.0,
    optimizer: str = "adam",
    lr: float | str = "auto",
    epochs: int = 30,
    batch_size: int | None = 32,
    seed: int = 0,
    test_size: float = 0.25,
    val_size: float | None = None,
    standardize: bool = True,
    label_smoothing: float = 0.0,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: str | None = None,
    tol: float | None = None,
    patience: int = 5,
    restore_best: bool = True,
    track_confusion: bool = True,
    progress: bool | None = False,
    dtype: Any = np.float64,
    checkpoint: Any = None,
    resume: bool = False,
    network: str = "mlp",
    image_shape: Any = None,
    channels: Any = (16, 32),
    kernel_size: int = 3,
    device: str = "cpu",
) -> ClassifierResult:
    """Train an MLP (or a convolutional network) classifier on ``data`` (X (n, d), class indices y (n,))
    and score it.

    Parameters
    ----------
    hidden, activation, dropout : the network (see :class:`~chainrule.nn.MLP`).
    network : "mlp", or "cnn" for a :class:`~chainrule.nn.ConvNet` on the rows as images: ``image_shape``
        (channels, height, width; default: one channel, square, when d is a square), ``channels`` per
        convolution stage, ``kernel_size``; ``hidden`` are then fully connected layers after them.
    optimizer : "adam", "sgd", "gd" (full batch), "momentum" or "nesterov".
    lr : step size, or "auto" (:data:`AUTO_LR`).
    epochs : maximum number of epochs.
    batch_size : objects per step (``None``: 32; "gd" always takes the whole training part).
    seed : one seed for the split, the weights, dropout and the batch order.
    test_size : stratified held-out fraction (0: train on everything, no test scores).
    val_size : fraction of the training part held out for validation (stratified). Early
        stopping and ``restore_best`` watch the validation loss, so the test part stays
        unseen until the end. ``None`` (the default): 0.1 when something watches it
        (``restore_best`` or ``tol``), else 0, so no data is held out for nothing. With 0
        and a watcher, the test part doubles as validation data (as in many small demos)
        and the test scores are then slightly optimistic.
    standardize : standardise features with the training part's statistics.
    label_smoothing : ε of the cross-entropy.
    tol, patience : early stopping on the validation (test) loss: stop once it has not
        improved by more than ``tol`` (relative; 0: not at all) for ``patience`` epochs.
    restore_best : keep the parameters of the epoch with the lowest validation loss.
    track_confusion : record a confusion matrix after every epoch (``result.confusions``).
    dtype : float64 or float32, kept end to end.
    device : ``"cpu"`` (NumPy) or ``"cuda"`` (CuPy, a GPU): where the model's parameters and each batch
        live; the data, the scores and the saved model stay on the host.
    """
    who = "train_classifier"
    data = _checked_args(who, data, optimizer=optimizer, lr=lr, epochs=epochs, batch_size=batch_size, seed=seed,
                         test_size=test_size, standardize=standardize, momentum=momentum,
                         weight_decay=weight_decay, schedule=schedule, tol=tol, patience=patience,
                         target_gap=None, progress=progress)
    hidden = _checked_hidden(who, hidden)
    if not isinstance(activation, str):
        raise ConfigError(f"{who}: activation must be a name such as 'relu', got {activation!r}")
    try:
        make_activation(activation)
    except ValueError as exc:
        raise ConfigError(f"{who}: {exc}") from None
    check_option(dropout, "dropout", who)
    check_optional(val_size, "val_size", who)
    check_option(label_smoothing, "label_smoothing", who)
    check_bool(restore_best, "restore_best", who)
    check_bool(track_confusion, "track_confusion", who)
    dtype = check_float_dtype(dtype, who)
    if optimizer == "gd":
        batch_size = None
    elif batch_size is None:
        batch_size = 32
    X, y = data.arrays[0], data.arrays[1] if len(data.arrays) > 1 else None
    if X.ndim != 2 or y is None or y.ndim != 1:
        raise ChainruleError(f"train_classifier: features must be a 2-D array (n, d) with class indices y (n,), "
                             f"got shapes {X.shape} and {None if y is None else y.shape}")
    if X.dtype.kind not in "biuf" or y.dtype.kind not in "iu" or (y.size and y.min() < 0):
        raise DataError(f"{who}: features must be numbers and y class indices 0..K-1, got {X.dtype} and "
                        f"{y.dtype} values")
    n, d = X.shape
    if network not in ("mlp", "cnn"):
        raise ConfigError(f"{who}: network must be 'mlp' or 'cnn', got {network!r}")
    if network == "cnn":
        image_shape, channels, kernel_size = _checked_conv(who, image_shape, channels, kernel_size, d)
        stages = conv_net_sizes(image_shape, channels, kernel_size)
        c, h, w = stages[-1]
        widths = [c * h * w, *hidden, max(len(classes_of(data)), 1)]
        conv_params = sum((c_in * kernel_size ** 2 + 1) * c_out
                          for c_in, (c_out, _, _) in zip([image_shape[0], *channels], stages))
        # activations: the windows of each convolution (kernel² copies), its output and its pooled output
        per_object = sum(kernel_size ** 2 * c_in * h_in * w_in + 2 * c_out * h_in * w_in
                         for (c_in, h_in, w_in), (c_out, _, _) in zip([image_shape, *stages[:-1]], stages))
    else:
        widths, conv_params, per_object = [d, *hidden, max(len(classes_of(data)), 1)], 0, 0
    n_params = conv_params + sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))
    # parameters, gradients and Adam's two moments; the data's copies; the activations of the widest layer
    batch = n if batch_size is None else min(n, batch_size)
    need = 8.0 * (4 * n_params + 6 * n * (d + 1) + 3 * n * max(widths) + 3 * batch * per_object)
    check_memory(need, f"{who}: a {' → '.join(f'{w:,}' for w in widths)} network on {n:,} objects",
                 error=ConfigError)
    split_rng, init_rng, batch_rng = _streams(seed)
    data = data.astype(dtype)
    check_columns(data.X, data.feature_names, f"{who}: {data.name}", dtype, n_columns=d)
    classes = classes_of(data)
    if test_size:
        train_ds, test_ds = stratified_split(data, test_size, rng=split_rng)
    else:
        train_ds, test_ds = data, None
    val_ds = None
    if val_size is None:
        val_size = DEFAULT_VAL_SIZE if (restore_best or tol is not None) else 0.0
    if val_size:
        train_ds, val_ds = stratified_split(train_ds, val_size, rng=split_rng)
    standardizer = None
    if standardize:
        standardizer = Standardizer().fit(train_ds.X)
        train_ds, test_ds, val_ds = (
            None if ds is None else ds.with_arrays(standardizer.transform(ds.X), ds.Y)
            for ds in (train_ds, test_ds, val_ds))
    k = len(classes)
    if network == "cnn":
        model = ConvNet(image_shape, channels, k, hidden=list(hidden), kernel_size=kernel_size,
                        activation=activation, dropout=dropout, dtype=dtype, rng=init_rng)
    else:
        model = MLP(data.n_features, list(hidden), k, activation=activation, dropout=dropout, dtype=dtype,
                    rng=init_rng)
    if check_device(device) != "cpu":
        model.to(device)  # before the optimiser: its state is made where the parameters live
    loss_fn = CrossEntropyLoss(label_smoothing=label_smoothing)
    if isinstance(lr, str):
        lr = AUTO_LR[optimizer]
    opt = build(optimizer, model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = build_scheduler(schedule, opt, epochs)
    watch = test_ds if test_ds is not None else train_ds
    tracker = ConfusionTracker(watch.X, watch.Y, k) if track_confusion else None
    # a diverging run is stopped by fit and reported as "diverged"; NumPy's warnings would only repeat that
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        history = fit(model, loss_fn, opt, train_ds, test_data=val_ds if val_ds is not None else test_ds,
                      epochs=epochs, batch_size=batch_size,
                      seed=batch_rng, scheduler=sched, tol=tol, patience=patience, restore_best=restore_best,
                      metrics={"accuracy": accuracy_metric}, callbacks=[tracker] if tracker else (),
                      progress=progress, description=f"{network} {optimizer}", checkpoint=checkpoint,
                      resume=resume)
        train_loss, _ = evaluate_loss(model, loss_fn, train_ds)
        train_pred = predict(model, train_ds.X)
        if test_ds is not None:
            test_loss, _ = evaluate_loss(model, loss_fn, test_ds)
            test_pred = predict(model, test_ds.X)
            test_acc = accuracy(test_ds.Y, test_pred)
            cm = confusion_matrix(test_ds.Y, test_pred, k)
        else:
            test_loss, test_acc = math.nan, math.nan
            cm = confusion_matrix(train_ds.Y, train_pred, k)
    return ClassifierResult(
        model=model, history=history, standardizer=standardizer, classes=classes,
        feature_names=list(data.feature_names), data_name=data.name, target_name=data.target_name,
        optimizer=optimizer, lr=float(lr), batch_size=batch_size, seed=seed, test_size=float(test_size),
        n_train=len(train_ds), n_test=len(test_ds) if test_ds is not None else 0,
        n_val=len(val_ds) if val_ds is not None else 0,
        train_loss=train_loss, test_loss=test_loss, train_accuracy=accuracy(train_ds.Y, train_pred),
        test_accuracy=test_acc, confusion=cm, confusions=tracker.matrices if tracker else [],
    )


__all__ = ["train_classifier", "ClassifierResult", "AUTO_LR", "holdout_split"]
