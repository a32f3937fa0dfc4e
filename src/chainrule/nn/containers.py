"""``Sequential``, ``MLP`` and ``ConvNet``: the lecture's part two, a multi-layer network with a non-linear
activation, and its convolutional sibling for images.

Both name their layers ``"0"``, ``"1"``, ... exactly as ``torch.nn.Sequential``
does, so the state dict of ``MLP(4, [8, 8], 3)`` holds ``0.weight`` (8, 4),
``0.bias``, ``2.weight`` (8, 8), ``2.bias``, ``4.weight`` (3, 8), ``4.bias`` and
loads one to one into::

    torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                        torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..serialization import build_module, module_spec, register_model
from . import init as nn_init
from .activations import activation as make_activation
from .dropout import Dropout
from .linear import Linear
from .module import Module


@register_model
class Sequential(Module):
    """Modules run one after the other: ``Sequential(Linear(4, 8), ReLU(), Linear(8, 3))``.

    Children are registered as ``"0"``, ``"1"``, ... (or by the keys of one
    ``OrderedDict`` argument), as in PyTorch. Indexing gives a layer (``seq[0]``)
    or, with a slice, a new Sequential sharing the layers.

    Shapes: whatever the first layer takes -> whatever the last gives.
    """

    def __init__(self, *modules: Module):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, module in modules[0].items():
                self.add_module(str(name), module)
        else:
            for i, module in enumerate(modules):
                self.add_module(str(i), module)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[index][1]

    def config(self) -> dict[str, Any]:
        names = list(self._modules)
        cfg: dict[str, Any] = {"layers": [module_spec(m) for m in self._modules.values()]}
        if names != [str(i) for i in range(len(names))]:
            cfg["names"] = names
        return cfg

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        layers = [build_module(spec) for spec in config.get("layers", [])]
        names = config.get("names")
        if names is not None:
            return cls(OrderedDict(zip(names, layers)))
        return cls(*layers)


def _weight_init(name: str, activation: str):
    """An initialiser from chainrule.nn.init by name, with the gain of ``activation`` where it takes one."""
    fn = getattr(nn_init, name, None)
    if fn is None or name.startswith("_") or name in ("as_generator", "calculate_fans", "calculate_gain", "skeleton"):
        raise ConfigError(f"MLP: unknown init {name!r}; use a function of chainrule.nn.init such as "
                         f"'xavier_uniform', 'kaiming_normal' or 'normal'")
    if name.startswith(("kaiming", "he_")):
        nonlinearity = activation if activation in ("relu", "leaky_relu", "tanh", "sigmoid") else "linear"
        if activation == "gelu":
            nonlinearity = "relu"
        return lambda w, g: fn(w, g, nonlinearity=nonlinearity)
    if name.startswith(("xavier", "glorot")):
        gain = nn_init.calculate_gain(activation) if activation in ("relu", "tanh", "sigmoid") else 1.0
        return lambda w, g: fn(w, g, gain=gain)
    return lambda w, g: fn(w, g)


@register_model
class MLP(Sequential):
    """A multi-layer perceptron: Linear → activation (→ Dropout) for every hidden size, then a last Linear.

    Parameters
    ----------
    in_features : size of the input's last axis.
    hidden : sizes of the hidden layers, e.g. ``[64, 64]`` (empty: a linear model).
    out_features : size of the output (classes for a classifier: the logits).
    activation : name of the activation after every hidden layer (``relu``, ``leaky_relu``,
        ``sigmoid``, ``tanh``, ``softplus``, ``gelu``, ``gelu_tanh``, ``identity``).
    dropout : drop probability of a :class:`Dropout` after every activation (0: none).
    bias : whether the Linear layers learn a bias.
    dtype : parameter dtype (float64, or float32 kept end to end).
    rng : Generator or seed for the initial weights and the dropout masks. The
        default initialisation is PyTorch's (weights kaiming-uniform with a = √5,
        i.e. U(±1/√fan_in), biases U(±1/√fan_in)).
    init : optional name of a :mod:`chainrule.nn.init` function for the weights
        (``"xavier_uniform"``, ``"kaiming_normal"``, ...; the gain follows the
        activation), biases then start at zero.

    Layers are numbered as in the equivalent ``torch.nn.Sequential``: with
    ``dropout=0``, Linear layers sit at 0, 2, 4, ...; with dropout at 0, 3, 6, ...
    Shapes: x (..., in_features) -> (..., out_features).
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (), out_features: int = 1,
                 activation: str = "relu", dropout: float = 0.0, bias: bool = True, dtype: Any = "float64",
                 rng: np.random.Generator | int | None = None, init: str | None = None):
        hidden = [int(h) for h in ([hidden] if isinstance(hidden, (int, np.integer)) else hidden)]
        if any(h < 1 for h in hidden) or in_features < 1 or out_features < 1:
            raise ShapeError(f"MLP: layer sizes must be positive, got in={in_features}, hidden={hidden}, "
                             f"out={out_features}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"MLP: dropout must be in [0, 1), got {dropout}")
        make_activation(activation)  # validate the name before building anything
        g = nn_init.as_generator(rng)
        layers: list[Module] = []
        sizes = [int(in_features), *hidden, int(out_features)]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(n_in, n_out, bias=bias, dtype=dtype, rng=g))
            if i < len(hidden):
                layers.append(make_activation(activation))
                if dropout:
                    layers.append(Dropout(dropout, rng=np.random.default_rng(g.integers(2**63))))
        super().__init__(*layers)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.hidden = hidden
        self.activation = str(activation)
        self.dropout = float(dropout)
        self.bias = bool(bias)
        self.init = init
        if init is not None:
            fill = _weight_init(init, self.activation.lower())
            for layer in self.linears():
                fill(layer.weight, g)
                if layer.bias is not None:
                    nn_init.zeros(layer.bias)

    def linears(self) -> list[Linear]:
        """The Linear layers, first to last."""
        return [m for m in self if isinstance(m, Linear)]

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "in_features": self.in_features,
            "hidden": list(self.hidden),
            "out_features": self.out_features,
            "activation": self.activation,
            "dropout": self.dropout,
            "bias": self.bias,
            "dtype": str(self.dtype),
        }
        if self.init is not None:
            cfg["init"] = self.init
        return cfg

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MLP:
        return cls(**config)

    def extra_repr(self) -> str:
        sizes = " → ".join(str(s) for s in [self.in_features, *self.hidden, self.out_features])
        extra = f", dropout={self.dropout}" if self.dropout else ""
        return f"{sizes}, activation={self.activation!r}{extra}"


def conv_net_sizes(image_shape: Sequence[int], channels: Sequence[int], kernel_size: int) -> list[tuple[int, int, int]]:
    """The (channels, height, width) after each stage of a :class:`ConvNet`: a "same" convolution, then a
    2×2 max-pool while the image is 2 or more pixels on both sides."""
    c, h, w = (int(v) for v in image_shape)
    sizes = []
    for out in channels:
        h, w = h + 2 * (kernel_size // 2) - kernel_size + 1, w + 2 * (kernel_size // 2) - kernel_size + 1
        if h >= 2 and w >= 2:
            h, w = h // 2, w // 2
        c = int(out)
        sizes.append((c, h, w))
    return sizes


@register_model
class ConvNet(Sequential):
    """A small convolutional classifier on rows of pixels: Unflatten → (Conv2d → activation → MaxPool2d) per
    entry of ``channels`` → Flatten (→ Dropout) → Linear → activation ... → Linear.

    Parameters
    ----------
    image_shape : (channels, height, width) of one image; the input rows hold C·H·W pixels in that order
        (as ``x.reshape(n, -1)`` of (n, C, H, W) images), so a ConvNet reads the same rows as an MLP.
    channels : filters of each convolution stage, e.g. ``[16, 32]``.
    out_features : outputs (the classes' logits).
    hidden : sizes of fully connected hidden layers after the convolutions (default none).
    kernel_size : odd filter size; each convolution pads by ``kernel_size // 2`` ("same"), and a 2×2
        max-pool halves the image after it while both sides are 2 pixels or more.
    activation, dropout, dtype, rng : as :class:`MLP` (dropout once, before the fully connected part).

    Layers are numbered as the equivalent ``torch.nn.Sequential`` of ``nn.Unflatten``, ``nn.Conv2d``,
    ``nn.ReLU``, ``nn.MaxPool2d``, ``nn.Flatten``, ``nn.Linear``, so PyTorch loads its state dict.
    Shapes: x (N, C·H·W) -> (N, out_features).
    """

    def __init__(self, image_shape: Sequence[int], channels: Sequence[int] = (16, 32), out_features: int = 10,
                 hidden: Sequence[int] = (), kernel_size: int = 3, activation: str = "relu", dropout: float = 0.0,
                 dtype: Any = "float64", rng: np.random.Generator | int | None = None):
        from .conv import Conv2d, MaxPool2d
        from .normalization import Flatten, Unflatten

        image_shape = tuple(int(v) for v in image_shape)
        channels, hidden = [int(c) for c in channels], [int(h) for h in hidden]
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ShapeError(f"ConvNet: image_shape must be (channels, height, width), got {image_shape}")
        if not channels or min(channels) < 1 or any(h < 1 for h in hidden) or out_features < 1:
            raise ShapeError(f"ConvNet: sizes must be positive with one convolution or more, got channels "
                             f"{channels}, hidden {hidden}, out {out_features}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigError(f"ConvNet: kernel_size must be odd (a 'same' convolution), got {kernel_size}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"ConvNet: dropout must be in [0, 1), got {dropout}")
        make_activation(activation)
        g = nn_init.as_generator(rng)
        layers: list[Module] = [Unflatten(1, image_shape)]
        c_in, h, w = image_shape
        for (c, h2, w2) in conv_net_sizes(image_shape, channels, kernel_size):
            layers += [Conv2d(c_in, c, kernel_size, padding=kernel_size // 2, dtype=dtype, rng=g),
                       make_activation(activation)]
            if (h2, w2) != (h, w):
                layers.append(MaxPool2d(2))
            c_in, h, w = c, h2, w2
        layers.append(Flatten())
        if dropout:
            layers.append(Dropout(dropout, rng=np.random.default_rng(g.integers(2**63))))
        sizes = [c_in * h * w, *hidden, int(out_features)]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(n_in, n_out, dtype=dtype, rng=g))
            if i < len(hidden):
                layers.append(make_activation(activation))
        super().__init__(*layers)
        self.image_shape, self.channels, self.hidden = image_shape, channels, hidden
        self.in_features, self.out_features = math.prod(image_shape), int(out_features)
        self.kernel_size, self.activation, self.dropout = int(kernel_size), str(activation), float(dropout)

    def config(self) -> dict[str, Any]:
        return {"image_shape": list(self.image_shape), "channels": list(self.channels),
                "out_features": self.out_features, "hidden": list(self.hidden), "kernel_size": self.kernel_size,
                "activation": self.activation, "dropout": self.dropout, "dtype": str(self.dtype)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ConvNet:
        return cls(**config)

    def extra_repr(self) -> str:
        c, h, w = self.image_shape
        sizes = " → ".join(str(s) for s in [f"{c}×{h}×{w}", *(f"conv {k}" for k in self.channels), *self.hidden,
                                             self.out_features])
        extra = f", dropout={self.dropout}" if self.dropout else ""
        return f"{sizes}, kernel {self.kernel_size}, activation={self.activation!r}{extra}"


__all__ = ["Sequential", "MLP", "ConvNet", "conv_net_sizes"]
