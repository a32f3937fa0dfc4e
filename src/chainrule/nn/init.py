"""Initialisers: starting values for parameters, always drawn from a ``numpy.random.Generator``.

Each function takes either a shape (and returns a new array of ``dtype``) or a
Tensor / Parameter (filled in place, and returned)::

    rng = np.random.default_rng(0)
    w = init.normal((1, 10), rng)                      # the lecture's θ ~ N(0, 1)
    init.xavier_uniform(layer.weight, rng)             # in place
    init.kaiming_normal(layer.weight, rng, nonlinearity="relu")

Fans follow PyTorch's layout: for a weight of shape (out, in, *kernel),
``fan_in = in * prod(kernel)`` and ``fan_out = out * prod(kernel)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..tensor import Tensor


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """``rng`` as a Generator: a Generator passes through, an int seeds a new one.

    ``None`` gives a fresh, unseeded generator (like scikit-learn's ``random_state=None``);
    pass a seed or a Generator for reproducible results.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"expected a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")


def _fill(target: Any, values_of_shape, dtype) -> Any:
    """Fill a Tensor in place, or make an array for a shape."""
    if isinstance(target, Tensor):
        values = values_of_shape(target.shape)
        if not target.data.flags.writeable:
            target.data = target.data.copy()
        target.data[...] = values
        return target
    return np.asarray(values_of_shape(_shape(target)), dtype=dtype)


def _shape(target: Any) -> tuple[int, ...]:
    if isinstance(target, Tensor):
        return target.shape
    return (target,) if isinstance(target, (int, np.integer)) else tuple(target)


def calculate_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape (out, in, *kernel), as PyTorch computes them."""
    if len(shape) < 2:
        raise ShapeError(f"init: fan in and fan out need a weight with at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a non-linearity (PyTorch's table): relu √2, tanh 5/3, linear/sigmoid 1."""
    name = nonlinearity.lower()
    if name in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d"):
        return 1.0
    if name == "tanh":
        return 5.0 / 3
    if name == "relu":
        return math.sqrt(2.0)
    if name == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if name == "selu":
        return 3.0 / 4
    raise ConfigError(f"calculate_gain: unknown non-linearity {nonlinearity!r}")


def normal(target: Any, rng: np.random.Generator | int | None = None, mean: float = 0.0, std: float = 1.0,
           dtype: Any = np.float64) -> Any:
    """Values from N(mean, std²): the lecture's initial θ with the defaults. Shape: as ``target``."""
    g = as_generator(rng)
    return _fill(target, lambda s: mean + std * g.standard_normal(s), dtype)


def uniform(target: Any, rng: np.random.Generator | int | None = None, low: float = 0.0, high: float = 1.0,
            dtype: Any = np.float64) -> Any:
    """Values from U(low, high). Shape: as ``target``."""
    g = as_generator(rng)
    return _fill(target, lambda s: g.uniform(low, high, s), dtype)


def zeros(target: Any, dtype: Any = np.float64) -> Any:
    """Zeros (the usual start for biases). Shape: as ``target``."""
    return _fill(target, np.zeros, dtype)


def ones(target: Any, dtype: Any = np.float64) -> Any:
    """Ones. Shape: as ``target``."""
    return _fill(target, np.ones, dtype)


def constant(target: Any, value: float, dtype: Any = np.float64) -> Any:
    """Every value equal to ``value``. Shape: as ``target``."""
    return _fill(target, lambda s: np.full(s, value), dtype)


def xavier_uniform(target: Any, rng: np.random.Generator | int | None = None, gain: float = 1.0,
                   dtype: Any = np.float64) -> Any:
    """Glorot & Bengio (2010): U(−a, a), a = gain·√(6 / (fan_in + fan_out)). Shape (out, in, ...)."""
    fan_in, fan_out = calculate_fans(_shape(target))
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(target, rng, -bound, bound, dtype)


def xavier_normal(target: Any, rng: np.random.Generator | int | None = None, gain: float = 1.0,
                  dtype: Any = np.float64) -> Any:
    """Glorot & Bengio (2010): N(0, s²), s = gain·√(2 / (fan_in + fan_out)). Shape (out, in, ...)."""
    fan_in, fan_out = calculate_fans(_shape(target))
    return normal(target, rng, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), dtype)


def _kaiming_std(shape, a: float, mode: str, nonlinearity: str) -> float:
    fan_in, fan_out = calculate_fans(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ConfigError(f"kaiming: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform(target: Any, rng: np.random.Generator | int | None = None, a: float = 0.0,
                    mode: str = "fan_in", nonlinearity: str = "relu", dtype: Any = np.float64) -> Any:
    """He et al. (2015): U(−b, b), b = gain·√(3 / fan). Shape (out, in, ...)."""
    bound = math.sqrt(3.0) * _kaiming_std(_shape(target), a, mode, nonlinearity)
    return uniform(target, rng, -bound, bound, dtype)


def kaiming_normal(target: Any, rng: np.random.Generator | int | None = None, a: float = 0.0,
                   mode: str = "fan_in", nonlinearity: str = "relu", dtype: Any = np.float64) -> Any:
    """He et al. (2015): N(0, s²), s = gain / √fan. Shape (out, in, ...)."""
    return normal(target, rng, 0.0, _kaiming_std(_shape(target), a, mode, nonlinearity), dtype)


glorot_uniform = xavier_uniform
glorot_normal = xavier_normal
he_uniform = kaiming_uniform
he_normal = kaiming_normal

__all__ = [
    "as_generator", "calculate_fans", "calculate_gain", "normal", "uniform", "zeros", "ones", "constant",
    "xavier_uniform", "xavier_normal", "glorot_uniform", "glorot_normal",
    "kaiming_uniform", "kaiming_normal", "he_uniform", "he_normal",
]
