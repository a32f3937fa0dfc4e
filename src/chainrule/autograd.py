"""The doors into the backward engine: the gradient a backward pass starts from, and
``chainrule.grad`` (gradients returned instead of accumulated into ``.grad``)."""

from __future__ import annotations

import math

import numpy as np

from .backend import is_foreign, namespace_of
from .errors import GraphError, ShapeError
from .graph import run_backward, seed_node
from .ops.base import one_of


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False, materialize_grads: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``.

    Mirrors ``torch.autograd.grad``. ``outputs`` is a Tensor or a sequence of Tensors,
    ``grad_outputs`` the gradient given to each (one may be left out, as None, for a
    one-element output), ``inputs`` a Tensor or a sequence of them (leaves or not).
    ``retain_graph`` defaults to ``create_graph``. With ``create_graph=True`` the backward
    pass is recorded and the gradients are Tensors that can be differentiated again (a
    ``grad_outputs`` Tensor that requires grad is part of that graph); otherwise they are
    NumPy arrays. An input the outputs do not depend on raises, unless ``allow_unused``
    (it then gets None, or zeros with ``materialize_grads``).

    Returns
    -------
    tuple with one gradient per input.
    """
    inputs = [inputs] if hasattr(inputs, "_node") else list(inputs)  # one Tensor, or several
    if hasattr(outputs, "_node"):
        outputs = [outputs]
        if isinstance(grad_outputs, (list, tuple)) and len(grad_outputs) == 1 and _is_gradient(grad_outputs[0]):
            grad_outputs = grad_outputs[0]
        grad_outputs = [grad_outputs]
    else:
        outputs = list(outputs)
        if grad_outputs is None:
            grad_outputs = [None] * len(outputs)
        elif hasattr(grad_outputs, "shape"):  # one Tensor or array, for a sequence of one output
            grad_outputs = [grad_outputs]
        else:
            grad_outputs = list(grad_outputs)
        if len(grad_outputs) != len(outputs):
            raise GraphError(f"grad: {len(grad_outputs)} grad_outputs given for {len(outputs)} outputs")
        if not outputs:
            raise GraphError("grad: no outputs given")
    if retain_graph is None:
        retain_graph = create_graph
    capture = {}
    slot = []  # the captured gradient each input takes: an input given twice takes the same one twice
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise GraphError(f"grad: input {i} does not require grad")
        key = id(t) if t._node is None else id(t._node)
        slot.append(capture.setdefault(key, len(capture)))
    gradients = [initial_gradient(o, g, create_graph) for o, g in zip(outputs, grad_outputs)]
    if len(outputs) == 1:
        top, gradient = outputs[0], gradients[0]
    else:  # one pass for all: a node above them hands each its gradient
        top, gradient = seed_node(outputs, gradients), one_of(np.dtype(np.float64))
    captured = run_backward(top, gradient, retain_graph, capture=capture, create_graph=create_graph)
    grads = [captured[k] for k in slot]
    for i, g in enumerate(grads):
        if g is not None:
            continue
        if not (allow_unused or materialize_grads):
            raise GraphError(
                f"grad: input {i} (shape {inputs[i].shape}) was not used to compute the outputs; "
                f"pass allow_unused=True to get None for it"
            )
        if materialize_grads:
            grads[i] = np.zeros(inputs[i].shape, inputs[i].dtype)
    if create_graph:
        from .tensor import Tensor

        grads = [g if g is None or type(g) is Tensor else Tensor(np.array(g, dtype=inputs[i].dtype))
                 for i, g in enumerate(grads)]
    return tuple(grads)


def _is_gradient(x) -> bool:
    return x is None or hasattr(x, "shape")


def initial_gradient(root, gradient, create_graph: bool = False):
    """dL/d root: the given gradient checked against root, or 1 for a one-element root.

    With ``create_graph`` a Tensor given as the gradient is kept as it is (the recorded
    derivatives then depend on it: the double-vjp trick of ``chainrule.func.jvp``).
    """
    if not root._req:
        raise GraphError(
            "backward: this tensor does not require grad and has no graph; "
            "create its inputs with requires_grad=True"
        )
    data = root._data
    if is_foreign(data):  # another library's array
        return _foreign_gradient(data, gradient)
    if gradient is None:
        if data.size != 1:
            raise GraphError(
                f"backward: a gradient can be implied only for a one-element output, "
                f"but this output has shape {data.shape}; pass gradient= of that shape"
            )
        # shared and read-only: never the engine's own, so nothing writes into it
        return one_of(data.dtype) if data.ndim == 0 else np.ones(data.shape, data.dtype)
    if create_graph and hasattr(gradient, "_node"):
        if gradient.shape != data.shape:
            raise ShapeError(
                f"backward: gradient of shape {gradient.shape} given for an output of shape {data.shape}"
            )
        return gradient
    gradient = np.asarray(getattr(gradient, "_data", gradient), dtype=data.dtype)  # a Tensor's own array
    if gradient.shape != data.shape:
        raise ShapeError(
            f"backward: gradient of shape {gradient.shape} given for an output of shape {data.shape}"
        )
    return gradient


def _foreign_gradient(data, gradient):
    """dL/d(output) for an output held by another array library (CuPy, array-api-strict): in its namespace."""
    xp = namespace_of(data)
    shape = tuple(data.shape)
    if gradient is None:
        if math.prod(shape) != 1:
            raise GraphError(f"backward: a gradient can be implied only for a one-element output, but this output "
                             f"has shape {shape}; pass gradient= of that shape")
        return xp.ones(shape, dtype=data.dtype)
    gradient = getattr(gradient, "_data", gradient)
    gradient = xp.asarray(gradient if is_foreign(gradient) else np.asarray(gradient),
                          dtype=data.dtype)
    if tuple(gradient.shape) != shape:
        raise ShapeError(f"backward: gradient of shape {tuple(gradient.shape)} given for an output of shape {shape}")
    return gradient
