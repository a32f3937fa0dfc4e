"""Initialisers: starting values for parameters, always drawn from a ``numpy.random.Generator``.

Each function takes either a shape (and returns a new array of ``dtype``) or a
Tensor / Parameter (filled in place, and returned)::

    rng = np.random.default_rng(0)
    w = init.normal((1, 10), rng)                      # the lecture's θ ~ N(0, 1)
    init.xavier_uniform(layer.weight, rng)             # in place
    init.kaiming_normal(layer.weight, rng, nonlinearity="relu")

Fans follow PyTorch's layout: for a weight of shape (out, in, *kernel),
``fan_in = in * prod(kernel)`` and ``fan_out = out * prod(kernel)``.

Inside ``with init.skeleton():`` every initialiser returns a read-only array that
takes no memory (``np.broadcast_to`` of one zero, strides 0) and leaves Tensors as
they are: a model built there has the names, shapes and dtypes of its parameters
without their values. :func:`chainrule.load` builds such a skeleton from a file's
``config`` to check the file's tensors before it builds the real model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..inplace import overwrite
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


class _Skeleton:
    """The state of one :func:`skeleton` block: how many arrays it made, and its limit."""

    __slots__ = ("max_arrays", "count")

    def __init__(self, max_arrays: int | None):
        self.max_arrays = max_arrays
        self.count = 0

    def fill(self, target: Any, dtype: Any) -> Any:
        self.count += 1
        if self.max_arrays is not None and self.count > self.max_arrays:
            raise ConfigError(f"more than {self.max_arrays} parameter arrays were initialised in this "
                              f"init.skeleton() block")
        if isinstance(target, Tensor):
            return target  # a skeleton's values do not matter: leave them (often already zero-stride)
        shape = _shape(target)
        for size in shape:
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
                raise TypeError(f"init: a shape holds integers, got {shape!r}")
            if size < 0:
                raise ShapeError(f"init: a shape holds non-negative sizes, got {shape!r}")
        # strides 0: any shape costs the memory of one element (numpy still refuses absurd sizes)
        return np.broadcast_to(np.zeros((), dtype=dtype), shape)


_SKELETON: ContextVar[_Skeleton | None] = ContextVar("chainrule_init_skeleton", default=None)


@contextmanager
def skeleton(max_arrays: int | None = None) -> Iterator[_Skeleton]:
    """Within this block, initialisers make parameters that take no memory.

    Every function of this module then returns ``np.broadcast_to(np.zeros((), dtype),
    shape)`` for a shape (read-only, strides 0: a (10⁹, 10⁹) weight costs 8 bytes) and
    returns a Tensor it is given unchanged. A model built inside has the parameter
    names, shapes and dtypes its constructor arguments imply, at no cost; it is for
    checking, not for running or training. The setting is per thread (a context variable).

    Parameters
    ----------
    max_arrays : raise :class:`~chainrule.errors.ConfigError` once more than this many
        arrays are initialised (a bound on the work a hostile configuration can ask for).

    Yields
    ------
    An object whose ``count`` is the number of arrays initialised so far in the block.

    Examples
    --------
    >>> from chainrule import nn
    >>> with nn.init.skeleton():
    ...     layer = nn.Linear(10**9, 10**9)       # instant, and no memory
    >>> layer.weight.shape, layer.weight.data.strides
    ((1000000000, 1000000000), (0, 0))
    """
    state = _Skeleton(max_arrays)
    token = _SKELETON.set(state)
    try:
        yield state
    finally:
        _SKELETON.reset(token)


def _fill(target: Any, values_of_shape, dtype) -> Any:
    """Fill a Tensor in place, or make an array for a shape (a free zero-stride one in a skeleton)."""
    state = _SKELETON.get()
    if state is not None:
        return state.fill(target, dtype)
    if isinstance(target, Tensor):
        overwrite(target, values_of_shape(target.shape))
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
    "skeleton", "as_generator", "calculate_fans", "calculate_gain", "normal", "uniform", "zeros", "ones", "constant",
    "xavier_uniform", "xavier_normal", "glorot_uniform", "glorot_normal",
    "kaiming_uniform", "kaiming_normal", "he_uniform", "he_normal",
]
