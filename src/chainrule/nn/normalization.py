"""Normalisation layers and the embedding table, with PyTorch's names, parameters and state dict keys.

Each is written with the op blocks (mean, var, sqrt, indexing, ...), so its gradient, and the
derivatives of its gradient, are theirs.

* :class:`LayerNorm` -- each sample normalised over its last dimensions (``normalized_shape``);
* :class:`BatchNorm1d`, :class:`BatchNorm2d` -- each channel normalised over the batch (and the
  length, or height and width), with running statistics for evaluation;
* :class:`Embedding` -- rows of a learned table, picked by integer indices;
* :class:`Flatten` -- the dimensions from ``start_dim`` to ``end_dim`` as one; :class:`Unflatten`
  -- one dimension split into several.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..grad_mode import no_grad
from ..serialization import register_model
from ..tensor import Tensor, as_tensor, values_of
from . import init
from .linear import _check_dtype
from .module import Module, Parameter


@register_model
class LayerNorm(Module):
    """y = (x − mean) / √(var + eps) · weight + bias, mean and (biased) var over the last dimensions.

    Parameters
    ----------
    normalized_shape : the sizes of the last dimensions normalised over (an int or a tuple).
    eps : added to the variance.
    elementwise_affine : learn ``weight`` (ones) and ``bias`` (zeros), shaped ``normalized_shape``.
    bias : learn the bias (with ``elementwise_affine``).

    Shapes: x (..., *normalized_shape) -> y (the same).
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 dtype: Any = "float64"):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        if not shape or any(int(n) < 1 for n in shape):
            raise ConfigError(f"LayerNorm: normalized_shape must be positive sizes, got {normalized_shape!r}")
        self.normalized_shape, self.eps, self.elementwise_affine = tuple(int(n) for n in shape), float(eps), bool(
            elementwise_affine)
        dt = _check_dtype(dtype)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dt))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        k = len(self.normalized_shape)
        if x.shape[x.ndim - k:] != self.normalized_shape:
            raise ShapeError(f"LayerNorm: input of shape {x.shape} does not end in {self.normalized_shape}")
        axes = tuple(range(x.ndim - k, x.ndim))
        centered = x - x.mean(axis=axes, keepdims=True)
        y = centered / (centered.var(axis=axes, keepdims=True) + self.eps).sqrt()
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def config(self) -> dict[str, Any]:
        return {"normalized_shape": list(self.normalized_shape), "eps": self.eps,
                "elementwise_affine": self.elementwise_affine, "bias": self.bias is not None}


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d: each channel (axis 1) normalised over the others."""

    _dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: Any = "float64"):
        super().__init__()
        if num_features < 1:
            raise ConfigError(f"{type(self).__name__}: num_features must be positive, got {num_features}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        dt = _check_dtype(dtype)
        if self.affine:
            self.weight = Parameter(init.ones((num_features,), dtype=dt))
            self.bias = Parameter(init.zeros((num_features,), dtype=dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dt))
            self.register_buffer("running_var", np.ones(num_features, dt))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        if x.ndim not in self._dims or x.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}: expected input of {' or '.join(map(str, self._dims))} "
                             f"dimensions with {self.num_features} channels on axis 1, got shape {x.shape}")
        axes = tuple(i for i in range(x.ndim) if i != 1)
        shape = tuple(self.num_features if i == 1 else 1 for i in range(x.ndim))
        use_batch = self.training or not self.track_running_stats
        if use_batch:
            mean = x.mean(axis=axes, keepdims=True)
            var = x.var(axis=axes, keepdims=True)
            if self.training and self.track_running_stats:
                self._update_running(values_of(mean).reshape(-1), values_of(var).reshape(-1),
                                     x.size // self.num_features)
        else:
            mean = Tensor(self.running_mean.reshape(shape))
            var = Tensor(self.running_var.reshape(shape))
        y = (x - mean) / (var + self.eps).sqrt()
        if self.affine:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y

    def _update_running(self, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        """running ← (1 − m) running + m batch, the variance unbiased (n / (n − 1)), as PyTorch's."""
        with no_grad():
            self.num_batches_tracked[...] += 1
            m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            unbiased = var * (n / (n - 1)) if n > 1 else var
            self.running_mean[...] = (1 - m) * self.running_mean + m * mean
            self.running_var[...] = (1 - m) * self.running_var + m * unbiased

    def config(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine, "track_running_stats": self.track_running_stats}


@register_model
class BatchNorm1d(_BatchNorm):
    """y = (x − mean) / √(var + eps) · weight + bias per channel, the statistics over the batch (and length).

    In training the batch's mean and biased variance are used, and the running statistics move
    towards them by ``momentum`` (the variance unbiased, as PyTorch); in eval mode the running ones
    are used. Shapes: x (N, C) or (N, C, L) -> y (the same). State dict: weight, bias, running_mean,
    running_var, num_batches_tracked (PyTorch's keys).
    """

    _dims = (2, 3)


@register_model
class BatchNorm2d(_BatchNorm):
    """As :class:`BatchNorm1d`, for images: x (N, C, H, W) -> y (the same), statistics over N, H and W."""

    _dims = (4,)


@register_model
class Embedding(Module):
    """y = weight[indices]: the rows of a learned table (weight ~ N(0, 1), as PyTorch's);  the gradient of a
    row is the sum of the upstream rows that picked it.

    Parameters
    ----------
    num_embeddings, embedding_dim : the table's shape.
    padding_idx : a row that starts at zeros and gets no gradient (its outputs are zeros).

    Shapes: indices (...) of integers -> y (..., embedding_dim).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype: Any = "float64", rng: np.random.Generator | int | None = None):
        super().__init__()
        if num_embeddings < 1 or embedding_dim < 1:
            raise ConfigError(f"Embedding: sizes must be positive, got {num_embeddings}, {embedding_dim}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None and not -num_embeddings <= padding_idx < num_embeddings:
            raise ConfigError(f"Embedding: padding_idx {padding_idx} is not a row of {num_embeddings}")
        self.padding_idx = None if padding_idx is None else int(padding_idx) % num_embeddings
        weight = init.normal((num_embeddings, embedding_dim), init.as_generator(rng), dtype=_check_dtype(dtype))
        if self.padding_idx is not None:
            weight[self.padding_idx] = 0
        self.weight = Parameter(weight)

    def forward(self, indices: Any) -> Tensor:
        idx = np.asarray(values_of(indices))
        if idx.dtype.kind not in "iu":
            raise ShapeError(f"Embedding: indices must be integers, got dtype {idx.dtype}")
        if idx.size and (idx.min() < -self.num_embeddings or idx.max() >= self.num_embeddings):
            raise ShapeError(f"Embedding: an index is outside the table's {self.num_embeddings} rows")
        rows = self.weight[idx]
        if self.padding_idx is not None:
            keep = (idx % self.num_embeddings != self.padding_idx)[..., None].astype(rows.dtype)
            rows = rows * keep  # the padding row's gradient is 0
        return rows

    def config(self) -> dict[str, Any]:
        return {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim,
                "padding_idx": self.padding_idx}


@register_model
class Flatten(Module):
    """y = x with dimensions ``start_dim`` to ``end_dim`` as one (PyTorch's ``nn.Flatten``).

    Shapes: x (N, d1, ..., dk) -> y (N, d1 · ... · dk) with the defaults.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        n = x.ndim
        start, end = self.start_dim % max(n, 1), self.end_dim % max(n, 1)
        if n == 0 or start > end:
            return x.reshape(x.shape if n else (1,))
        return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1:])

    def config(self) -> dict[str, Any]:
        return {"start_dim": self.start_dim, "end_dim": self.end_dim}


@register_model
class Unflatten(Module):
    """y = x with dimension ``dim`` split into ``unflattened_size`` (PyTorch's ``nn.Unflatten``).

    ``Unflatten(1, (1, 8, 8))`` turns rows of 64 pixels into one-channel 8×8 images.
    Shapes: x (N, ..., d, ...) -> y (N, ..., s1, ..., sk, ...) with s1 · ... · sk = d.
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim = int(dim)
        self.unflattened_size = tuple(int(s) for s in unflattened_size)
        if not self.unflattened_size or min(self.unflattened_size) < 1:
            raise ConfigError(f"Unflatten: unflattened_size must be positive sizes, got {unflattened_size!r}")

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        if x.ndim == 0 or not -x.ndim <= self.dim < x.ndim:
            raise ShapeError(f"Unflatten: dim {self.dim} is not an axis of an input of shape {x.shape}")
        d = self.dim % x.ndim
        if x.shape[d] != math.prod(self.unflattened_size):
            raise ShapeError(f"Unflatten: axis {d} of shape {x.shape} has {x.shape[d]} elements, cannot be "
                             f"{self.unflattened_size}")
        return x.reshape(x.shape[:d] + self.unflattened_size + x.shape[d + 1:])

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "unflattened_size": list(self.unflattened_size)}


__all__ = ["LayerNorm", "BatchNorm1d", "BatchNorm2d", "Embedding", "Flatten", "Unflatten"]
