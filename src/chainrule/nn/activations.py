"""Activation modules: the non-linearities between the layers of a network (PyTorch's names).

Each is a parameter-free :class:`Module` around one op block, so a network is
``Sequential(Linear(...), ReLU(), Linear(...))`` as in PyTorch. Shapes: x (...) -> y (...).

* :class:`Identity` – y = x (the lecture's implicit activation of linear regression),
* :class:`ReLU` – max(x, 0),  :class:`LeakyReLU` – x or s·x,
* :class:`Sigmoid` – 1 / (1 + e⁻ˣ),  :class:`Tanh`,
* :class:`Softplus` – log(1 + eˣ) (with PyTorch's ``beta`` and ``threshold``),
* :class:`GELU` – x Φ(x), exact (erf) or ``approximate="tanh"``.

:func:`activation` builds one from a name (``"relu"``, ``"gelu"``, ...), as the
``MLP`` and the command line do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..errors import ConfigError
from ..serialization import register_model
from ..tensor import Tensor, apply_op
from .module import Module


class _Activation(Module):
    """A parameter-free module applying one op; subclasses set ``op`` (and ``config`` if configurable)."""

    op: type[ops.Op]

    def forward(self, x: Any) -> Tensor:
        return apply_op(self.op(), x)

    def config(self) -> dict[str, Any]:
        return {}


@register_model
class Identity(Module):
    """y = x, returned as given (no node in the graph): the identity activation."""

    def forward(self, x: Any) -> Any:
        return x

    def config(self) -> dict[str, Any]:
        return {}


@register_model
class ReLU(_Activation):
    """y = max(x, 0);  dy/dx = [x > 0]."""

    op = ops.ReLU


@register_model
class Sigmoid(_Activation):
    """y = 1 / (1 + exp(-x));  dy/dx = y (1 - y)."""

    op = ops.Sigmoid


@register_model
class Tanh(_Activation):
    """y = tanh(x);  dy/dx = 1 - y²."""

    op = ops.Tanh


@register_model
class LeakyReLU(Module):
    """y = x if x > 0 else negative_slope · x (PyTorch's default slope 0.01)."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> Tensor:
        return apply_op(ops.LeakyReLU(self.negative_slope), x)

    def config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}


@register_model
class Softplus(Module):
    """y = log(1 + exp(β x)) / β, and y = x where β x > threshold (PyTorch's rule, for stability).

    With ``threshold=None`` the exact softplus is used everywhere.
    """

    def __init__(self, beta: float = 1.0, threshold: float | None = 20.0):
        super().__init__()
        self.beta = float(beta)
        self.threshold = None if threshold is None else float(threshold)

    def forward(self, x: Any) -> Tensor:
        beta = self.beta
        scaled = x if beta == 1.0 else x * beta
        y = apply_op(ops.Softplus(), scaled)
        if beta != 1.0:
            y = y * (1.0 / beta)
        if self.threshold is None:
            return y
        linear = np.asarray(getattr(scaled, "data", scaled)) > self.threshold
        if not linear.any():
            return y
        return apply_op(ops.Where(), linear, x, y)

    def config(self) -> dict[str, Any]:
        return {"beta": self.beta, "threshold": self.threshold}


@register_model
class GELU(Module):
    """y = x Φ(x) (Φ the standard normal CDF), or PyTorch's tanh approximation with ``approximate="tanh"``."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        ops.GELU(approximate)  # validates the name
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return apply_op(ops.GELU(self.approximate), x)

    def config(self) -> dict[str, Any]:
        return {"approximate": self.approximate}


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """x Φ(x) elementwise, as ``torch.nn.functional.gelu``."""
    return apply_op(ops.GELU(approximate), x)


#: Activation names accepted by :func:`activation` (and ``MLP(activation=...)``, ``--activation``).
ACTIVATIONS: dict[str, type[Module]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "softplus": Softplus,
    "gelu": GELU,
    "identity": Identity,
}
_ALIASES = {"leakyrelu": "leaky_relu", "leaky-relu": "leaky_relu", "linear": "identity", "none": "identity",
            "gelu_tanh": "gelu_tanh", "gelu-tanh": "gelu_tanh"}


def activation(name: str | Module, **kwargs: Any) -> Module:
    """An activation module from its name (``relu``, ``leaky_relu``, ``sigmoid``, ``tanh``, ``softplus``,
    ``gelu``, ``gelu_tanh``, ``identity``); a Module is returned as it is."""
    if isinstance(name, Module):
        return name
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key == "gelu_tanh":
        return GELU("tanh")
    cls = ACTIVATIONS.get(key)
    if cls is None:
        raise ConfigError(f"unknown activation {name!r}; choose one of {', '.join([*ACTIVATIONS, 'gelu_tanh'])}")
    return cls(**kwargs)


__all__ = [
    "Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softplus", "GELU", "gelu", "activation", "ACTIVATIONS",
]
