"""Linear regression end to end: split, standardise, train with backprop, compare with the closed form.

:func:`train_linreg` is what ``chainrule train linreg`` and ``chainrule demo`` run.
Its report always states the gap to the least-squares optimum, so a reader sees
how close gradient descent got to the answer that needs no gradients at all.

The automatic step size
-----------------------
For the lecture's L(θ) = ‖Aθ − Y‖² (A = [X, 1]) the Hessian is H = 2AᵀA, so
the gradient is Lipschitz with constant λmax(H) and gradient descent with
lr = 1/λmax(H) decreases L at every step (any lr < 2/λmax(H) converges).
``lr="auto"`` uses exactly that for full-batch GD. For a mini-batch B the
batch Hessian is 2A_BᵀA_B, whose largest eigenvalue is at most
min(λmax(AᵀA), b · maxᵢ‖aᵢ‖²); "auto" uses 1 / (2 · that bound), which is stable
for every possible batch. For ``MSELoss`` (the mean) everything is divided by
the number of objects in the batch. For Adam, whose steps are in parameter
units, "auto" is 0.1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.checks import (
    OPTIONS,
    check_bool,
    check_choice,
    check_columns,
    check_float_dtype,
    check_memory,
    check_option,
    check_optional,
    is_int,
)
from ..data.datasets import ArrayDataset
from ..data.loader import as_dataset, train_test_split
from ..data.preprocessing import Standardizer
from ..errors import ConfigError, DataError
from ..nn.linear import LinearRegression, least_squares
from ..nn.losses import MSELoss, SumSquaredError
from ..optim import OPTIMIZERS, build, build_scheduler
from .fit import evaluate_loss, fit, predict
from .history import History


def auto_lr(X: Any, batch_size: int | None = None, bias: bool = True, reduction: str = "sum") -> float:
    """The step size 1/λ for squared-error linear regression on X (see the module docstring).

    Parameters
    ----------
    X : (n, d) training features (already standardised if the model sees them so).
    batch_size : objects per step (``None``: all, full-batch GD).
    bias : the model has an intercept (a column of ones joins X).
    reduction : the loss's reduction, "sum" (L = ΣΔ²) or "mean" (MSE).
    """
    X = np.asarray(getattr(X, "data", X))
    if X.ndim != 2 or X.dtype.kind not in "biuf" or len(X) == 0:
        raise ConfigError(f"auto_lr: expected a non-empty numeric array X (n, d), got shape {X.shape} of {X.dtype}")
    if batch_size is not None:
        check_option(batch_size, "batch_size", "auto_lr")
    check_choice(reduction, "reduction", "auto_lr", ("sum", "mean"))
    X = X.astype(np.float64, copy=False)
    n = len(X)
    A = np.concatenate([X, np.ones((n, 1))], axis=1) if bias else X
    # λmax(AᵀA) = λmax(AAᵀ): the smaller of the two Gram matrices gives it (wide data: n × n, not d × d)
    k = min(A.shape)
    check_memory(k * k * 8.0, f"auto_lr: the {k:,} × {k:,} Gram matrix", error=ConfigError)
    gram = A.T @ A if A.shape[1] <= A.shape[0] else A @ A.T
    lam_full = float(np.linalg.eigvalsh(gram)[-1])
    b = n if batch_size is None else min(int(batch_size), n)
    lam = lam_full if b >= n else min(lam_full, b * float(np.max(np.einsum("ij,ij->i", A, A))))
    if reduction == "mean":
        lam /= b
    if not lam > 0 or not math.isfinite(lam):  # all-zero data: any step is as good (and as useless) as another
        return 1.0
    return min(1.0 / (2.0 * lam), OPTIONS["lr"].high)


def relative_error(a: Any, b: Any) -> float:
    """‖a − b‖ / ‖b‖; the plain ‖a − b‖ when b = 0 (never a division by zero)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged θ: the error is inf or nan, as it should be
        diff, norm = float(np.linalg.norm(a - b)), float(np.linalg.norm(b))
    return diff / norm if norm > 0 else diff


@dataclass
class LinregResult:
    """A trained linear regression beside its closed-form optimum.

    Losses use the training loss function (L = ΣΔ² by default) on the training
    and test parts; ``*_mse`` are the same per object.
    """

    model: LinearRegression
    closed_form: LinearRegression
    history: History
    standardizer: Standardizer | None
    data_name: str
    feature_names: list[str]
    target_name: str
    optimizer: str
    lr: float
    batch_size: int | None
    n_train: int
    n_test: int
    train_loss: float
    test_loss: float
    optimum_loss: float
    optimum_test_loss: float
    loss_name: str
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)
    #: The training loss of predicting 0 for every object (ΣY², or its mean): the scale a perfect fit is judged on.
    reference_loss: float = 0.0

    @property
    def loss_gap(self) -> float:
        """(L(θ) − L(θ*)) / |L(θ*)| on the training part: the gap to the closed form.

        When the closed form fits exactly (L(θ*) at most 1e-12 of :attr:`reference_loss`, the
        loss of predicting 0: two objects, or a target that is an exact linear function),
        L(θ*) is rounding noise; the gap is then (L(θ) − L(θ*)) / reference_loss, and 0 once
        that is below 1e-12. It never divides by zero.
        """
        diff = self.train_loss - self.optimum_loss
        if not math.isfinite(diff):  # diverged
            return diff
        reference = self.reference_loss
        if abs(self.optimum_loss) > 1e-12 * reference:
            return diff / abs(self.optimum_loss)
        if reference > 0:
            return 0.0 if diff <= 1e-12 * reference else diff / reference
        return 0.0 if diff <= 0 else diff  # every target 0: the plain difference

    @property
    def theta_error(self) -> float:
        """‖θ − θ*‖ / ‖θ*‖ (θ = weights then intercept; the plain ‖θ − θ*‖ when θ* = 0)."""
        return relative_error(self.model.theta, self.closed_form.theta)

    def predict(self, X_raw: Any) -> np.ndarray:
        """Predictions for raw (unstandardised) features X (n, d) -> (n,)."""
        X = np.asarray(X_raw, dtype=self.model.dtype)
        if self.standardizer is not None:
            X = self.standardizer.transform(X)
        return predict(self.model, X)

    def metadata(self) -> dict[str, Any]:
        """What a saved model file carries so ``chainrule predict`` can preprocess new data."""
        meta: dict[str, Any] = {
            "task": "regression",
            "feature_names": self.feature_names,
            "target_name": self.target_name,
            "data": self.data_name,
            "train": {"optimizer": self.optimizer, "lr": self.lr, "batch_size": self.batch_size,
                      "epochs": len(self.history), "seed": self.seed, "loss": self.loss_name,
                      "train_loss": self.train_loss, "test_loss": self.test_loss,
                      "optimum_loss": self.optimum_loss, "loss_gap": self.loss_gap},
        }
        if self.standardizer is not None:
            meta["standardizer"] = self.standardizer.state()
        return meta

    def report(self) -> str:
        """Final losses, θ beside θ*, and the gap to the closed form, as plain text."""
        h = self.history
        names = self.feature_names + (["(intercept)"] if self.model.bias is not None else [])
        width = max(12, max(len(n) for n in names))
        per = f"{self.loss_name} / n"
        lines = [
            f"Linear regression on {self.data_name}: {self.n_train} training and {self.n_test} test objects, "
            f"{len(self.feature_names)} features" + (", standardised on the training part" if self.standardizer
                                                      else ""),
            f"  optimizer {self.optimizer}, lr {self.lr:.6g}"
            + (", full batch" if self.batch_size is None else f", batch size {self.batch_size}")
            + f", {len(h)} epochs ({h.stop_reason}), {h.seconds[-1] if h.seconds else 0:.3f} s",
            f"  {'':<22}{'trained':>16}{'closed form':>16}",
            f"  {'train loss ' + self.loss_name:<22}{self.train_loss:>16.8g}{self.optimum_loss:>16.8g}",
            f"  {'train ' + per:<22}{self.train_loss / self._per(self.n_train):>16.8g}"
            f"{self.optimum_loss / self._per(self.n_train):>16.8g}",
        ]
        if self.n_test:
            lines += [
                f"  {'test loss ' + self.loss_name:<22}{self.test_loss:>16.8g}{self.optimum_test_loss:>16.8g}",
                f"  {'test ' + per:<22}{self.test_loss / self._per(self.n_test):>16.8g}"
                f"{self.optimum_test_loss / self._per(self.n_test):>16.8g}",
            ]
        lines.append(f"  gap to the closed form: loss {self.loss_gap:.3e} relative, θ {self.theta_error:.3e} relative")
        lines.append(f"  {'θ':<{width}}  {'trained':>14}  {'closed form':>14}")
        for name, a, b in zip(names, self.model.theta, self.closed_form.theta):
            lines.append(f"  {name:<{width}}  {a:>14.6f}  {b:>14.6f}")
        if h.stop_reason == "diverged":
            lines.append("  training DIVERGED (the loss became NaN or infinite): lower the learning rate")
        return "\n".join(lines)

    def _per(self, n: int) -> float:
        return n if self.loss_name == "SSE" else 1.0


def train_linreg(
    data: ArrayDataset,
    *,
    optimizer: str = "gd",
    lr: float | str = "auto",
    epochs: int = 5000,
    batch_size: int | None = None,
    seed: int = 0,
    test_size: float = 0.2,
    standardize: bool = True,
    loss: str = "sse",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: str | None = None,
    tol: float | None = None,
    patience: int = 1,
    target_gap: float | None = None,
    progress: bool | None = False,
    dtype: Any = np.float64,
    checkpoint: Any = None,
    resume: bool = False,
) -> LinregResult:
    """Train the lecture's linear regression on ``data`` and compare it with least squares.

    Parameters
    ----------
    data : ArrayDataset with X (n, d) and Y (n,).
    optimizer : "gd" (full batch), "sgd", "momentum", "nesterov" or "adam".
    lr : step size, or "auto" (see the module docstring).
    epochs : maximum number of epochs.
    batch_size : objects per step; ``None`` for "gd" (and 32 for the stochastic ones when left out).
    seed : one seed for everything: the split, θ ~ N(0, 1), the mini-batch order.
    test_size : fraction held out (0 for none).
    standardize : standardise features with statistics of the training part.
    loss : "sse" (the lecture's L = ΣΔ²) or "mse".
    tol, patience, target_gap, schedule, momentum, weight_decay : see :func:`fit` and
        :func:`chainrule.optim.build`.
    progress : progress bar (None: auto).
    dtype : floating dtype of data and model.
    """
    who = "train_linreg"
    data = _checked_args(who, data, optimizer=optimizer, lr=lr, epochs=epochs, batch_size=batch_size, seed=seed,
                         test_size=test_size, standardize=standardize, momentum=momentum,
                         weight_decay=weight_decay, schedule=schedule, tol=tol, patience=patience,
                         target_gap=target_gap, progress=progress)
    check_choice(loss, "loss", who, ("sse", "mse"))
    dtype = check_float_dtype(dtype, who)
    if optimizer == "gd":
        if batch_size not in (None, 0):
            raise ConfigError("train_linreg: optimizer 'gd' is full-batch; use 'sgd' with a batch size")
        batch_size = None
    elif batch_size is None:
        batch_size = 32
    X, Y = data.arrays[0], data.arrays[1] if len(data.arrays) > 1 else None
    if X.ndim != 2 or Y is None or Y.ndim != 1:
        raise ConfigError(f"{who}: expected features X (n, d) and a target Y (n,), got shapes "
                          f"{X.shape} and {None if Y is None else Y.shape}")
    if X.dtype.kind not in "biuf" or Y.dtype.kind not in "biuf":
        raise DataError(f"{who}: features and target must be numbers, got {X.dtype} and {Y.dtype}")
    # the data, its split parts and their standardised copies: about six copies of X at once
    check_memory(6.0 * X.shape[0] * (X.shape[1] + 1) * dtype.itemsize,
                 f"{who}: training on {X.shape[0]:,} × {X.shape[1]:,} {dtype.name} values (with its copies)")
    data = data.astype(dtype)
    check_columns(data.X, data.feature_names, f"{who}: {data.name}", dtype, n_columns=data.n_features + 1)
    check_columns(data.Y, [data.target_name], f"{who}: {data.name}", dtype, n_columns=data.n_features + 1)
    if test_size:
        train_ds, test_ds = train_test_split(data, test_size=test_size, rng=seed)
    else:
        train_ds, test_ds = data, None
    standardizer = None
    if standardize:
        standardizer = Standardizer().fit(train_ds.X)
        train_ds = train_ds.with_arrays(standardizer.transform(train_ds.X), train_ds.Y)
        if test_ds is not None:
            test_ds = test_ds.with_arrays(standardizer.transform(test_ds.X), test_ds.Y)
    loss_fn = SumSquaredError() if loss == "sse" else MSELoss()
    X, Y = train_ds.X, train_ds.Y
    rng = np.random.default_rng(seed)
    model = LinearRegression(X.shape[1], dtype=dtype, rng=rng)
    try:
        best = LinearRegression.closed_form(X, Y, dtype=dtype)
    except np.linalg.LinAlgError as exc:
        raise DataError(f"{who}: the least-squares solution on {data.name} failed ({exc}); the data are badly "
                        f"scaled: standardise or rescale the columns") from None
    optimum, _ = evaluate_loss(best, loss_fn, train_ds)
    optimum_test = evaluate_loss(best, loss_fn, test_ds)[0] if test_ds is not None else math.nan
    y64 = np.asarray(Y, dtype=np.float64)
    reference = float(y64 @ y64) / (1.0 if loss == "sse" else max(len(y64), 1))
    if isinstance(lr, str):
        lr = 0.1 if optimizer == "adam" else auto_lr(X, batch_size, reduction=loss_fn.reduction)
    opt = build(optimizer, model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = build_scheduler(schedule, opt, epochs)
    # a step size too large makes the loss overflow: fit stops and says "diverged", the report says so;
    # NumPy's overflow warnings on the way would only repeat it, many times over
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        history = fit(model, loss_fn, opt, train_ds, test_data=test_ds, epochs=epochs, batch_size=batch_size,
                      seed=rng, scheduler=sched, tol=tol, patience=patience, monitor="train", optimum=optimum,
                      target_gap=target_gap, progress=progress, description=f"linreg {optimizer}",
                      checkpoint=checkpoint, resume=resume)
        train_loss, _ = evaluate_loss(model, loss_fn, train_ds)
        test_loss = evaluate_loss(model, loss_fn, test_ds)[0] if test_ds is not None else math.nan
    return LinregResult(
        model=model, closed_form=best, history=history, standardizer=standardizer, data_name=data.name,
        feature_names=list(data.feature_names), target_name=data.target_name, optimizer=optimizer, lr=float(lr),
        batch_size=batch_size, n_train=len(train_ds), n_test=0 if test_ds is None else len(test_ds),
        train_loss=train_loss, test_loss=test_loss, optimum_loss=optimum, optimum_test_loss=optimum_test,
        loss_name="SSE" if loss == "sse" else "MSE", seed=seed,
        extra={"true_weight": data.info.get("true_weight"), "true_bias": data.info.get("true_bias")}
        if "true_weight" in data.info else {},
        reference_loss=reference,
    )


def _checked_args(who: str, data: Any, *, optimizer: Any, lr: Any, epochs: Any, batch_size: Any, seed: Any,
                  test_size: Any, standardize: Any, momentum: Any, weight_decay: Any, schedule: Any, tol: Any,
                  patience: Any, target_gap: Any, progress: Any) -> ArrayDataset:
    """The arguments :func:`train_linreg` and :func:`~chainrule.train.classifier.train_classifier` share,
    checked before any work (ranges: :data:`chainrule.data.checks.OPTIONS`); returns the data set."""
    if not isinstance(data, (ArrayDataset, tuple, list)):
        raise ConfigError(f"{who}: data must be an ArrayDataset or a tuple (X, Y), got {type(data).__name__}")
    data = as_dataset(data)
    check_choice(optimizer, "optimizer", who, OPTIMIZERS)
    if isinstance(lr, str) and lr != "auto":
        raise ConfigError(f"{who}: lr must be {OPTIONS['lr'].describe()} or 'auto', got {lr[:40]!r}")
    if not isinstance(lr, str):
        check_option(lr, "lr", who)
    check_option(epochs, "epochs", who)
    if batch_size is not None and not (optimizer == "gd" and is_int(batch_size) and batch_size == 0):
        check_option(batch_size, "batch_size", who)
    check_option(seed, "seed", who)
    check_option(test_size, "test_size", who)
    check_bool(standardize, "standardize", who)
    check_option(momentum, "momentum", who)
    if optimizer == "nesterov" and momentum == 0:
        raise ConfigError(f"{who}: optimizer 'nesterov' needs momentum > 0")
    check_option(weight_decay, "weight_decay", who)
    check_choice(schedule, "schedule", who, (None, "none", "step", "cosine"))
    check_optional(tol, "tol", who)
    check_option(patience, "patience", who)
    check_optional(target_gap, "target_gap", who)
    if progress is not None:
        check_bool(progress, "progress", who)
    return data


__all__ = ["auto_lr", "train_linreg", "LinregResult", "least_squares", "relative_error"]
