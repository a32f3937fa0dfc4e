"""What each op means on paper: its forward formula, its drawing symbol, and its local
derivative with respect to each input (as a formula and as a value).

The contribution an op passes down is always what its own ``backward`` returned (the
engine's numbers); these rules only say, in the lecture's words, *why*: "multiply the
upstream gradient by the local derivative". They are written once against the
notation interface of :mod:`chainrule.explain.notation`, so the same rule gives
``∂G/∂E = F`` in text and ``\\frac{\\partial G}{\\partial E} = F`` in LaTeX.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import ops
from ..ops.activations import stable_sigmoid
from .notation import UNICODE, Unicode


@dataclass
class Local:
    """The local derivative of an op's output with respect to one input.

    ``rhs`` is the formula (``F`` in ``∂G/∂E = F``), None where there is no short one;
    ``value`` its value (None where it is a Jacobian too big to show as an array);
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


def _arr(x) -> np.ndarray | None:
    return None if x is None else np.asarray(x, dtype=np.float64)


def _safe(f, *vals):
    """f(*vals), or None when a value is unknown."""
    if any(v is None for v in vals):
        return None
    with np.errstate(all="ignore"):
        return _arr(f(*vals))


def describe(op: ops.Op, n: Unicode, y: str, xs: list[str], vals: list, out) -> OpText:
    """The paper version of ``op``: ``y`` is its output's name, ``xs`` its inputs' names,
    ``vals`` their values (None where unknown), ``out`` its output value."""

    def times(U, D):
        return n.mul(U, D)

    def loc(rhs, value, chain=times):
        return Local(rhs, value, chain)

    x = xs[0] if xs else "x"
    v = vals[0] if vals else None
    if op.arity is not None and len(xs) != op.arity:  # not the op's usual arguments: let backward speak
        return _generic(op, n, xs)
    if isinstance(op, ops.Add):
        return OpText("+", n.add(xs[0], xs[1]), [loc(n.one, _arr(1.0)), loc(n.one, _arr(1.0))])
    if isinstance(op, ops.Sub):
        return OpText("−", n.sub(xs[0], xs[1]), [loc(n.one, _arr(1.0)), loc(n.num(-1), _arr(-1.0))])
    if isinstance(op, ops.Mul):
        return OpText("×", n.mul(xs[0], xs[1]), [loc(xs[1], _arr(vals[1])), loc(xs[0], _arr(vals[0]))])
    if isinstance(op, ops.Div):
        a, b = xs
        return OpText(
            "÷", n.div(a, b),
            [
                loc(n.div(n.one, b), _safe(lambda q: 1 / q, vals[1])),
                loc(n.neg(n.div(a, n.pow(b, 2))), _safe(lambda p, q: -p / q**2, vals[0], vals[1])),
            ],
        )
    if isinstance(op, ops.Neg):
        return OpText("−", n.neg(x), [loc(n.num(-1), _arr(-1.0))])
    if isinstance(op, ops.Square):
        return OpText("x²", n.pow(x, 2), [loc(n.mul(n.num(2), x), _safe(lambda q: 2 * q, v))])
    if isinstance(op, ops.Pow):
        p = op.exponent
        return OpText(
            "x" + UNICODE.pow("", p),
            n.pow(x, p),
            [loc(n.mul(n.num(p), n.pow(x, p - 1)) if p - 1 != 1 else n.mul(n.num(p), x),
                 _safe(lambda q: p * q ** (p - 1), v))],
        )
    if isinstance(op, ops.Identity):
        return OpText("id", x, [loc(n.one, _arr(1.0))])
    if isinstance(op, ops.Exp):
        return OpText("exp", n.call("exp", x), [loc(y, _arr(out))])
    if isinstance(op, ops.Log):
        return OpText("log", n.call("log", x), [loc(n.div(n.one, x), _safe(lambda q: 1 / q, v))])
    if isinstance(op, ops.Sqrt):
        return OpText("√", n.sqrt(x), [loc(n.div(n.one, n.mul(n.num(2), y)), _safe(lambda q: 1 / (2 * q), out))])
    if isinstance(op, ops.Abs):
        return OpText("abs", n.call("abs", x), [loc(n.call("sign", x), _safe(np.sign, v))])
    if isinstance(op, ops.Tanh):
        return OpText("tanh", n.call("tanh", x), [loc(n.sub(n.one, n.pow(y, 2)), _safe(lambda q: 1 - q * q, out))])
    if isinstance(op, ops.Sigmoid):
        return OpText(
            "σ", n.sigma(x), [loc(n.mul(y, n.sub(n.one, y)), _safe(lambda q: q * (1 - q), out))]
        )
    if isinstance(op, ops.ReLU):
        return OpText("relu", n.call("relu", x), [loc(n.indicator(x, ">", "0"), _safe(lambda q: (q > 0) * 1.0, v))])
    if isinstance(op, ops.LeakyReLU):
        s = op.negative_slope
        return OpText(
            "leaky_relu", n.call("leaky_relu", x),
            [loc(n.add(n.indicator(x, ">", "0"), n.mul(n.num(s), n.indicator(x, "≤", "0"))),
                 _safe(lambda q: np.where(q > 0, 1.0, s), v))],
        )
    if isinstance(op, ops.Softplus):
        return OpText("softplus", n.call("softplus", x), [loc(n.sigma(x), _safe(stable_sigmoid, v))])
    if isinstance(op, (ops.Sum, ops.Mean, ops.Max, ops.Min, ops.LogSumExp)):
        return _reduction(op, n, y, x, v, out, loc)
    if isinstance(op, ops.MatMul):
        a, b = xs
        return OpText(
            "@", n.matmul(a, b),
            [
                Local(b, _arr(vals[1]), lambda U, D: n.matmul(U, n.T(b)), elementwise=False),
                Local(a, _arr(vals[0]), lambda U, D: n.matmul(n.T(a), U), elementwise=False),
            ],
        )
    if isinstance(op, (ops.Maximum, ops.Minimum)):
        word, rel = ("maximum", ">") if isinstance(op, ops.Maximum) else ("minimum", "<")
        a, b = xs
        pick = np.greater if rel == ">" else np.less

        def weights(p, q):
            return pick(p, q) + 0.5 * (p == q)

        return OpText(
            word, n.call(word, a, b),
            [
                loc(n.indicator(a, rel, b), _safe(weights, vals[0], vals[1])),
                loc(n.indicator(b, rel, a), _safe(lambda p, q: 1 - weights(p, q), vals[0], vals[1])),
            ],
        )
    if isinstance(op, ops.Transpose):
        return OpText("ᵀ", n.T(x), [Local(None, None, lambda U, D: n.T(U), elementwise=False)])
    if isinstance(op, (ops.Softmax, ops.LogSoftmax)):
        word = "softmax" if isinstance(op, ops.Softmax) else "log_softmax"
        back = Local(None, None, lambda U, D: n.call(f"{word}.backward", U), elementwise=False)
        return OpText(word, n.call(word, x), [back])
    return _generic(op, n, xs)


def _generic(op, n, xs) -> OpText:
    """Anything else (reshape, indexing, a user's own op): the op's backward is the rule."""
    word = op.name
    return OpText(
        word, n.call(word, *xs) if xs else word,
        [Local(None, None, lambda U, D, w=word: n.call(f"{w}.backward", U), elementwise=False) for _ in xs],
    )


def _reduction(op, n, y, x, v, out, loc) -> OpText:
    axis = getattr(op, "axis", None)
    shape = None if v is None else np.shape(v)

    def args(*first):
        extra = [] if axis is None else [f"axis={axis}"]
        return [*first, *extra]

    if isinstance(op, ops.Sum):
        rhs = n.total(x) if axis is None else n.call("sum", *args(x))
        return OpText("Σ", rhs, [loc(n.one, _arr(1.0))])
    if isinstance(op, ops.Mean):
        if shape is None:
            count = None
        elif axis is None:
            count = int(np.prod(shape))
        else:
            axes = axis if isinstance(axis, tuple) else (axis,)
            count = int(np.prod([shape[a] for a in axes]))
        rhs_d = n.div(n.one, n.num(count)) if count else n.div(n.one, "n")
        return OpText("mean", n.call("mean", *args(x)), [loc(rhs_d, None if not count else _arr(1.0 / count))])
    if isinstance(op, (ops.Max, ops.Min)):
        word = "max" if isinstance(op, ops.Max) else "min"
        value = None
        if v is not None and out is not None:
            value = _safe(
                lambda q, o: _extreme_weights(q, o, axis, getattr(op, "keepdims", False)), v, out
            )
        return OpText(word, n.call(word, *args(x)), [loc(n.indicator(x, "=", y), value)])
    word = "logsumexp"
    return OpText(word, n.call(word, *args(x)), [loc(n.call("softmax", x), None)])


def _extreme_weights(x, out, axis, keepdims):
    if axis is not None and not keepdims:
        out = np.expand_dims(out, axis)
    mask = (x == out).astype(np.float64)
    count = mask.sum(axis=axis, keepdims=True)
    return mask / count
