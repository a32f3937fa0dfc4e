"""``Dropout``: zero a random share of the activations while training (inverted dropout, as PyTorch)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..errors import ConfigError
from ..serialization import register_model
from ..tensor import Tensor, apply_op
from .init import as_generator
from .module import Module


@register_model
class Dropout(Module):
    """In training, each element is zeroed with probability ``p`` and the rest scaled by 1/(1 - p);
    in eval mode (``model.eval()``) the input passes through unchanged.

    Parameters
    ----------
    p : drop probability in [0, 1).
    rng : Generator or seed drawing the masks (default seed 0, so runs repeat
        exactly; an :class:`~chainrule.nn.MLP` hands each of its dropouts its own stream).

    Shapes: x (...) -> y (...).
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | int | None = 0):
        super().__init__()
        p = float(p)
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p
        self.rng = as_generator(rng)

    def forward(self, x: Any) -> Tensor | Any:
        if not self.training or self.p == 0.0:
            return x
        return apply_op(ops.Dropout(self.p, rng=self.rng), x)

    def config(self) -> dict[str, Any]:
        return {"p": self.p}


__all__ = ["Dropout"]
