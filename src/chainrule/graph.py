"""The backward engine: reverse topological order, the chain rule, and ``no_grad``.

The graph is made of op instances (one op application = one node). Each node
holds ``_next``: for every input, the node that produced it (an op), the leaf
Tensor it was (to receive ``.grad``), or ``None`` when that input needs no
gradient. The engine never looks inside an op: it hands each node the upstream
gradient, takes back one gradient per input, and sums what arrives at a node
along several paths before that node runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from .errors import GraphError, ShapeError
from .ops.base import Op

#: Whether operations on Tensors are recorded. A context variable: each thread (and each
#: asyncio task) has its own setting, and reading it is cheaper than a thread-local attribute.
_grad_enabled: ContextVar[bool] = ContextVar("chainrule_grad_enabled", default=True)
#: The read, bound once: the hot paths in :mod:`chainrule.tensor` call it for every op.
grad_recording = _grad_enabled.get


def is_grad_enabled() -> bool:
    """Whether operations on Tensors are being recorded in this thread."""
    return _grad_enabled.get()


@contextmanager
def _set_grad_enabled(enabled: bool):
    token = _grad_enabled.set(enabled)
    try:
        yield
    finally:
        _grad_enabled.reset(token)


def no_grad():
    """Context manager (thread-local): inside it no graph and no cache is kept.

    >>> with no_grad():
    ...     y = model(x)        # y.requires_grad is False
    """
    return _set_grad_enabled(False)


def enable_grad():
    """Context manager that turns recording back on inside a ``no_grad`` block."""
    return _set_grad_enabled(True)


_FREED = (
    "backward: this part of the graph was already freed by an earlier backward "
    "(its caches are gone). Pass retain_graph=True to the first .backward() "
    "to run backward through the same graph again."
)

#: Signature of a step hook: (op, upstream, gradients returned for each input).
StepHook = Callable[[object, np.ndarray, tuple], None]


def _as_gradient(op, grad, like: np.ndarray) -> np.ndarray:
    """Check one gradient returned by ``op.backward`` against the input it is for."""
    if type(grad) is not np.ndarray:
        grad = np.asarray(grad)
    if grad.shape != like.shape:
        raise ShapeError(
            f"{op.name}.backward returned a gradient of shape {grad.shape} "
            f"for an input of shape {like.shape}"
        )
    if grad.dtype != like.dtype:
        grad = grad.astype(like.dtype)
    return grad


def run_backward(
    root,
    gradient: np.ndarray,
    retain_graph: bool = False,
    capture: dict | None = None,
    hook: StepHook | None = None,
) -> list | None:
    """Propagate ``gradient`` (dL/d root) through the graph below ``root``.

    Ops run in reverse topological order (Kahn's algorithm on the consumer
    counts): an op runs once every op that consumed its output has passed its
    contribution down, so what it receives is already the sum over all paths.

    Parameters
    ----------
    root : Tensor that requires grad.
    gradient : ndarray shaped like ``root``.
    retain_graph : keep every op's cache so backward can run again.
    capture : ``{id(node): position}``; when given, the gradients reaching those
        nodes (leaf Tensors or ops) are returned in a list instead of being
        accumulated into ``.grad`` (this is :func:`chainrule.grad`).
    hook : called after every op's backward with (op, upstream, input gradients).
    """
    captured = None if capture is None else [None] * len(capture)
    root_op = root._op
    if root_op is None:  # backward of a leaf: a pass-through node hands it dL/dL
        root_op = _LeafRoot()
        root_op._next = (root,)

    # 1. Count, for every op reachable from the root, the edges entering it from above:
    #    ``op._pending``, with ``op._run = run`` marking it as seen in this run. Iterative
    #    (a chain of a million ops must not hit the recursion limit), and it raises before
    #    anything is computed when a reachable node was freed. Written inline, not as a
    #    function: on a small graph the call and a second stack cost a tenth of the engine.
    if root_op._next is None:
        raise GraphError(_FREED)
    run = object()
    root_op._run, root_op._pending = run, 0
    ready = [root_op]
    pop, push = ready.pop, ready.append
    while ready:
        for nxt in pop()._next:
            if nxt is None or nxt._is_tensor:
                continue
            if nxt._run is run:
                nxt._pending += 1
            else:
                if nxt._next is None:
                    raise GraphError(_FREED)
                nxt._run, nxt._pending, nxt._grad = run, 1, None
                push(nxt)

    # 2. Run each op once all its consumers have passed their contributions down.
    root_op._grad = gradient
    push(root_op)
    while ready:
        op = pop()
        upstream = op._grad
        op._grad = None
        nexts = op._next
        if upstream is None:  # nothing reached this op (every consumer returned None)
            in_grads = (None,) * len(nexts)
        else:
            if op._retains is not None:
                _retain(op, upstream)
            if captured is not None and id(op) in capture:
                captured[capture[id(op)]] = upstream
            in_grads = op.backward(upstream)
            if type(in_grads) is not tuple:
                in_grads = tuple(in_grads) if isinstance(in_grads, list) else (in_grads,)
            if len(in_grads) != len(nexts):
                raise GraphError(
                    f"{op.name}.backward returned {len(in_grads)} gradients for {len(nexts)} inputs"
                )
            if hook is not None:
                hook(op, upstream, in_grads)
        for nxt, g in zip(nexts, in_grads):
            if nxt is None:
                continue
            if nxt._is_tensor:  # a leaf: check the gradient, then keep it or add it to .grad
                if g is None:
                    continue
                data = nxt.data
                if (
                    type(g) is not _ndarray
                    or g.shape != data.shape
                    or (g.dtype is not data.dtype and g.dtype != data.dtype)  # dtypes are mostly singletons
                ):
                    g = _as_gradient(op, g, data)
                if captured is not None:
                    pos = capture.get(id(nxt))
                    if pos is not None:
                        captured[pos] = g if captured[pos] is None else captured[pos] + g
                elif nxt.grad is not None:
                    nxt.grad += g  # in place, as PyTorch accumulates into .grad
                elif (
                    # Later contributions are added into .grad in place, so the leaf keeps this
                    # array only when nothing else can see it, as PyTorch's AccumulateGrad does:
                    # no extra reference (not the upstream passed through, not returned for two
                    # inputs, not kept in an op's cache or by the caller), writeable, and not a
                    # view of an array that someone else holds. Otherwise it keeps a copy.
                    # Written inline, not as a function: it runs for every leaf of every step.
                    _refs(g) > _LONE_GRAD_REFS
                    or not g.flags.writeable
                    or (g.base is not None and _refs(g.base) > _LONE_VIEW_REFS)
                ):
                    nxt.grad = g.copy()
                else:
                    nxt.grad = g
                continue
            if g is not None:
                previous = nxt._grad
                nxt._grad = g if previous is None else previous + g
            pending = nxt._pending - 1
            nxt._pending = pending
            if not pending:
                push(nxt)
        if not retain_graph and _refs(op) > _LONE_OP_REFS:
            # Someone else still holds this op (the Tensor it made, a hook): drop its cache
            # now. An op only the engine holds goes, cache and all, when ``op`` is rebound.
            op.release()
    return captured


#: Reference count of an object; without reference counts (not CPython) every array looks
#: shared, so a leaf always keeps a copy of its first gradient.
_refs = getattr(sys, "getrefcount", lambda obj: 1 << 30)
_ndarray = np.ndarray

#: References to the base of a view that nothing but the view holds (measured, not assumed).
_LONE_VIEW_REFS = _refs(np.zeros(1)[None].base)
#: References to a gradient that only the engine holds, seen at the ownership check in
#: :func:`run_backward`: measured by :func:`_measure_lone_refs` when this module is imported.
_LONE_GRAD_REFS = 0
#: References to an op that only the engine holds once it has run, seen at the release check
#: in :func:`run_backward`: measured by :func:`_measure_lone_op_refs` (until then, release all).
_LONE_OP_REFS = -1


class _ProbeLeaf:
    """A stand-in Tensor for the probes below (the engine reads only these attributes)."""

    __slots__ = ("data", "grad", "_op")
    _is_tensor = True


def _probe_graph(*ops: Op) -> tuple[_ProbeLeaf, _ProbeLeaf]:
    """A root over a chain ``ops[0] -> ops[1] -> ... -> leaf``; only each op's consumer holds it."""
    leaf = _ProbeLeaf()
    leaf.data, leaf.grad, leaf._op = np.zeros(1), None, None
    root = _ProbeLeaf()
    root._op = ops[0]
    for op, below in zip(ops, (*ops[1:], leaf)):
        op._next = (below,)
    return root, leaf


def _measure_lone_refs() -> int:
    """The reference count of a gradient nothing else holds, as the ownership check sees it.

    Runs the real engine on a one-op graph whose backward returns a fresh array and
    keeps nothing, with ever larger thresholds, and returns the smallest one at which
    the leaf keeps that array. Measured rather than assumed, so a different Python
    (which may count references on its stack differently) gets its own number; with
    no reference counts at all, nothing is kept and every first gradient is copied.
    """
    global _LONE_GRAD_REFS
    if not hasattr(sys, "getrefcount"):
        return -1
    returned: list[int] = []

    class Fresh(Op):
        def forward(self, x):
            return x

        def backward(self, upstream):
            g = np.zeros(1)
            returned.append(id(g))
            return (g,)

    for threshold in range(1, 16):
        _LONE_GRAD_REFS = threshold
        root, leaf = _probe_graph(Fresh())
        run_backward(root, np.ones(1))
        if id(leaf.grad) == returned[-1]:
            return threshold
    return -1


_LONE_GRAD_REFS = _measure_lone_refs()


def _measure_lone_op_refs() -> int:
    """The reference count, at the release check, of an op that nothing outside the engine holds.

    Measured as :func:`_measure_lone_refs` is: a two-op graph whose top op is held (as a
    Tensor the caller keeps holds its op) and whose middle op is not; the smallest
    threshold at which the engine still releases the held op but leaves the middle one
    to die with its last reference. Anything that holds an op adds to its count, so a
    held op is always released; with no reference counts every op is.
    """
    global _LONE_OP_REFS
    if not hasattr(sys, "getrefcount"):
        return -1
    released: list = []

    class Pass(Op):
        def forward(self, x):
            return x

        def backward(self, upstream):
            return (upstream,)

        def release(self):
            released.append(type(self))
            super().release()

    class Top(Pass):
        pass

    for threshold in range(1, 16):
        _LONE_OP_REFS = threshold
        root, _ = _probe_graph(Top(), Pass())  # root holds Top; only Top holds Pass
        released.clear()
        run_backward(root, np.ones(1))
        if released == [Top]:
            return threshold
    return -1


_LONE_OP_REFS = _measure_lone_op_refs()


def _retain(op, upstream: np.ndarray) -> None:
    tensor = op._retains()
    if tensor is not None:
        tensor.grad = upstream.copy() if tensor.grad is None else tensor.grad + upstream


class _LeafRoot(Op):
    """The node above a leaf whose own ``backward`` was called: it passes dL/dL down to it."""

    name = "backward"  # the gradient given to backward is named so in error messages

    def backward(self, upstream):
        return (upstream,)


def grad(
    outputs,
    inputs: Sequence,
    grad_outputs=None,
    retain_graph: bool = False,
) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``.

    Mirrors ``torch.autograd.grad``: returns one ndarray (or ``None`` when an
    input is not reached) per input.
    """
    from .tensor import Tensor

    if isinstance(inputs, Tensor):
        inputs = [inputs]
    capture = {}
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise GraphError(f"grad: input {i} does not require grad")
        capture[id(t) if t._op is None else id(t._op)] = i
    gradient = _initial_gradient(outputs, grad_outputs)
    return tuple(run_backward(outputs, gradient, retain_graph, capture=capture))


_SCALAR_ONES: dict = {}


def _initial_gradient(root, gradient) -> np.ndarray:
    """dL/d root: the given gradient checked against root, or 1 for a one-element root."""
    if not root._req:
        raise GraphError(
            "backward: this tensor does not require grad and has no graph; "
            "create its inputs with requires_grad=True"
        )
    data = root.data
    if gradient is None:
        if data.ndim == 0:  # a scalar loss, the usual case: checked first, as it has one element
            dtype = data.dtype
            ones = _SCALAR_ONES.get(dtype)
            if ones is None:
                ones = _SCALAR_ONES[dtype] = np.ones((), dtype)
                ones.flags.writeable = False  # shared: ops never write into their upstream
            return ones
        if data.size != 1:
            raise GraphError(
                f"backward: a gradient can be implied only for a one-element output, "
                f"but this output has shape {data.shape}; pass gradient= of that shape"
            )
        return np.ones(data.shape, data.dtype)
    gradient = np.asarray(getattr(gradient, "data", gradient), dtype=data.dtype)
    if gradient.shape != data.shape:
        raise ShapeError(
            f"backward: gradient of shape {gradient.shape} given for an output of shape {data.shape}"
        )
    return gradient
