"""Classification losses (and Huber), with PyTorch's names, arguments and numbers.

* :class:`CrossEntropyLoss` – from logits (N, C): softmax and negative log-likelihood in one
  stable block (:class:`chainrule.ops.SoftmaxCrossEntropy`), class-index or probability
  targets, ``label_smoothing``, ``ignore_index``.
* :class:`BCEWithLogitsLoss` – binary cross-entropy from logits, stable for any logit, with
  an optional ``pos_weight``.
* :class:`HuberLoss` – squared error near zero, absolute error beyond ``delta``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..backend import is_foreign
from ..errors import ConfigError, ShapeError
from ..tensor import Tensor, apply_op, values_of
from .losses import Loss, _shape_mismatch


def _array(x: Any) -> np.ndarray:
    return np.asarray(values_of(x))


class CrossEntropyLoss(Loss):
    """L = -Σ_c q_c log softmax(z)_c per object, then ``reduction`` over the batch (as ``torch.nn.CrossEntropyLoss``).

    Parameters
    ----------
    reduction : "mean" (over objects not ignored), "sum" or "none".
    label_smoothing : ε in [0, 1]: the target becomes (1 - ε)·target + ε/C.
    ignore_index : class-index targets equal to it contribute nothing (PyTorch's -100).

    Shapes: logits (N, C) or (C,); target class indices (N,) / () of an integer dtype, or
    probabilities (N, C) / (C,) -> () (or (N,) with "none").
    The gradient with respect to the logits is (softmax - q) / N for the mean.
    """

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0, ignore_index: int = -100):
        super().__init__(reduction)
        self.label_smoothing = float(label_smoothing)
        self.ignore_index = int(ignore_index)
        ops.SoftmaxCrossEntropy(reduction, self.label_smoothing, self.ignore_index)  # validates

    def forward(self, logits: Any, target: Any) -> Tensor:
        if not isinstance(target, Tensor) and not is_foreign(target):
            target = np.asarray(target)
        op = ops.SoftmaxCrossEntropy(self.reduction, self.label_smoothing, self.ignore_index)
        return apply_op(op, logits, target)

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "label_smoothing": self.label_smoothing,
                "ignore_index": self.ignore_index}


class BCEWithLogitsLoss(Loss):
    """ℓ = (1 - y) x + w · log(1 + exp(-x)), w = 1 + (pos_weight - 1) y, from the logit x (as PyTorch).

    Without ``pos_weight`` this is log(1 + eˣ) - x y, the cross-entropy of σ(x)
    against y, computed without overflow for any x. dℓ/dx = σ(x) - y.

    Parameters
    ----------
    reduction : "mean", "sum" or "none".
    pos_weight : weight of the positive examples (a number or one per output column).

    Shapes: logits (...) and targets (...) identical (targets in [0, 1]) -> ().
    """

    def __init__(self, reduction: str = "mean", pos_weight: Any = None):
        super().__init__(reduction)
        self.pos_weight = None if pos_weight is None else np.asarray(pos_weight, dtype=np.float64)

    def forward(self, logits: Any, target: Any) -> Tensor:
        x = logits if isinstance(logits, Tensor) else Tensor(logits)
        dtype = x.dtype
        y = target if isinstance(target, Tensor) else Tensor(np.asarray(target, dtype=dtype))
        if y.dtype != dtype and not y.requires_grad:
            y = Tensor(y.data.astype(dtype))
        if x.shape != y.shape:
            raise ShapeError(f"BCEWithLogitsLoss: logits of shape {x.shape} and targets of shape {y.shape} differ; "
                             f"they must match exactly (e.g. logits (n, 1) need targets (n, 1))")
        if self.pos_weight is None:
            per = apply_op(ops.Softplus(), x) - x * y
        else:
            pw = self.pos_weight.astype(dtype)
            per = (1 - y) * x + (1 + (pw - 1) * y) * apply_op(ops.Softplus(), -x)
        return self.reduce(per)

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"reduction": self.reduction}
        if self.pos_weight is not None:
            cfg["pos_weight"] = self.pos_weight.tolist()
        return cfg


class HuberLoss(Loss):
    """ℓ = ½ d² where |d| < δ, else δ (|d| - ½ δ), d = prediction - target (as ``torch.nn.HuberLoss``).

    Quadratic near zero (like MSE), linear far away (robust to outliers); the
    gradient is d clipped to [-δ, δ].

    Shapes: prediction (...) and target (...) identical -> ().
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        if delta <= 0:
            raise ConfigError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = float(delta)

    def forward(self, prediction: Any, target: Any) -> Tensor:
        p = prediction if isinstance(prediction, Tensor) else Tensor(prediction)
        target_shape = np.shape(_array(target))
        if target_shape != p.shape:
            raise _shape_mismatch("HuberLoss", p.shape, target_shape)
        d = p - target
        a = apply_op(ops.Abs(), d)
        near = _array(a) < self.delta
        delta = self.delta
        per = apply_op(ops.Where(), near, 0.5 * (d * d), delta * (a - 0.5 * delta))
        return self.reduce(per)

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "delta": self.delta}


__all__ = ["CrossEntropyLoss", "BCEWithLogitsLoss", "HuberLoss"]
