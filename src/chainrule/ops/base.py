"""The op contract, the registry of built-in ops, and the broadcasting helpers every op shares.

An :class:`Op` is the lecture's "independent block". One instance is one
application of the operation:

* ``forward(*inputs) -> ndarray`` computes the result from plain NumPy arrays
  (or Python scalars) and saves exactly what ``backward`` needs in the tuple
  ``self.saved``: the cache (its names, for drawings and explain, in ``saves``).
* ``backward(upstream) -> tuple`` takes dL/d(output), shaped like the output,
  and returns one gradient per input, shaped like that input, or ``None`` for an
  input that needs no gradient.

An op instance holds three kinds of state, each in its own place: its constructor
parameters (plain attributes, e.g. ``self.axis``), its saved values (``self.saved``,
which the graph drops after backward) and the flags the graph sets for one run
(``needs_input_grad``, ``upstream_is_free``). Nothing here knows about tensors or
graphs: ``Op.apply`` is the door to the graph and imports it lazily, so the blocks
stay usable by hand.

Each built-in op is declared once, in its own class: besides forward and backward,
class attributes say under which names it is offered (``functions``, ``methods``,
``operator``, ``in_expressions``) and :meth:`Op.written` says how the explain layer
writes it on paper. The functions of :mod:`chainrule.functional`, the methods and
operators of :class:`chainrule.Tensor`, the explain parser's function table and its
rules are all built from :data:`REGISTRY`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ..backend import is_foreign, namespace_of
from ..errors import GraphError

#: Every built-in op class by name (``"Exp": Exp``), filled as the op modules are imported.
REGISTRY: dict[str, type[Op]] = {}


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


class _NoValues:
    """What ``op.saved`` holds when it holds no values: before ``forward`` ran, or once the
    graph has freed them after backward. Reading from it raises an error that says which."""

    __slots__ = ("why",)

    def __init__(self, why: str):
        self.why = why

    def __iter__(self):
        raise GraphError(self.why)

    __getitem__ = __iter__

    def __repr__(self) -> str:
        return "RELEASED" if self is RELEASED else "NOT_SAVED"


#: ``op.saved`` after backward has freed it.
RELEASED = _NoValues(
    "the values this op saved for backward were freed by an earlier backward; "
    "pass retain_graph=True to the first .backward() to keep them"
)
#: ``op.saved`` before ``forward`` has run.
NOT_SAVED = _NoValues("this op's forward has not run: it has saved nothing for backward yet")


class Chain(NamedTuple):
    """A local derivative that is not applied elementwise (``upstream · local``), as explain writes it.

    ``formula`` is the local derivative (``X`` in ``∂μ/∂θ = X``), or None where there is no
    short one; ``passes(U)`` writes how the contribution is formed from the upstream ``U``
    (``Xᵀ @ U``).
    """

    formula: str | None
    passes: Callable[[str], str]


class Written(NamedTuple):
    """An op on paper: the forward right-hand side, and per input its local derivative.

    Each entry of ``locals`` is a formula (a string: the contribution is the upstream
    times it, elementwise), a :class:`Chain`, or None (elementwise, no short formula).
    ``symbol`` labels the op in drawings (the op's class attribute ``symbol`` when None).
    """

    rhs: str
    locals: tuple
    symbol: str | None = None


_ZEROS: dict = {}
_ONES: dict = {}


def _shared_constant(cache: dict, value: int, dtype: np.dtype) -> np.ndarray:
    constant = np.full((), value, dtype)
    constant.flags.writeable = False  # shared by every caller: nobody may write into it
    cache[dtype] = constant
    return constant


def zero_of(dtype: np.dtype) -> np.ndarray:
    """A shared, read-only 0-d zero of ``dtype``.

    NumPy combines an array with a 0-d array of its own dtype faster than with the
    Python number ``0`` (see ``benchmarks/README.md``, "Python numbers in the hot ops");
    the result's dtype is the same either way.
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
    if type(grad) is not np.ndarray and is_foreign(grad):  # an array API array (CuPy, array-api-strict)
        xp = namespace_of(grad)
        return xp.reshape(xp.sum(grad, axis=axes, keepdims=True) if axes else grad, shape)
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


def linked_saves(op_class: type[Op]) -> tuple[tuple[int, int], ...]:
    """Which saved values stand for a value in the graph: (position in ``saves``, input position,
    -1 for the output, or -2 for ``"inputs"``, the tuple of all inputs of an op that takes any number),
    from the names ``saves`` shares with ``forward``'s parameters, ``"out"`` and ``"inputs"``. The
    engine links these to the graph when it records a backward."""
    links = _LINKS.get(op_class)
    if links is None:
        params = [p.name for p in list(inspect.signature(op_class.forward).parameters.values())[1:]
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        special = {"out": -1, "inputs": -2}
        links = tuple((k, special[name] if name in special else params.index(name))
                      for k, name in enumerate(op_class.saves) if name in special or name in params)
        _LINKS[op_class] = links
    return links


_LINKS: dict = {}


def shape_of(value: Any) -> tuple[int, ...]:
    """Shape of an array (any library's) or of a Python scalar (``()``)."""
    if isinstance(value, np.ndarray):
        return value.shape
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else np.shape(value)


class Op:
    """Base class of every operation: subclass it and write ``forward`` and ``backward``.

    A user's own op works everywhere a built-in op does::

        class Cube(Op):
            '''y = x**3;  dy/dx = 3 x**2.  Shapes: x (...) -> y (...).'''
            fresh_grads = True            # backward returns arrays of its own making
            saves = ("x",)                # the names of what forward saves
            def forward(self, x):
                self.saved = (x,)         # exactly what backward needs
                return x ** 3
            def backward(self, upstream):
                (x,) = self.saved
                return (upstream * 3 * x ** 2,)

        y = Cube.apply(t)             # inside the graph, on Tensors
        y = Cube().forward(array)     # by hand, on arrays

    ``needs_input_grad[i]`` tells ``backward`` whether input ``i`` needs a gradient;
    by hand it is always true. Ops may use it to skip work.

    ``forward`` keeps what backward needs as a tuple in ``self.saved``, and the class
    names its entries in ``saves``; an input kept as it is goes under the name ``forward``
    gives it (``saves = ("a", "b")``), so drawings of the graph can show it. The graph
    drops ``saved`` after backward (unless ``retain_graph=True``); parameters given to
    the constructor stay, so a used op still prints as ``Sum(axis=0)``.

    ``backward`` never writes into ``upstream``, with one exception the engine grants:
    an op class that sets ``reuses_upstream = True`` (ReLU) may write its result into
    ``upstream`` during a call in which the engine has set ``upstream_is_free``. By
    hand the flag is false.
    """

    # A __dict__ for every op, even a user's op that declares __slots__ for its parameters:
    # the graph's flags and ``saved`` live there.
    __slots__ = ("__dict__", "__weakref__")

    # -- what the op declares (class attributes) -------------------------------------
    #: Number of array inputs ``forward`` takes, or ``None`` for any number.
    arity: int | None = None
    #: Whether every array ``backward`` returns is new, made by that call: not ``upstream``,
    #: not a value it saved, not a view of either, and not returned for two inputs. The graph
    #: then hands it on without copying (to a leaf's ``.grad``, or to ReLU to write into).
    fresh_grads = False
    #: Whether ``backward`` can write its result into the upstream gradient when the engine
    #: says it is free (saves an array the size of the output; ReLU masks in place).
    reuses_upstream = False
    #: Whether ``forward`` is a pure function of its inputs and parameters (Dropout draws
    #: random numbers: it is not). Explain re-runs only pure ops, to show values.
    pure = True
    #: Names of the values ``forward`` keeps in ``self.saved``, in order.
    saves: tuple[str, ...] = ()
    #: Names of the functions ``chainrule.<name>(inputs..., params...)`` that apply this op.
    functions: tuple[str, ...] = ()
    #: Names of the Tensor methods ``t.<name>(params...)`` that apply this op to ``t``.
    methods: tuple[str, ...] = ()
    #: The Python operator ``t.__<operator>__`` (and ``__r<operator>__`` for two inputs).
    operator: str | None = None
    #: Whether explain's expressions may call it (as ``functions[0]``).
    in_expressions = False
    #: Label in drawings of the graph (the op's name when None).
    symbol: str | None = None

    #: Whether ``backward`` can be recorded as it is (``create_graph=True``): it uses only operators
    #: and methods that Tensors share with arrays (``*``, ``@``, ``.sum``, ``.reshape``, comparisons),
    #: and every value it uses is either saved under the name ``forward`` gives an input or as
    #: ``"out"`` (the engine hands those over as Tensors linked in the graph) or is a constant of the
    #: derivative (a shape, a mask). An op whose backward is not so writes :meth:`recorded_backward`.
    backward_records = False
    #: Whether forward and backward work on any array API standard array (CuPy on a GPU,
    #: array-api-strict in the tests), not only NumPy's: the op computes with operators, array
    #: methods the standard has, and ``xp = chainrule.backend.xp_of(...)``. The graph refuses
    #: another library's arrays for an op that does not declare it, naming the op.
    array_api = False

    # -- what the graph sets for one run (by hand: every input needs a gradient, nothing free)
    needs_input_grad = ALL_INPUTS
    upstream_is_free = False
    saved: tuple | _NoValues = NOT_SAVED

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("chainrule.") and not cls.__name__.startswith("_"):
            REGISTRY[cls.__name__] = cls

    def forward(self, *inputs: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.forward is not written")

    def backward(self, upstream: np.ndarray) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.backward is not written")

    def recorded_backward(self, upstream) -> tuple:
        """``backward`` in Tensor operations, so that the graph records it (``create_graph=True``).

        The engine calls it with ``upstream`` a Tensor and ``self.saved`` holding, in place of
        each saved input (saved under the name ``forward`` gives it, or, for a leaf input, the very
        array it was given) and of a saved ``"out"``, a Tensor linked to where that value came
        from in the graph; every other saved value is as ``forward`` left it (a constant of the
        derivative: a value derived from the inputs must be recomputed from them here). It
        returns one gradient per input, as ``backward`` does, each a Tensor (or a constant array,
        or None). By default it runs ``backward`` itself when the
        class declares ``backward_records``; an op whose backward uses NumPy functions, or values
        derived from its inputs (a saved softmax), writes its own, next to ``backward``.
        """
        if self.backward_records:
            return self.backward(upstream)
        raise GraphError(
            f"create_graph=True: the backward of op '{self.name}' ({type(self).__name__}) cannot be recorded, "
            f"so its gradient cannot be differentiated again. Its first derivatives work as they are "
            f"(create_graph=False). To record it, set backward_records = True on the class if its backward "
            f"uses only operators and Tensor methods on the upstream and on values saved under an input's "
            f"name or as 'out', or write recorded_backward(upstream) in Tensor operations"
        )

    def saved_value(self, name: str) -> Any:
        """The value ``forward`` saved under ``name`` (see ``saves``); None when there is none,
        or when backward has freed it."""
        saved = self.saved
        if type(saved) is tuple and name in self.saves:
            return saved[self.saves.index(name)]
        return None

    def release(self) -> None:
        """Drop the saved values (the graph does this after backward unless ``retain_graph``)."""
        self.saved = RELEASED

    @property
    def name(self) -> str:
        """Lower-case name used in error messages, e.g. ``matmul``."""
        return type(self).__name__.lower()

    def params(self) -> dict[str, Any]:
        """Constructor parameters of this op (empty for parameter-free ops)."""
        return {}

    def describe(self) -> str:
        """Short label with the op's parameters, e.g. ``Sum(axis=0)``; used by drawings."""
        params = ", ".join(f"{k}={v!r}" for k, v in self.params().items() if v is not None)
        return f"{type(self).__name__}({params})" if params else type(self).__name__

    def written(self, n, y: str, *xs: str) -> Written:
        """How explain writes this op in notation ``n`` (Unicode or LaTeX), output named ``y``,
        inputs ``xs``: by default ``name(x, ...)``, its backward being the rule for each input."""
        name = self.functions[0] if self.functions else self.name
        passes = Chain(None, lambda U: n.call(f"{name}.backward", U))
        return Written(n.call(name, *xs) if xs else name, (passes,) * len(xs), name)

    @classmethod
    def constructor_params(cls) -> list[inspect.Parameter]:
        """The parameters ``cls(...)`` takes by name (a trailing ``*more`` of shape ops left out)."""
        if cls.__init__ is object.__init__:
            return []
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        return [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    @classmethod
    def apply(cls, *inputs: Any, **params: Any):
        """Apply a fresh instance ``cls(**params)`` to Tensors, recording it in the graph."""
        from ..tensor import apply_op

        return apply_op(cls(**params), *inputs)

    def __repr__(self) -> str:
        released = ", released" if self.saved is RELEASED else ""
        return f"<op {self.describe()}{released}>"
