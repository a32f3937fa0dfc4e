"""The doors into the backward engine: the gradient a backward pass starts from, and
``chainrule.grad`` (gradients returned instead of accumulated into ``.grad``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import GraphError, ShapeError
from .graph import run_backward
from .ops.base import one_of


def grad(outputs, inputs: Sequence, grad_outputs=None, retain_graph: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``.

    Mirrors ``torch.autograd.grad``: returns one ndarray (or ``None`` when an input is
    not reached) per input.
    """
    inputs = [inputs] if hasattr(inputs, "_node") else list(inputs)  # one Tensor, or several
    capture = {}
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise GraphError(f"grad: input {i} does not require grad")
        capture[id(t) if t._node is None else id(t._node)] = i
    gradient = initial_gradient(outputs, grad_outputs)
    return tuple(run_backward(outputs, gradient, retain_graph, capture=capture))


def initial_gradient(root, gradient) -> np.ndarray:
    """dL/d root: the given gradient checked against root, or 1 for a one-element root."""
    if not root._req:
        raise GraphError(
            "backward: this tensor does not require grad and has no graph; "
            "create its inputs with requires_grad=True"
        )
    data = root._data
    if gradient is None:
        if data.size != 1:
            raise GraphError(
                f"backward: a gradient can be implied only for a one-element output, "
                f"but this output has shape {data.shape}; pass gradient= of that shape"
            )
        # shared and read-only: never the engine's own, so nothing writes into it
        return one_of(data.dtype) if data.ndim == 0 else np.ones(data.shape, data.dtype)
    gradient = np.asarray(getattr(gradient, "_data", gradient), dtype=data.dtype)  # a Tensor's own array
    if gradient.shape != data.shape:
        raise ShapeError(
            f"backward: gradient of shape {gradient.shape} given for an output of shape {data.shape}"
        )
    return gradient
