"""``Tensor``: a NumPy array that remembers which op made it (define-by-run).

Every operation on a Tensor runs the op's ``forward`` on the arrays at once
and, when some input requires a gradient and recording is on, records it as a
graph node (:class:`chainrule.graph.Node`: the op and where its inputs came
from). ``Tensor.backward`` hands the graph to the engine in
:mod:`chainrule.graph`.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np
from numpy import ndarray  # a global: cheaper to read than np.ndarray (see chainrule.ops.base)

from . import ops
from .errors import DTypeError
from .graph import Node, _initial_gradient, grad_recording, new_node, run_backward

_SCALARS = (int, float, bool, np.number, np.bool_)


def _check_differentiable(data: np.ndarray) -> None:
    if data.dtype.kind not in "fc":
        raise DTypeError(
            f"only floating-point tensors can require gradients, got dtype {data.dtype}; "
            f"convert first, e.g. tensor(x, dtype='float64', requires_grad=True)"
        )


class Tensor:
    """An n-dimensional array with a gradient, recorded in the graph when it requires one.

    Parameters
    ----------
    data : array-like; Python floats become float64, a float32 array stays float32.
    requires_grad : whether backward should compute ``.grad`` for this (leaf) tensor.
    dtype : optional dtype to convert ``data`` to.
    """

    __slots__ = ("data", "grad", "_req", "_node", "__weakref__")
    __array_ufunc__ = None  # ``ndarray + Tensor`` calls Tensor.__radd__ and gives a Tensor

    def __init__(self, data: Any, requires_grad: bool = False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        data = np.asarray(data, dtype=dtype)
        if requires_grad:
            _check_differentiable(data)
        self.data = data
        self.grad: np.ndarray | None = None
        self._req = bool(requires_grad)
        self._node = None  # the graph node that made this tensor; None for a leaf

    # -- attributes ------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._req

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._node is not None and not value:
            raise DTypeError("requires_grad can only be switched off on a leaf; use .detach()")
        if value:
            _check_differentiable(self.data)
        self._req = bool(value)

    def requires_grad_(self, value: bool = True) -> Tensor:
        self.requires_grad = value
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user, not by an op."""
        return self._node is None

    @property
    def op(self):
        """The op that produced this tensor (``None`` for a leaf)."""
        return None if self._node is None else self._node.op

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self):
        """Rows along the first axis, each a Tensor in the graph (like iterating an array)."""
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))

    def item(self) -> float:
        return self.data.item()

    def numpy(self) -> np.ndarray:
        return self.data

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def detach(self) -> Tensor:
        """A new leaf sharing this data, outside the graph."""
        return Tensor(self.data)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if self._node is not None:
            self._node.retains = weakref.ref(self)

    def astype(self, dtype) -> Tensor:
        """A copy in another dtype (outside the graph, like ``detach``)."""
        return Tensor(self.data.astype(dtype))

    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Compute d(self)/d(leaf) for every leaf that requires grad, into ``leaf.grad``.

        ``gradient`` is dL/d(self); it may be left out only for a one-element tensor.
        Leaf gradients accumulate across calls. The graph's caches are freed unless
        ``retain_graph=True``.
        """
        run_backward(self, _initial_gradient(self, gradient), retain_graph)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(", precision=4)
        extra = ""
        if self.data.dtype != np.float64:
            extra += f", dtype={self.data.dtype}"
        if self._node is not None:
            extra += f", op={type(self._node.op).__name__}"
        elif self._req:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # -- arithmetic ------------------------------------------------------------------
    def __add__(self, other):
        return apply2(ops.Add(), self, other)

    def __radd__(self, other):
        return apply2(ops.Add(), other, self)

    def __sub__(self, other):
        return apply2(ops.Sub(), self, other)

    def __rsub__(self, other):
        return apply2(ops.Sub(), other, self)

    def __mul__(self, other):
        return apply2(ops.Mul(), self, other)

    def __rmul__(self, other):
        return apply2(ops.Mul(), other, self)

    def __truediv__(self, other):
        return apply2(ops.Div(), self, other)

    def __rtruediv__(self, other):
        return apply2(ops.Div(), other, self)

    def __matmul__(self, other):
        return apply2(ops.MatMul(), self, other)

    def __rmatmul__(self, other):
        return apply2(ops.MatMul(), other, self)

    def __neg__(self):
        return apply1(ops.Neg(), self)

    def __pos__(self):
        return self

    def __abs__(self):
        return apply1(ops.Abs(), self)

    def __pow__(self, exponent):
        if isinstance(exponent, _SCALARS):
            if exponent == 2:
                return apply1(ops.Square(), self)
            return apply1(ops.Pow(exponent), self)
        return (as_tensor_like(exponent, self) * self.log()).exp()  # a ** b = exp(b log a)

    def __rpow__(self, base):
        return (self * math.log(base)).exp()  # base ** t = exp(t log base), base > 0

    # -- comparisons give plain boolean arrays (no gradient flows through them) -------
    def __lt__(self, other):
        return self.data < _data(other)

    def __le__(self, other):
        return self.data <= _data(other)

    def __gt__(self, other):
        return self.data > _data(other)

    def __ge__(self, other):
        return self.data >= _data(other)

    def __eq__(self, other):  # type: ignore[override]
        return self.data == _data(other)

    def __ne__(self, other):  # type: ignore[override]
        return self.data != _data(other)

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return bool(self.data)

    # -- indexing --------------------------------------------------------------------
    def __getitem__(self, index):
        return apply1(ops.GetItem(_plain_index(index)), self)

    # -- NumPy-named methods -----------------------------------------------------------
    def sum(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply1(ops.Sum(axis, keepdims), self)

    def mean(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply1(ops.Mean(axis, keepdims), self)

    def max(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply1(ops.Max(axis, keepdims), self)

    def min(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply1(ops.Min(axis, keepdims), self)

    def logsumexp(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply1(ops.LogSumExp(axis, keepdims), self)

    def reshape(self, *shape) -> Tensor:
        if len(shape) == 1 and np.iterable(shape[0]):
            shape = tuple(shape[0])
        return apply1(ops.Reshape(shape), self)

    def flatten(self) -> Tensor:
        return self.reshape(-1)

    def transpose(self, *axes) -> Tensor:
        if len(axes) == 1 and (axes[0] is None or np.iterable(axes[0])):
            axes = axes[0]
        return apply1(ops.Transpose(axes or None), self)

    @property
    def T(self) -> Tensor:
        return apply1(ops.Transpose(None), self)

    def broadcast_to(self, shape) -> Tensor:
        return apply1(ops.BroadcastTo(shape), self)

    def exp(self) -> Tensor:
        return apply1(ops.Exp(), self)

    def log(self) -> Tensor:
        return apply1(ops.Log(), self)

    def sqrt(self) -> Tensor:
        return apply1(ops.Sqrt(), self)

    def abs(self) -> Tensor:
        return apply1(ops.Abs(), self)

    def square(self) -> Tensor:
        return apply1(ops.Square(), self)

    def tanh(self) -> Tensor:
        return apply1(ops.Tanh(), self)

    def sigmoid(self) -> Tensor:
        return apply1(ops.Sigmoid(), self)

    def relu(self) -> Tensor:
        return apply1(ops.ReLU(), self)

    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor:
        return apply1(ops.LeakyReLU(negative_slope), self)

    def softplus(self) -> Tensor:
        return apply1(ops.Softplus(), self)

    def softmax(self, axis: int = -1) -> Tensor:
        return apply1(ops.Softmax(axis), self)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return apply1(ops.LogSoftmax(axis), self)

    # -- notebook display (drawn by chainrule.explain, imported only when a notebook asks) --
    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        from .explain.draw import tensor_mimebundle

        return tensor_mimebundle(self, include, exclude)

    def _repr_html_(self) -> str:
        from html import escape

        return self._repr_mimebundle_().get("text/html") or f"<pre>{escape(repr(self))}</pre>"

    def _repr_svg_(self) -> str | None:
        return self._repr_mimebundle_().get("image/svg+xml")


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _plain_index(index):
    """An index with any Tensors in it replaced by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def as_tensor_like(x, like: Tensor) -> Tensor:
    """``x`` as a Tensor, Python numbers taking ``like``'s dtype."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, _SCALARS):
        return Tensor(np.asarray(x, dtype=like.dtype))
    return Tensor(x)


def tensor(data: Any, requires_grad: bool = False, dtype=None) -> Tensor:
    """Make a leaf Tensor, as ``torch.tensor``: ``tensor([1., 2.], requires_grad=True)``."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def apply_op(op: ops.Op, *inputs: Any) -> Tensor:
    """Run ``op.forward`` on the inputs' arrays and, if needed, link it into the graph.

    Inputs may be Tensors, arrays or Python numbers; only Tensors that require
    grad are linked. This is what ``Op.apply`` and the functions call; Tensor
    methods use the one- and two-input versions below, which do the same.
    """
    if len(inputs) == 1:
        return apply1(op, inputs[0])
    if len(inputs) == 2:
        return apply2(op, inputs[0], inputs[1])
    if len(inputs) == 3:
        return apply3(op, inputs[0], inputs[1], inputs[2])
    datas = []
    nexts = []
    needs = []
    recording = False
    for x in inputs:  # a plain loop: comprehensions cost a frame each in Python 3.11
        if isinstance(x, Tensor):
            datas.append(x.data)
            if x._req:
                nexts.append(x if x._node is None else x._node)
                needs.append(True)
                recording = True
                continue
        else:
            datas.append(_plain(x))
        nexts.append(None)
        needs.append(False)
    if recording and grad_recording():
        op.needs_input_grad = tuple(needs)
        return _result(op.forward(*datas), new_node(op, tuple(nexts)))
    op.needs_input_grad = (False,) * len(datas)
    return _result(op.forward(*datas), None)


def apply1(op: ops.Op, x: Any) -> Tensor:
    """:func:`apply_op` for one input (the hot path of unary Tensor methods)."""
    if isinstance(x, Tensor):
        if x._req and grad_recording():
            op.needs_input_grad = _NEEDS_ONE
            out = op.forward(x.data)
            # Inlined new_node(op, ...) and _result(out, node): this runs once per op, so every
            # call saved counts.
            node = Node()
            node.op = op
            node.next = (x if x._node is None else x._node,)
            node.retains = None
            node.run = None
        else:
            op.needs_input_grad = _NEEDS_NONE
            out, node = op.forward(x.data), None
    else:
        op.needs_input_grad = _NEEDS_NONE
        out, node = op.forward(_plain(x)), None
    result = _new_tensor(Tensor)
    result.data = out if type(out) is ndarray else np.asarray(out)
    result.grad = None
    result._req = node is not None
    result._node = node
    return result


def apply2(op: ops.Op, a: Any, b: Any) -> Tensor:
    """:func:`apply_op` for two inputs (the hot path of binary Tensor operators)."""
    if type(a) is ndarray:  # first: a failed isinstance costs more than this test
        da, na = a, None
    elif isinstance(a, Tensor):
        da = a.data
        na = (a if a._node is None else a._node) if a._req else None
    else:
        da, na = _plain(a), None
    if type(b) is ndarray:  # first: a failed isinstance costs more than this test
        db, nb = b, None
    elif isinstance(b, Tensor):
        db = b.data
        nb = (b if b._node is None else b._node) if b._req else None
    else:
        db, nb = _plain(b), None
    if (na is not None or nb is not None) and grad_recording():
        # picked by two tests, not indexed by arithmetic on two bools (0.3k instructions less per op)
        op.needs_input_grad = (_NEEDS_BOTH if nb is not None else _NEEDS_FIRST) if na is not None else _NEEDS_SECOND
        out = op.forward(da, db)
        node = Node()
        node.op = op
        node.next = (na, nb)
        node.retains = None
        node.run = None
    else:
        op.needs_input_grad = _NEEDS_TWO[0]
        out, node = op.forward(da, db), None
    result = _new_tensor(Tensor)
    result.data = out if type(out) is ndarray else np.asarray(out)
    result.grad = None
    result._req = node is not None
    result._node = node
    return result


def apply3(op: ops.Op, a: Any, b: Any, c: Any) -> Tensor:
    """:func:`apply_op` for three inputs (a layer's input, weight and bias)."""
    if type(a) is ndarray:  # first: a failed isinstance costs more than this test
        da, na = a, None
    elif isinstance(a, Tensor):
        da = a.data
        na = (a if a._node is None else a._node) if a._req else None
    else:
        da, na = _plain(a), None
    if type(b) is ndarray:  # first: a failed isinstance costs more than this test
        db, nb = b, None
    elif isinstance(b, Tensor):
        db = b.data
        nb = (b if b._node is None else b._node) if b._req else None
    else:
        db, nb = _plain(b), None
    if type(c) is ndarray:  # first: a failed isinstance costs more than this test
        dc, nc = c, None
    elif isinstance(c, Tensor):
        dc = c.data
        nc = (c if c._node is None else c._node) if c._req else None
    else:
        dc, nc = _plain(c), None
    if (na is not None or nb is not None or nc is not None) and grad_recording():
        op.needs_input_grad = _NEEDS_THREE[(na is not None) + 2 * (nb is not None) + 4 * (nc is not None)]
        out = op.forward(da, db, dc)
        node = Node()
        node.op = op
        node.next = (na, nb, nc)
        node.retains = None
        node.run = None
    else:
        op.needs_input_grad = _NEEDS_THREE[0]
        out, node = op.forward(da, db, dc), None
    result = _new_tensor(Tensor)
    result.data = out if type(out) is ndarray else np.asarray(out)
    result.grad = None
    result._req = node is not None
    result._node = node
    return result


_new_tensor = object.__new__
# Shared needs_input_grad tuples: no allocation per op on the hot path.
_NEEDS_ONE = (True,)
_NEEDS_NONE = (False,)
_NEEDS_TWO = ((False, False), (True, False), (False, True), (True, True))
_NEEDS_FIRST, _NEEDS_SECOND, _NEEDS_BOTH = _NEEDS_TWO[1], _NEEDS_TWO[2], _NEEDS_TWO[3]
_NEEDS_THREE = tuple((bool(i & 1), bool(i & 2), bool(i & 4)) for i in range(8))


def _plain(x: Any) -> Any:
    """A non-Tensor input as the op sees it: lists become arrays, the rest is kept."""
    return np.asarray(x) if isinstance(x, (list, tuple)) else x


def _result(out: Any, node: Node | None) -> Tensor:
    """Wrap an op's output; ``node`` is the graph node that made it, or None outside the graph."""
    result = Tensor.__new__(Tensor)
    result.data = out if type(out) is ndarray else np.asarray(out)
    result.grad = None
    result._req = node is not None
    result._node = node
    return result
