"""Tests of the operation blocks (:mod:`chainrule.ops`), issue 2 section 5.

Every op is checked three ways on hypothesis-generated shapes (broadcasting
pairs, size-1 and size-0 dimensions): by hand (``forward`` then ``backward`` on
plain arrays), through ``Tensor`` (the function form, e.g. ``chainrule.add``)
and by ``gradcheck`` (central differences). All three must give one answer.
Then: dtype kept, ties, numerical stability, docstrings, shape errors, and a
user's own ``Op`` subclass.
"""

from __future__ import annotations

import copy
import inspect
import re
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import ops
from chainrule.ops import Op, unbroadcast

# ------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------


@contextmanager
def strict_floats():
    """Every warning is an error, and so is every overflow, division by zero or invalid value.

    Underflow is left alone: exp of a very negative number rounding to 0 is the right
    answer (NumPy ignores underflow by default too, and PyTorch has no such flag).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):
            yield


def arr(x) -> np.ndarray:
    """A writable float64 array, also for 0-d (NumPy's generators give scalars for size=())."""
    return np.array(x, dtype=np.float64)


def smooth(rng, shape, low=-2.0, high=2.0):
    return arr(rng.uniform(low, high, size=shape))


def away_from_zero(rng, shape, low=0.3, high=2.0):
    """Values with |x| >= low: far from the kink at 0 compared with gradcheck's eps."""
    return arr(rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape))


def positive(rng, shape):
    return arr(rng.uniform(0.5, 3.0, size=shape))


def distinct(rng, *shapes):
    """Arrays whose values are all different, at least 0.05 apart (no ties anywhere)."""
    sizes = [int(np.prod(s)) for s in shapes]
    total = sum(sizes)
    values = (rng.permutation(total) - total / 2) * 0.1 + rng.uniform(0, 0.05)
    out, start = [], 0
    for s, n in zip(shapes, sizes):
        out.append(arr(values[start : start + n].reshape(s)))
        start += n
    return out


def is_float(x) -> bool:
    return isinstance(x, np.ndarray) and x.dtype.kind == "f"


@dataclass
class Case:
    """One application of an op: a configured op, the same op as a Tensor function, and inputs."""

    op: Op
    fn: Callable  # the same operation through Tensor, e.g. chainrule.add
    inputs: list  # float arrays get gradients; bool / integer arrays are held constant
    # Cholesky reads one triangle of its (symmetric) input and gives the symmetrised gradient, as HIPS autograd
    # and PyTorch do: finite differences of the op itself, one element at a time, are not that gradient, so
    # its gradcheck runs on ``fn``, which symmetrises the input first
    symmetric: bool = False

    def __repr__(self) -> str:  # hypothesis prints this on failure
        shapes = ", ".join(f"{np.asarray(x).dtype}{np.shape(x)}" for x in self.inputs)
        return f"Case({self.op.describe()}, inputs=[{shapes}])"


seeds = st.integers(0, 2**32 - 1)
small_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


def rng_from(draw) -> np.random.Generator:
    return np.random.default_rng(draw(seeds))


@st.composite
def axis_args(draw, ndim: int):
    """(axis, keepdims): axis None, an int or a tuple of distinct axes, negatives included."""
    kind = draw(st.sampled_from(["none", "int", "tuple"])) if ndim else "none"
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-ndim, ndim - 1))
    else:
        axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
        axis = tuple(a - ndim if draw(st.booleans()) else a for a in axes)
    return axis, draw(st.booleans())


def reduced_set(axis, ndim: int) -> set[int]:
    if axis is None:
        return set(range(ndim))
    return {a % ndim for a in (axis if isinstance(axis, tuple) else (axis,))}


def nonempty_on(shape, axes) -> tuple[int, ...]:
    """``shape`` with size-0 dimensions among ``axes`` raised to 1 (the op needs elements there)."""
    return tuple(max(n, 1) if i in axes else n for i, n in enumerate(shape))


# ------------------------------------------------------------------------------------
# One hypothesis strategy per op: each draws a Case
# ------------------------------------------------------------------------------------

UNARY = {
    # name: (op class, Tensor function, value generator)
    "Identity": (ops.Identity, cr.identity, smooth),
    "Neg": (ops.Neg, cr.neg, smooth),
    "Square": (ops.Square, cr.square, smooth),
    "Exp": (ops.Exp, cr.exp, smooth),
    "Log": (ops.Log, cr.log, positive),
    "Sqrt": (ops.Sqrt, cr.sqrt, positive),
    "Abs": (ops.Abs, cr.abs, away_from_zero),
    "ReLU": (ops.ReLU, cr.relu, away_from_zero),
    "Sigmoid": (ops.Sigmoid, cr.sigmoid, lambda rng, s: smooth(rng, s, -6, 6)),
    "Tanh": (ops.Tanh, cr.tanh, smooth),
    "Softplus": (ops.Softplus, cr.softplus, lambda rng, s: smooth(rng, s, -6, 6)),
    "Sin": (ops.Sin, cr.sin, smooth),
    "Cos": (ops.Cos, cr.cos, smooth),
    "Tan": (ops.Tan, cr.tan, lambda rng, s: smooth(rng, s, -1.2, 1.2)),
    "Arcsin": (ops.Arcsin, cr.arcsin, lambda rng, s: smooth(rng, s, -0.9, 0.9)),
    "Arccos": (ops.Arccos, cr.arccos, lambda rng, s: smooth(rng, s, -0.9, 0.9)),
    "Arctan": (ops.Arctan, cr.arctan, smooth),
    "Sinh": (ops.Sinh, cr.sinh, smooth),
    "Cosh": (ops.Cosh, cr.cosh, smooth),
    "Log1p": (ops.Log1p, cr.log1p, lambda rng, s: smooth(rng, s, -0.9, 2.0)),
    "Expm1": (ops.Expm1, cr.expm1, smooth),
    "Log2": (ops.Log2, cr.log2, positive),
    "Log10": (ops.Log10, cr.log10, positive),
    "Reciprocal": (ops.Reciprocal, cr.reciprocal, away_from_zero),
    "Sign": (ops.Sign, cr.sign, away_from_zero),
    "SiLU": (ops.SiLU, cr.silu, smooth),
    "Softsign": (ops.Softsign, cr.softsign, away_from_zero),
}


def unary_case(name):
    op_class, fn, values = UNARY[name]

    @st.composite
    def strategy(draw):
        rng = rng_from(draw)
        return Case(op_class(), fn, [values(rng, draw(small_shapes))])

    return strategy()


def _pair_values(name, rng, sa, sb):
    if name in ("Maximum", "Minimum"):
        return distinct(rng, sa, sb)
    if name == "Power":  # a positive base: the derivative in the exponent is a**b log a
        return [positive(rng, sa), smooth(rng, sb)]
    if name == "Div":
        return [smooth(rng, sa), away_from_zero(rng, sb, low=0.5)]
    return [smooth(rng, sa), smooth(rng, sb)]


BINARY = {
    "Add": (ops.Add, cr.add),
    "Sub": (ops.Sub, cr.sub),
    "Mul": (ops.Mul, cr.mul),
    "Div": (ops.Div, cr.div),
    "Maximum": (ops.Maximum, cr.maximum),
    "Minimum": (ops.Minimum, cr.minimum),
    "Power": (ops.Power, lambda a, b: a ** cr.as_tensor(b)),
}


def binary_case(name):
    op_class, fn = BINARY[name]

    @st.composite
    def strategy(draw):
        rng = rng_from(draw)
        sa, sb = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, min_side=0, max_side=4)).input_shapes
        return Case(op_class(), fn, _pair_values(name, rng, sa, sb))

    return strategy()


@st.composite
def where_case(draw):
    rng = rng_from(draw)
    sc, sa, sb = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, min_side=0, max_side=4)).input_shapes
    cond = np.asarray(rng.random(sc) > 0.5)
    return Case(ops.Where(), cr.where, [cond, smooth(rng, sa), smooth(rng, sb)])


@st.composite
def pow_case(draw):
    rng = rng_from(draw)
    p = draw(st.sampled_from([2, 3, -1, 0, 1, 0.5, 1.5, -2.5, 2.0]))
    shape = draw(small_shapes)
    x = away_from_zero(rng, shape, low=0.5) if float(p).is_integer() else positive(rng, shape)
    return Case(ops.Pow(p), lambda t: cr.power(t, p), [x])


@st.composite
def leaky_relu_case(draw):
    rng = rng_from(draw)
    slope = draw(st.sampled_from([0.01, 0.1, 0.5, 2.0]))
    return Case(ops.LeakyReLU(slope), lambda t: cr.leaky_relu(t, slope), [away_from_zero(rng, draw(small_shapes))])


def _away_from(rng, shape, bounds, gap=0.05):
    """Smooth values, none within ``gap`` of a bound (where the derivative jumps)."""
    x = smooth(rng, shape)
    for b in bounds:
        x = np.where(np.abs(x - b) < gap, b + 2 * gap, x)
    return x


@st.composite
def clip_case(draw):
    rng = rng_from(draw)
    lo, hi = draw(st.sampled_from([(-0.5, 0.5), (None, 0.3), (-1.0, None), (0.0, 1.5)]))
    x = _away_from(rng, draw(small_shapes), [b for b in (lo, hi) if b is not None])
    return Case(ops.Clip(lo, hi), lambda t: cr.clip(t, lo, hi), [x])


@st.composite
def hardtanh_case(draw):
    rng = rng_from(draw)
    lo, hi = draw(st.sampled_from([(-1.0, 1.0), (-0.5, 2.0)]))
    return Case(ops.Hardtanh(lo, hi), lambda t: cr.hardtanh(t, lo, hi), [_away_from(rng, draw(small_shapes), (lo, hi))])


@st.composite
def elu_case(draw):
    rng = rng_from(draw)
    alpha = draw(st.sampled_from([1.0, 0.5, 2.0]))
    return Case(ops.ELU(alpha), lambda t: cr.elu(t, alpha), [away_from_zero(rng, draw(small_shapes))])


REDUCTIONS = {
    # name: (op class, Tensor function, needs elements on the reduced axes, distinct values)
    "Sum": (ops.Sum, cr.sum, False, False),
    "Mean": (ops.Mean, cr.mean, True, False),
    "Max": (ops.Max, cr.max, True, True),
    "Min": (ops.Min, cr.min, True, True),
    "LogSumExp": (ops.LogSumExp, cr.logsumexp, True, False),
    "Prod": (ops.Prod, cr.prod, False, False),
    "Norm": (ops.Norm, cr.norm, False, False),
}


def moment_case(name):
    """Var and Std, with ddof 0 or 1 and more elements than ddof on the reduced axes."""
    op_class, fn = {"Var": (ops.Var, cr.var), "Std": (ops.Std, cr.std)}[name]

    @st.composite
    def strategy(draw):
        rng = rng_from(draw)
        shape = draw(small_shapes)
        axis, keepdims = draw(axis_args(len(shape)))
        ddof = draw(st.sampled_from([0, 1]))
        shape = nonempty_on(shape, reduced_set(axis, len(shape)))
        reduced = reduced_set(axis, len(shape))
        # n − ddof stays positive, and Std sees two values or more (a std of 0 has gradient 0 here, but its
        # PyTorch double backward gives NaN: see test_std_of_equal_values_has_zero_gradient)
        if (ddof or name == "Std") and int(np.prod([shape[a] for a in reduced])) <= 1:
            shape = tuple(2 if i in reduced else n for i, n in enumerate(shape)) if shape else (2,)
            axis = axis if len(shape) > 0 and axis is not None else None
        x = distinct(rng, shape)[0]
        return Case(op_class(axis, ddof, keepdims), lambda t: fn(t, axis=axis, ddof=ddof, keepdims=keepdims), [x])

    return strategy()


@st.composite
def trace_case(draw):
    rng = rng_from(draw)
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=4))
    return Case(ops.Trace(), cr.trace, [smooth(rng, shape)])


@st.composite
def cumsum_case(draw):
    rng = rng_from(draw)
    shape = draw(small_shapes)
    axis = draw(st.none() | (st.integers(-len(shape), len(shape) - 1) if shape else st.none()))
    return Case(ops.CumSum(axis), lambda t: cr.cumsum(t, axis), [smooth(rng, shape)])


@st.composite
def cumprod_case(draw):
    """CumProd, with zeros planted (one, two, or none) so that the exact gradient at zeros is checked."""
    rng = rng_from(draw)
    shape = draw(small_shapes)
    axis = draw(st.none() | (st.integers(-len(shape), len(shape) - 1) if shape else st.none()))
    x = smooth(rng, shape)
    if x.size:
        for _ in range(draw(st.integers(0, 2))):
            x.flat[draw(st.integers(0, x.size - 1))] = 0.0
    return Case(ops.CumProd(axis), lambda t: cr.cumprod(t, axis), [x])


def reduction_case(name):
    op_class, fn, needs_elements, needs_distinct = REDUCTIONS[name]

    @st.composite
    def strategy(draw):
        rng = rng_from(draw)
        shape = draw(small_shapes)
        axis, keepdims = draw(axis_args(len(shape)))
        if needs_elements:
            shape = nonempty_on(shape, reduced_set(axis, len(shape)))
        x = distinct(rng, shape)[0] if needs_distinct else smooth(rng, shape)
        return Case(op_class(axis, keepdims), lambda t: fn(t, axis=axis, keepdims=keepdims), [x])

    return strategy()


def softmax_case(name):
    op_class, fn = {"Softmax": (ops.Softmax, cr.softmax), "LogSoftmax": (ops.LogSoftmax, cr.log_softmax)}[name]

    @st.composite
    def strategy(draw):
        rng = rng_from(draw)
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        if name == "LogSoftmax":  # log of an empty sum is log(0); softmax of an empty slice is just empty
            shape = nonempty_on(shape, {axis % len(shape)})
        return Case(op_class(axis), lambda t: fn(t, axis=axis), [smooth(rng, shape, -3, 3)])

    return strategy()


@st.composite
def reshape_case(draw):
    rng = rng_from(draw)
    shape = draw(small_shapes)
    target = list(draw(st.permutations(shape)))
    for _ in range(draw(st.integers(0, 2))):  # insert size-1 dimensions
        target.insert(draw(st.integers(0, len(target))), 1)
    if target and int(np.prod(shape)) > 0 and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    target = tuple(target)
    return Case(ops.Reshape(target), lambda t: cr.reshape(t, target), [smooth(rng, shape)])


@st.composite
def transpose_case(draw):
    rng = rng_from(draw)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3))
    n = len(shape)
    if draw(st.booleans()):
        axes = None
    else:  # any order, each axis written as positive or negative
        axes = tuple(a - n if draw(st.booleans()) else a for a in draw(st.permutations(range(n))))
    return Case(ops.Transpose(axes), lambda t: cr.transpose(t, axes), [smooth(rng, shape)])


@st.composite
def basic_index(draw, shape):
    parts = []
    k = draw(st.integers(0, len(shape)))
    trailing = k < len(shape) and draw(st.booleans())  # then an Ellipsis comes first
    for n in shape[len(shape) - k :] if trailing else shape[:k]:
        if n > 0 and draw(st.booleans()):
            parts.append(draw(st.integers(-n, n - 1)))
        else:
            bound = st.one_of(st.none(), st.integers(-n - 1, n + 1))
            parts.append(slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, -1, -2]))))
    if trailing:
        parts.insert(0, Ellipsis)  # the parts apply to the trailing dimensions
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), None)
    return tuple(parts)


@st.composite
def getitem_case(draw):
    rng = rng_from(draw)
    kind = draw(st.sampled_from(["basic", "int_array", "int_arrays", "mask"]))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0 if kind == "basic" else 1, max_side=4))
    if kind == "basic":
        index = draw(basic_index(shape))
    elif kind == "int_array":  # on one axis; repeats are likely and must accumulate
        axis = draw(st.integers(0, len(shape) - 1))
        n = shape[axis]
        idx_shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5))
        index = (slice(None),) * axis + (rng.integers(-n, n, size=idx_shape),)
    elif kind == "int_arrays":  # one integer array per leading axis, broadcast together
        k = draw(st.integers(1, len(shape)))
        size = draw(st.integers(0, 6))
        index = tuple(rng.integers(-shape[i], shape[i], size=size) for i in range(k))
    else:  # a boolean mask over the leading k dimensions
        k = draw(st.integers(1, len(shape)))
        index = rng.random(shape[:k]) > 0.5
    return Case(ops.GetItem(index), lambda t: t[index], [smooth(rng, shape)])


@st.composite
def to_device_case(draw):
    """A move to the CPU of values already there (the GPU's moves are tested where there is one)."""
    rng = rng_from(draw)
    return Case(ops.ToDevice("cpu"), lambda t: ops.ToDevice.apply(t, device="cpu"),
                [smooth(rng, draw(small_shapes))])


@st.composite
def window_geometry(draw):
    """A (..., H, W) shape with a kernel, stride and dilation that fit it (leading axes may be 0-size)."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    size = tuple(d * (k - 1) + 1 + draw(st.integers(0, 3)) for k, d in zip(kernel, dilation))
    lead = draw(st.sampled_from([(), (2,), (1, 3), (0, 2)]))
    return lead + size, kernel, stride, dilation


@st.composite
def sliding_windows_case(draw):
    rng = rng_from(draw)
    shape, kernel, stride, dilation = draw(window_geometry())
    return Case(ops.SlidingWindows(kernel, stride, dilation),
                lambda t: cr.sliding_windows(t, kernel, stride, dilation), [smooth(rng, shape)])


@st.composite
def fold_windows_case(draw):
    """SlidingWindows' backward as an op: windows summed back into an (..., H, W) of zeros."""
    rng = rng_from(draw)
    shape, kernel, stride, dilation = draw(window_geometry())
    windows_shape = ops.SlidingWindows(kernel, stride, dilation).forward(np.zeros(shape)).shape
    size = shape[-2:]
    return Case(ops.FoldWindows(size, kernel, stride, dilation),
                lambda t: ops.FoldWindows.apply(t, size=size, kernel=kernel, stride=stride, dilation=dilation),
                [smooth(rng, windows_shape)])


@st.composite
def scatter_add_case(draw):
    """GetItem's backward as an op: the values of x[index] put back into zeros shaped like x."""
    rng = rng_from(draw)
    picked = draw(getitem_case())
    index, shape = picked.op.index, picked.inputs[0].shape
    values = smooth(rng, np.zeros(shape)[index].shape)
    return Case(ops.ScatterAdd(index, shape), lambda t: ops.ScatterAdd.apply(t, index=index, shape=shape), [values])


@st.composite
def reshaping_case(draw, name):
    """The shape ops of issue 20 with their parameters drawn for the shape: (op, function) on smooth values."""
    rng = rng_from(draw)
    shape = draw(small_shapes)
    n = len(shape)
    x = smooth(rng, shape)
    if name == "Squeeze":
        ones = [i for i, d in enumerate(shape) if d == 1]
        axis = draw(st.sampled_from([None, *ones])) if ones else None
        return Case(ops.Squeeze(axis), lambda t: cr.squeeze(t, axis), [x])
    if name == "ExpandDims":
        axis = draw(st.integers(-n - 1, n))
        return Case(ops.ExpandDims(axis), lambda t: cr.expand_dims(t, axis), [x])
    if name == "Ravel":
        return Case(ops.Ravel(), cr.ravel, [x])
    if name == "Flip":
        axis = draw(st.none() | st.integers(-n, n - 1)) if n else None
        return Case(ops.Flip(axis), lambda t: cr.flip(t, axis), [x])
    if name == "Roll":
        shift = draw(st.integers(-5, 5))
        axis = draw(st.none() | st.integers(-n, n - 1)) if n else None
        return Case(ops.Roll(shift, axis), lambda t: cr.roll(t, shift, axis), [x])
    if name in ("SwapAxes", "MoveAxis"):
        x = smooth(rng, shape if n else (2,))
        n = max(n, 1)
        a, b = draw(st.integers(-n, n - 1)), draw(st.integers(-n, n - 1))
        op, fn = (ops.SwapAxes, cr.swapaxes) if name == "SwapAxes" else (ops.MoveAxis, cr.moveaxis)
        return Case(op(a, b), lambda t: fn(t, a, b), [x])
    if name == "Tile":
        reps = tuple(draw(st.lists(st.integers(0, 3), min_size=0, max_size=4)))
        return Case(ops.Tile(reps), lambda t: cr.tile(t, reps), [x])
    if name == "Repeat":  # one count for all, or one count per element along the axis (zeros included)
        axis = draw(st.none() | st.integers(-n, n - 1)) if n else None
        along = x.size if axis is None else x.shape[axis]
        repeats = draw(st.integers(0, 3) | st.lists(st.integers(0, 3), min_size=along, max_size=along))
        return Case(ops.Repeat(repeats, axis), lambda t: cr.repeat(t, repeats, axis), [x])
    widths = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(n))
    value = draw(st.sampled_from([0.0, 1.5]))
    return Case(ops.Pad(widths, value), lambda t: cr.pad(t, widths, value), [x])


@st.composite
def broadcast_to_case(draw):
    rng = rng_from(draw)
    shape = draw(small_shapes)
    other = draw(hnp.broadcastable_shapes(shape, min_dims=0, max_dims=4, min_side=0, max_side=4))
    target = np.broadcast_shapes(shape, other)
    return Case(ops.BroadcastTo(target), lambda t: cr.broadcast_to(t, target), [smooth(rng, shape)])


@st.composite
def concatenate_case(draw):
    rng = rng_from(draw)
    base = list(draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3)))
    axis = draw(st.integers(-len(base), len(base) - 1))
    xs = []
    for _ in range(draw(st.integers(1, 3))):
        base[axis] = draw(st.integers(0, 3))
        xs.append(smooth(rng, tuple(base)))
    return Case(ops.Concatenate(axis), lambda *ts: cr.concatenate(ts, axis=axis), xs)


@st.composite
def stack_case(draw):
    rng = rng_from(draw)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    axis = draw(st.integers(-len(shape) - 1, len(shape)))
    xs = [smooth(rng, shape) for _ in range(draw(st.integers(1, 3)))]
    return Case(ops.Stack(axis), lambda *ts: cr.stack(ts, axis=axis), xs)


MATMUL_KINDS = ["vector.vector", "matrix.vector", "vector.matrix", "matrix.matrix", "batched", "batched.vector",
                "vector.batched"]


@st.composite
def matmul_shapes(draw, kind=None):
    kind = kind or draw(st.sampled_from(MATMUL_KINDS))
    m, n, p = (draw(st.integers(0, 4)) for _ in range(3))
    batches = hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, min_side=0, max_side=3)
    batch_a, batch_b = draw(batches).input_shapes
    return {
        "vector.vector": ((n,), (n,)),
        "matrix.vector": ((m, n), (n,)),
        "vector.matrix": ((n,), (n, p)),
        "matrix.matrix": ((m, n), (n, p)),
        "batched": (batch_a + (m, n), batch_b + (n, p)),
        "batched.vector": (batch_a + (m, n), (n,)),
        "vector.batched": ((n,), batch_b + (n, p)),
    }[kind]


@st.composite
def matmul_case(draw, kind=None):
    rng = rng_from(draw)
    sa, sb = draw(matmul_shapes(kind))
    return Case(ops.MatMul(), cr.matmul, [smooth(rng, sa), smooth(rng, sb)])


def _spd(rng, batch, n):
    """Symmetric positive definite matrices, well conditioned: R Rᵀ + n I."""
    r = rng.standard_normal(batch + (n, n))
    return r @ np.swapaxes(r, -1, -2) + n * np.eye(n)


@st.composite
def linalg_case(draw, name):
    rng = rng_from(draw)
    n = draw(st.integers(1, 4))
    batch = draw(st.sampled_from([(), (2,), (2, 1)]))
    if name == "Dot":
        kind = draw(st.sampled_from(["vector.vector", "matrix.vector", "vector.matrix", "matrix.matrix"]))
        sa, sb = draw(matmul_shapes(kind))
        return Case(ops.Dot(), cr.dot, [smooth(rng, sa), smooth(rng, sb)])
    if name == "Outer":
        return Case(ops.Outer(), cr.outer, [smooth(rng, (n,)), smooth(rng, (draw(st.integers(0, 4)),))])
    if name == "Einsum":
        subscripts, shapes = draw(st.sampled_from([
            ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk,k->i", [(2, 3), (3, 4), (4,)]), ("ij->ji", [(2, 3)]),
            ("...j,jk->...k", [(2, 2, 3), (3, 4)]), ("ij,k->ijk", [(2, 3), (4,)]), ("i,i->", [(3,), (3,)]),
            ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]), ("ij,jk", [(2, 3), (3, 2)]), ("ij->", [(2, 3)]),
            # a repeated index in one operand: a diagonal (its gradient goes back onto the diagonal)
            ("ii->", [(3, 3)]), ("ii", [(3, 3)]), ("ii->i", [(4, 4)]), ("iij->j", [(3, 3, 2)]),
            ("iji,j->i", [(3, 2, 3), (2,)]), ("...ii->...i", [(2, 3, 3)]), ("ijj,jk->ik", [(2, 3, 3), (3, 4)]),
        ]))
        xs = [smooth(rng, s) for s in shapes]
        return Case(ops.Einsum(subscripts), lambda *ts: cr.einsum(subscripts, *ts), xs)
    a = _spd(rng, batch, n)
    if name == "Inv":
        return Case(ops.Inv(), cr.inv, [a])
    if name in ("Det", "LogAbsDet"):
        a = a / n  # determinants of a moderate size
        return Case(getattr(ops, name)(), getattr(cr, name.lower()), [a])
    if name == "Solve":
        k = draw(st.integers(1, 3))
        b = smooth(rng, (n,)) if draw(st.booleans()) and not batch else smooth(rng, batch + (n, k))
        return Case(ops.Solve(), cr.solve, [a, b])
    return Case(ops.Cholesky(), lambda t: cr.cholesky((t + cr.swapaxes(t, -1, -2)) * 0.5), [a], symmetric=True)


@st.composite
def index_add_case(draw):
    rng = rng_from(draw)
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    index = rng.integers(0, shape[axis], size=draw(st.integers(0, 5)))  # repeats likely: they must sum
    source_shape = shape[:axis % len(shape)] + (len(index),) + shape[axis % len(shape) + 1:]
    return Case(ops.IndexAdd(axis, index), lambda a, b: cr.index_add(a, b, axis, index),
                [smooth(rng, shape), smooth(rng, source_shape)])


CASES = {
    **{name: unary_case(name) for name in UNARY},
    **{name: binary_case(name) for name in BINARY},
    **{name: reduction_case(name) for name in REDUCTIONS},
    **{name: softmax_case(name) for name in ("Softmax", "LogSoftmax")},
    "Where": where_case(),
    "Pow": pow_case(),
    "LeakyReLU": leaky_relu_case(),
    "Var": moment_case("Var"),
    "Std": moment_case("Std"),
    "Trace": trace_case(),
    "CumSum": cumsum_case(),
    "CumProd": cumprod_case(),
    "IndexAdd": index_add_case(),
    **{name: linalg_case(name) for name in ("Dot", "Outer", "Einsum", "Inv", "Det", "LogAbsDet", "Solve", "Cholesky")},
    **{name: reshaping_case(name) for name in ("Squeeze", "ExpandDims", "Ravel", "Flip", "Roll", "SwapAxes",
                                               "MoveAxis", "Tile", "Repeat", "Pad")},
    "Clip": clip_case(),
    "Hardtanh": hardtanh_case(),
    "ELU": elu_case(),
    "Reshape": reshape_case(),
    "Transpose": transpose_case(),
    "GetItem": getitem_case(),
    "ScatterAdd": scatter_add_case(),
    "ToDevice": to_device_case(),
    "SlidingWindows": sliding_windows_case(),
    "FoldWindows": fold_windows_case(),
    "BroadcastTo": broadcast_to_case(),
    "Concatenate": concatenate_case(),
    "Stack": stack_case(),
    "MatMul": matmul_case(),
}

CORE_MODULES = ("arithmetic", "elementwise", "activations", "reductions", "shape", "linalg")


def core_op_classes() -> dict[str, type]:
    """Every public Op subclass exported by chainrule.ops from the core modules of issue 2."""
    found = {}
    for name in ops.__all__:
        obj = getattr(ops, name)
        if inspect.isclass(obj) and issubclass(obj, Op) and obj is not Op:
            if obj.__module__.rsplit(".", 1)[-1] in CORE_MODULES:
                found[name] = obj
    return found


def test_every_core_op_has_a_case():
    required = {
        "MatMul", "Sub", "Square", "Sum", "Identity", "Add", "Mul", "Div", "Neg", "Pow", "Exp", "Log", "Sqrt", "Abs",
        "Maximum", "Minimum", "Mean", "Max", "Min", "Reshape", "Transpose", "GetItem", "BroadcastTo", "Concatenate",
        "Stack", "Where", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softplus", "Softmax", "LogSoftmax", "LogSumExp",
    }
    assert required <= set(core_op_classes()), required - set(core_op_classes())
    assert set(core_op_classes()) == set(CASES)


# ------------------------------------------------------------------------------------
# The three ways give one answer
# ------------------------------------------------------------------------------------


def projection_for(out: np.ndarray) -> np.ndarray:
    """The upstream gradient gradcheck uses with its default seed=0 (so numbers can be compared)."""
    if np.ndim(out) == 0:
        return np.ones(())
    return np.random.default_rng(0).standard_normal(np.shape(out))


def by_hand(op: Op, inputs: list, upstream=None):
    """Forward then backward on plain arrays, on a fresh copy of the configured op."""
    op = copy.deepcopy(op)
    out = op.forward(*inputs)
    # NumPy returns a scalar (np.float64, shape ()) for 0-d results; that is fine by hand.
    assert isinstance(out, (np.ndarray, np.generic))
    if upstream is None:
        upstream = projection_for(out)
    grads = op.backward(upstream)
    assert isinstance(grads, tuple) and len(grads) == len(inputs)
    return out, upstream, grads


def check_three_ways(case: Case) -> None:
    inputs = case.inputs
    before = [np.copy(x) for x in inputs]

    # 1. by hand
    out, upstream, grads = by_hand(case.op, inputs)
    for x, x0 in zip(inputs, before):
        np.testing.assert_array_equal(x, x0, err_msg="forward/backward modified an input")
    for x, g in zip(inputs, grads):
        if is_float(x):
            assert isinstance(g, (np.ndarray, np.generic)) and g.shape == x.shape, (g, x.shape)
        else:  # a condition or an index: no gradient
            assert g is None
    floats = [i for i, x in enumerate(inputs) if is_float(x)]

    # 2. through Tensor (the function form)
    tensors = [cr.tensor(x, requires_grad=True) if is_float(x) else x for x in inputs]
    y = case.fn(*tensors)
    assert isinstance(y, cr.Tensor) and y.requires_grad
    np.testing.assert_array_equal(y.data, out)
    y.backward(upstream)
    for i in floats:
        np.testing.assert_allclose(tensors[i].grad, grads[i], rtol=1e-13, atol=0)

    # 3. gradcheck, on the op by hand and on the function through Tensor
    for f in (case.fn,) if case.symmetric else (case.op, case.fn):
        result = cr.gradcheck(f, inputs)
        assert result, result.report()
        assert [c.position for c in result.checks] == floats
        for c in result.checks:
            np.testing.assert_allclose(c.analytic, grads[c.position], rtol=1e-13, atol=0)
            np.testing.assert_allclose(c.numeric, grads[c.position], rtol=1e-4, atol=1e-6)
    for x, x0 in zip(inputs, before):
        np.testing.assert_array_equal(x, x0, err_msg="gradcheck did not restore an input")


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=25)
@given(data=st.data())
def test_three_ways_agree(name, data):
    check_three_ways(data.draw(CASES[name], label=name))


def check_declarations(case: Case) -> None:
    """What an op declares about its cache and its gradients holds: ``saved`` has one value
    per name in ``saves``, and an op that declares ``fresh_grads`` returns arrays that share
    memory with nothing the caller or the op still holds (the engine keeps them and lets
    ReLU write into them)."""
    op = copy.deepcopy(case.op)
    out = op.forward(*case.inputs)
    if op.saves:
        assert type(op.saved) is tuple and len(op.saved) == len(op.saves), (op.saves, op.saved)
    upstream = np.asarray(projection_for(out), dtype=np.result_type(out))
    grads = [g for g in op.backward(upstream) if g is not None]
    if not type(op).fresh_grads:
        return
    held = [upstream, *case.inputs, *(v for v in (op.saved if op.saves else ()) if isinstance(v, np.ndarray))]
    for i, g in enumerate(grads):
        if not isinstance(g, np.ndarray) or g.size == 0:
            continue
        assert g.flags.writeable, f"{op.describe()}: gradient {i} is read-only"
        for h in held + grads[:i]:
            assert not np.shares_memory(g, h), f"{op.describe()}: gradient {i} shares memory with what it holds"


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=15)
@given(data=st.data())
def test_what_each_op_declares_holds(name, data):
    check_declarations(data.draw(CASES[name], label=name))


@pytest.mark.parametrize("kind", MATMUL_KINDS)
@settings(max_examples=10)
@given(data=st.data())
def test_matmul_every_case(kind, data):
    """Each MatMul case on its own, so none can hide behind the others in the mixed draw."""
    check_three_ways(data.draw(matmul_case(kind)))


def test_matmul_lecture_example_by_hand():
    """μ = Xθ, dL/dX = dμ θᵀ, dL/dθ = Xᵀ dμ, worked out by hand."""
    X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    theta = np.array([0.5, -1.0])
    mm = ops.MatMul()
    mu = mm.forward(X, theta)
    np.testing.assert_array_equal(mu, [-1.5, -2.5, -3.5])
    dX, dtheta = mm.backward(np.array([1.0, 2.0, -1.0]))
    np.testing.assert_array_equal(dX, [[0.5, -1.0], [1.0, -2.0], [-0.5, 1.0]])
    np.testing.assert_array_equal(dtheta, [1 + 6 - 5, 2 + 8 - 6])


def test_matmul_vector_vector_and_batched_broadcast_by_hand():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    mm = ops.MatMul()
    assert mm.forward(a, b).shape == () and mm.forward(a, b) == 32.0
    da, db = mm.backward(np.array(2.0))
    np.testing.assert_array_equal(da, 2 * b)
    np.testing.assert_array_equal(db, 2 * a)
    # (2, 1, 2, 3) @ (4, 3, 1): the batch dimensions broadcast to (2, 4); gradients sum back.
    A = np.ones((2, 1, 2, 3))
    B = np.arange(12.0).reshape(4, 3, 1)
    mm = ops.MatMul()
    out = mm.forward(A, B)
    assert out.shape == (2, 4, 2, 1)
    dA, dB = mm.backward(np.ones_like(out))
    assert dA.shape == A.shape and dB.shape == B.shape
    np.testing.assert_array_equal(dA[0, 0, 0], B.sum(axis=0)[:, 0])  # sum over the 4 broadcast copies
    np.testing.assert_array_equal(dB, np.full((4, 3, 1), 2 * 2.0))  # 2 batches x 2 rows of ones


@pytest.mark.parametrize(
    "axis, keepdims, expected_shape",
    [(None, False, ()), (None, True, (1, 1, 1)), (1, False, (2, 4)), (-1, True, (2, 3, 1)), ((0, -1), False, (3,)),
     ((2, 0), True, (1, 3, 1)), ((), False, (2, 3, 4))],
)
def test_sum_axes_by_hand(axis, keepdims, expected_shape):
    x = np.arange(24.0).reshape(2, 3, 4)
    op = ops.Sum(axis=axis, keepdims=keepdims)
    out = op.forward(x)
    np.testing.assert_array_equal(out, np.sum(x, axis=axis, keepdims=keepdims))
    assert out.shape == expected_shape
    up = np.arange(1.0, out.size + 1).reshape(out.shape)
    (g,) = op.backward(up)
    # Each element of x receives the upstream gradient of the sum it fell into.
    kept = np.sum(x, axis=axis, keepdims=True).shape
    expected = np.broadcast_to(up.reshape(kept), x.shape)
    np.testing.assert_array_equal(g, expected)


def test_mean_gradient_is_one_over_n():
    op = ops.Mean(axis=(0, 2))
    op.forward(np.ones((2, 3, 5)))
    (g,) = op.backward(np.array([10.0, 20.0, 30.0]))
    np.testing.assert_array_equal(g[1, :, 4], np.array([10.0, 20.0, 30.0]) / 10)
    assert g.shape == (2, 3, 5)


def test_getitem_repeated_indices_accumulate():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    op = ops.GetItem(np.array([0, 0, 2, 0, -1]))
    np.testing.assert_array_equal(op.forward(x), [1.0, 1.0, 3.0, 1.0, 4.0])
    (g,) = op.backward(np.array([1.0, 10.0, 100.0, 1000.0, 5.0]))
    np.testing.assert_array_equal(g, [1011.0, 0.0, 100.0, 5.0])
    # Through Tensor, with a list index and a 2-D index array with repeats.
    t = cr.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    t[np.array([[2, 2], [0, 2]])].sum().backward()
    np.testing.assert_array_equal(t.grad, [[1, 1], [0, 0], [3, 3]])
    t.grad = None
    t[[1, 1, 1], 0].sum().backward()
    np.testing.assert_array_equal(t.grad, [[0, 0], [3, 0], [0, 0]])


def test_getitem_boolean_mask_and_slices():
    x = np.arange(6.0).reshape(2, 3)
    mask = np.array([[True, False, True], [False, False, True]])
    op = ops.GetItem(mask)
    np.testing.assert_array_equal(op.forward(x), [0.0, 2.0, 5.0])
    (g,) = op.backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(g, [[1, 0, 2], [0, 0, 3]])
    op = ops.GetItem((slice(None), slice(None, None, -2)))
    np.testing.assert_array_equal(op.forward(x), [[2.0, 0.0], [5.0, 3.0]])
    (g,) = op.backward(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(g, [[2, 0, 1], [4, 0, 3]])


def test_transpose_negative_axes_by_hand():
    x = np.arange(24.0).reshape(2, 3, 4)
    op = ops.Transpose((-1, 0, 1))
    y = op.forward(x)
    assert y.shape == (4, 2, 3)
    (g,) = op.backward(y * 10)
    np.testing.assert_array_equal(g, x * 10)  # the gradient is permuted back exactly


def test_concatenate_and_stack_split_the_gradient():
    a, b = np.ones((2, 1)), np.ones((2, 3))
    op = ops.Concatenate(axis=-1)
    out = op.forward(a, b)
    up = np.arange(8.0).reshape(2, 4)
    ga, gb = op.backward(up)
    np.testing.assert_array_equal(ga, [[0], [4]])
    np.testing.assert_array_equal(gb, [[1, 2, 3], [5, 6, 7]])
    assert out.shape == (2, 4)
    op = ops.Stack(axis=1)
    out = op.forward(np.zeros(3), np.ones(3))
    assert out.shape == (3, 2)
    g0, g1 = op.backward(np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(g0, [0, 2, 4])
    np.testing.assert_array_equal(g1, [1, 3, 5])


def test_where_condition_gets_no_gradient():
    cond = np.array([True, False, True])
    op = ops.Where()
    np.testing.assert_array_equal(op.forward(cond, np.array([1.0, 2.0, 3.0]), np.array(-1.0)), [1.0, -1.0, 3.0])
    gc, ga, gb = op.backward(np.array([5.0, 6.0, 7.0]))
    assert gc is None
    np.testing.assert_array_equal(ga, [5.0, 0.0, 7.0])
    np.testing.assert_array_equal(gb, 6.0)
    assert gb.shape == ()


def test_softmax_backward_is_jacobian_transpose_product():
    x = np.array([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]])
    u = np.array([[0.3, -1.0, 2.0], [1.0, 1.0, -0.5]])
    for op_class, axis in ((ops.Softmax, -1), (ops.LogSoftmax, 1)):
        op = op_class(axis)
        y = op.forward(x)
        (g,) = op.backward(u)
        for row in range(2):
            s = np.exp(x[row]) / np.exp(x[row]).sum()
            if op_class is ops.Softmax:
                np.testing.assert_allclose(y[row], s, rtol=1e-15)
                jac = np.diag(s) - np.outer(s, s)
            else:
                np.testing.assert_allclose(y[row], np.log(s), rtol=1e-14)
                jac = np.eye(3) - s[None, :]  # d y_i / d x_j = δ_ij - s_j
            np.testing.assert_allclose(g[row], jac.T @ u[row], rtol=1e-14, atol=1e-15)


def test_logsumexp_gradient_is_softmax():
    x = np.array([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]])
    op = ops.LogSumExp(axis=1, keepdims=True)
    y = op.forward(x)
    np.testing.assert_allclose(y[:, 0], np.log(np.exp(x).sum(axis=1)), rtol=1e-15)
    (g,) = op.backward(np.array([[2.0], [-1.0]]))
    s = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(g, s * np.array([[2.0], [-1.0]]), rtol=1e-14)


def test_softmax_of_an_empty_axis_is_empty():
    for op in (ops.Softmax(-1), ops.Softmax(0)):
        x = np.zeros((0, 3)) if op.axis == 0 else np.zeros((3, 0))
        with strict_floats():
            y = op.forward(x)
            (g,) = op.backward(np.zeros_like(y))
        assert y.shape == x.shape and g.shape == x.shape


def test_pow_zero_exponent_has_zero_gradient_at_zero():
    op = ops.Pow(0)
    with strict_floats():
        np.testing.assert_array_equal(op.forward(np.array([0.0, -2.0, 3.0])), [1.0, 1.0, 1.0])
        (g,) = op.backward(np.array([1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])


def test_unbroadcast_sums_copies_back():
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(unbroadcast(g, (3, 1)), g.sum(axis=(0, 2)).reshape(3, 1))
    np.testing.assert_array_equal(unbroadcast(g, ()), g.sum())
    assert unbroadcast(g, (2, 3, 4)) is g
    np.testing.assert_array_equal(unbroadcast(np.zeros((0, 3)), (1, 3)), np.zeros((1, 3)))
    np.testing.assert_array_equal(unbroadcast(np.ones((5, 0)), (0,)), np.zeros((0,)))


def test_ops_accept_inputs_that_need_no_gradient_through_tensor():
    """Only inputs that require grad get .grad; the op may skip the others (returns None)."""
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = cr.tensor([0.5, -2.0], requires_grad=True)
    for f in (cr.add, cr.sub, cr.mul, cr.div, cr.maximum, cr.minimum, cr.matmul):
        b.grad = None
        const = cr.tensor(a)
        f(const, b).sum().backward()
        assert const.grad is None and b.grad is not None and b.grad.shape == (2,)
    b.grad = None
    cr.where(np.array([True, False]), 1.0, b).sum().backward()
    np.testing.assert_array_equal(b.grad, [0.0, 1.0])


# ------------------------------------------------------------------------------------
# dtype in = dtype out, forward and backward
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=5)
@given(data=st.data())
def test_dtype_kept(name, dtype, data):
    case = data.draw(CASES[name], label=name)
    inputs = [x.astype(dtype) if is_float(x) else x for x in case.inputs]
    op = copy.deepcopy(case.op)
    out = op.forward(*inputs)
    assert out.dtype == dtype
    upstream = np.ones(out.shape, dtype=dtype)
    grads = op.backward(upstream)
    for x, g in zip(inputs, grads):
        if is_float(x):
            assert g.dtype == dtype, f"{name}.backward gave {g.dtype} for a {dtype.__name__} input"
    # float32 agrees with the float64 computation to float32 precision
    out64 = copy.deepcopy(case.op).forward(*case.inputs)
    np.testing.assert_allclose(out, out64, rtol=1e-4, atol=1e-5)
    # and through Tensor
    tensors = [cr.tensor(x, requires_grad=True) if is_float(x) else x for x in inputs]
    y = case.fn(*tensors)
    assert y.dtype == dtype
    y.backward(upstream)
    for t in tensors:
        if isinstance(t, cr.Tensor):
            assert t.grad.dtype == dtype


SCALAR_OPS = [
    (ops.Add, lambda x, s: x + s, lambda x, s: s + x),
    (ops.Sub, lambda x, s: x - s, lambda x, s: s - x),
    (ops.Mul, lambda x, s: x * s, lambda x, s: s * x),
    (ops.Div, lambda x, s: x / s, lambda x, s: s / x),
    (ops.Maximum, lambda x, s: cr.maximum(x, s), lambda x, s: cr.maximum(s, x)),
    (ops.Minimum, lambda x, s: cr.minimum(x, s), lambda x, s: cr.minimum(s, x)),
]


@pytest.mark.parametrize("scalar", [2.5, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op_class, right, left", SCALAR_OPS, ids=[c[0].__name__ for c in SCALAR_OPS])
def test_python_scalar_operand_keeps_dtype(op_class, right, left, dtype, scalar):
    x = np.array([[0.5, -1.0, 2.0]], dtype=dtype)
    up = np.ones((1, 3), dtype=dtype)
    for pos, args in ((0, (x, scalar)), (1, (scalar, x))):
        op = op_class()
        out = op.forward(*args)
        assert out.dtype == dtype
        assert op.backward(up)[pos].dtype == dtype
    for f in (right, left):
        t = cr.tensor(x, requires_grad=True)
        y = f(t, scalar)
        assert y.dtype == dtype
        y.backward(up)
        assert t.grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scalar_parameters_keep_dtype(dtype):
    x = np.array([0.5, 1.5, 2.0], dtype=dtype)
    up = np.ones(3, dtype=dtype)
    cond = np.array([True, False, True])
    for op, args, pos in [
        (ops.Pow(2.5), (x,), 0), (ops.Pow(3), (x,), 0), (ops.Pow(np.float64(1.5)), (x,), 0),
        (ops.LeakyReLU(0.2), (x,), 0), (ops.Where(), (cond, x, 0.5), 1), (ops.Where(), (cond, 0.5, x), 2),
    ]:
        assert op.forward(*args).dtype == dtype, op
        assert op.backward(up)[pos].dtype == dtype, op
    t = cr.tensor(x, requires_grad=True)
    y = (t**2.5 + 2.0**t + cr.where(cond, t, 0.5) + cr.leaky_relu(t, 0.2)).sum()
    assert y.dtype == dtype
    y.backward()
    assert t.grad.dtype == dtype


# ------------------------------------------------------------------------------------
# Ties: Max / Min / Maximum / Minimum share the gradient equally (documented)
# ------------------------------------------------------------------------------------


def test_max_min_ties_share_gradient_equally():
    x = np.array([1.0, 3.0, 3.0, 2.0])
    op = ops.Max()
    assert op.forward(x) == 3.0
    np.testing.assert_array_equal(op.backward(np.array(6.0))[0], [0.0, 3.0, 3.0, 0.0])
    op = ops.Min(axis=1, keepdims=True)
    y = np.array([[1.0, 1.0, 1.0], [2.0, 0.0, 5.0]])
    np.testing.assert_array_equal(op.forward(y), [[1.0], [0.0]])
    np.testing.assert_array_equal(op.backward(np.array([[3.0], [4.0]]))[0], [[1.0, 1.0, 1.0], [0.0, 4.0, 0.0]])
    op = ops.Max(axis=0)
    op.forward(y.T)
    np.testing.assert_array_equal(op.backward(np.array([1.0, 1.0]))[0], [[1 / 3, 0.0], [1 / 3, 0.0], [1 / 3, 1.0]])
    # the same through Tensor, float32 kept
    t = cr.tensor(np.array([2.0, 2.0, -1.0, 2.0], dtype=np.float32), requires_grad=True)
    t.max().backward()
    assert t.grad.dtype == np.float32
    np.testing.assert_array_equal(t.grad, np.array([1, 1, 0, 1], dtype=np.float32) / np.float32(3))
    t.grad = None
    t.min().backward()
    np.testing.assert_array_equal(t.grad, [0.0, 0.0, 1.0, 0.0])
    # documented on the classes
    for cls in (ops.Max, ops.Min, ops.Maximum, ops.Minimum):
        doc = " ".join(c.__doc__ or "" for c in cls.__mro__)
        assert "tie" in doc.lower(), cls


def test_maximum_minimum_ties_share_gradient_equally():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 0.0, 5.0])
    op = ops.Maximum()
    np.testing.assert_array_equal(op.forward(a, b), [1.0, 2.0, 5.0])
    da, db = op.backward(np.array([2.0, 2.0, 2.0]))
    np.testing.assert_array_equal(da, [1.0, 2.0, 0.0])
    np.testing.assert_array_equal(db, [1.0, 0.0, 2.0])
    op = ops.Minimum()
    np.testing.assert_array_equal(op.forward(a, b), [1.0, 0.0, 3.0])
    da, db = op.backward(np.array([2.0, 2.0, 2.0]))
    np.testing.assert_array_equal(da, [1.0, 0.0, 2.0])
    np.testing.assert_array_equal(db, [1.0, 2.0, 0.0])
    # broadcast: a (2, 1) against b (3,); ties at [0, 0] and [0, 1]
    a2, b2 = np.array([[1.0], [2.0]]), np.array([1.0, 1.0, 0.0])
    op = ops.Maximum()
    op.forward(a2, b2)
    da, db = op.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(da, [[2.0], [3.0]])
    np.testing.assert_array_equal(db, [0.5, 0.5, 0.0])
    # maximum(x, x): each side gets half, so x gets the whole gradient
    t = cr.tensor([1.0, -2.0], requires_grad=True)
    cr.maximum(t, t).sum().backward()
    np.testing.assert_array_equal(t.grad, [1.0, 1.0])


# ------------------------------------------------------------------------------------
# Numerical stability
# ------------------------------------------------------------------------------------

BIG = [-1e4, -1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0, 1e4]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_no_warning_no_nan_for_large_inputs(dtype):
    x = np.array(BIG, dtype=dtype)
    with strict_floats():
        op = ops.Sigmoid()
        y = op.forward(x)
        (g,) = op.backward(np.ones_like(x))
        t = cr.tensor(x, requires_grad=True)
        cr.sigmoid(t).sum().backward()
    assert y.dtype == dtype and g.dtype == dtype
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(g)) and np.all(np.isfinite(t.grad))
    np.testing.assert_array_equal(y[[0, 1, -2, -1]], [0.0, 0.0, 1.0, 1.0])
    assert y[4] == 0.5 and g[4] == 0.25
    np.testing.assert_allclose(y[[3, 5]], [1 / (1 + np.e), 1 / (1 + np.exp(-1))], rtol=1e-6)
    np.testing.assert_allclose(y[2], np.exp(-50.0) if dtype == np.float64 else np.float32(np.exp(-50.0)), rtol=1e-6)
    np.testing.assert_array_equal(g[[0, 1, -2, -1]], [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(t.grad, g)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softplus_stable_for_large_inputs(dtype):
    x = np.array(BIG, dtype=dtype)
    with strict_floats():
        op = ops.Softplus()
        y = op.forward(x)
        (g,) = op.backward(np.ones_like(x))
    assert y.dtype == dtype and g.dtype == dtype
    np.testing.assert_array_equal(y[[0, 1]], [0.0, 0.0])
    np.testing.assert_array_equal(y[[-2, -1]], x[[-2, -1]])  # log(1 + e^x) = x once e^-x is below rounding
    np.testing.assert_allclose(y[2], np.exp(-50.0), rtol=1e-6)  # log1p keeps the tiny value
    np.testing.assert_allclose(y[4], np.log(2.0), rtol=1e-7)
    np.testing.assert_allclose(y[[3, 5]], np.log1p(np.exp([-1.0, 1.0])), rtol=1e-6)
    np.testing.assert_allclose(g, ops.Sigmoid().forward(x), rtol=0)  # dy/dx = sigmoid(x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_stable_for_large_inputs(dtype):
    x = np.array([[1000.0, 1000.0, -1e4], [1e4, 0.0, -1e4]], dtype=dtype)
    up = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], dtype=dtype)
    with strict_floats():
        sm, lsm, lse = ops.Softmax(), ops.LogSoftmax(), ops.LogSumExp(axis=-1)
        s, ls, l_ = sm.forward(x), lsm.forward(x), lse.forward(x)
        gs, gls, gl = sm.backward(up)[0], lsm.backward(up)[0], lse.backward(up.sum(axis=1))[0]
    for v in (s, ls, l_, gs, gls, gl):
        assert v.dtype == dtype and np.all(np.isfinite(v)), v
    np.testing.assert_array_equal(s, [[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(ls[:, :2], [[-np.log(2.0), -np.log(2.0)], [0.0, -1e4]], rtol=1e-6)
    np.testing.assert_allclose(l_, np.array([1000 + np.log(2.0), 1e4], dtype=dtype), rtol=1e-7)
    np.testing.assert_allclose(gl, s * up.sum(axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(gs, s * (up - (up * s).sum(axis=1, keepdims=True)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gls, up - s * up.sum(axis=1, keepdims=True), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------
# Docstrings and errors
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(core_op_classes()))
def test_docstring_states_local_derivative_and_shapes(name):
    cls = getattr(ops, name)
    doc = cls.__dict__.get("__doc__")
    assert doc, f"{name} has no docstring of its own"
    first = doc.strip().splitlines()[0]
    assert re.search(r"\bd\w*/d\w*\s*=", first), f"{name}: first docstring line states no derivative: {first!r}"
    assert "Shapes" in doc, f"{name}: docstring gives no shapes"


SHAPE_ERRORS = [
    (lambda: ops.MatMul().forward(np.ones((3, 4)), np.ones((5, 2))), "matmul: cannot multiply (3, 4) by (5, 2)"),
    (lambda: ops.MatMul().forward(np.ones(3), np.ones(4)), "matmul: cannot multiply (3,) by (4,)"),
    (lambda: ops.MatMul().forward(np.ones((2, 2, 3)), np.ones((3, 3, 1))),
     "matmul: cannot multiply (2, 2, 3) by (3, 3, 1)"),
    (lambda: cr.tensor(np.ones((3, 4))) @ cr.tensor(np.ones((5, 2))), "matmul: cannot multiply (3, 4) by (5, 2)"),
    (lambda: ops.Add().forward(np.ones((2, 3)), np.ones(4)), "add: cannot broadcast shapes (2, 3) and (4,)"),
    (lambda: ops.Sub().forward(np.ones(2), np.ones(3)), "sub: cannot broadcast shapes (2,) and (3,)"),
    (lambda: ops.Mul().forward(np.ones(2), np.ones((3, 1, 5))), "mul: cannot broadcast shapes (2,) and (3, 1, 5)"),
    (lambda: ops.Div().forward(np.ones(2), np.ones(3)), "div: cannot broadcast shapes (2,) and (3,)"),
    (lambda: ops.Maximum().forward(np.ones(2), np.ones(3)), "maximum: cannot broadcast shapes (2,) and (3,)"),
    (lambda: ops.Minimum().forward(np.ones(2), np.ones(3)), "minimum: cannot broadcast shapes (2,) and (3,)"),
    (lambda: cr.tensor(np.ones(2)) + cr.tensor(np.ones(3)), "add: cannot broadcast shapes (2,) and (3,)"),
    (lambda: ops.Where().forward(np.ones((2, 3)) > 0, np.ones(4), 1.0), "where: cannot broadcast shapes (2, 3), (4,)"),
    (lambda: ops.Reshape((4,)).forward(np.ones((2, 3))), "reshape: cannot reshape (2, 3) into (4,)"),
    (lambda: ops.BroadcastTo((4,)).forward(np.ones((2, 3))), "broadcast_to: cannot broadcast (2, 3) to (4,)"),
    (lambda: ops.Concatenate(0).forward(np.ones((2, 3)), np.ones((2, 4))),
     "concatenate: cannot join shapes (2, 3), (2, 4)"),
    (lambda: ops.Stack().forward(np.ones((2, 3)), np.ones((2, 4))), "stack: cannot stack shapes (2, 3), (2, 4)"),
    (lambda: ops.Transpose((0,)).forward(np.ones((2, 3))), "transpose: axes (0,) do not fit an input of shape (2, 3)"),
    (lambda: ops.GetItem(5).forward(np.ones((2, 3))), "getitem: index 5 does not fit shape (2, 3)"),
    (lambda: ops.Sum(axis=2).forward(np.ones((2, 3))), "sum: bad axis 2 for an input of 2 dimensions"),
    (lambda: ops.Mean(axis=(0, 0)).forward(np.ones((2, 3))), "mean: bad axis (0, 0)"),
    (lambda: ops.Max(axis=0).forward(np.ones((0, 3))), "max: cannot reduce an empty input of shape (0, 3)"),
    (lambda: ops.Min().forward(np.ones((0,))), "min: cannot reduce an empty input of shape (0,)"),
    (lambda: ops.Softmax(axis=2).forward(np.ones((2, 3))), "softmax: bad axis 2 for an input of 2 dimensions"),
    (lambda: ops.LogSoftmax(axis=-3).forward(np.ones((2, 3))), "logsoftmax: bad axis -3 for an input of 2 dimensions"),
    (lambda: ops.LogSumExp(axis=5).forward(np.ones((2, 3))), "logsumexp: bad axis 5 for an input of 2 dimensions"),
]


@pytest.mark.parametrize("call, message", SHAPE_ERRORS, ids=[m.split(":")[0] + str(i) for i, (_, m) in
                                                           enumerate(SHAPE_ERRORS)])
def test_shape_errors_name_the_op_and_shapes(call, message):
    with pytest.raises(cr.ShapeError) as info:
        call()
    assert str(info.value).startswith(message), str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, cr.ChainruleError)


# ------------------------------------------------------------------------------------
# A user's own Op
# ------------------------------------------------------------------------------------


class Cube(Op):
    """y = x**3;  dy/dx = 3 x**2.  Shapes: x (...) -> y (...)."""

    def forward(self, x):
        self.x = x
        return x**3

    def backward(self, upstream):
        return (upstream * 3 * self.x**2,)


class ScaledProduct(Op):
    """y = k a b;  dy/da = k b, dy/db = k a.  Shapes: a, b broadcastable -> y."""

    def __init__(self, k: float = 1.0):
        self.k = k

    def params(self):
        return {"k": self.k}

    def forward(self, a, b):
        self.a, self.b = a, b
        return self.k * a * b

    def backward(self, upstream):
        k = self.k
        return unbroadcast(k * upstream * self.b, self.a.shape), unbroadcast(k * upstream * self.a, self.b.shape)


class WrongAt(ScaledProduct):
    """ScaledProduct whose gradient for b is wrong at one element, [1, 2], by +0.5 (a learner's slip)."""

    def backward(self, upstream):
        da, db = super().backward(upstream)
        db = db.copy()
        db[1, 2] += 0.5
        return da, db


def test_user_op_by_hand_in_graph_and_in_gradcheck():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    # by hand
    cube = Cube()
    np.testing.assert_array_equal(cube.forward(x), x**3)
    np.testing.assert_array_equal(cube.backward(np.ones_like(x))[0], 3 * x**2)
    # in the graph, mixed with built-in ops, with a parameter
    t = cr.tensor(x, requires_grad=True)
    w = cr.tensor([2.0, -1.0], requires_grad=True)
    y = ScaledProduct.apply(Cube.apply(t), w, k=0.5)
    assert isinstance(y.op, ScaledProduct) and y.op.k == 0.5
    (y.sum() + t.sum()).backward()
    np.testing.assert_allclose(t.grad, 0.5 * 3 * x**2 * np.array([2.0, -1.0]) + 1, rtol=1e-15)
    np.testing.assert_allclose(w.grad, 0.5 * (x**3).sum(axis=0), rtol=1e-15)
    # gradcheck: the class, a configured instance, and a function using .apply
    assert cr.gradcheck(Cube, [x])
    assert cr.gradcheck(ScaledProduct(k=-2.0), [x, np.array([2.0, 3.0])])
    assert cr.gradcheck(lambda a, b: ScaledProduct.apply(Cube.apply(a), b, k=3.0).sum(), [x, np.array([0.5, 1.5])])


def test_wrong_user_op_fails_gradcheck_naming_input_and_element():
    a = np.arange(1.0, 7.0).reshape(2, 3)
    b = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    result = cr.gradcheck(WrongAt(k=2.0), [a, b])
    assert not result and not result.passed
    first, second = result.checks
    assert first.passed and not second.passed
    assert second.position == 1 and second.worst_index == (1, 2)
    up = np.random.default_rng(0).standard_normal((2, 3))
    np.testing.assert_allclose(second.analytic[1, 2] - second.numeric[1, 2], 0.5, rtol=1e-6)
    np.testing.assert_allclose(second.numeric, 2.0 * up * a, rtol=1e-6)
    assert second.max_abs_error == pytest.approx(0.5, rel=1e-6)
    report = result.report()
    assert "FAILED" in report
    line = [ln for ln in report.splitlines() if "MISMATCH" in ln]
    assert len(line) == 1 and "input 1" in line[0] and "element (1, 2)" in line[0], report
    # a function of Tensors using the wrong op fails the same way
    assert not cr.gradcheck(lambda p, q: WrongAt.apply(p, q, k=2.0), [a, b])
    with pytest.raises(cr.GradcheckError) as info:
        cr.gradcheck(WrongAt(k=2.0), [a, b], raise_on_failure=True)
    assert not info.value.result and "element (1, 2)" in str(info.value)
    assert cr.gradcheck(ScaledProduct(k=2.0), [a, b], raise_on_failure=True)  # no raise when right


# ------------------------------------------------------------------------------------
# Regression tests for core bugs found while testing the ops (fixed in graph.py / gradcheck.py)
# ------------------------------------------------------------------------------------


def test_leaf_gradients_do_not_alias():
    """Was: .grad stored the incoming array itself, shared by both leaves and with the caller's gradient."""
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    gradient = np.array([1.0, 1.0])
    (a + b).backward(gradient)
    a.grad *= 10  # e.g. in-place gradient clipping of one parameter
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])
    np.testing.assert_array_equal(gradient, [1.0, 1.0])


def test_gradcheck_on_non_contiguous_tensor_input():
    """Was: gradcheck perturbed x.reshape(-1), a copy for non-C-contiguous data, so the numeric gradient was 0."""
    t = cr.tensor(np.asfortranarray(np.arange(1.0, 7.0).reshape(2, 3)), requires_grad=True)
    assert cr.gradcheck(lambda x: (x * x).sum(), [t])


class WrongConstant(Op):
    """y = 5 (a constant);  dy/dx = 0, but this backward wrongly returns 3.  Shapes: x (...) -> y (...)."""

    def forward(self, x):
        self.shape = x.shape
        return np.full(x.shape, 5.0)

    def backward(self, upstream):
        return (np.full(self.shape, 3.0) * np.sign(upstream),)


def test_gradcheck_of_wrong_op_with_zero_true_gradient_is_clean():
    """Was: err / max(|numeric|, tiny) overflowed (RuntimeWarning, a ~1e308 "relative error")."""
    with strict_floats():
        result = cr.gradcheck(WrongConstant, [np.array([1.0, 2.0])])
    assert not result and result.checks[0].max_abs_error == 3.0
    assert not re.search(r"e\+30\d", result.report()), result.report()  # no overflowed "relative error"


def test_softmax_family_takes_integer_input_as_float64():
    x = np.array([[1, 2, 3]])
    expected = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    np.testing.assert_allclose(ops.Softmax().forward(x), [expected])
    np.testing.assert_allclose(ops.LogSoftmax().forward(x), [np.log(expected)])
    np.testing.assert_allclose(ops.LogSumExp(axis=1).forward(x), [np.log(np.exp([1.0, 2.0, 3.0]).sum())])


# ------------------------------------------------------------------------------------
# Each op declared once: the registry serves the functions, the methods, the parser, explain
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ops.BUILTIN))
def test_every_registered_op_appears_everywhere_it_declares(name):
    from chainrule.explain.notation import LATEX, UNICODE
    from chainrule.explain.parse import FUNCTIONS
    from chainrule.explain.rules import describe

    cls = ops.REGISTRY[name]
    assert getattr(ops, name) is cls and name in ops.__all__
    for fname in cls.functions:
        fn = getattr(cr, fname)
        assert fname in cr.__all__ and fn.__doc__ == cls.__doc__, fname
    for mname in cls.methods:
        assert getattr(cr.Tensor, mname).__doc__ == cls.__doc__, mname
    if cls.operator:
        assert getattr(cr.Tensor, f"__{cls.operator}__").__doc__ == cls.__doc__
        if cls.arity == 2:
            assert getattr(cr.Tensor, f"__r{cls.operator}__").__doc__ == cls.__doc__
    if cls.in_expressions:
        assert FUNCTIONS[cls.functions[0]].make is cls
        assert [p.name for p in cls.constructor_params()] == list(FUNCTIONS[cls.functions[0]].params)
    else:
        assert all(fn.make is not cls for fn in FUNCTIONS.values())
    # explain writes every op, in both notations, with one local derivative per input
    k = cls.arity or 2
    params = cls.constructor_params()
    value = {p.name: p.default if p.default is not p.empty else 2 for p in params}
    op = cls(p=0.0) if cls is ops.Dropout else cls(
        *[value[p.name] for p in params if p.kind is not p.KEYWORD_ONLY],
        **{p.name: value[p.name] for p in params if p.kind is p.KEYWORD_ONLY})
    for notation in (UNICODE, LATEX):
        text = describe(op, notation, "y", [f"x{i}" for i in range(k)], [None] * k, None)
        assert text.rhs and text.symbol and len(text.locals) == k


def test_the_functions_and_methods_are_made_from_the_registry():
    declared = {f for cls in ops.REGISTRY.values() for f in cls.functions}
    # and the few built on the blocks by hand: NumPy's order of arguments, or several results
    assert set(cr.functional.__all__) == declared | set(cr.functional._COMPOSITES)
    assert not declared & set(cr.functional._COMPOSITES)
    assert {"exp", "sum", "reshape", "matmul", "where", "concatenate", "gelu"} <= declared
    import inspect as inspect_

    assert str(inspect_.signature(cr.sum)) == "(x, /, axis=None, keepdims: 'bool' = False)"
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.reshape(3, 2).shape == x.reshape((3, 2)).shape == cr.reshape(x, (3, 2)).shape == (3, 2)
    assert x.transpose().shape == x.transpose(1, 0).shape == cr.transpose(x, axes=(1, 0)).shape == (3, 2)
    (x[0] * 2 + abs(-x[1])).sum().backward()
    np.testing.assert_array_equal(x.grad, [[2, 2, 2], [1, 1, 1]])


def test_a_new_op_in_an_op_module_is_registered_with_all_it_declares():
    """Declaring an op is one class: its functions, methods and expression name follow."""
    from chainrule.explain.parse import _function_table

    assert "Cube" not in ops.REGISTRY  # a user's op (this module is not chainrule's) stays out
    source = '''
from chainrule.ops.base import Op, Written


class Cube(Op):
    """y = x**3;  dy/dx = 3 x**2.  Shapes: x (...) -> y (...)."""

    arity = 1
    fresh_grads = True
    functions = methods = ("cube",)
    in_expressions = True
    saves = ("x",)

    def forward(self, x):
        self.saved = (x,)
        return x**3

    def backward(self, upstream):
        (x,) = self.saved
        return (upstream * 3 * x**2,)

    def written(self, n, y, x):
        return Written(n.pow(x, 3), (n.mul(n.num(3), n.pow(x, 2)),))
'''
    namespace = {"__name__": "chainrule.ops.cube_for_the_test"}
    try:
        exec(compile(source, "<test op>", "exec"), namespace)  # noqa: S102 - the test's own source
        cube = ops.REGISTRY["Cube"]
        assert cube is namespace["Cube"] and _function_table()["cube"].make is cube
        x = cr.tensor(2.0, requires_grad=True)
        y = cr.functional.functions()["cube"](x)
        y.backward()
        assert float(y.data) == 8.0 and float(x.grad) == 12.0
    finally:
        ops.REGISTRY.pop("Cube", None)


def test_var_and_std_take_pytorchs_correction(torch):
    """``correction=`` is PyTorch's name for ddof: the same values and gradients as torch.var/std's defaults."""
    x = np.random.default_rng(3).normal(size=(3, 4))
    for name in ("var", "std"):
        t = cr.tensor(x, requires_grad=True)
        getattr(t, name)(axis=1, correction=1).sum().backward()
        tt = torch.tensor(x, requires_grad=True)
        getattr(tt, name)(1).sum().backward()
        np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-12)
        with pytest.raises(cr.errors.ConfigError, match=f"{name}: give ddof or correction, not both"):
            getattr(cr.tensor(x), name)(ddof=1, correction=1)


def test_std_of_equal_values_has_zero_gradient():
    """The standard deviation of equal values is 0: its gradient is taken as 0 there (as PyTorch's first
    derivative), and so are the derivatives of that gradient (PyTorch's double backward gives NaN)."""
    x = cr.tensor([2.0, 2.0, 2.0], requires_grad=True)
    (g,) = cr.grad(cr.std(x), x, create_graph=True)
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.0, 0.0])
    (h,) = cr.grad(g.sum(), x, allow_unused=True, materialize_grads=True)
    assert np.all(np.isfinite(h))
