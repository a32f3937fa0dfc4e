"""The backward engine: reverse topological order and the chain rule.

The graph is made of :class:`Node` objects, one per op application. A node holds the
op (the block that computes) and ``next``: for every input, the node that produced it,
the leaf Tensor it was (to receive ``.grad``), or ``None`` when that input needs no
gradient. The engine never looks inside an op: it hands each node's op the upstream
gradient, takes back one gradient per input, and sums what arrives at a node along
several paths before that node runs.

Which gradient arrays may be kept or written into without a copy is decided from
what the engine can see, never from the interpreter's state: an op declares that its
backward returns arrays of its own making (``Op.fresh_grads``); a sum the engine made
is its own; an upstream passed through unchanged, a gradient returned to the caller
(:func:`chainrule.grad`) or shown to a step hook (explain) is not. Anything else is copied.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy import ndarray

from . import anomaly
from .backend import is_foreign, namespace_of
from .errors import GraphError, ShapeError
from .hooks import HookHandle, run_hooks
from .inplace import CLOCK, check_saved, unlock
from .ops.base import RELEASED, Op

_FREED = (
    "backward: this part of the graph was already freed by an earlier backward "
    "(its caches are gone). Pass retain_graph=True to the first .backward() "
    "to run backward through the same graph again."
)

#: Signature of a step hook: (op, upstream, gradients returned for each input).
StepHook = Callable[[Op, np.ndarray, tuple], None]


class Node:
    """One op application in the graph: the op, where its inputs came from, and per-run state.

    ``next`` has one entry per input of the op: the Node that produced it, the leaf
    Tensor it was, or ``None`` (no gradient needed); ``None`` altogether once backward has
    freed the node. ``hooks`` are called with the gradient of the op's output before the
    op's backward (``Tensor.register_hook``, ``retain_grad``). ``stamp`` is the time on the
    clock of in-place writes when the node was made (see :mod:`chainrule.inplace`);
    ``locked`` is (the output's array, its finalizer) while ``Tensor.data`` has made it read-only; ``site``
    and ``prints`` are kept under :func:`chainrule.detect_anomaly`. During a
    backward run, ``grad`` sums what has arrived, ``owned`` says whether that array is the
    engine's alone, and ``pending`` counts the consumers still to pass their contribution
    down; ``run`` marks the run they belong to.
    """

    __slots__ = ("op", "next", "hooks", "stamp", "locked", "run", "grad", "owned", "pending", "site", "prints",
                 "__weakref__")

    def __init__(self, op: Op, inputs: tuple):
        self.op, self.next, self.hooks, self.stamp, self.locked, self.run = op, inputs, None, CLOCK[0], None, None

    def add_hook(self, hook: Callable) -> HookHandle:
        """Run ``hook(grad)`` on the gradient of this node's output (it may return a replacement)."""
        if self.hooks is None:
            self.hooks = []
        self.hooks.append(hook)
        return HookHandle(self.hooks, hook)

    def __repr__(self) -> str:
        return f"<node {self.op.describe()}>"


def run_backward(root, gradient: np.ndarray, retain_graph: bool = False,
                 capture: dict | None = None, hook: StepHook | None = None,
                 create_graph: bool = False) -> list | None:
    """Propagate ``gradient`` (dL/d root) through the graph below ``root`` (a Tensor, or the
    node :func:`seed_node` makes above several outputs).

    Nodes run in reverse topological order (Kahn's algorithm on the consumer counts):
    a node runs once every node that consumed its output has passed its contribution
    down, so what it receives is already the sum over all paths.

    ``capture`` maps ``id(leaf Tensor or node)`` to a position: the gradients reaching
    them are then returned in a list instead of being added to ``.grad`` (this is
    :func:`chainrule.grad`). ``hook(op, upstream, input gradients)`` is called after every op's
    backward (explain's trace listens there). Unless ``retain_graph``, every node is
    unlinked and its op's saved values dropped once it has run.

    With ``create_graph`` the pass itself is recorded, so that its results can be
    differentiated again: see :func:`_run_recorded`. This loop, the first derivatives'
    one, stays on arrays.
    """
    top = root if type(root) is Node else root._node
    if top is None:  # backward of a leaf: a pass-through node hands it dL/dL
        top, hook = Node(_LeafRoot(), (root,)), None
    if create_graph:
        return _run_recorded(top, gradient, retain_graph, capture, hook)
    captured = None if capture is None else [None] * len(capture)
    anomalous = anomaly.enabled()
    _count_consumers(top)
    top.grad, top.owned = gradient, False
    ready = [top]
    while ready:
        node = ready.pop()
        op, nexts, upstream = node.op, node.next, node.grad
        node.grad = None
        if upstream is None:  # nothing reached this node: every consumer returned None for it
            in_grads = (None,) * len(nexts)
        else:
            owned = node.owned and hook is None
            # something was written since the node was made (read each time: a hook may write)
            if node.stamp != CLOCK[0] or anomalous:
                check_saved(node, anomalous)
            if node.hooks is not None:
                upstream, owned = run_hooks(node.hooks, upstream), False
            if captured is not None and id(node) in capture:
                captured[capture[id(node)]] = upstream
                owned = False
            if owned and op.reuses_upstream and type(upstream) is ndarray:
                in_grads = _backward_in_place(op, upstream)
            else:
                in_grads = op.backward(upstream)
            if type(in_grads) is not tuple or len(in_grads) != len(nexts):
                in_grads = _one_per_input(op, in_grads, len(nexts))
            if anomalous:
                anomaly.check_backward(op, upstream, in_grads, getattr(node, "site", None))
            if hook is not None:
                hook(op, upstream, in_grads)
        # What an op that declares fresh gradients returns is the engine's own, but for the
        # upstream handed back unchanged; a sum the engine makes is its own.
        fresh = op.fresh_grads and hook is None
        i = 0
        for nxt in nexts:  # indexed, not zip(nexts, in_grads): see benchmarks/README.md, "The engine"
            g = in_grads[i]
            i += 1
            if type(nxt) is Node:
                if g is not None:
                    if type(g) is not ndarray and not is_foreign(g):
                        g = np.asarray(g)  # a user's op may hand back a number or a list
                    if nxt.grad is None:
                        nxt.grad, nxt.owned = g, fresh and g is not upstream
                    else:
                        nxt.grad, nxt.owned = nxt.grad + g, True
                nxt.pending -= 1
                if not nxt.pending:
                    ready.append(nxt)
            elif nxt is not None and g is not None:
                _add_to_leaf(op, nxt, g, fresh and g is not upstream, captured, capture)
        if not retain_graph:
            node.next = None
            op.saved = RELEASED
            if node.locked is not None:  # the output's data was handed out read-only
                unlock(node)
    return captured


def _run_recorded(top: Node, gradient, retain_graph: bool, capture: dict | None,
                  hook: StepHook | None) -> list | None:
    """The backward pass recorded in the graph (``create_graph=True``): derivatives of derivatives.

    The same order as :func:`run_backward` (every node once, after all its consumers), but
    each op runs :meth:`~chainrule.ops.base.Op.recorded_backward`: Tensor operations on a
    Tensor upstream, with the values the op saved for its inputs and output handed over as
    Tensors linked to where they came from (:func:`_linked_saved`). What it computes is
    therefore itself a graph, on top of the one it runs through, and sums along several
    paths are recorded additions. Gradients are Tensors (a constant one may be an array);
    a leaf's ``.grad`` becomes a Tensor, as in PyTorch. The old graph is kept (its saved
    values are what the new one refers to) unless ``retain_graph`` is False.
    """
    from .grad_mode import recording_backward
    from .tensor import Tensor

    captured = None if capture is None else [None] * len(capture)
    anomalous = anomaly.enabled()
    _count_consumers(top)
    top.grad = gradient
    ready = [top]
    with recording_backward():
        while ready:
            node = ready.pop()
            op, nexts, upstream = node.op, node.next, node.grad
            node.grad = None
            if upstream is None:
                in_grads = (None,) * len(nexts)
            else:
                if node.stamp != CLOCK[0] or anomalous:
                    check_saved(node, anomalous)
                if type(upstream) is not Tensor:
                    upstream = Tensor(upstream)
                if node.hooks is not None:
                    upstream = _run_hooks_recorded(node.hooks, upstream)
                if captured is not None and id(node) in capture:
                    captured[capture[id(node)]] = upstream
                in_grads = _recorded_backward(node, upstream)
                if type(in_grads) is not tuple or len(in_grads) != len(nexts):
                    in_grads = _one_per_input(op, in_grads, len(nexts))
                if anomalous:
                    anomaly.check_backward(op, upstream._data, tuple(getattr(g, "_data", g) for g in in_grads),
                                           getattr(node, "site", None))
                if hook is not None:
                    hook(op, upstream, in_grads)
            for nxt, g in zip(nexts, in_grads):
                if type(nxt) is Node:
                    if g is not None:
                        nxt.grad = g if nxt.grad is None else nxt.grad + g  # a recorded sum
                    nxt.pending -= 1
                    if not nxt.pending:
                        ready.append(nxt)
                elif nxt is not None and g is not None:
                    _add_to_leaf_recorded(op, nxt, g, captured, capture)
            if not retain_graph:
                node.next = None
                op.saved = RELEASED
                if node.locked is not None:
                    unlock(node)
    return captured


def _recorded_backward(node: Node, upstream) -> tuple:
    """``node.op.recorded_backward(upstream)``, with the op's saved inputs and output linked."""
    op = node.op
    saved = op.saved
    if type(saved) is tuple:
        op.saved = _linked_saved(node, saved)
    token = anomaly.RECORDING_FOR.set(op)
    try:
        return op.recorded_backward(upstream)
    except TypeError as exc:  # NumPy refusing a Tensor (a ufunc on it), or the like: say where and why
        raise GraphError(
            f"create_graph=True: the recorded backward of op '{op.name}' ({type(op).__name__}) failed: {exc}. "
            f"A backward that is recorded must use Tensor operations (methods, operators, Op.apply) on the "
            f"upstream and on the saved inputs and output, not NumPy functions"
        ) from exc
    finally:
        anomaly.RECORDING_FOR.reset(token)
        op.saved = saved


def _linked_saved(node: Node, saved: tuple) -> tuple:
    """``saved`` with each value that was an input (saved under forward's name for it) or the
    output (``"out"``) replaced by a Tensor linked to where it came from: the leaf itself, a
    Tensor made by the node that produced it, or, for the output, one made by ``node``. So a
    derivative computed from them is a function of the graph's values, and differentiable."""
    from .ops.base import linked_saves
    from .tensor import linked_tensor

    items = list(saved)
    linked = set()
    for k, i in linked_saves(type(node.op)):
        value = items[k] if k < len(items) else None
        if i == -2 and type(value) is tuple:  # every input, in order (an op of any number of inputs)
            items[k] = tuple(linked_tensor(v if is_foreign(v) else np.asarray(v), link)
                             for v, link in zip(value, node.next))
            linked.add(k)
            continue
        if isinstance(value, np.generic):  # NumPy gives a 0-d result as a scalar: the Tensor holds an array
            value = np.asarray(value)
        if type(value) is ndarray or is_foreign(value):  # NumPy's arrays, or another library's (a GPU's)
            link = node if i < 0 else node.next[i] if i < len(node.next) else None
            if type(link) is not Node and link is not None and link._data is not value:
                raise GraphError(
                    f"create_graph=True: op '{node.op.name}' saved input {i} for backward, and that leaf's data "
                    f"was replaced since (x.data = ...): the recorded derivative would be taken at the new "
                    f"values, the first one at the old. Run the forward again after changing the data"
                )
            items[k] = linked_tensor(value, link)
            linked.add(k)
    # a saved array that is the very array of a leaf input is that input, whatever its name in ``saves``
    leaves = {id(n._data): n for n in node.next if n is not None and type(n) is not Node}
    for k, value in enumerate(items):
        if k not in linked and (type(value) is ndarray or is_foreign(value)) and id(value) in leaves:
            items[k] = leaves[id(value)]
    return tuple(items)


def _run_hooks_recorded(hooks: list, grad):
    """Each hook sees the recorded gradient (a Tensor) and may replace it: with a Tensor, or with an
    array, which is taken as a constant Tensor."""
    from .tensor import Tensor

    for hook in list(hooks):
        replaced = hook(grad)
        if replaced is not None:
            grad = replaced if isinstance(replaced, Tensor) else Tensor(np.asarray(replaced))
    return grad


def _add_to_leaf_recorded(op: Op, leaf, g, captured: list | None, capture: dict | None) -> None:
    """Check a recorded gradient against its leaf, then capture it or add it to ``.grad`` (a Tensor)."""
    from .tensor import Tensor

    data = leaf._data
    shape = g.shape
    if shape != data.shape:
        raise ShapeError(f"{op.name}: its recorded backward returned a gradient of shape {shape} "
                         f"for an input of shape {data.shape}")
    if type(g) is not Tensor:
        # a constant: the leaf's own copy (in its library, on its device)
        g = Tensor(namespace_of(g).asarray(g, copy=True) if is_foreign(g) else np.array(g, dtype=data.dtype))
    if leaf._hooks:
        g = _run_hooks_recorded(leaf._hooks, g)
    if captured is not None:
        pos = capture.get(id(leaf))
        if pos is not None:
            captured[pos] = g if captured[pos] is None else captured[pos] + g
    else:
        leaf.grad = g if leaf.grad is None else leaf.grad + g


class _Seeds(Op):
    """The node above several outputs differentiated together: it hands each its gradient."""

    name = "grad"
    backward_records = True

    def __init__(self, gradients: tuple):
        self.gradients = gradients

    def backward(self, upstream):
        return self.gradients


def seed_node(outputs, gradients) -> Node:
    """A node above ``outputs`` (Tensors that require grad) that gives each its gradient, so
    one backward pass serves them all (``chainrule.grad`` of several outputs)."""
    return Node(_Seeds(tuple(gradients)), tuple(o if o._node is None else o._node for o in outputs))


def _count_consumers(top: Node) -> None:
    """Set ``pending`` on every node below ``top``: how many edges enter it from above.

    Iterative (a chain of a million ops must not hit the recursion limit); raises before
    anything is computed when a reachable node was freed by an earlier backward.
    """
    if top.next is None:
        raise GraphError(_FREED)
    run = object()
    top.run, top.pending = run, 0
    stack = [top]
    while stack:
        for nxt in stack.pop().next:
            if type(nxt) is not Node:  # None, or a leaf Tensor
                continue
            if nxt.run is run:
                nxt.pending += 1
                continue
            if nxt.next is None:
                raise GraphError(_FREED)
            nxt.run, nxt.pending, nxt.grad = run, 1, None
            stack.append(nxt)


def _backward_in_place(op: Op, upstream: np.ndarray):
    """``op.backward(upstream)`` for an op that may write into its upstream, which is the engine's own."""
    op.upstream_is_free = True
    try:
        return op.backward(upstream)
    finally:
        del op.upstream_is_free  # back to the class's False


def _one_per_input(op: Op, grads, n_inputs: int) -> tuple:
    """What ``op.backward`` returned as a tuple of one gradient per input, or a clear error."""
    if type(grads) is not tuple:
        grads = tuple(grads) if isinstance(grads, list) else (grads,)
    if len(grads) != n_inputs:
        raise GraphError(f"{op.name}.backward returned {len(grads)} gradients for {n_inputs} inputs")
    return grads


def _add_to_leaf(op: Op, leaf, g, owned: bool, captured: list | None, capture: dict | None) -> None:
    """Check a gradient against its leaf, then capture it or accumulate it into ``.grad``.

    ``.grad`` accumulates in place, as PyTorch's does, so a leaf keeps the first array it
    is given only when that array is the engine's own; otherwise it keeps a copy.
    """
    data = leaf._data
    if type(g) is not ndarray or g.shape != data.shape or g.dtype != data.dtype:
        g = _as_gradient(op, g, data)
    if leaf._hooks:
        g, owned = _as_gradient(op, run_hooks(leaf._hooks, g), data), False
    if captured is not None:
        pos = capture.get(id(leaf))
        if pos is not None:
            captured[pos] = g if captured[pos] is None else captured[pos] + g
    elif leaf.grad is not None:
        leaf.grad += g
    elif owned:
        leaf.grad = g
    else:
        leaf.grad = g.copy() if type(g) is ndarray else namespace_of(g).asarray(g, copy=True)


def _as_gradient(op: Op, grad, like: np.ndarray) -> np.ndarray:
    """Check one gradient returned by ``op.backward`` against the input it is for."""
    if is_foreign(like):  # another library: its own arrays
        xp = namespace_of(like)
        grad = xp.asarray(grad)
        if tuple(grad.shape) != tuple(like.shape):
            raise ShapeError(f"{op.name}.backward returned a gradient of shape {tuple(grad.shape)} for an input "
                             f"of shape {tuple(like.shape)}")
        return grad if grad.dtype == like.dtype else xp.astype(grad, like.dtype)
    grad = np.asarray(grad)
    if grad.shape != like.shape:
        raise ShapeError(
            f"{op.name}.backward returned a gradient of shape {grad.shape} for an input of shape {like.shape}"
        )
    return grad if grad.dtype == like.dtype else grad.astype(like.dtype)


class _LeafRoot(Op):
    """The node above a leaf whose own ``backward`` was called: it passes dL/dL down to it."""

    name = "backward"  # the gradient given to backward is named so in error messages
    backward_records = True

    def backward(self, upstream):
        return (upstream,)
