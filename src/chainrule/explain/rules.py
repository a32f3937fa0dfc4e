"""What each op means on paper: its forward formula, its drawing symbol, and its local
derivative with respect to each input (as a formula and as a value).

Nothing here restates an op. The formulas are the op's own (:meth:`Op.written`, beside
its forward and backward), written against the notation interface of
:mod:`chainrule.explain.notation`, so one rule gives ``∂G/∂E = F`` in text and
``\\frac{\\partial G}{\\partial E} = F`` in LaTeX. The values of elementwise local
derivatives come from the op's own backward, run again on a copy with an upstream of
ones. The contribution an op passes down is always what its backward returned in the
real run (the engine's numbers); these rules only say, in the lecture's words, *why*.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import ChainruleError
from ..ops.base import REGISTRY, Chain, Op
from .notation import Unicode


@dataclass
class Local:
    """The local derivative of an op's output with respect to one input.

    ``rhs`` is the formula (``F`` in ``∂G/∂E = F``), None where there is no short one;
    ``value`` its value (None where unknown, or a Jacobian too big to show as an array);
    ``chain(U, D)`` writes how the contribution is formed from the upstream symbol ``U``
    and the local symbol ``D``, e.g. ``U · D`` or ``Xᵀ · U``.
    """

    rhs: str | None
    value: np.ndarray | None
    chain: Callable[[str, str], str] = field(repr=False)
    elementwise: bool = True


@dataclass
class OpText:
    """Symbol for drawings, forward right-hand side, and one :class:`Local` per input."""

    symbol: str
    rhs: str
    locals: list[Local]


def describe(op: Op, n: Unicode, y: str, xs: list[str], vals: list, out) -> OpText:
    """The paper version of ``op``: ``y`` is its output's name, ``xs`` its inputs' names,
    ``vals`` their values (None where unknown), ``out`` its output value."""
    usual = op.arity is None or len(xs) == op.arity  # else: not the op's usual arguments, let backward speak
    written = op.written(n, y, *xs) if usual else Op.written(op, n, y, *xs)
    elementwise = not any(isinstance(d, Chain) for d in written.locals)
    values = local_values(op, vals) if elementwise else [None] * len(xs)
    known = dict(zip(xs, vals))
    known[y] = out
    locals_ = []
    for d, value in zip(written.locals, values):
        if isinstance(d, Chain):  # its value is shown when the formula is a variable's name (∂μ/∂θ = X)
            locals_.append(Local(d.formula, _float(known.get(d.formula)), lambda U, D, p=d.passes: p(U), False))
        else:
            locals_.append(Local(d, value, n.mul))
    symbol = written.symbol or op.symbol or (op.functions[0] if op.functions else op.name)
    return OpText(symbol, written.rhs, locals_)


def local_values(op: Op, vals: list) -> list:
    """∂y/∂x element by element for each input of an elementwise op, from the op's own backward.

    A copy of the op runs forward on the inputs broadcast to their common shape, then
    backward with an upstream of ones. A derivative that is the same for every element
    is given as one number. Only built-in ops that are pure functions of their inputs
    are run again (a user's op may count its calls, Dropout draws new numbers); for the
    others, and where a value is unknown, the values are None.
    """
    none = [None] * len(vals)
    if not replayable(op) or any(v is None for v in vals):
        return none
    clone = copy.copy(op)
    clone.needs_input_grad = (True,) * len(vals)
    try:
        shape = np.broadcast_shapes(*(np.shape(v) for v in vals))
        args = [np.broadcast_to(np.asarray(v, dtype=np.float64), shape).copy() for v in vals]
        with np.errstate(all="ignore"):
            out = np.asarray(clone.forward(*args), dtype=np.float64)
            grads = clone.backward(np.ones_like(out))
    except (ValueError, TypeError, IndexError, ArithmeticError, ChainruleError):
        return none
    return [_one_if_constant(_float(g)) for g in grads]


def replayable(op: Op) -> bool:
    """Whether explain may run ``op`` again on a copy: a built-in op whose forward is a pure
    function of its inputs (a user's op may count its calls; Dropout draws new numbers)."""
    return op.pure and REGISTRY.get(type(op).__name__) is type(op)


def _float(x) -> np.ndarray | None:
    return None if x is None else np.asarray(x, dtype=np.float64)


def _one_if_constant(v: np.ndarray | None) -> np.ndarray | None:
    if v is not None and v.size > 1 and np.all(v == v.flat[0]):
        return np.asarray(v.flat[0])
    return v
