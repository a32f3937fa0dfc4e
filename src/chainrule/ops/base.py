"""The op contract and the one broadcasting helper every op shares.

An :class:`Op` is the lecture's "independent block". One instance is one
application of the operation:

* ``forward(*inputs) -> ndarray`` computes the result from plain NumPy arrays
  (or Python scalars) and saves on ``self`` exactly what ``backward`` needs: the
  cache.
* ``backward(upstream) -> tuple`` takes dL/d(output), shaped like the output,
  and returns one gradient per input, shaped like that input, or ``None`` for an
  input that needs no gradient.

Nothing here knows about tensors or graphs. ``Op.apply`` is the single door to
the graph and imports it lazily, so the blocks stay usable by hand.

Two habits of the hot paths (ops, :mod:`chainrule.tensor`, :mod:`chainrule.graph`),
each measured with CPython 3.11 and NumPy 2 on (4, 4) arrays, where a framework's
bookkeeping is most of the cost:

* Names read on every op are imported from NumPy (``from numpy import ndarray``)
  rather than read as ``np.ndarray``: NumPy's module defines ``__getattr__``, which
  keeps CPython 3.11 from specialising attribute reads on it, so each ``np.name``
  read costs about 320 instructions more than reading a global.
* In the most used ops (Tanh, Sigmoid, ReLU, the squared-error loss) no Python
  number meets an array: NumPy 2 takes its weak-scalar promotion path for every
  Python number, about 2,700 instructions per call; a 0-d array of the same dtype
  (:func:`zero_of`) or a rearranged formula costs nothing extra. Other ops still
  write ``2 * x`` where that reads best.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class _AllTrue:
    """Stands for "every input needs a gradient" when an op is used by hand."""

    __slots__ = ()

    def __getitem__(self, index: int) -> bool:
        return True

    def __iter__(self):
        raise TypeError("needs_input_grad of an op used by hand has no length: index it")

    def __repr__(self) -> str:
        return "ALL"


ALL_INPUTS = _AllTrue()


_ZEROS: dict = {}
_ONES: dict = {}


def _shared_constant(cache: dict, value: int, dtype: np.dtype) -> np.ndarray:
    constant = np.full((), value, dtype)
    constant.flags.writeable = False  # shared by every caller: nobody may write into it
    cache[dtype] = constant
    return constant


def zero_of(dtype: np.dtype) -> np.ndarray:
    """A shared, read-only 0-d zero of ``dtype``.

    Comparing with it or combining with it costs NumPy 2 much less than the Python
    number ``0`` on small arrays (about 2,700 CPU instructions less per call on a
    (4, 4) array, measured): a Python number takes NumPy's weak-scalar promotion
    path on every call, a 0-d array of the same dtype does not. The dtype of the
    result is the same either way.
    """
    zero = _ZEROS.get(dtype)
    return _shared_constant(_ZEROS, 0, dtype) if zero is None else zero


def one_of(dtype: np.dtype) -> np.ndarray:
    """A shared, read-only 0-d one of ``dtype`` (as :func:`zero_of`); the implied dL/dL of a
    scalar loss."""
    one = _ONES.get(dtype)
    return _shared_constant(_ONES, 1, dtype) if one is None else one


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` back down to ``shape``, undoing NumPy broadcasting.

    Broadcasting copies a value along new leading axes and along axes of size
    one, so by the chain rule the gradient of that value is the sum of the
    gradients of all its copies.

    Parameters
    ----------
    grad : ndarray, the gradient of the broadcast result, shape ``S``.
    shape : the shape of the operand before broadcasting, broadcastable to ``S``.

    Returns
    -------
    ndarray of shape ``shape`` (``grad`` itself when no broadcasting happened).
    """
    gshape = grad.shape
    if gshape == shape:
        return grad
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def broadcast_view(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``np.broadcast_to(x, shape)``: a read-only view, repeating ``x`` with zero strides.

    NumPy's own function is written in Python and costs microseconds, which on
    small arrays is more than the arithmetic around it; for a C-contiguous ``x``
    the view is built directly. Anything unusual goes to ``np.broadcast_to``,
    which also raises for shapes that do not broadcast.
    """
    if x.shape == shape:
        return x
    lead = len(shape) - x.ndim
    if lead < 0 or not x.flags.c_contiguous or 0 in shape or 0 in x.shape:
        return np.broadcast_to(x, shape)
    strides = [0] * lead
    for n, m, st in zip(x.shape, shape[lead:], x.strides):
        if n == m:
            strides.append(st)
        elif n == 1:
            strides.append(0)
        else:
            return np.broadcast_to(x, shape)  # raises NumPy's error
    view = np.ndarray(shape, x.dtype, x, 0, tuple(strides))
    view.flags.writeable = False
    return view


def shape_of(value: Any) -> tuple[int, ...]:
    """Shape of an array or of a Python scalar (``()``)."""
    return value.shape if isinstance(value, np.ndarray) else np.shape(value)


class Op:
    """Base class of every operation: subclass it and write ``forward`` and ``backward``.

    A user's own op works everywhere a built-in op does::

        class Cube(Op):
            '''y = x**3;  dy/dx = 3 x**2.  Shapes: x (...) -> y (...).'''
            def forward(self, x):
                self.x = x
                return x ** 3
            def backward(self, upstream):
                return (upstream * 3 * self.x ** 2,)

        y = Cube.apply(t)             # inside the graph, on Tensors
        y = Cube().forward(array)     # by hand, on arrays

    ``needs_input_grad[i]`` tells ``backward`` whether input ``i`` needs a
    gradient; by hand it is always true. Ops may use it to skip work.

    ``backward`` never writes into ``upstream``, with one exception the engine grants:
    an op class that sets ``reuses_upstream = True`` (ReLU) may write its result into
    ``upstream`` during a call in which the engine has set ``upstream_is_free``, which
    it does only when that array is the engine's alone. By hand the flag is false.
    """

    # The graph's bookkeeping lives in its nodes (chainrule.graph.Node), not here; subclasses
    # that declare no __slots__ get a __dict__ for their parameters and cache.
    __slots__ = ("__weakref__",)
    #: Per input, whether backward must compute its gradient. The graph sets a tuple on
    #: the instance before ``forward``; by hand every input needs one.
    needs_input_grad = ALL_INPUTS

    #: Number of array inputs ``forward`` takes, or ``None`` for any number.
    arity: int | None = None

    #: Whether ``backward`` can write its result into the upstream gradient when allowed
    #: (saves an array the size of the output; ReLU's mask is applied in place).
    reuses_upstream = False
    #: ``True`` only while the engine runs the ``backward`` of an op that ``reuses_upstream``
    #: on an upstream array that nothing else holds (no Tensor's ``.grad``, no other node, no
    #: caller, no step hook watching), that owns its memory and is writeable; ``False`` by hand,
    #: so a block never writes into an array its caller gave it. (A user's op that declares
    #: ``__slots__`` and reuses its upstream must list this name among them.)
    upstream_is_free = False

    def forward(self, *inputs: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.forward is not written")

    def backward(self, upstream: np.ndarray) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.backward is not written")

    @property
    def name(self) -> str:
        """Lower-case name used in error messages and drawings, e.g. ``matmul``."""
        return type(self).__name__.lower()

    def describe(self) -> str:
        """Short label with the op's parameters, e.g. ``Sum(axis=0)``; used by drawings."""
        try:
            given = self.params()
        except AttributeError:  # released after backward: its parameters went with its cache
            return f"{type(self).__name__}(released)"
        params = ", ".join(f"{k}={v!r}" for k, v in given.items() if v is not None)
        return f"{type(self).__name__}({params})" if params else type(self).__name__

    def params(self) -> dict[str, Any]:
        """Constructor parameters of this op (empty for parameter-free ops)."""
        return {}

    def release(self) -> None:
        """Drop the cache (called by the graph after backward unless ``retain_graph``, for
        every op that someone besides the graph still holds; the others go, cache and all,
        with their last reference).

        Clears everything the op stored on itself (its parameters too: a released
        op cannot run again), so the arrays it held can be freed; the graph unlinks
        its node.
        """
        try:
            self.__dict__.clear()
        except AttributeError:  # a user's op with __slots__ keeps its cache until collected
            pass

    @classmethod
    def apply(cls, *inputs: Any, **params: Any):
        """Apply a fresh instance ``cls(**params)`` to Tensors, recording it in the graph."""
        from ..tensor import apply_op

        return apply_op(cls(**params), *inputs)

    def __repr__(self) -> str:
        return f"<op {self.describe()}>"
