"""Gradient clipping, with PyTorch's names and numbers (``torch.nn.utils``)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..errors import ConfigError, GraphError
from ..tensor import Tensor, values_of


def _with_grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    """The parameters that have a gradient. A recorded gradient (a Tensor, left by
    ``backward(create_graph=True)``) is replaced by its values, which clipping then changes in place."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in params:
        if p.grad is not None and type(p.grad) is not np.ndarray:
            p.grad = np.array(values_of(p.grad))
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> np.float64:
    """Scale the gradients in place so that their total norm is at most ``max_norm``.

    The total norm is the ``norm_type``-norm of all gradients together (``inf``: the
    largest absolute value). Every gradient is multiplied by ``min(1, max_norm / (total +
    1e-6))``, as ``torch.nn.utils.clip_grad_norm_``. Returns the total norm before clipping
    (a NumPy float64: ``float(total)``, ``total.item()`` and formatting all work).

    Raises :class:`GraphError` when the total is NaN or infinite and ``error_if_nonfinite``.
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not max_norm >= 0 or not math.isfinite(max_norm):
        raise ConfigError(f"clip_grad_norm_: max_norm must be a finite number >= 0, got {max_norm}")
    if not norm_type > 0:
        raise ConfigError(f"clip_grad_norm_: norm_type must be > 0 (or inf), got {norm_type}")
    params = _with_grads(parameters)
    if not params:
        return np.float64(0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        if norm_type == math.inf:
            total = float(np.max([np.max(np.abs(p.grad), initial=0.0) for p in params]))  # NaN wins, in any order
        else:
            norms = [float(np.sum(np.abs(p.grad, dtype=np.float64) ** norm_type)) for p in params]
            total = math.fsum(norms) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise GraphError(
            f"clip_grad_norm_: the total norm of order {norm_type:g} of the gradients is {total}; "
            f"set error_if_nonfinite=False to clip anyway"
        )
    scale = min(1.0, max_norm / (total + 1e-6))
    for p in params:
        p.grad *= np.asarray(scale, dtype=p.grad.dtype)
    return np.float64(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place
    (``torch.nn.utils.clip_grad_value_``)."""
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ConfigError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in _with_grads(parameters):
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)


__all__ = ["clip_grad_norm_", "clip_grad_value_"]
