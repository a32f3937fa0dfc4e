"""Regression losses: the lecture's L = ΣΔ² (:class:`SumSquaredError`) and :class:`MSELoss`.

A loss is a :class:`Module` called as ``loss_fn(prediction, target)`` that returns
a Tensor. Every loss has a ``reduction``:

* ``"sum"``  – Σᵢ ℓᵢ (the lecture's L),
* ``"mean"`` – (1/n) Σᵢ ℓᵢ over every element,
* ``"none"`` – the per-element ℓᵢ, shape of the prediction.

Writing a new loss (e.g. a classification loss): subclass :class:`Loss`, call
``super().__init__(reduction)``, compute the per-element losses as a Tensor and
return ``self.reduce(per_element)``. :func:`chainrule.fit` reads ``reduction``
to combine mini-batch losses into an epoch loss (sums add up, means are
weighted by batch size).
"""

from __future__ import annotations

from typing import Any

from numpy import dot, empty, ndarray

from ..backend import is_foreign, namespace_of
from ..errors import ConfigError, ShapeError
from ..ops.base import Op, Written, shape_of
from ..tensor import Tensor, apply_op
from .module import Module

REDUCTIONS = ("sum", "mean", "none")


class SquaredErrorOp(Op):
    """y = reduce((p − t)²);  dy/dp = 2(p − t) · (1, or 1/n for the mean),  dy/dt = −dy/dp.

    The lecture's Δ = μ − Y, Δ², Σ as one block. Shapes: p, t (...) equal -> y ()
    (``"sum"``, ``"mean"``) or y (...) (``"none"``).
    """

    arity = 2
    fresh_grads = True
    saves = ("delta", "p", "t")  # p and t only for a recorded backward, which recomputes Δ from them
    array_api = True  # a BLAS dot on NumPy; the standard's sum of squares otherwise

    def __init__(self, reduction: str = "sum", label: str = "squared error"):
        self.reduction = reduction
        self.label = label  # the loss named in errors

    def params(self):
        return {"reduction": self.reduction}

    def forward(self, p, t):
        ps = p.shape if type(p) is ndarray else shape_of(p)
        ts = t.shape if type(t) is ndarray else shape_of(t)
        if ps != ts:
            raise _shape_mismatch(self.label, ps, ts)
        delta = p - t
        self.saved = (delta, p, t)
        if self.reduction == "none":
            return delta * delta
        if type(delta) is not ndarray and is_foreign(delta):
            total = namespace_of(delta).sum(delta * delta)
            return total / delta.size if self.reduction == "mean" else total
        flat = delta if delta.ndim == 1 else delta.reshape(-1)
        dtype = flat.dtype
        if dtype.kind == "f":
            # One BLAS dot product, Σ Δ², written straight into a 0-d array: np.dot skips the
            # matmul ufunc's dispatch, and the output Tensor needs an array, not a scalar.
            total = empty((), dtype)
            dot(flat, flat, out=total)
        else:
            total = flat @ flat
        return total / delta.size if self.reduction == "mean" else total

    def backward(self, upstream):
        need, (delta, _, _) = self.needs_input_grad, self.saved
        scale = 2.0 / delta.size if self.reduction == "mean" else 2.0
        if upstream.ndim == 0 and not is_foreign(upstream):  # a reduced loss: one number times 2Δ (a Python
            # float keeps Δ's dtype; on a GPU, reading the number would wait for it)
            factor = scale * float(upstream)
            # Δ + Δ is exactly 2Δ, and NumPy 2 adds two arrays faster than it scales by a Python float.
            dp = delta + delta if factor == 2.0 else delta * factor
        else:
            dp = delta * (upstream * scale)
        return (dp if need[0] else None, -dp if need[1] else None)

    def recorded_backward(self, upstream):
        need, (delta, p, t) = self.needs_input_grad, self.saved
        scale = 2.0 / delta.size if self.reduction == "mean" else 2.0
        dp = (p - t) * (upstream * scale)
        return (dp if need[0] else None, -dp if need[1] else None)

    def written(self, n, y, p, t):
        delta = n.sub(p, t)
        total = n.pow(delta, 2) if self.reduction == "none" else n.call(self.reduction, n.pow(delta, 2))
        local = n.mul(n.num(2), delta)
        if self.reduction == "mean":
            local = n.div(local, "n")
        return Written(total, (local, n.neg(local)))

class Loss(Module):
    """Base class of losses: holds ``reduction`` and applies it with :meth:`reduce`."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ConfigError(f"{type(self).__name__}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def reduce(self, per_element: Tensor) -> Tensor:
        """Apply ``reduction`` to per-element losses."""
        if self.reduction == "sum":
            return per_element.sum()
        if self.reduction == "mean":
            return per_element.mean()
        return per_element

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction}


def _shape_mismatch(name: str, ps: tuple, ts: tuple) -> ShapeError:
    return ShapeError(
        f"{name}: prediction of shape {ps} and target of shape {ts} differ; they must match exactly "
        f"(broadcasting (n, 1) against (n,) would silently compare every pair). Reshape one of them."
    )


class SumSquaredError(Loss):
    """The lecture's L = Σᵢ (μᵢ − Yᵢ)² (``reduction="sum"``, the default).

    Shapes: prediction (...), target (...) identical -> () (or (...) with ``"none"``).
    ``reduction="mean"`` gives the mean squared error.
    """

    def __init__(self, reduction: str = "sum"):
        super().__init__(reduction)

    def forward(self, prediction: Any, target: Any) -> Tensor:
        # The op checks that the shapes match (a step calls this; a separate check cost more).
        return apply_op(SquaredErrorOp(self.reduction, type(self).__name__), prediction, target)


class MSELoss(SumSquaredError):
    """Mean squared error (1/n) Σᵢ (μᵢ − Yᵢ)², as ``torch.nn.MSELoss`` (``reduction="mean"`` by default).

    Shapes: prediction (...), target (...) identical -> ().
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__(reduction)
