"""Convolution and pooling layers, with PyTorch's names, parameters, state dict keys and output sizes.

Built on the blocks, by im2col: the input is padded (:class:`~chainrule.ops.Pad`), its sliding
windows taken as a strided view (:class:`~chainrule.ops.SlidingWindows`: its backward adds each
window's gradient back where the window came from, one strided add per kernel position), and the
windows contracted with the filters (:class:`~chainrule.ops.Einsum`). The derivatives, of any
order, are those blocks'.

* :class:`Conv1d`, :class:`Conv2d` -- stride, padding, dilation, groups;
* :class:`MaxPool2d`, :class:`AvgPool2d` -- over windows of ``kernel_size`` (stride: the kernel size).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..functional import einsum
from ..ops import SlidingWindows
from ..serialization import register_model
from ..tensor import Tensor, as_tensor
from . import init
from .linear import _check_dtype
from .module import Module, Parameter


def _pair(value, name: str, layer: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise ConfigError(f"{layer}: {name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def windows(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
            dilation: tuple[int, int], layer: str, pad_value: float = 0.0) -> Tensor:
    """The sliding windows of x (N, C, H, W): (N, C, Ho, Wo, kh, kw), in the graph (Pad, then GetItem)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if ho < 1 or wo < 1:
        raise ShapeError(f"{layer}: input of shape {x.shape} is smaller than the kernel {kernel} "
                         f"(with padding {padding} and dilation {dilation})")
    if ph or pw:
        x = x.pad(((0, 0), (0, 0), (ph, ph), (pw, pw)), pad_value)
    return SlidingWindows.apply(x, kernel=kernel, stride=stride, dilation=dilation)


class _ConvNd(Module):
    """Shared by Conv1d and Conv2d: the filters, PyTorch's initialisation, and the contraction."""

    _spatial = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, dtype: Any = "float64",
                 rng: np.random.Generator | int | None = None):
        super().__init__()
        layer = type(self).__name__
        if in_channels < 1 or out_channels < 1 or groups < 1 or in_channels % groups or out_channels % groups:
            raise ConfigError(f"{layer}: channels must be positive and divisible by groups, got in={in_channels}, "
                              f"out={out_channels}, groups={groups}")
        one = self._spatial == 1
        self.kernel_size = (1, int(kernel_size)) if one else _pair(kernel_size, "kernel_size", layer)
        self.stride = (1, int(stride)) if one else _pair(stride, "stride", layer)
        self.padding = (0, int(padding)) if one else _pair(padding, "padding", layer)
        self.dilation = (1, int(dilation)) if one else _pair(dilation, "dilation", layer)
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.dilation) < 1 or min(self.padding) < 0:
            raise ConfigError(f"{layer}: kernel_size, stride and dilation must be >= 1 and padding >= 0")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        dt = _check_dtype(dtype)
        g = init.as_generator(rng)
        fan_in = in_channels // groups * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in)  # PyTorch's default: kaiming_uniform(a=√5) gives U(±1/√fan_in)
        shape = (out_channels, in_channels // groups, *self.kernel_size[2 - self._spatial:])
        self.weight = Parameter(init.uniform(shape, g, -bound, bound, dtype=dt))
        if bias:
            self.bias = Parameter(init.uniform((out_channels,), g, -bound, bound, dtype=dt))
        else:
            self.register_parameter("bias", None)

    def _conv(self, x: Tensor, weight: Tensor) -> Tensor:
        """x (N, C, H, W), weight (O, C / groups, kh, kw) -> (N, O, Ho, Wo)."""
        layer = type(self).__name__
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(f"{layer}: expected input (N, {self.in_channels}, ...) , got shape {x.shape}")
        win = windows(x, self.kernel_size, self.stride, self.padding, self.dilation, layer)
        n, c, ho, wo, kh, kw = win.shape
        g = self.groups
        win = win.reshape(n, g, c // g, ho, wo, kh, kw)
        weight = weight.reshape(g, self.out_channels // g, c // g, kh, kw)
        out = einsum("ngchwij,gocij->ngohw", win, weight).reshape(n, self.out_channels, ho, wo)
        if self.bias is not None:
            out = out + self.bias.reshape(1, -1, 1, 1)
        return out

    def config(self) -> dict[str, Any]:
        k = slice(2 - self._spatial, None)
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size[k]), "stride": list(self.stride[k]),
                "padding": list(self.padding[k]), "dilation": list(self.dilation[k]), "groups": self.groups,
                "bias": self.bias is not None, "dtype": str(self.weight.dtype)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Module:
        config = dict(config)
        if cls._spatial == 1:
            for key in ("kernel_size", "stride", "padding", "dilation"):
                config[key] = config[key][0]
        return cls(**config)


@register_model
class Conv2d(_ConvNd):
    """y = the cross-correlation of x with ``out_channels`` filters, plus a bias (``torch.nn.Conv2d``).

    Shapes: x (N, in_channels, H, W) -> y (N, out_channels, Ho, Wo), Ho = ⌊(H + 2p − d(k − 1) − 1) / s⌋ + 1.
    weight (out_channels, in_channels / groups, kh, kw), bias (out_channels,).
    """

    _spatial = 2

    def forward(self, x: Any) -> Tensor:
        return self._conv(as_tensor(x), self.weight)


@register_model
class Conv1d(_ConvNd):
    """As :class:`Conv2d` along one axis (``torch.nn.Conv1d``): x (N, C, L) -> y (N, out_channels, Lo);
    weight (out_channels, in_channels / groups, k)."""

    _spatial = 1

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        if x.ndim != 3:
            raise ShapeError(f"Conv1d: expected input (N, C, L), got shape {x.shape}")
        n, c, length = x.shape
        o, ci, k = self.weight.shape
        y = self._conv(x.reshape(n, c, 1, length), self.weight.reshape(o, ci, 1, k))  # a 1 × k filter
        return y.reshape(n, self.out_channels, y.shape[-1])  # not -1: an empty batch leaves it unknown


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        layer = type(self).__name__
        self.kernel_size = _pair(kernel_size, "kernel_size", layer)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", layer)
        self.padding = _pair(padding, "padding", layer)
        if 2 * max(self.padding[0] / self.kernel_size[0], self.padding[1] / self.kernel_size[1]) > 1:
            raise ConfigError(f"{layer}: padding must be at most half the kernel size, got {self.padding}")

    def _windows(self, x: Tensor, pad_value: float) -> Tensor:
        if x.ndim != 4:
            raise ShapeError(f"{type(self).__name__}: expected input (N, C, H, W), got shape {x.shape}")
        return windows(x, self.kernel_size, self.stride, self.padding, (1, 1), type(self).__name__, pad_value)

    def config(self) -> dict[str, Any]:
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding)}


@register_model
class MaxPool2d(_Pool2d):
    """y = the largest value of each window (``torch.nn.MaxPool2d``); the gradient goes to it (shared
    equally between tied maxima, where PyTorch picks one).  Shapes: x (N, C, H, W) -> y (N, C, Ho, Wo)."""

    def forward(self, x: Any) -> Tensor:
        return self._windows(as_tensor(x), -np.inf).max(axis=(-2, -1))


@register_model
class AvgPool2d(_Pool2d):
    """y = the mean of each window, padding counted as zeros (``torch.nn.AvgPool2d``'s default).

    Shapes: x (N, C, H, W) -> y (N, C, Ho, Wo).
    """

    def forward(self, x: Any) -> Tensor:
        return self._windows(as_tensor(x), 0.0).mean(axis=(-2, -1))


__all__ = ["Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "windows"]
