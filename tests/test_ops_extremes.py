"""Every op at the extremes of floating point (issue: trust).

1. Every registered op (``chainrule.ops.BUILTIN``), built with typical parameters, runs on
   inputs holding ±huge, ±tiny, ±0, NaN and ±inf, in float32 and float64: forward and
   backward (a ones upstream, through Tensors) agree with PyTorch's equivalent op on the
   same inputs (NaN equals NaN, infinities exactly, finite values to a rounding
   tolerance), by hand and through the graph alike, and float32 stays float32.
   Where PyTorch does not define the same value, the elements are skipped by a written
   rule, and :data:`DIFFERENCES` states each such case with both answers; a test checks
   that both libraries still give them, so no skip hides anything. In float32 matrix
   products, the few dot products whose value depends on the order of summation (huge
   terms that overflow in one order and not in another, :func:`sums_may_overflow`) are
   skipped too: BLAS and PyTorch sum in different orders.
2. softmax, log_softmax, logsumexp, sigmoid, softplus and the softmax cross-entropy
   (``ops.SoftmaxCrossEntropy`` and ``nn.CrossEntropyLoss``) stay finite, with no warning,
   at logits of ±1e4, in float32 and float64, forward and backward.
3. 0-d and empty inputs work for every op that allows them (right shapes, dtype kept, no
   warning), or raise chainrule's ShapeError naming the op.

The extremes in float64 are ±1e300 and ±1e-300; float32 cannot hold those (they would be
±inf and ±0, already in the list), so its extremes are ±3e38, 1e-38 and the subnormal -1e-45.
PyTorch's softplus is linear above its ``threshold`` (20): none of the inputs here lies where
that differs from log(1 + eˣ) by more than rounding.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, ops
from chainrule.errors import ShapeError
from chainrule.tensor import apply_op

DTYPES = [np.float32, np.float64]
NAN, INF = np.nan, np.inf
EXTREMES = {
    np.float64: [1e300, -1e300, 1e-300, -1e-300, 0.0, -0.0, NAN, INF, -INF, 1.5, -2.0],
    np.float32: [3e38, -3e38, 1e-38, -1e-45, 0.0, -0.0, NAN, INF, -INF, 1.5, -2.0],
}
RTOL = {np.float32: 1e-5, np.float64: 1e-12}


def values(dtype) -> np.ndarray:
    """The extremes, as a vector (11,)."""
    return np.array(EXTREMES[dtype], dtype=dtype)


def pairs(dtype) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of extremes, as two vectors (121,): a[i], b[i]."""
    a, b = np.meshgrid(values(dtype), values(dtype), indexing="ij")
    return a.ravel().copy(), b.ravel().copy()


def rows(dtype) -> np.ndarray:
    """(121, 3): every pair of extremes, then 0.5 (a reduction sees each pair beside a plain value)."""
    a, b = pairs(dtype)
    return np.stack([a, b, np.full_like(a, 0.5)], axis=1)


@contextmanager
def quiet():
    """Overflow and invalid operations are the point here: no warning is a failure in the sweep."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@contextmanager
def strict_floats():
    """Every warning an error, and every overflow, division by zero or invalid value too (underflow
    to 0 is the right answer of exp(-1e4): NumPy does not warn of it by default either)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):
            yield


# ------------------------------------------------------------------------------------
# The cases: each op with typical parameters, on the extremes, and its PyTorch twin
# ------------------------------------------------------------------------------------


@dataclass
class XCase:
    """One op on extreme inputs. ``grads[i]``: whether input i is differentiated (float inputs by
    default). ``skip(*inputs)`` -> {"forward" or input index: mask of the elements where PyTorch
    computes another value by its definition (see :data:`DIFFERENCES`) or by its summation order
    (see :func:`sums_may_overflow`)}."""

    op_name: str
    make: Callable[[], ops.Op]
    inputs: list
    torch_fn: Callable  # (torch, *tensors) -> tensor
    grads: list | None = None
    skip: Callable | None = None
    atol: float = 0.0  # absolute slack for the probability-like results (softmax family), in units of eps

    def needs_grad(self) -> list[bool]:
        if self.grads is not None:
            return self.grads
        return [isinstance(x, np.ndarray) and x.dtype.kind == "f" for x in self.inputs]


def _negative_zero_or_minus_inf(x):
    return ((x == 0) & np.signbit(x)) | (x == -INF)


def sums_may_overflow(terms: np.ndarray, axis: int) -> np.ndarray:
    """Where a float32 sum over ``axis`` of ``terms`` (given exactly, in float64) depends on the order
    of summation. That is so when its positive or its negative terms alone pass the float32 range
    (one order overflows to ±inf, or makes inf - inf = NaN, where another stays finite), unless the
    exact sum itself is beyond the range on that side with nothing that could overflow the other
    way (then every order gives that infinity), or a term is NaN. NumPy's BLAS and PyTorch's kernels
    (mm or addmm, with or without fused multiply-add) sum in different orders: neither is wrong."""
    big = float(np.finfo(np.float32).max)
    beyond = big * (1 + 2.0**-24)  # the exact values float32 rounds to inf
    with np.errstate(invalid="ignore"):
        positive = np.where(terms > 0, terms, 0).sum(axis=axis)
        negative = np.where(terms < 0, terms, 0).sum(axis=axis)
        exact = positive + negative
    every_order_inf = ((exact > beyond) & (negative >= -big)) | ((exact < -beyond) & (positive <= big))
    return ((positive > big) | (negative < -big)) & ~every_order_inf & ~np.isnan(terms).any(axis=axis)


def matmul_skips(a, b, bias=None) -> dict:
    """The elements of ``a @ b (+ bias)`` and of its two gradients (ones upstream) whose float32 sums
    depend on the order of summation (nothing in float64, whose extremes here never add up to overflow)."""
    if a.dtype != np.float32:
        return {}
    a2 = a.astype(np.float64) if a.ndim == 2 else a.astype(np.float64)[None]
    b2 = b.astype(np.float64) if b.ndim == 2 else b.astype(np.float64)[:, None]
    terms = a2[:, :, None] * b2[None, :, :]  # (n, k, m), exact
    if bias is not None:
        terms = np.concatenate([terms, np.broadcast_to(bias.astype(np.float64), (a2.shape[0], 1, b2.shape[1]))], 1)
    forward = sums_may_overflow(terms, axis=1).reshape(a.shape[:-1] + b.shape[1:])
    da = np.broadcast_to(sums_may_overflow(b2, axis=1), a2.shape).reshape(a.shape)  # dA[i, k] = Σ_m B[k, m]
    db = np.broadcast_to(sums_may_overflow(a2, axis=0)[:, None], b2.shape).reshape(b.shape)  # dB[k, m] = Σ_n A[n, k]
    return {"forward": forward, 0: da, 1: db}


def extreme_cases(dtype) -> dict[str, XCase]:
    v, (a, b), r = values(dtype), pairs(dtype), rows(dtype)
    big = 1e300 if dtype == np.float64 else 1e38
    cases: dict[str, XCase] = {}

    def add(label, case):
        assert label not in cases
        cases[label] = case

    unary = {
        "Identity": lambda t, x: x.clone(), "Neg": lambda t, x: -x, "Square": lambda t, x: t.square(x),
        "Exp": lambda t, x: t.exp(x), "Log": lambda t, x: t.log(x), "Sqrt": lambda t, x: t.sqrt(x),
        "Abs": lambda t, x: t.abs(x), "ReLU": lambda t, x: t.relu(x), "Sigmoid": lambda t, x: t.sigmoid(x),
        "Tanh": lambda t, x: t.tanh(x), "Softplus": lambda t, x: t.nn.functional.softplus(x),
        "Sin": lambda t, x: t.sin(x), "Cos": lambda t, x: t.cos(x), "Tan": lambda t, x: t.tan(x),
        "Arcsin": lambda t, x: t.asin(x), "Arccos": lambda t, x: t.acos(x), "Arctan": lambda t, x: t.atan(x),
        "Sinh": lambda t, x: t.sinh(x), "Cosh": lambda t, x: t.cosh(x), "Log1p": lambda t, x: t.log1p(x),
        "Expm1": lambda t, x: t.expm1(x), "Log2": lambda t, x: t.log2(x), "Log10": lambda t, x: t.log10(x),
        "Reciprocal": lambda t, x: t.reciprocal(x), "Sign": lambda t, x: t.sign(x),
        "SiLU": lambda t, x: t.nn.functional.silu(x), "Softsign": lambda t, x: t.nn.functional.softsign(x),
    }
    # PyTorch's softsign is composite, x / (1 + |x|): its backward at ±inf is inf/inf = NaN; the derivative,
    # 1 / (1 + |x|)², is 0 there, which ours gives
    unary_skips = {"Softsign": lambda x: {0: np.isinf(x)}}
    for name, fn in unary.items():
        add(name, XCase(name, getattr(ops, name), [v], fn, skip=unary_skips.get(name)))
    add("LeakyReLU(0.1)", XCase("LeakyReLU", lambda: ops.LeakyReLU(0.1), [v],
                                lambda t, x: t.nn.functional.leaky_relu(x, 0.1)))
    add("Clip(-1, 2)", XCase("Clip", lambda: ops.Clip(-1.0, 2.0), [v], lambda t, x: t.clamp(x, -1.0, 2.0)))
    # At NaN, PyTorch's hardtanh and elu kernels pass the gradient 1 or give 0 / NaN (ours) depending on the
    # dtype and on the CPU's vector kernel (float64 gives 1 on one AMD EPYC, NaN on another machine): a
    # kernel's choice, not a derivative
    nan_gradient = lambda x: {0: np.isnan(x)}  # noqa: E731
    add("Hardtanh", XCase("Hardtanh", ops.Hardtanh, [v], lambda t, x: t.nn.functional.hardtanh(x),
                          skip=nan_gradient))
    add("ELU(1.5)", XCase("ELU", lambda: ops.ELU(1.5), [v], lambda t, x: t.nn.functional.elu(x, 1.5),
                          skip=nan_gradient))
    add("GELU", XCase("GELU", ops.GELU, [v], lambda t, x: t.nn.functional.gelu(x),
                      skip=lambda x: {"forward": (x > 1e38) if x.dtype == np.float32 else None}))
    add("GELU(tanh)", XCase("GELU", lambda: ops.GELU("tanh"), [v],
                            lambda t, x: t.nn.functional.gelu(x, approximate="tanh")))
    for p in [0, 1, 2, 3, 0.5, -0.5, -1, -2, 2.5, 99999999999]:
        skip = None
        if p == 0.5:
            skip = lambda x: {0: _negative_zero_or_minus_inf(x)}  # noqa: E731
        elif p == -0.5:
            skip = lambda x: {"forward": _negative_zero_or_minus_inf(x)}  # noqa: E731
        add(f"Pow({p:g})", XCase("Pow", lambda p=p: ops.Pow(p), [v], lambda t, x, p=p: x**p, skip=skip))
    add("Pow(huge)", XCase("Pow", lambda: ops.Pow(big), [v], lambda t, x: x**big))
    binary = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Maximum": "maximum", "Minimum": "minimum",
              "Power": "pow"}
    for name, fn in binary.items():
        add(name, XCase(name, getattr(ops, name), [a, b], lambda t, x, y, fn=fn: getattr(t, fn)(x, y)))
    cond = np.arange(a.size) % 3 == 0
    add("Where", XCase("Where", ops.Where, [cond, a, b], lambda t, c, x, y: t.where(t.as_tensor(c), x, y)))
    reductions = {"Sum": "sum", "Mean": "mean", "Max": "amax", "Min": "amin", "LogSumExp": "logsumexp"}
    for name, fn in reductions.items():
        add(f"{name}(axis=1)", XCase(name, lambda name=name: getattr(ops, name)(axis=1), [r],
                                     lambda t, x, fn=fn: getattr(t, fn)(x, dim=1)))
        add(f"{name}(axis=0, keepdims)",
            XCase(name, lambda name=name: getattr(ops, name)(axis=0, keepdims=True), [r.T.copy()],
                  lambda t, x, fn=fn: getattr(t, fn)(x, dim=0, keepdim=True)))
    add("Prod(axis=1)", XCase("Prod", lambda: ops.Prod(axis=1), [r], lambda t, x: t.prod(x, dim=1)))
    add("Norm(axis=1)", XCase("Norm", lambda: ops.Norm(axis=1), [r],
                              lambda t, x: t.linalg.vector_norm(x, 2, dim=1)))
    for name, fn in {"Var": "var", "Std": "std"}.items():
        add(f"{name}(axis=1, ddof=1)", XCase(name, lambda name=name: getattr(ops, name)(axis=1, ddof=1), [r],
                                             lambda t, x, fn=fn: getattr(t, fn)(x, dim=1, correction=1)))
    add("Trace", XCase("Trace", ops.Trace, [r[:3].copy()], lambda t, x: t.trace(x)))
    shapes = {
        "Squeeze": (lambda: ops.Squeeze(), [r[:, None]], lambda t, x: x.squeeze()),
        "ExpandDims": (lambda: ops.ExpandDims(1), [r], lambda t, x: x.unsqueeze(1)),
        "Ravel": (ops.Ravel, [r], lambda t, x: x.reshape(-1)),
        "Flip": (lambda: ops.Flip(0), [r], lambda t, x: x.flip(0)),
        "Roll": (lambda: ops.Roll(5, 0), [r], lambda t, x: t.roll(x, 5, 0)),
        "SwapAxes": (lambda: ops.SwapAxes(0, 1), [r], lambda t, x: x.swapaxes(0, 1)),
        "MoveAxis": (lambda: ops.MoveAxis(0, -1), [r], lambda t, x: x.movedim(0, -1)),
        "Tile": (lambda: ops.Tile((2, 1)), [r], lambda t, x: t.tile(x, (2, 1))),
        "Repeat": (lambda: ops.Repeat(2, 1), [r], lambda t, x: t.repeat_interleave(x, 2, 1)),
        "Pad": (lambda: ops.Pad(((1, 0), (0, 2)), 1.5), [r],
                lambda t, x: t.nn.functional.pad(x, [0, 2, 1, 0], value=1.5)),
    }
    for name, (make, inputs, twin) in shapes.items():
        add(name, XCase(name, make, inputs, twin))
    w2 = np.array([[1.0, -2.0], [0.5, 3.0]], dtype=dtype)
    add("Dot", XCase("Dot", ops.Dot, [r[:, :2].copy(), w2], lambda t, x, y: x @ y, skip=matmul_skips))
    add("Outer", XCase("Outer", ops.Outer, [v, v[:4].copy()], lambda t, x, y: t.outer(x, y)))
    add("Einsum(ij,j->i)", XCase("Einsum", lambda: ops.Einsum("ij,j->i"), [r[:, :2].copy(), w2[0].copy()],
                                 lambda t, x, y: t.einsum("ij,j->i", x, y), skip=matmul_skips))
    # the inverses at extreme scales (the values extreme, the matrices well conditioned)
    scale = 1e150 if dtype == np.float64 else 1e18
    spd = np.array([[2.0, 1.0], [1.0, 3.0]], dtype=dtype)
    mats = np.stack([spd * scale, spd / scale, spd]).astype(dtype)
    rhs = np.array([[1.0, -2.0], [0.5, 4.0], [3.0, 1e-3]], dtype=dtype)
    add("Inv", XCase("Inv", ops.Inv, [mats], lambda t, x: t.linalg.inv(x)))
    # PyTorch 2.13's float32 det backward fails inside (an LU in float64 against a float32 right-hand side):
    # its float32 twin goes through float64
    add("Det", XCase("Det", ops.Det, [mats[1:] if dtype == np.float64 else mats[2:]],
                     lambda t, x: t.linalg.det(x.double()).to(x.dtype)))
    add("LogAbsDet", XCase("LogAbsDet", ops.LogAbsDet, [mats], lambda t, x: t.linalg.slogdet(x)[1]))
    add("Solve", XCase("Solve", ops.Solve, [mats, rhs[..., None].copy()], lambda t, a, b: t.linalg.solve(a, b)))
    add("Cholesky", XCase("Cholesky", ops.Cholesky, [mats], lambda t, x: t.linalg.cholesky(x)))
    add("CumSum(axis=1)", XCase("CumSum", lambda: ops.CumSum(axis=1), [r], lambda t, x: t.cumsum(x, dim=1)))
    add("CumProd(axis=1)", XCase("CumProd", lambda: ops.CumProd(axis=1), [r], lambda t, x: t.cumprod(x, dim=1)))
    for axis in (1, 0):
        add(f"Softmax(axis={axis})", XCase("Softmax", lambda axis=axis: ops.Softmax(axis), [r],
                                           lambda t, x, axis=axis: t.softmax(x, dim=axis), atol=8))
        add(f"LogSoftmax(axis={axis})", XCase("LogSoftmax", lambda axis=axis: ops.LogSoftmax(axis), [r],
                                              lambda t, x, axis=axis: t.log_softmax(x, dim=axis), atol=8))
    add("Reshape", XCase("Reshape", lambda: ops.Reshape((-1, 11)), [r], lambda t, x: x.reshape(-1, 11)))
    add("Transpose", XCase("Transpose", ops.Transpose, [r], lambda t, x: x.T))
    index = np.array([0, 0, 5, 7, 6, 6, 10])
    add("GetItem(advanced)", XCase("GetItem", lambda: ops.GetItem(index), [v],
                                   lambda t, x: x[t.as_tensor(index)]))
    add("GetItem(slice)", XCase("GetItem", lambda: ops.GetItem((slice(1, None, 2), 2)), [r],
                                lambda t, x: x[1::2, 2]))
    add("IndexAdd", XCase("IndexAdd", lambda: ops.IndexAdd(0, index), [v, v[:index.size].copy()],
                          lambda t, x, s: x.index_add(0, t.as_tensor(index), s)))
    add("ScatterAdd", XCase("ScatterAdd", lambda: ops.ScatterAdd(index, v.shape), [v[:index.size].copy()],
                            lambda t, x: t.zeros(v.shape, dtype=x.dtype).index_add(0, t.as_tensor(index), x)))
    add("NormalCDF", XCase("NormalCDF", ops.NormalCDF, [v], lambda t, x: t.special.ndtr(x)))
    # windows of a (1, 1, H, W) image of the extreme values, PyTorch's unfold / fold laid out as ours
    img = np.resize(v, (1, 1, 4, v.size // 4 + 2))
    wins = ops.SlidingWindows((2, 2)).forward(img)

    def unfold(t, x):
        ho, wo = x.shape[-2] - 1, x.shape[-1] - 1
        return t.nn.functional.unfold(x, 2).reshape(1, 1, 2, 2, ho, wo).movedim((2, 3), (4, 5))

    def fold(t, x):
        ho, wo = x.shape[2:4]
        cols = x.movedim((4, 5), (2, 3)).reshape(1, 4, ho * wo)
        return t.nn.functional.fold(cols, (ho + 1, wo + 1), 2)

    add("ToDevice", XCase("ToDevice", lambda: ops.ToDevice("cpu"), [v], lambda t, x: x.to("cpu") * 1))
    add("SlidingWindows", XCase("SlidingWindows", lambda: ops.SlidingWindows((2, 2)), [img], unfold))
    add("FoldWindows", XCase("FoldWindows", lambda: ops.FoldWindows(img.shape[-2:], (2, 2)), [wins.copy()], fold))
    add("BroadcastTo", XCase("BroadcastTo", lambda: ops.BroadcastTo((2, 3, v.size)), [v],
                             lambda t, x: x.broadcast_to((2, 3, v.size))))
    add("Concatenate", XCase("Concatenate", ops.Concatenate, [a, v], lambda t, x, y: t.cat([x, y])))
    add("Stack", XCase("Stack", lambda: ops.Stack(axis=1), [a, b], lambda t, x, y: t.stack([x, y], dim=1)))
    w = np.array([[1.0, -2.0], [0.5, 3.0]], dtype=dtype)
    p2 = r[:, :2].copy()
    for label, x, y in [("MatMul", p2, w), ("MatMul(matrix, vector)", p2, w[0].copy()),
                        ("MatMul(extreme weights)", w, p2.T.copy())]:
        add(label, XCase("MatMul", ops.MatMul, [x, y], lambda t, x, y: x @ y, skip=matmul_skips))

    def linear_skips(x, weight, bias):
        skips = matmul_skips(x, weight.T, bias)
        return {k: (m.T if k == 1 else m) for k, m in skips.items()}

    def linear(t, x, y, z):
        return t.nn.functional.linear(x, y, z)

    bias = np.array([0.1, -0.2], dtype=dtype)
    add("Linear", XCase("Linear", ops.Linear, [p2, w, bias], linear, skip=linear_skips))
    add("Linear(extreme weights)", XCase("Linear", ops.Linear, [w, p2[:7].copy(), np.linspace(-1, 1, 7, dtype=dtype)],
                                         linear, skip=linear_skips))
    keep = np.arange(v.size) % 3 != 0
    # PyTorch's dropout is input * (mask / (1 - p)); its mask cannot be given, so that formula is the twin
    add("Dropout(mask)", XCase("Dropout", lambda: ops.Dropout(0.25, mask=keep), [v],
                               lambda t, x: x * t.as_tensor(keep / 0.75, dtype=x.dtype)))
    add("Dropout(p=0)", XCase("Dropout", lambda: ops.Dropout(0.0), [v], lambda t, x: t.nn.functional.dropout(x, 0.0)))
    target = np.arange(r.shape[0]) % 3
    ignored = np.where(np.arange(r.shape[0]) % 7 == 0, -100, target)
    for reduction in ("mean", "sum", "none"):
        for eps in (0.0, 0.1):
            add(f"SoftmaxCrossEntropy({reduction}, {eps})",
                XCase("SoftmaxCrossEntropy", lambda red=reduction, eps=eps: ops.SoftmaxCrossEntropy(red, eps),
                      [r, target], lambda t, z, y, red=reduction, eps=eps: t.nn.functional.cross_entropy(
                          z, t.as_tensor(y), reduction=red, label_smoothing=eps), atol=8))
    add("SoftmaxCrossEntropy(ignore_index)",
        XCase("SoftmaxCrossEntropy", ops.SoftmaxCrossEntropy, [r, ignored],
              lambda t, z, y: t.nn.functional.cross_entropy(z, t.as_tensor(y)), atol=8))
    probs = np.tile(np.array([0.2, 0.3, 0.5], dtype=dtype), (r.shape[0], 1))
    add("SoftmaxCrossEntropy(probabilities, 0.1)",
        XCase("SoftmaxCrossEntropy", lambda: ops.SoftmaxCrossEntropy("sum", 0.1), [r, probs],
              lambda t, z, q: t.nn.functional.cross_entropy(z, q, reduction="sum", label_smoothing=0.1), atol=8))
    add("SoftmaxCrossEntropy(one row)",
        XCase("SoftmaxCrossEntropy", ops.SoftmaxCrossEntropy, [v, np.array(9)],
              lambda t, z, y: t.nn.functional.cross_entropy(z, t.as_tensor(y)), atol=8))
    return cases


CASE_NAMES = sorted(extreme_cases(np.float64))


def test_every_registered_op_is_swept():
    swept = {case.op_name for case in extreme_cases(np.float64).values()}
    assert swept == set(ops.BUILTIN), set(ops.BUILTIN) ^ swept
    assert set(ZERO_D_AND_EMPTY) == set(ops.BUILTIN), set(ops.BUILTIN) ^ set(ZERO_D_AND_EMPTY)


# ------------------------------------------------------------------------------------
# Running both libraries and comparing
# ------------------------------------------------------------------------------------


def run_ours(case: XCase, dtype, allow_warnings: bool = True):
    """Forward and backward (ones upstream) through Tensors, and by hand; both must agree exactly.
    Without ``allow_warnings`` any warning (NumPy's overflow, invalid value, empty slice) fails."""
    needs = case.needs_grad()
    tensors = [cr.tensor(x, requires_grad=True) if need else x for x, need in zip(case.inputs, needs)]
    with quiet() if allow_warnings else warnings.catch_warnings():
        if not allow_warnings:
            warnings.simplefilter("error")
        y = apply_op(case.make(), *tensors)
        y.backward(np.ones(y.shape, dtype=y.dtype))
        op = case.make()
        out = op.forward(*case.inputs)
        by_hand = op.backward(np.ones(np.shape(out), dtype=np.asarray(out).dtype))
    grads = [t.grad if need else None for t, need in zip(tensors, needs)]
    what = f"{case.op_name} {np.dtype(dtype).name}"
    assert y.dtype == dtype and np.asarray(out).dtype == dtype, f"{what}: forward dtype {y.dtype}"
    np.testing.assert_array_equal(np.asarray(out), y.data, err_msg=f"{what}: forward by hand vs graph")
    for i, (g, h, x) in enumerate(zip(grads, by_hand, case.inputs)):
        if g is None:
            continue
        assert g.dtype == dtype and np.asarray(h).dtype == dtype, f"{what}: gradient {i} dtype {g.dtype}"
        assert g.shape == np.shape(x), f"{what}: gradient {i} shape {g.shape} for input {np.shape(x)}"
        np.testing.assert_array_equal(np.asarray(h), g, err_msg=f"{what}: gradient {i} by hand vs graph")
    return y.data, grads


def run_torch(case: XCase, dtype, torch):
    needs = case.needs_grad()
    leaves = [torch.tensor(x, requires_grad=need) if need else x for x, need in zip(case.inputs, needs)]
    y = case.torch_fn(torch, *leaves)
    y.backward(torch.ones_like(y))
    return y.detach().numpy(), [t.grad.numpy() if need else None for t, need in zip(leaves, needs)]


def assert_matches(ours, theirs, dtype, what: str, atol_eps: float = 0.0, skip=None) -> None:
    """NaN where PyTorch has NaN, the same infinities, finite values within rounding."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape}, PyTorch {theirs.shape}"
    o, t = ours.astype(np.float64), theirs.astype(np.float64)
    compared = np.ones(o.shape, bool) if skip is None else ~np.broadcast_to(skip, o.shape)
    nan_o, nan_t = np.isnan(o), np.isnan(t)
    bad = nan_o != nan_t
    inf = (np.isinf(o) | np.isinf(t)) & ~nan_o & ~nan_t
    bad |= inf & (o != t)
    finite = ~(nan_o | nan_t | inf)
    with np.errstate(all="ignore"):
        err = np.abs(o - t)
    eps, tiny = np.finfo(dtype).eps, np.finfo(dtype).tiny
    bad |= finite & (err > RTOL[dtype] * np.maximum(np.abs(o), np.abs(t)) + atol_eps * eps + 4 * tiny)
    bad &= compared
    if bad.any():
        where = [tuple(int(i) for i in np.unravel_index(k, o.shape)) for k in np.flatnonzero(bad)[:6]]
        shown = "; ".join(f"{w}: ours {o[w]!r}, PyTorch {t[w]!r}" for w in where)
        raise AssertionError(f"{what}: {int(bad.sum())} elements differ, e.g. {shown}")


def torch_softmax_over(torch, x: np.ndarray, axis) -> np.ndarray:
    """torch.softmax over ``axis`` (an int, or None for all), shaped like ``x``: the exact gradient of logsumexp."""
    xt = torch.tensor(x)
    if axis is None:
        return torch.softmax(xt.reshape(-1), dim=0).reshape(xt.shape).numpy()
    return torch.softmax(xt, dim=axis).numpy()


def lse_exact_gradient(case: XCase, theirs_grad, torch):
    """PyTorch's logsumexp backward is exp(x - logsumexp(x)): where x ≈ logsumexp(x) ≈ 1e300 the
    difference cancels (1e300 - (1e300 + log 2) = 0, so it gives 1 instead of 1/2). There the exact
    derivative, torch.softmax, is the oracle. Returns the oracle and how many elements it replaced."""
    softmax = torch_softmax_over(torch, case.inputs[0], case.make().axis)
    finite = np.isfinite(softmax) & np.isfinite(theirs_grad)
    cancelled = finite & ~np.isclose(softmax, theirs_grad, rtol=1e-4, atol=1e-6)
    return np.where(cancelled, softmax, theirs_grad), int(cancelled.sum())


@pytest.mark.oracle
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("label", CASE_NAMES)
def test_extremes_match_torch(label, dtype, torch):
    case = extreme_cases(dtype)[label]
    ours, our_grads = run_ours(case, dtype)
    theirs, their_grads = run_torch(case, dtype, torch)
    skips = case.skip(*case.inputs) if case.skip else {}
    what = f"{label} {np.dtype(dtype).name}"
    assert_matches(ours, theirs, dtype, f"{what}: forward", case.atol, skips.get("forward"))
    for i, (g, tg) in enumerate(zip(our_grads, their_grads)):
        if g is None:
            continue
        if case.op_name == "LogSumExp":
            tg, replaced = lse_exact_gradient(case, tg, torch)
            assert replaced, "the cancellation DIFFERENCES documents is gone: compare with PyTorch directly"
        assert_matches(g, tg, dtype, f"{what}: gradient of input {i}", case.atol, skips.get(i))


# ------------------------------------------------------------------------------------
# Where PyTorch gives another answer: stated, and checked to be still so
# ------------------------------------------------------------------------------------


@dataclass
class Difference:
    """An input where PyTorch's op does not compute what ours does, with both answers and why."""

    what: str
    make: Callable[[], ops.Op]
    x: list
    torch_fn: Callable
    ours: list
    pytorch: list
    why: str
    gradient: bool = False  # compare the gradient (ones upstream) instead of the forward value
    dtypes: list = field(default_factory=lambda: list(DTYPES))
    #: PyTorch's kernel differs with the CPU's vector instructions: on some CPUs it agrees with ours
    by_cpu: bool = False


DIFFERENCES = [
    Difference("Pow(0.5): gradient at -0.0 and -inf", lambda: ops.Pow(0.5), [-0.0, -INF], lambda t, x: x**0.5,
               ours=[INF, 0.0], pytorch=[-INF, NAN], gradient=True,
               why="PyTorch's pow backward takes x ** -0.5 as rsqrt(x) (rsqrt(-0) = -inf, rsqrt(-inf) = NaN); "
                   "NumPy and C99 pow give pow(-0, -0.5) = +inf and pow(-inf, -0.5) = +0"),
    Difference("Pow(-0.5): value at -0.0 and -inf", lambda: ops.Pow(-0.5), [-0.0, -INF], lambda t, x: x**-0.5,
               ours=[INF, 0.0], pytorch=[-INF, NAN], why="the same rsqrt special case, in PyTorch's forward"),
    Difference("LogSumExp: gradient at [1e300, 1e300, 0.5]", lambda: ops.LogSumExp(), [1e300, 1e300, 0.5],
               lambda t, x: t.logsumexp(x, dim=0), ours=[0.5, 0.5, 0.0], pytorch=[1.0, 1.0, 0.0], gradient=True,
               dtypes=[np.float64],
               why="PyTorch's backward is exp(x - logsumexp(x)) and 1e300 - (1e300 + log 2) cancels to 0; "
                   "ours is softmax(x), exact (torch.softmax agrees with ours)"),
    Difference("LogSumExp float32: gradient at [1e4, 1e4, 1e4]", lambda: ops.LogSumExp(), [1e4, 1e4, 1e4],
               lambda t, x: t.logsumexp(x, dim=0), ours=[1 / 3] * 3, pytorch=[0.33332649] * 3, gradient=True,
               dtypes=[np.float32], why="the same cancellation: 1e4 - float32(1e4 + log 3) keeps 3 digits"),
    Difference("GELU float32: value at 3e38 and inf", ops.GELU, [3e38, INF], lambda t, x: t.nn.functional.gelu(x),
               ours=[3e38, INF], pytorch=[INF, NAN], dtypes=[np.float32], by_cpu=True,
               why="PyTorch's float32 kernel (on CPUs where it takes the vectorised path that overflows in an "
                   "intermediate) gives NaN at inf; x·Φ(x) is x there, which ours returns (float64 PyTorch, and "
                   "float32 PyTorch on other CPUs, agree with ours)"),
]


@pytest.mark.oracle
@pytest.mark.parametrize("diff", DIFFERENCES, ids=[d.what for d in DIFFERENCES])
def test_documented_differences_from_torch(diff, torch):
    for dtype in diff.dtypes:
        x = np.array(diff.x, dtype=dtype)
        t = cr.tensor(x, requires_grad=True)
        xt = torch.tensor(x, requires_grad=True)
        with quiet():
            y = apply_op(diff.make(), t)
            y.backward(np.ones(y.shape, dtype=dtype))
        yt = diff.torch_fn(torch, xt)
        yt.backward(torch.ones_like(yt))
        ours = t.grad if diff.gradient else y.data
        theirs = (xt.grad if diff.gradient else yt.detach()).numpy()
        np.testing.assert_allclose(ours, np.array(diff.ours, dtype=dtype), rtol=1e-6, err_msg=diff.why)
        if diff.by_cpu and np.allclose(theirs, ours, rtol=1e-6, equal_nan=True):
            continue  # this CPU's PyTorch kernel agrees with ours
        np.testing.assert_allclose(theirs, np.array(diff.pytorch, dtype=dtype), rtol=1e-6,
                                   err_msg=f"PyTorch changed: {diff.why}")


# ------------------------------------------------------------------------------------
# Large logits: finite, no warning, forward and backward
# ------------------------------------------------------------------------------------

LOGITS = [[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4], [1e4, 1e4, 1e4], [-1e4, 0.0, 1e4]]
TARGET = np.array([0, 1, 2, 1, 0])


def stable_cases(dtype) -> dict[str, tuple[Callable, list, Callable]]:
    """label: (make the op, inputs, the PyTorch twin)."""
    z = np.array(LOGITS, dtype=dtype)
    out = {
        "softmax": (lambda: ops.Softmax(), [z], lambda t, x: t.softmax(x, dim=-1)),
        "softmax(axis=0)": (lambda: ops.Softmax(0), [z], lambda t, x: t.softmax(x, dim=0)),
        "log_softmax": (lambda: ops.LogSoftmax(), [z], lambda t, x: t.log_softmax(x, dim=-1)),
        "log_softmax(axis=0)": (lambda: ops.LogSoftmax(0), [z], lambda t, x: t.log_softmax(x, dim=0)),
        "logsumexp(axis=1)": (lambda: ops.LogSumExp(axis=1), [z], lambda t, x: t.logsumexp(x, dim=1)),
        "logsumexp": (lambda: ops.LogSumExp(), [z], lambda t, x: t.logsumexp(x, dim=(0, 1))),
        "sigmoid": (ops.Sigmoid, [z], lambda t, x: t.sigmoid(x)),
        "softplus": (ops.Softplus, [z], lambda t, x: t.nn.functional.softplus(x)),
    }
    for reduction in ("mean", "sum", "none"):
        for eps in (0.0, 0.1):
            def torch_ce(t, x, y, red=reduction, eps=eps):
                y = y if isinstance(y, t.Tensor) else t.as_tensor(y)
                return t.nn.functional.cross_entropy(x, y, reduction=red, label_smoothing=eps)

            def make(red=reduction, eps=eps):
                return ops.SoftmaxCrossEntropy(red, eps)

            out[f"cross_entropy({reduction}, {eps})"] = (make, [z, TARGET], torch_ce)
            out[f"cross_entropy({reduction}, {eps}, probabilities)"] = (
                make, [z, np.full(z.shape, 1 / 3, dtype=dtype)], torch_ce)
    out["cross_entropy(one row)"] = (lambda: ops.SoftmaxCrossEntropy(), [z[4], np.array(2)],
                                     lambda t, x, y: t.nn.functional.cross_entropy(x, t.as_tensor(y)))
    return out


STABLE = sorted(stable_cases(np.float64))


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("label", STABLE)
def test_stable_at_large_logits(label, dtype):
    make, inputs, _ = stable_cases(dtype)[label]
    with strict_floats():
        tensors = [cr.tensor(x, requires_grad=True) if x.dtype.kind == "f" else x for x in inputs]
        y = apply_op(make(), *tensors)
        y.backward(np.ones(y.shape, dtype=dtype))
        op = make()
        out = op.forward(*inputs)
        by_hand = op.backward(np.ones(np.shape(out), dtype=dtype))
    assert y.dtype == dtype and np.isfinite(y.data).all(), y.data
    np.testing.assert_array_equal(np.asarray(out), y.data)
    for t, h in zip(tensors, by_hand):
        if isinstance(t, cr.Tensor):
            assert t.grad.dtype == dtype and np.isfinite(t.grad).all(), t.grad
            np.testing.assert_array_equal(np.asarray(h), t.grad)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_cross_entropy_loss_module_stable_at_large_logits(dtype):
    for loss in (nn.CrossEntropyLoss(), nn.CrossEntropyLoss(reduction="sum", label_smoothing=0.2)):
        z = cr.tensor(np.array(LOGITS, dtype=dtype), requires_grad=True)
        with strict_floats():
            value = loss(z, TARGET)
            value.backward()
        assert value.dtype == dtype and np.isfinite(value.data)
        assert z.grad.dtype == dtype and np.isfinite(z.grad).all()


@pytest.mark.oracle
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("label", STABLE)
def test_large_logits_match_torch(label, dtype, torch):
    make, inputs, torch_fn = stable_cases(dtype)[label]
    case = XCase("", make, inputs, torch_fn)
    ours, our_grads = run_ours(case, dtype)
    theirs, their_grads = run_torch(case, dtype, torch)
    assert_matches(ours, theirs, dtype, f"{label}: forward", atol_eps=8)
    for i, (g, tg) in enumerate(zip(our_grads, their_grads)):
        if g is not None:
            if label.startswith("logsumexp"):  # PyTorch's own gradient cancels in float32 (DIFFERENCES)
                tg = torch_softmax_over(torch, inputs[0], make().axis)
            assert_matches(g, tg, dtype, f"{label}: gradient of input {i}", atol_eps=8)


# ------------------------------------------------------------------------------------
# 0-d and empty inputs
# ------------------------------------------------------------------------------------

Z0 = np.array(1.5)  # 0-d
E1 = np.zeros((0,))
E2 = np.zeros((0, 3))
E3 = np.zeros((3, 0))

#: op name -> [(label, make the op, inputs, torch twin or None, "ok" or the start of the ShapeError)].
#: The inputs are cast to the dtype under test. NumPy's axis rules hold: axis=0 of a 0-d array is an
#: error (PyTorch accepts dim=0 there), so those cases expect chainrule's ShapeError.
ZERO_D_AND_EMPTY: dict[str, list] = {}


def _cases(name, *entries):
    ZERO_D_AND_EMPTY[name] = list(entries)


for _name, _fn in {"Identity": "clone", "Neg": "neg", "Square": "square", "Exp": "exp", "Log": "log",
                   "Sqrt": "sqrt", "Abs": "abs", "ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh"}.items():
    _cases(_name, *[(s, getattr(ops, _name), [x], lambda t, x, fn=_fn: getattr(t, fn)(x), "ok")
                    for s, x in (("0-d", Z0), ("empty", E2))])
_cases("Softplus", *[(s, ops.Softplus, [x], lambda t, x: t.nn.functional.softplus(x), "ok")
                     for s, x in (("0-d", Z0), ("empty", E2))])
for _name, _twin in {"Sin": "sin", "Cos": "cos", "Tan": "tan", "Arcsin": "asin", "Arccos": "acos", "Arctan": "atan",
                     "Sinh": "sinh", "Cosh": "cosh", "Log1p": "log1p", "Expm1": "expm1", "Log2": "log2",
                     "Log10": "log10", "Reciprocal": "reciprocal", "Sign": "sign"}.items():
    _cases(_name, *[(s, getattr(ops, _name), [x], lambda t, x, fn=_twin: getattr(t, fn)(x), "ok")
                    for s, x in (("0-d", np.array(0.5) if _name in ("Arcsin", "Arccos") else Z0), ("empty", E2))])
for _name, _twin in {"SiLU": "silu", "Softsign": "softsign", "Hardtanh": "hardtanh", "ELU": "elu"}.items():
    _cases(_name, *[(s, getattr(ops, _name), [x], lambda t, x, fn=_twin: getattr(t.nn.functional, fn)(x), "ok")
                    for s, x in (("0-d", Z0), ("empty", E2))])
_cases("Clip", *[(s, lambda: ops.Clip(-1.0, 1.0), [x], lambda t, x: t.clamp(x, -1.0, 1.0), "ok")
                 for s, x in (("0-d", Z0), ("empty", E2))])
_cases("LeakyReLU", *[(s, ops.LeakyReLU, [x], lambda t, x: t.nn.functional.leaky_relu(x), "ok")
                      for s, x in (("0-d", Z0), ("empty", E2))])
_cases("GELU", *[(s, ops.GELU, [x], lambda t, x: t.nn.functional.gelu(x), "ok")
                 for s, x in (("0-d", Z0), ("empty", E2))],
       *[(s, lambda: ops.GELU("tanh"), [x], lambda t, x: t.nn.functional.gelu(x, approximate="tanh"), "ok")
         for s, x in (("0-d tanh", Z0), ("empty tanh", E2))])
_cases("Pow", *[(s, lambda: ops.Pow(3), [x], lambda t, x: x**3, "ok") for s, x in (("0-d", Z0), ("empty", E2))])
_cases("Dropout", ("0-d", lambda: ops.Dropout(0.5, rng=np.random.default_rng(0)), [Z0], None, "ok"),
       ("empty", lambda: ops.Dropout(0.5, rng=np.random.default_rng(0)), [E2], None, "ok"),
       ("0-d mask", lambda: ops.Dropout(0.5, mask=np.array(True)), [Z0], lambda t, x: x * 2, "ok"))
for _name, _fn in {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Maximum": "maximum",
                   "Minimum": "minimum", "Power": "pow"}.items():
    _cases(_name, *[(s, getattr(ops, _name), [x, y], lambda t, x, y, fn=_fn: getattr(t, fn)(x, y), "ok")
                    for s, x, y in (("0-d, 0-d", Z0, Z0), ("0-d, empty", Z0, E2), ("empty, (3,)", E2, np.ones(3)),
                                    ("empty, empty", E1, E1))])
_cases("Where", ("0-d", ops.Where, [np.array(True), Z0, Z0], lambda t, c, x, y: t.where(t.as_tensor(c), x, y), "ok"),
       ("empty", ops.Where, [np.zeros(0, bool), E1, Z0], lambda t, c, x, y: t.where(t.as_tensor(c), x, y), "ok"))
for _name, _fn in {"Sum": "sum", "Mean": "mean", "Max": "amax", "Min": "amin", "LogSumExp": "logsumexp"}.items():
    _empty_ok = "ok" if _name not in ("Max", "Min") else f"{_name.lower()}: cannot reduce an empty input"

    def _twin(axis, keep=False, fn=_fn):
        return lambda t, x: getattr(t, fn)(x, dim=tuple(range(x.ndim)) if axis is None else axis, keepdim=keep)

    _cases(_name,
           ("0-d", lambda n=_name: getattr(ops, n)(), [Z0], _twin(None), "ok"),
           ("0-d axis=0", lambda n=_name: getattr(ops, n)(axis=0), [Z0], _twin(0), "ok"),  # as PyTorch allows
           ("(0, 3) axis=1", lambda n=_name: getattr(ops, n)(axis=1), [E2], _twin(1), "ok"),
           ("(0, 3) axis=0", lambda n=_name: getattr(ops, n)(axis=0), [E2], _twin(0), _empty_ok),
           ("(3, 0) all, keepdims", lambda n=_name: getattr(ops, n)(axis=(0, 1), keepdims=True), [E3],
            _twin((0, 1), True), _empty_ok),
           ("(0,) all", lambda n=_name: getattr(ops, n)(), [E1], _twin(None), _empty_ok))
for _name, _fn in {"Softmax": "softmax", "LogSoftmax": "log_softmax"}.items():
    _cases(_name, *[(s, getattr(ops, _name), [x], lambda t, x, fn=_fn: getattr(t, fn)(x, dim=-1), "ok")
                    for s, x in (("0-d", Z0), ("(0,)", E1), ("(0, 3)", E2), ("(3, 0)", E3))])
_cases("Prod", ("0-d", ops.Prod, [Z0], lambda t, x: t.prod(x), "ok"),
       ("(0, 3) axis=0", lambda: ops.Prod(axis=0), [E2], lambda t, x: t.prod(x, dim=0), "ok"))
_cases("Norm", ("0-d", ops.Norm, [Z0], lambda t, x: t.linalg.vector_norm(x), "ok"),
       ("(0, 3) axis=1", lambda: ops.Norm(axis=1), [E2], lambda t, x: t.linalg.vector_norm(x, dim=1), "ok"))
_cases("Var", ("0-d", ops.Var, [Z0], lambda t, x: t.var(x, correction=0), "ok"),
       ("(3, 0) axis=0", lambda: ops.Var(axis=0), [E3], lambda t, x: t.var(x, dim=0, correction=0), "ok"))
_cases("Std", ("0-d", ops.Std, [Z0], lambda t, x: t.std(x, correction=0), "ok"),
       ("(3, 0) axis=0", lambda: ops.Std(axis=0), [E3], lambda t, x: t.std(x, dim=0, correction=0), "ok"))
_cases("Trace", ("0-d", ops.Trace, [Z0], None, "trace: expected a matrix"),
       ("(0, 3)", ops.Trace, [E2], lambda t, x: t.trace(x), "ok"))
_cases("CumSum", ("0-d", ops.CumSum, [Z0], lambda t, x: x.reshape(-1).cumsum(0), "ok"),
       ("(0, 3) axis=1", lambda: ops.CumSum(axis=1), [E2], lambda t, x: t.cumsum(x, dim=1), "ok"))
_cases("CumProd", ("0-d", ops.CumProd, [Z0], lambda t, x: x.reshape(-1).cumprod(0), "ok"),
       ("(0, 3) axis=1", lambda: ops.CumProd(axis=1), [E2], lambda t, x: t.cumprod(x, dim=1), "ok"))
for _name, (_make, _twin) in {
    "Squeeze": (ops.Squeeze, lambda t, x: x.squeeze()),
    "ExpandDims": (lambda: ops.ExpandDims(0), lambda t, x: x.unsqueeze(0)),
    "Ravel": (ops.Ravel, lambda t, x: x.reshape(-1)), "Flip": (ops.Flip, lambda t, x: x.flip(tuple(range(x.ndim)))),
    "Roll": (lambda: ops.Roll(1), lambda t, x: t.roll(x.reshape(-1), 1).reshape(x.shape)),
    "Tile": (lambda: ops.Tile(2), lambda t, x: t.tile(x, (2,))),
    "Repeat": (lambda: ops.Repeat(2), lambda t, x: t.repeat_interleave(x, 2)),
    "Pad": (lambda: ops.Pad(1), lambda t, x: t.nn.functional.pad(x, [1, 1] * x.ndim) if x.ndim else x.clone()),
}.items():
    _cases(_name, *[(s, _make, [x], _twin, "ok") for s, x in (("0-d", Z0), ("empty", E2))])
_cases("SwapAxes", ("0-d", lambda: ops.SwapAxes(0, 1), [Z0], None, "swapaxes: axis 0 does not fit"),
       ("empty", lambda: ops.SwapAxes(0, 1), [E2], lambda t, x: x.swapaxes(0, 1), "ok"))
_cases("MoveAxis", ("0-d", lambda: ops.MoveAxis(0, 1), [Z0], None, "moveaxis: axis"),
       ("empty", lambda: ops.MoveAxis(0, 1), [E2], lambda t, x: x.movedim(0, 1), "ok"))
_cases("IndexAdd", ("0-d", lambda: ops.IndexAdd(0, [0]), [Z0, Z0], None, "index_add: axis 0 does not fit"),
       ("empty index", lambda: ops.IndexAdd(0, np.array([], dtype=int)), [np.ones(3), E1],
        lambda t, x, s: x.index_add(0, t.tensor([], dtype=t.long), s), "ok"))
_cases("Dot", ("0-d", ops.Dot, [Z0, Z0], None, "dot: takes vectors and matrices"),
       ("empty", ops.Dot, [E2, np.ones((3, 2))], lambda t, x, y: x @ y, "ok"))
_cases("Outer", ("0-d", ops.Outer, [Z0, Z0], None, "outer: takes two vectors"),
       ("empty", ops.Outer, [E1, np.ones(2)], lambda t, x, y: t.outer(x, y), "ok"))
_cases("Einsum", ("0-d", lambda: ops.Einsum("->"), [Z0], lambda t, x: t.einsum("->", x), "ok"),
       ("empty", lambda: ops.Einsum("ij->j"), [E2], lambda t, x: t.einsum("ij->j", x), "ok"))
for _name, _twin in {"Inv": lambda t, x: t.linalg.inv(x), "Det": lambda t, x: t.linalg.det(x),
                     "LogAbsDet": lambda t, x: t.linalg.slogdet(x)[1],
                     "Cholesky": lambda t, x: t.linalg.cholesky(x)}.items():
    _cases(_name, ("0-d", getattr(ops, _name), [Z0], None, f"{_name.lower()}: expected square matrices"),
           ("(0, 0)", getattr(ops, _name), [np.zeros((0, 0))], _twin, "ok"))
_cases("Solve", ("0-d", ops.Solve, [Z0, Z0], None, "solve: expected square matrices"),
       ("(0, 0)", ops.Solve, [np.zeros((0, 0)), np.zeros((0, 2))], lambda t, a, b: t.linalg.solve(a, b), "ok"))
_cases("Reshape", ("0-d to (1,)", lambda: ops.Reshape((1,)), [Z0], lambda t, x: x.reshape(1), "ok"),
       ("(0, 3) to (3, 0)", lambda: ops.Reshape((3, 0)), [E2], lambda t, x: x.reshape(3, 0), "ok"),
       ("(0, 3) to (0, -1)", lambda: ops.Reshape((0, -1)), [E2], None, "reshape: cannot reshape"))
_cases("Transpose", ("0-d", ops.Transpose, [Z0], lambda t, x: x.permute(()), "ok"),
       ("empty", ops.Transpose, [E2], lambda t, x: x.T, "ok"))
_cases("GetItem", ("0-d [...]", lambda: ops.GetItem(...), [Z0], lambda t, x: x[...], "ok"),
       ("0-d [None]", lambda: ops.GetItem(None), [Z0], lambda t, x: x[None], "ok"),
       ("0-d [0]", lambda: ops.GetItem(0), [Z0], None, "getitem: index"),
       ("empty [:, 1]", lambda: ops.GetItem((slice(None), 1)), [E2], lambda t, x: x[:, 1], "ok"),
       ("empty [[]]", lambda: ops.GetItem(np.array([], dtype=int)), [E2],
        lambda t, x: x[t.tensor([], dtype=t.long)], "ok"))
_cases("NormalCDF", *[(s, ops.NormalCDF, [x], lambda t, x: t.special.ndtr(x), "ok")
                      for s, x in (("0-d", Z0), ("empty", E2))])
_cases("ScatterAdd", ("0-d into (2,)", lambda: ops.ScatterAdd(1, (2,)), [Z0],
                      lambda t, x: t.stack([t.zeros((), dtype=x.dtype), x]), "ok"),
       ("empty into (3,)", lambda: ops.ScatterAdd(np.array([], dtype=int), (3,)), [E1],
        lambda t, x: t.zeros(3, dtype=x.dtype).index_add(0, t.tensor([], dtype=t.long), x), "ok"))
_cases("ToDevice", ("0-d", lambda: ops.ToDevice("cpu"), [Z0], lambda t, x: x * 1, "ok"),
       ("empty", lambda: ops.ToDevice("cpu"), [E2], lambda t, x: x * 1, "ok"))
_cases("SlidingWindows", ("0-d", lambda: ops.SlidingWindows((1, 1)), [Z0], None, "sliding_windows: expected"),
       ("(0, 2, 3) 1x1", lambda: ops.SlidingWindows((1, 1)), [np.zeros((0, 2, 3))],
        lambda t, x: x.reshape(0, 2, 3, 1, 1), "ok"))
_cases("FoldWindows", ("0-d", lambda: ops.FoldWindows((1, 1), (1, 1)), [Z0], None, "fold_windows: windows"),
       ("empty batch", lambda: ops.FoldWindows((2, 2), (1, 1)), [np.zeros((0, 2, 2, 1, 1))],
        lambda t, x: x.reshape(0, 2, 2), "ok"))
_cases("BroadcastTo", ("0-d", lambda: ops.BroadcastTo((2, 3)), [Z0], lambda t, x: x.broadcast_to((2, 3)), "ok"),
       ("empty", lambda: ops.BroadcastTo((2, 0, 3)), [E2], lambda t, x: x.broadcast_to((2, 0, 3)), "ok"))
_cases("Concatenate", ("0-d", ops.Concatenate, [Z0, Z0], None, "concatenate: cannot join"),
       ("empty", ops.Concatenate, [E1, np.ones(2)], lambda t, x, y: t.cat([x, y]), "ok"))
_cases("Stack", ("0-d", ops.Stack, [Z0, Z0], lambda t, x, y: t.stack([x, y]), "ok"),
       ("empty", ops.Stack, [E2, E2], lambda t, x, y: t.stack([x, y]), "ok"))
_cases("MatMul", ("0-d", ops.MatMul, [Z0, Z0], None, "matmul: cannot multiply"),
       ("(0, 3) @ (3, 2)", ops.MatMul, [E2, np.ones((3, 2))], lambda t, x, y: x @ y, "ok"),
       ("(3, 0) @ (0, 3)", ops.MatMul, [E3, E2], lambda t, x, y: x @ y, "ok"),
       ("(0,) @ (0,)", ops.MatMul, [E1, E1], lambda t, x, y: x @ y, "ok"))
_cases("Linear", ("0-d", ops.Linear, [Z0, np.ones((2, 3))], None, "linear: input of shape ()"),
       ("(0, 3)", ops.Linear, [E2, np.ones((2, 3)), np.ones(2)], lambda t, *xs: t.nn.functional.linear(*xs), "ok"),
       ("(3, 0)", ops.Linear, [E3, np.ones((2, 0)), np.ones(2)], lambda t, *xs: t.nn.functional.linear(*xs), "ok"))
_cases("SoftmaxCrossEntropy",
       ("0-d", ops.SoftmaxCrossEntropy, [Z0, np.array(0)], None, "softmaxcrossentropy: logits must be"),
       *[(f"no rows, {red}", lambda red=red: ops.SoftmaxCrossEntropy(red), [E2, np.zeros(0, int)],
          lambda t, z, y, red=red: t.nn.functional.cross_entropy(z, t.as_tensor(y), reduction=red), "ok")
         for red in ("mean", "sum", "none")],
       ("no rows, probabilities", ops.SoftmaxCrossEntropy, [E2, np.zeros((0, 3))], None, "ok"),
       ("no classes", ops.SoftmaxCrossEntropy, [E3, np.zeros(3, int)], None, "softmaxcrossentropy: logits of shape"),
       ("no classes, one row", ops.SoftmaxCrossEntropy, [E1, np.array(0)], None, "softmaxcrossentropy: logits of"))

ZERO_D_CASES = [(name, k) for name in sorted(ZERO_D_AND_EMPTY) for k in range(len(ZERO_D_AND_EMPTY[name]))]
#: Those that PyTorch computes too (not a ShapeError, not a random draw).
ZERO_D_ORACLE = [(n, k) for n, k in ZERO_D_CASES if ZERO_D_AND_EMPTY[n][k][3] and ZERO_D_AND_EMPTY[n][k][4] == "ok"]


def _zero_d_ids(cases):
    return [f"{n}-{ZERO_D_AND_EMPTY[n][k][0]}" for n, k in cases]


def _zero_d_case(name, k, dtype):
    label, make, inputs, twin, expect = ZERO_D_AND_EMPTY[name][k]
    inputs = [x.astype(dtype) if x.dtype.kind == "f" else x for x in inputs]
    return label, make, inputs, twin, expect


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name, k", ZERO_D_CASES, ids=_zero_d_ids(ZERO_D_CASES))
def test_zero_d_and_empty_inputs(name, k, dtype):
    label, make, inputs, _, expect = _zero_d_case(name, k, dtype)
    if expect != "ok":
        with pytest.raises(ShapeError) as info:
            apply_op(make(), *[cr.tensor(x, requires_grad=True) if x.dtype.kind == "f" else x for x in inputs])
        assert str(info.value).startswith(expect), str(info.value)
        return
    # without a warning: the mean of nothing is NaN and the logsumexp of nothing -inf, as in PyTorch
    run_ours(XCase(name, make, inputs, None), dtype, allow_warnings=False)


@pytest.mark.oracle
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name, k", ZERO_D_ORACLE, ids=_zero_d_ids(ZERO_D_ORACLE))
def test_zero_d_and_empty_inputs_match_torch(name, k, dtype, torch):
    label, make, inputs, twin, _ = _zero_d_case(name, k, dtype)
    case = XCase(name, make, inputs, twin)
    ours, our_grads = run_ours(case, dtype)
    theirs, their_grads = run_torch(case, dtype, torch)
    assert_matches(ours, theirs, dtype, f"{name} {label}: forward")
    for i, (g, tg) in enumerate(zip(our_grads, their_grads)):
        if g is not None:
            assert_matches(g, tg, dtype, f"{name} {label}: gradient of input {i}")
