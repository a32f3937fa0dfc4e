"""The backward engine: reverse topological order, the chain rule, and ``no_grad``.

The graph is made of :class:`Node` objects, one per op application. A node
holds the op (the block that computes) and ``next``: for every input, the node
that produced it, the leaf Tensor it was (to receive ``.grad``), or ``None``
when that input needs no gradient. The engine never looks inside an op: it
hands each node's op the upstream gradient, takes back one gradient per input,
and sums what arrives at a node along several paths before that node runs.

Every node is of the one class :class:`Node`, whatever its op: CPython (3.11+)
specialises attribute access per class, so the engine's reads of ``next``,
``grad`` and ``pending`` stay on the fast path, where reads on op instances of
many classes would not.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
from numpy import ndarray  # a global: cheaper to read than np.ndarray (see chainrule.ops.base)

from .errors import GraphError, ShapeError
from .ops.base import Op, one_of

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
    if type(grad) is not ndarray:
        grad = np.asarray(grad)
    if grad.shape != like.shape:
        raise ShapeError(
            f"{op.name}.backward returned a gradient of shape {grad.shape} "
            f"for an input of shape {like.shape}"
        )
    if grad.dtype != like.dtype:
        grad = grad.astype(like.dtype)
    return grad


class Node:
    """One op application in the graph: the op, where its inputs came from, and per-run state.

    ``op`` is the block that computed the output; ``next`` has one entry per input
    of the op: the Node that produced it, the leaf Tensor it was, or ``None`` (no
    gradient needed); ``None`` altogether once backward has freed the node.
    ``retains`` is a weak reference to the output Tensor after ``.retain_grad()``.
    ``grad``, ``pending`` and ``run`` belong to the engine during a backward run.
    """

    __slots__ = ("op", "next", "retains", "run", "grad", "pending")

    def __repr__(self) -> str:
        return f"<node {self.op.describe()}>"


def new_node(op: Op, nexts: tuple) -> Node:
    """A fresh graph node for ``op`` with inputs from ``nexts``.

    On the hot path (:mod:`chainrule.tensor`) this is written inline: ``Node()``, then the
    four slots ``op``, ``next``, ``retains`` and ``run`` set. Node has no ``__init__`` on
    purpose: calling the class then costs less than a function call, and less than
    ``object.__new__(Node)`` (about 300 instructions less on CPython 3.11).
    """
    node = Node()
    node.op, node.next, node.retains, node.run = op, nexts, None, None
    return node


def run_backward(
    root,
    gradient: np.ndarray,
    retain_graph: bool = False,
    capture: dict | None = None,
    hook: StepHook | None = None,
) -> list | None:
    """Propagate ``gradient`` (dL/d root) through the graph below ``root``.

    Nodes run in reverse topological order (Kahn's algorithm on the consumer
    counts): a node runs once every node that consumed its output has passed its
    contribution down, so what it receives is already the sum over all paths.

    Parameters
    ----------
    root : Tensor that requires grad.
    gradient : ndarray shaped like ``root``.
    retain_graph : keep every op's cache so backward can run again.
    capture : ``{id(leaf or node): position}``; when given, the gradients reaching
        those leaf Tensors or nodes are returned in a list instead of being
        accumulated into ``.grad`` (this is :func:`chainrule.grad`).
    hook : called after every op's backward with (op, upstream, input gradients); not
        for the pass-through node of a backward called on a leaf.
    """
    captured = None if capture is None else [None] * len(capture)
    root_node = root._node
    if root_node is None:  # backward of a leaf: a pass-through node hands it dL/dL
        root_node = new_node(_LeafRoot(), (root,))
        hook = None  # the hook sees the graph's ops; this one is the engine's own

    # 1. Count, for every node reachable from the root, the edges entering it from above:
    #    ``node.pending``, with ``node.run = run`` marking it as seen in this run. Iterative
    #    (a chain of a million ops must not hit the recursion limit), and it raises before
    #    anything is computed when a reachable node was freed. Written inline, not as a
    #    function: on a small graph the call and a second stack cost a tenth of the engine.
    if root_node.next is None:
        raise GraphError(_FREED)
    run = object()
    root_node.run, root_node.pending = run, 0
    ready = [root_node]
    pop, push = ready.pop, ready.append
    while ready:
        for nxt in pop().next:
            if type(nxt) is not Node:  # None, or a leaf Tensor
                continue
            if nxt.run is run:
                nxt.pending += 1
            else:
                if nxt.next is None:
                    raise GraphError(_FREED)
                nxt.run, nxt.pending, nxt.grad = run, 1, None
                push(nxt)

    # 2. Run each node once all its consumers have passed their contributions down.
    root_node.grad = gradient
    push(root_node)
    while ready:
        node = pop()
        upstream = node.grad
        node.grad = None
        nexts = node.next
        op = node.op
        if upstream is None:  # nothing reached this node (every consumer returned None)
            in_grads = (None,) * len(nexts)
        else:
            if node.retains is not None:
                _retain(node, upstream)
            if captured is not None and id(node) in capture:
                captured[capture[id(node)]] = upstream
            if (
                # An op that can write into its upstream (ReLU) may, when the array is the
                # engine's alone: no other holder, memory of its own, writeable, no hook watching.
                op.reuses_upstream
                and hook is None
                and _refs(upstream) <= _FREE_UPSTREAM_REFS
                and type(upstream) is ndarray
                and upstream.base is None
                and upstream.flags.writeable
            ):
                op.upstream_is_free = True
                try:
                    in_grads = op.backward(upstream)
                finally:
                    op.upstream_is_free = False
            else:
                in_grads = op.backward(upstream)
            if type(in_grads) is not tuple:
                in_grads = tuple(in_grads) if isinstance(in_grads, list) else (in_grads,)
            if len(in_grads) != len(nexts):
                raise GraphError(
                    f"{op.name}.backward returned {len(in_grads)} gradients for {len(nexts)} inputs"
                )
            if hook is not None:
                hook(op, upstream, in_grads)
        # Indexed rather than zip(nexts, in_grads): a zip and its two tuple iterators cost
        # more than this whole loop's bookkeeping (measured: 1.4k instructions per node).
        i = 0
        for nxt in nexts:
            g = in_grads[i]
            i += 1
            if nxt is None:
                continue
            if type(nxt) is not Node:  # a leaf: check the gradient, then keep it or add it to .grad
                if g is None:
                    continue
                data = nxt.data
                if (
                    type(g) is not ndarray
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
                    or not (flags := g.flags).writeable
                    or (not flags.owndata and _refs(g.base) > _LONE_VIEW_REFS)  # a view: who holds its base?
                ):
                    nxt.grad = g.copy()
                else:
                    nxt.grad = g
                continue
            if g is not None:
                if type(g) is not ndarray:  # a user's op may hand back a number or a list
                    g = np.asarray(g)
                previous = nxt.grad
                nxt.grad = g if previous is None else previous + g
            pending = nxt.pending - 1
            nxt.pending = pending
            if not pending:
                push(nxt)
        g = in_grads = None  # no stale reference to a gradient a node below is about to receive
        if not retain_graph and (_refs(node) > _LONE_NODE_REFS or _refs(op) > _LONE_OP_REFS):
            # Someone else still holds this node (the Tensor it made) or its op (``Tensor.op``,
            # a drawing of the graph): unlink the node and drop the op's cache now. A node and
            # op that only the engine holds go, cache and all, when ``node`` is rebound.
            node.next = None
            op.release()
    return captured


#: Reference count of an object; without reference counts (not CPython) every array looks
#: shared, so a leaf always keeps a copy of its first gradient.
_refs = getattr(sys, "getrefcount", lambda obj: 1 << 30)

#: References to the base of a view that nothing but the view holds (measured, not assumed).
_LONE_VIEW_REFS = _refs(np.zeros(1)[None].base)
#: References to a gradient that only the engine holds, seen at the ownership check in
#: :func:`run_backward`: measured by :func:`_smallest_threshold` when this module is imported.
_LONE_GRAD_REFS = 0
#: References to a node, and to its op, that only the engine holds once it has run, seen at
#: the release check in :func:`run_backward`: measured by :func:`_smallest_threshold` (until
#: then, every node is released).
_LONE_NODE_REFS = -1
_LONE_OP_REFS = 1 << 30
#: References to an upstream gradient that only the engine holds, seen at the check before an op
#: that ``reuses_upstream`` runs: measured by :func:`_smallest_threshold` (until then, none is free).
_FREE_UPSTREAM_REFS = -1


class _ProbeLeaf:
    """A stand-in Tensor for the probes below (the engine reads only these attributes)."""

    __slots__ = ("data", "grad", "_node")


def _probe_graph(*ops: Op) -> tuple[_ProbeLeaf, _ProbeLeaf]:
    """A root over a chain of nodes for ``ops[0] -> ops[1] -> ... -> leaf``; only each node's
    consumer holds it."""
    leaf = _ProbeLeaf()
    leaf.data, leaf.grad, leaf._node = np.zeros(1), None, None
    below = leaf
    for op in reversed(ops):
        below = new_node(op, (below,))
    root = _ProbeLeaf()
    root._node = below
    return root, leaf


def _smallest_threshold(name: str, holds: Callable[[], bool]) -> int:
    """The smallest value, 1 to 15, of the module global ``name`` at which ``holds()`` is true.

    The reference counts the engine compares against are measured by running it on probe
    graphs, not assumed, so a different Python (which may count references on its stack
    differently) gets its own numbers. Without reference counts it returns -1: every first
    gradient is then copied and every node released.
    """
    if not hasattr(sys, "getrefcount"):
        return -1
    for threshold in range(1, 16):
        globals()[name] = threshold
        if holds():
            return threshold
    return -1


class _ProbeFresh(Op):
    """A probe op whose backward returns a fresh array that nothing else holds."""

    returned: list = []  # id of the last array returned

    def forward(self, x):
        return x

    def backward(self, upstream):
        g = np.zeros(1)
        self.returned[:] = [id(g)]
        return (g,)


def _leaf_keeps_a_fresh_gradient() -> bool:
    """Does the leaf of a one-op graph keep the array its op returned, rather than a copy?"""
    root, leaf = _probe_graph(_ProbeFresh())
    run_backward(root, np.ones(1))
    return [id(leaf.grad)] == _ProbeFresh.returned


class _ProbePass(Op):
    """A pass-through probe op; it notes when it is released."""

    released: list = []

    def forward(self, x):
        return x

    def backward(self, upstream):
        return (upstream,)

    def release(self):
        self.released.append(type(self))
        super().release()


class _ProbeTop(_ProbePass):
    pass


def _only_the_held_node_is_released() -> bool:
    """Run backward on a root that holds the top node, while only that node holds the middle
    one: is the top op released and the middle one left to die with its node?"""
    _ProbePass.released = []
    root, _ = _probe_graph(_ProbeTop(), _ProbePass())
    run_backward(root, np.ones(1))
    return _ProbePass.released == [_ProbeTop]


class _ProbeReuse(Op):
    """A probe op that could write into its upstream; it notes whether the engine let it."""

    reuses_upstream = True
    seen: list = []

    def forward(self, x):
        return x

    def backward(self, upstream):
        self.seen.append(self.upstream_is_free)
        return (upstream,)


class _ProbeKeep(Op):
    """A probe op that keeps the gradient it returns (so the op below must not write into it)."""

    kept: list = []

    def forward(self, x):
        return x

    def backward(self, upstream):
        g = np.zeros(1)
        self.kept[:] = [g]
        return (g,)


def _fresh_upstream_is_free() -> bool:
    """Below an op whose backward returns a fresh array, may the next op write into it?"""
    _ProbeReuse.seen = []
    root, _ = _probe_graph(_ProbeFresh(), _ProbeReuse())
    run_backward(root, np.ones(1))
    return _ProbeReuse.seen == [True]


def _held_upstream_is_free() -> bool:
    """Below an op that keeps the array it returns, may the next op write into it? (It must not.)"""
    _ProbeReuse.seen = []
    root, _ = _probe_graph(_ProbeKeep(), _ProbeReuse())
    run_backward(root, np.ones(1))
    _ProbeKeep.kept = []
    return _ProbeReuse.seen != [False]


# The smallest count at which the leaf keeps a gradient that nothing else holds.
_LONE_GRAD_REFS = _smallest_threshold("_LONE_GRAD_REFS", _leaf_keeps_a_fresh_gradient)
# A held node must be released and a lone one left alone: measured while the op threshold is
# out of reach, so that only the nodes' counts decide; then the op threshold, the same way,
# so that an op held by nothing but its node dies with it, while one held elsewhere
# (``Tensor.op`` kept by the caller, a drawing of the graph) has its cache dropped.
_LONE_NODE_REFS = _smallest_threshold("_LONE_NODE_REFS", _only_the_held_node_is_released)
_LONE_OP_REFS = _smallest_threshold("_LONE_OP_REFS", _only_the_held_node_is_released)
# An upstream only the engine holds is free for an op that reuses it; one held anywhere else
# never is (if the probe says otherwise, no upstream is ever free).
_FREE_UPSTREAM_REFS = _smallest_threshold("_FREE_UPSTREAM_REFS", _fresh_upstream_is_free)
if _held_upstream_is_free():
    _FREE_UPSTREAM_REFS = -1


def _retain(node: Node, upstream: np.ndarray) -> None:
    tensor = node.retains()
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
        capture[id(t) if t._node is None else id(t._node)] = i
    gradient = _initial_gradient(outputs, grad_outputs)
    return tuple(run_backward(outputs, gradient, retain_graph, capture=capture))


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
            return one_of(data.dtype)  # shared and read-only: ops never write into their upstream
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
