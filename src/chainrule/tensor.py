"""``Tensor``: a NumPy array that remembers which op made it (define-by-run).

Every operation on a Tensor goes through :func:`apply_op`: it runs the op's
``forward`` on the arrays at once and, when some input requires a gradient and
recording is on, records it as a graph node (:class:`chainrule.graph.Node`: the op
and where its inputs came from). ``Tensor.backward`` hands the graph to the engine in
:mod:`chainrule.graph`.

The methods and operators named after ops (``t.exp()``, ``t.sum(axis=0)``, ``a + b``,
``t[i]``, ...) are not written here: each op declares them in its own class, and
:func:`_install_op_methods` adds them from :data:`chainrule.ops.base.REGISTRY`.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy import ndarray

from . import anomaly, ops
from .autograd import initial_gradient
from .backend import device_name, is_foreign, like, namespace_of, put
from .errors import DTypeError, GraphError
from .grad_mode import grad_recording, in_recorded_backward
from .graph import Node, run_backward
from .hooks import HookHandle
from .inplace import lock, mark_written
from .ops.base import REGISTRY, Op
from .ops.shape import _completed, _flat_positions, _is_basic, _plain_index

_SCALARS = (int, float, bool, np.number, np.bool_)
#: Whether any array of another library than NumPy (CuPy, array-api-strict) has been held by a Tensor in this
#: process: until then the record path checks nothing for them (see :func:`record`).
FOREIGN_SEEN = [False]
_ANOMALY = anomaly.ACTIVE

#: Draws a Tensor's graph for a notebook (see :func:`register_notebook_display`).
_notebook_display: Callable[[Any, Any, Any], dict] | None = None


def register_notebook_display(display: Callable[[Any, Any, Any], dict]) -> None:
    """Let ``display(tensor, include, exclude) -> mimebundle`` show Tensors in notebooks.

    :mod:`chainrule.explain` registers its drawing of the graph: the core never imports it.
    """
    global _notebook_display
    _notebook_display = display


def _floating(data) -> bool:
    if type(data) is ndarray or isinstance(data, np.generic):
        return data.dtype.kind in "fc"
    xp = namespace_of(data)
    return bool(xp.isdtype(data.dtype, ("real floating", "complex floating")))


def _check_differentiable(data: np.ndarray) -> None:
    if not _floating(data):
        raise DTypeError(
            f"only floating-point tensors can require gradients, got dtype {data.dtype}; "
            f"convert first, e.g. tensor(x, dtype='float64', requires_grad=True)"
        )


class Tensor:
    """An n-dimensional array with a gradient, recorded in the graph when it requires one.

    ``Tensor(data)`` wraps ``data`` without copying when it already is an array of the
    right dtype; :func:`tensor` copies, as ``torch.tensor`` does.

    ``t += x`` makes a new tensor (``t = t + x``, recorded in the graph), unlike PyTorch,
    where it writes in place; the in-place methods (``add_``, ``mul_``, ``t[i] = v``, ...)
    write in place, and the graph checks them (:mod:`chainrule.inplace`).

    Parameters
    ----------
    data : array-like; Python floats become float64, a float32 array stays float32.
    requires_grad : whether backward should compute ``.grad`` for this (leaf) tensor.
    dtype : optional dtype to convert ``data`` to.
    """

    __slots__ = ("_data", "grad", "_req", "_node", "_hooks", "__weakref__")
    __array_ufunc__ = None  # ``ndarray + Tensor`` calls Tensor.__radd__ and gives a Tensor

    def __init__(self, data: Any, requires_grad: bool = False, dtype=None):
        if isinstance(data, Tensor):
            data = data._data
        if type(data) is not ndarray and is_foreign(data):  # CuPy, array-api-strict: kept
            FOREIGN_SEEN[0] = True
            if dtype is not None:
                data = namespace_of(data).astype(data, dtype)
        else:
            data = np.asarray(data, dtype=dtype)
        if requires_grad:
            _check_differentiable(data)
        self._data = data
        self.grad: np.ndarray | None = None
        self._req = bool(requires_grad)
        self._node = None  # the graph node that made this tensor; None for a leaf
        self._hooks = None  # a leaf's gradient hooks (an op's result keeps them on its node)

    # -- the data ----------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The values, as a NumPy array.

        The result of a recorded op is read-only while the graph that may still need it
        is alive (backward makes it writeable again when it frees the graph): write into a
        copy, or change a tensor with its in-place methods (``add_``, ``t[i] = v``, ...),
        which the graph checks.
        """
        data, node = self._data, self._node
        if node is not None and node.next is not None and node.locked is None and type(data) is ndarray \
                and data.flags.writeable:
            # not an array a leaf handed in unchanged (an identity op's result): that one is the user's
            if not any(type(n) is Tensor and n._data is data for n in node.next):
                lock(node, data)
        return data

    @data.setter
    def data(self, value) -> None:
        value = value._data if isinstance(value, Tensor) else value
        if is_foreign(value):
            FOREIGN_SEEN[0] = True
            self._data = value
        else:
            self._data = np.asarray(value)

    # -- attributes ------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._req

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._node is not None and not value:
            raise DTypeError("requires_grad can only be switched off on a leaf; use .detach()")
        if value:
            _check_differentiable(self._data)
        self._req = bool(value)

    def requires_grad_(self, value: bool = True) -> Tensor:
        self.requires_grad = value
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user, not by an op."""
        return self._node is None

    @property
    def op(self) -> Op | None:
        """The op that produced this tensor (``None`` for a leaf)."""
        return None if self._node is None else self._node.op

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self):
        """Rows along the first axis, each a Tensor in the graph (like iterating an array)."""
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self._data)))

    def item(self) -> float:
        data = self._data
        return data.item() if type(data) is ndarray or not is_foreign(data) else self.numpy().item()

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array: the data itself on the CPU, a copy brought back from another device."""
        data = self.data
        if type(data) is ndarray:
            return data
        from .backend import to_numpy

        return to_numpy(data)

    @property
    def device(self) -> str:
        """Where the values live: ``"cpu"`` (NumPy), ``"cuda"`` (CuPy), or another array library's device."""
        if type(self._data) is ndarray:
            return "cpu"
        from .backend import device_name

        return device_name(self._data)

    def to(self, device: str) -> Tensor:
        """This tensor on ``device`` (``"cpu"`` or ``"cuda"``), as ``torch.Tensor.to``: itself when it is there,
        else a copy recorded in the graph (its gradient goes back to this device)."""
        from .backend import check_device

        device = check_device(device)
        if self.device == device or (device == "cuda" and self.device == "cuda:0"):
            return self
        from .ops.shape import ToDevice

        return record(ToDevice(device), (self,))

    def __array__(self, dtype=None, copy=None):
        if self._req and in_recorded_backward():
            raise GraphError(
                "a Tensor in the graph was turned into a NumPy array inside a recorded backward "
                "(create_graph=True), which would cut the derivative being recorded: an op's "
                "recorded_backward, and a hook that sees its gradients, must use Tensor operations "
                "(methods, operators, Op.apply), not NumPy functions, on Tensors that require grad "
                "(a hook that only looks can read t.detach().numpy())"
            )
        return self.data if dtype is None else self._data.astype(dtype)

    def detach(self) -> Tensor:
        """A new leaf sharing this data, outside the graph."""
        return Tensor(self._data)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        node = self._node
        if node is None or any(getattr(h, "retains", None) is not None for h in node.hooks or ()):
            return
        tensor = weakref.ref(self)

        def keep(grad):
            t = tensor()
            if t is not None:  # an array is copied; a recorded gradient (a Tensor) is kept as it is
                kept = grad.copy() if type(grad) is ndarray else grad
                t.grad = kept if t.grad is None else t.grad + grad

        keep.retains = tensor
        node.add_hook(keep)

    def register_hook(self, hook: Callable[[np.ndarray], np.ndarray | None]) -> HookHandle:
        """Call ``hook(grad)`` whenever the gradient with respect to this tensor is computed, as
        ``torch.Tensor.register_hook``: it may return a replacement (an array of the same shape)
        or None. A leaf's hooks run before the gradient is added to ``.grad``. Returns a handle
        whose ``remove()`` takes the hook away.
        """
        if not self._req:
            raise GraphError("register_hook: this tensor does not require grad, so no gradient reaches it")
        if self._node is not None:
            return self._node.add_hook(hook)
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return HookHandle(self._hooks, hook)

    def astype(self, dtype) -> Tensor:
        """A copy in another dtype (outside the graph, like ``detach``)."""
        return Tensor(self._data.astype(dtype))

    def backward(self, gradient=None, retain_graph: bool | None = None, create_graph: bool = False,
                 inputs=None) -> None:
        """Compute d(self)/d(leaf) for every leaf that requires grad, into ``leaf.grad``.

        As ``torch.Tensor.backward``: ``gradient`` is dL/d(self); it may be left out only for a
        one-element tensor. Gradients accumulate across calls. The graph's caches are freed
        unless ``retain_graph`` (which defaults to ``create_graph``). With ``create_graph=True``
        the backward pass is itself recorded: ``.grad`` is then a Tensor in the graph, which
        can be differentiated again. ``inputs`` (Tensors, leaves or not) limits the gradients
        computed to those tensors' ``.grad``.
        """
        if retain_graph is None:
            retain_graph = create_graph
        if inputs is None:
            run_backward(self, initial_gradient(self, gradient, create_graph), retain_graph,
                         create_graph=create_graph)
            return
        from .autograd import grad

        inputs = [inputs] if isinstance(inputs, Tensor) else list({id(t): t for t in inputs}.values())  # once each
        grads = grad(self, inputs, gradient, retain_graph=retain_graph, create_graph=create_graph,
                     allow_unused=True)
        for t, g in zip(inputs, grads):
            if g is not None:
                t.grad = (g.copy() if type(g) is ndarray else g) if t.grad is None else t.grad + g

    def __repr__(self) -> str:
        foreign = is_foreign(self._data)
        shown = self.numpy() if foreign else self._data
        body = np.array2string(shown, separator=", ", prefix="tensor(", precision=4)
        extra = ""
        if shown.dtype != np.float64:
            extra += f", dtype={shown.dtype}"
        if foreign:
            extra += f", device={self.device!r}"
        if self._node is not None:
            extra += f", op={type(self._node.op).__name__}"
        elif self._req:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # -- in-place changes, which the graph checks (see chainrule.inplace) ---------------
    def _write(self, what: str, value, index=Ellipsis, ufunc: np.ufunc | None = None) -> Tensor:
        """Write ``value`` into this tensor's array in place (``data[index] = value``, or
        ``ufunc(data, value, out=data)``), then stamp the array as written: after, because a
        write that raises has changed nothing and must not look as if it had."""
        if self._req and grad_recording():
            raise GraphError(
                f"{what}: an in-place change of a tensor that requires grad would not be recorded in the graph; "
                f"make it under chainrule.no_grad() (as an optimiser step does), or use the out-of-place form"
            )
        data, value = self._data, values_of(value)
        if type(data) is not ndarray and is_foreign(data):
            _write_foreign(what, data, value, index, ufunc)
            mark_written(data)
            return self
        if not data.flags.writeable:
            raise GraphError(f"{what}: this tensor's data is read-only: it is, or shares memory with, the result "
                             f"of a recorded op that backward still needs (or it was read-only when given); "
                             f"change a copy instead")
        if ufunc is None:
            data[index] = value
        else:
            ufunc(data, value, out=data, casting="same_kind")
        mark_written(data)
        return self

    def add_(self, other) -> Tensor:
        """``self + other`` written into this tensor's array; returns ``self``."""
        return self._write("add_", other, ufunc=np.add)

    def sub_(self, other) -> Tensor:
        """``self - other`` written into this tensor's array; returns ``self``."""
        return self._write("sub_", other, ufunc=np.subtract)

    def mul_(self, other) -> Tensor:
        """``self * other`` written into this tensor's array; returns ``self``."""
        return self._write("mul_", other, ufunc=np.multiply)

    def div_(self, other) -> Tensor:
        """``self / other`` written into this tensor's array; returns ``self``."""
        return self._write("div_", other, ufunc=np.divide)

    def fill_(self, value) -> Tensor:
        """Every element set to ``value``, in place; returns ``self``."""
        return self._write("fill_", value)

    def zero_(self) -> Tensor:
        """Every element set to 0, in place; returns ``self``."""
        return self.fill_(0)

    def copy_(self, source) -> Tensor:
        """The values of ``source`` (broadcast to this shape) copied in, in place; returns ``self``."""
        return self._write("copy_", source)

    def __setitem__(self, index, value) -> None:
        """``t[index] = value``, in place (see :meth:`add_` for when it is allowed)."""
        self._write("t[index] = value", value, _plain_index(index))

    # -- what no single op is --------------------------------------------------------
    def __pos__(self):
        return self

    def __pow__(self, exponent):
        if isinstance(exponent, _SCALARS):
            return record(ops.Square() if exponent == 2 else ops.Pow(exponent), (self,))
        return record(ops.Power(), (self, exponent))

    def __rpow__(self, base):
        if isinstance(base, _SCALARS):  # a Python number keeps the tensor's dtype
            base = np.asarray(base, dtype=self.dtype)
        return record(ops.Power(), (base, self))

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def flatten(self) -> Tensor:
        return self.reshape(-1)

    # -- comparisons give plain boolean arrays (no gradient flows through them) -------
    def __lt__(self, other):
        return self._data < values_of(other)

    def __le__(self, other):
        return self._data <= values_of(other)

    def __gt__(self, other):
        return self._data > values_of(other)

    def __ge__(self, other):
        return self._data >= values_of(other)

    def __eq__(self, other):  # type: ignore[override]
        return self._data == values_of(other)

    def __ne__(self, other):  # type: ignore[override]
        return self._data != values_of(other)

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return bool(self._data)

    # -- notebook display (drawn by chainrule.explain when it is imported) --------------
    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        if _notebook_display is None:
            return {"text/plain": repr(self)}
        return _notebook_display(self, include, exclude)

    def _repr_html_(self) -> str:
        from html import escape

        return self._repr_mimebundle_().get("text/html") or f"<pre>{escape(repr(self))}</pre>"

    def _repr_svg_(self) -> str | None:
        return self._repr_mimebundle_().get("image/svg+xml")


def values_of(x: Any) -> Any:
    """The values of a Tensor (its array, never a read-only copy of it), or ``x`` itself.

    For chainrule's own reading of results that the graph may still need, without the
    read-only guard of :attr:`Tensor.data` (which protects what users write)."""
    return x._data if isinstance(x, Tensor) else x


def linked_tensor(value: np.ndarray, link) -> Tensor:
    """A Tensor for a value an op saved, linked to where the value came from in the graph
    (``link``: the leaf Tensor itself, the node that produced it, or None for a constant). The
    recorded backward (``create_graph=True``) computes with these, so the derivative it records
    depends on the graph's values, as PyTorch's saved variables do."""
    if isinstance(link, Tensor):  # a leaf (a Parameter too): the very tensor
        return link
    t = object.__new__(Tensor)
    t._data, t.grad, t._req, t._node, t._hooks = value, None, link is not None, link, None
    return t


def as_tensor_like(x, like: Tensor) -> Tensor:
    """``x`` as a Tensor, Python numbers taking ``like``'s dtype."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, _SCALARS):
        return Tensor(np.asarray(x, dtype=like.dtype))
    return Tensor(x)


def tensor(data: Any, requires_grad: bool = False, dtype=None, device: str | None = None) -> Tensor:
    """A new leaf Tensor holding a copy of ``data``, as ``torch.tensor``: ``tensor([1., 2.], requires_grad=True)``.

    The copy means that training the tensor (an optimiser step) never changes the
    caller's array; :func:`as_tensor` and :func:`from_numpy` share memory instead.
    ``device="cuda"`` puts the copy on the GPU (CuPy); another library's array stays on its own device.
    """
    data = data._data if isinstance(data, Tensor) else data
    if is_foreign(data):
        xp = namespace_of(data)
        copy = xp.asarray(data, copy=True) if dtype is None else xp.astype(data, dtype, copy=True)
        return Tensor(copy, requires_grad=requires_grad)
    data = np.array(data, dtype=dtype, copy=True)
    if device is not None:
        from .backend import check_device, to_device

        if check_device(device) != "cpu":
            data = to_device(data, device)
    return Tensor(data, requires_grad=requires_grad)


def as_tensor(data: Any, dtype=None) -> Tensor:
    """``data`` as a Tensor, sharing its memory when it already is an array of ``dtype``
    (``torch.as_tensor``); a Tensor is returned as it is."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)):
        return data
    return Tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing ``array``'s memory (``torch.from_numpy``): changes to one show in the other."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


# -- the record path ---------------------------------------------------------------------


def apply_op(op: Op, *inputs: Any) -> Tensor:
    """``record(op, inputs)``: apply ``op`` to the inputs given one by one (``Op.apply`` and
    the functions call this)."""
    return record(op, inputs)


def record(op: Op, inputs: tuple) -> Tensor:
    """Run ``op.forward`` on the inputs' arrays and, when needed, record it in the graph.

    Inputs may be Tensors, arrays or Python numbers (lists become arrays). The op is
    recorded, as a :class:`~chainrule.graph.Node` linked to where each input came from,
    when recording is on and some input requires a gradient; ``op.needs_input_grad``
    tells its forward and backward which inputs do. Every operation on Tensors ends here.
    """
    arrays, links, needs = [], [], []
    for x in inputs:
        link = None  # where a gradient for this input goes: the leaf, or the node that made it
        if type(x) is ndarray:  # an array is a constant, used as it is
            pass
        elif isinstance(x, Tensor):
            if x._req:
                link = x if x._node is None else x._node
            x = x._data
        elif isinstance(x, (list, tuple)):
            x = np.asarray(x)
        elif not isinstance(x, _SCALARS) and is_foreign(x):  # another library's array, given as it is
            FOREIGN_SEEN[0] = True
        arrays.append(x)
        links.append(link)
        needs.append(link is not None)
    node = None
    if True in needs and grad_recording():
        node = Node(op, tuple(links))
        op.needs_input_grad = tuple(needs)
    else:
        op.needs_input_grad = (False,) * len(needs)
    if FOREIGN_SEEN[0]:  # only once another library's arrays exist: a NumPy-only session pays one test
        foreign = any(type(a) is not ndarray and is_foreign(a) for a in arrays)
        if foreign:
            _check_foreign(op, arrays)
    out = op.forward(*arrays)
    if type(out) is not ndarray:
        if is_foreign(out):  # an op that moved the values (ToDevice), or one on another library's arrays
            FOREIGN_SEEN[0] = True
        else:
            out = np.asarray(out)
    if _ANOMALY[0] and anomaly.enabled():
        _record_anomaly_checks(op, arrays, out, node)
    result = object.__new__(Tensor)
    result._data = out
    result.grad = None
    result._req = node is not None
    result._node = node
    result._hooks = None
    return result


#: The in-place operators of the ufuncs the in-place methods use, for another library's arrays.
_IN_PLACE = {np.add: operator.iadd, np.subtract: operator.isub, np.multiply: operator.imul,
             np.divide: operator.itruediv}


def _write_foreign(what: str, data, value, index, ufunc: np.ufunc | None) -> None:
    """An in-place method's write into another library's array: its in-place operator, or its
    ``__setitem__`` (an index naming every axis, as the standard asks)."""
    if isinstance(value, (ndarray, list, tuple)):
        value = like(np.asarray(value), data)
    try:
        if ufunc is not None:
            _IN_PLACE[ufunc](data, value)
        elif _is_basic(index):
            data[_completed(index)] = value
        else:  # integer arrays and masks: the standard has no such setitem; one gather by flat positions
            data[...] = put(data, _flat_positions(tuple(data.shape), index), value)
    except (TypeError, ValueError, IndexError) as exc:
        raise DTypeError(f"{what}: cannot write into this tensor's array on {device_name(data)} in place: "
                         f"{exc}") from None


def _check_foreign(op: Op, arrays: list) -> None:
    """Another library's arrays (CuPy, array-api-strict): all of the op's array inputs on one device, and an op
    that declares it can work on them (``Op.array_api``); else one error naming the op and the devices."""
    from .backend import device_name

    devices = sorted({device_name(a) for a in arrays if isinstance(a, ndarray) or is_foreign(a)})
    if len(devices) > 1:
        raise DTypeError(f"{op.name}: inputs on different devices ({', '.join(devices)}); move them to one "
                         f"with .to(device) first")
    if not op.array_api:
        raise DTypeError(f"{op.name} works on NumPy arrays only (its class does not declare array_api = True), "
                         f"got arrays on {devices[0]}; move the values with .to('cpu') first")


def _record_anomaly_checks(op: Op, arrays: list, out: np.ndarray, node: Node | None) -> None:
    """Under :func:`chainrule.detect_anomaly`: where the op was called, fingerprints of what it
    saved, and no NaN or infinity out of its forward."""
    site = anomaly.call_site()
    if node is not None:
        node.site, node.prints = site, anomaly.fingerprints(op.saved)
    anomaly.check_forward(op, arrays, out, site)


# -- methods and operators declared by the ops -------------------------------------------


def _method(op_class: type[Op], name: str, reflected: bool = False):
    """``Tensor.<name>``: the op applied to this tensor, and to the other operand of a binary op
    (which comes first when ``reflected``: ``2 - t`` is ``t.__rsub__(2)``)."""
    if op_class.arity == 2:
        if reflected:
            def method(self, other):
                return record(op_class(), (other, self))
        else:
            def method(self, other):
                return record(op_class(), (self, other))
    elif op_class.constructor_params():
        def method(self, *params, **kw):
            return record(op_class(*params, **kw), (self,))
    else:
        def method(self):
            return record(op_class(), (self,))
    method.__name__ = method.__qualname__ = name
    method.__doc__ = op_class.__doc__
    return method


def _install_op_methods() -> None:
    """Give Tensor every method and operator the registered ops declare."""
    for op_class in REGISTRY.values():
        names = [(name, False) for name in op_class.methods]
        if op_class.operator:
            names.append((f"__{op_class.operator}__", False))
            if op_class.arity == 2:
                names.append((f"__r{op_class.operator}__", True))
        for name, reflected in names:
            setattr(Tensor, name, _method(op_class, name, reflected))


_install_op_methods()
