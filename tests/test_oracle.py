"""PyTorch as the oracle (issue 2, section 5).

1. Every op, on the same hypothesis-generated cases as ``test_ops.py``, gives the
   forward value and the input gradients PyTorch gives (float64).
2. Hypothesis builds random expression graphs, at least 12 ops deep, whose
   intermediates are reused on several paths; chainrule and PyTorch evaluate them on
   the same float64 inputs and agree on the output and on every leaf gradient to
   1e-10 relative.

Every test takes the ``torch`` fixture: skipped without PyTorch, a failure instead
under ``CHAINRULE_REQUIRE_ORACLE=1`` (CI).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import ops

# The cases are shared with test_ops.py (tests/ is on sys.path under pytest's default import mode).
from test_ops import CASES, MATMUL_KINDS, Case, is_float, matmul_case, strict_floats

pytestmark = pytest.mark.oracle

RTOL, ATOL = 1e-10, 1e-12

# The torch fixture is a module: the same for every example, so reusing it is safe.
def oracle_settings(max_examples: int):
    return settings(max_examples=max_examples,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def close(actual, expected, what: str, atol: float = ATOL) -> None:
    expected = expected.detach().numpy() if hasattr(expected, "detach") else expected
    assert np.shape(actual) == np.shape(expected), f"{what}: shape {np.shape(actual)} vs {np.shape(expected)}"
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=atol, err_msg=what)


# ------------------------------------------------------------------------------------
# 1. Every op against its PyTorch counterpart
# ------------------------------------------------------------------------------------


def torch_version(op: ops.Op, torch):
    """The PyTorch function computing what the configured chainrule ``op`` computes."""
    F = torch.nn.functional
    name = type(op).__name__

    def dims(x):
        axis = op.axis
        return tuple(range(x.ndim)) if axis is None else axis

    simple = {
        "Identity": torch.clone, "Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div,
        "Neg": torch.neg, "Square": torch.square, "Exp": torch.exp, "Log": torch.log, "Sqrt": torch.sqrt,
        "Abs": torch.abs, "Maximum": torch.maximum, "Minimum": torch.minimum, "ReLU": torch.relu,
        "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Softplus": F.softplus, "MatMul": torch.matmul,
        "Power": torch.pow, "Sin": torch.sin, "Cos": torch.cos, "Tan": torch.tan, "Arcsin": torch.asin,
        "Arccos": torch.acos, "Arctan": torch.atan, "Sinh": torch.sinh, "Cosh": torch.cosh, "Log1p": torch.log1p,
        "Expm1": torch.expm1, "Log2": torch.log2, "Log10": torch.log10, "Reciprocal": torch.reciprocal,
        "Sign": torch.sign, "SiLU": F.silu, "Softsign": F.softsign,
    }
    if name in simple:
        return simple[name]
    if name == "Where":
        return lambda c, a, b: torch.where(torch.as_tensor(c), a, b)
    if name == "Pow":
        return lambda x: x**op.exponent
    if name == "LeakyReLU":
        return lambda x: F.leaky_relu(x, op.negative_slope)
    if name == "Clip":
        return lambda x: torch.clamp(x, op.a_min, op.a_max)
    if name == "Hardtanh":
        return lambda x: F.hardtanh(x, op.min_val, op.max_val)
    if name == "ELU":
        return lambda x: F.elu(x, op.alpha)
    reductions = {"Sum": torch.sum, "Mean": torch.mean, "Max": torch.amax, "Min": torch.amin,
                  "LogSumExp": torch.logsumexp, "Norm": lambda x, dim, keepdim: torch.linalg.vector_norm(
                      x, 2, dim=dim, keepdim=keepdim)}
    if name in reductions:
        reduce = reductions[name]
        return lambda x: reduce(x, dim=dims(x), keepdim=op.keepdims)
    if name in ("Var", "Std"):
        moment = torch.var if name == "Var" else torch.std
        return lambda x: moment(x, dim=dims(x), correction=op.ddof, keepdim=op.keepdims)
    if name == "Prod":  # torch.prod takes one dim: the reduced axes moved last and flattened into one
        def prod(x):
            d = dims(x)
            axes = sorted(a % x.ndim for a in ((d,) if isinstance(d, int) else d)) if x.ndim else []
            rest = [i for i in range(x.ndim) if i not in axes]
            n = int(np.prod([x.shape[a] for a in axes]))
            flat = x.permute(rest + axes).reshape([x.shape[i] for i in rest] + [n])
            out = flat.prod(dim=-1)
            return out.reshape([1 if i in axes else n for i, n in enumerate(x.shape)]) if op.keepdims else out

        return prod
    if name == "Trace":
        return torch.trace
    if name == "IndexAdd":
        return lambda x, s: x.index_add(op.axis % x.ndim, torch.as_tensor(op.index), s)
    linalg_twins = {
        "Dot": lambda a, b: a @ b, "Outer": torch.outer, "Inv": torch.linalg.inv, "Det": torch.linalg.det,
        "LogAbsDet": lambda x: torch.linalg.slogdet(x)[1], "Solve": torch.linalg.solve,
        "Cholesky": lambda x: torch.linalg.cholesky((x + x.transpose(-1, -2)) * 0.5),
        "Einsum": lambda *xs: torch.einsum(op.subscripts, *xs),
    }
    if name in linalg_twins:
        return linalg_twins[name]
    shape_twins = {
        "Squeeze": lambda x: x.squeeze() if op.axis is None else x.squeeze(op.axis),
        "ExpandDims": lambda x: x.unsqueeze(op.axis),
        "Ravel": lambda x: x.reshape(-1),
        "Flip": lambda x: x.flip(tuple(range(x.ndim)) if op.axis is None else (op.axis,)),
        "Roll": lambda x: torch.roll(x, op.shift, op.axis),
        "SwapAxes": lambda x: x.swapaxes(op.axis1, op.axis2),
        "MoveAxis": lambda x: x.movedim(op.source, op.destination),
        "Tile": lambda x: torch.tile(x, op.reps) if op.reps else x.clone(),
        "Repeat": lambda x: torch.repeat_interleave(x, op.repeats if isinstance(op.repeats, int) else
                                                    torch.tensor(op.repeats, dtype=torch.long), op.axis),
        "Pad": lambda x: F.pad(x, [w for pair in reversed(op.pad_width) for w in pair], value=op.constant_values),
    }
    if name in shape_twins:
        return shape_twins[name]
    if name == "CumSum":
        return lambda x: x.reshape(-1).cumsum(0) if op.axis is None else torch.cumsum(x, dim=op.axis)
    if name == "CumProd":
        return lambda x: x.reshape(-1).cumprod(0) if op.axis is None else torch.cumprod(x, dim=op.axis)
    if name == "Softmax":
        return lambda x: torch.softmax(x, dim=op.axis)
    if name == "LogSoftmax":
        return lambda x: torch.log_softmax(x, dim=op.axis)
    if name == "Reshape":
        return lambda x: x.reshape(op.shape)
    if name == "Transpose":
        return lambda x: x.permute(op.axes if op.axes is not None else tuple(reversed(range(x.ndim))))
    if name == "GetItem":
        # PyTorch has no negative slice steps, so index the flattened tensor with the positions
        # NumPy selects: an advanced index whose backward accumulates repeats, like ours must.
        def getitem(x):
            positions = np.arange(x.numel()).reshape(tuple(x.shape))[op.index]
            return x.reshape(-1)[torch.as_tensor(np.array(positions, order="C", copy=True))]  # 0-d stays 0-d

        return getitem
    if name == "ToDevice":
        return lambda x: x.to("cpu") * 1  # a copy on the CPU
    if name in ("SlidingWindows", "FoldWindows"):  # PyTorch's unfold/fold hold the windows as (N, C·kh·kw, L)
        return _torch_windows(op, torch)
    if name == "ScatterAdd":  # PyTorch's index_add over the flattened positions NumPy's index selects
        def scatter_add(x):
            positions = np.arange(int(np.prod(op.shape))).reshape(op.shape)[op.index]
            flat = torch.zeros(int(np.prod(op.shape)), dtype=x.dtype)
            return flat.index_add(0, torch.as_tensor(np.array(positions).reshape(-1)), x.reshape(-1)).reshape(op.shape)

        return scatter_add
    if name == "BroadcastTo":
        return lambda x: torch.broadcast_to(x, op.shape)
    if name == "Concatenate":
        return lambda *xs: torch.cat(xs, dim=op.axis)
    if name == "Stack":
        return lambda *xs: torch.stack(xs, dim=op.axis)
    raise AssertionError(f"no PyTorch counterpart written for {name}")


def _torch_windows(op, torch):
    """SlidingWindows through torch's unfold, FoldWindows through its fold: the leading axes flattened into
    the batch axis (one channel), and the windows laid out as ours, (..., Ho, Wo, kh, kw)."""
    F = torch.nn.functional
    kernel, stride, dilation = op.kernel, op.stride, op.dilation

    def sliding(x):
        lead, (h, w) = x.shape[:-2], x.shape[-2:]
        ho = (h - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
        wo = (w - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
        cols = F.unfold(x.reshape(-1, 1, h, w), kernel, dilation=dilation, stride=stride)
        return cols.reshape(*lead, *kernel, ho, wo).movedim((-4, -3), (-2, -1))

    def fold(x):
        lead, (ho, wo) = x.shape[:-4], x.shape[-4:-2]
        cols = x.movedim((-2, -1), (-4, -3)).reshape(-1, kernel[0] * kernel[1], ho * wo)
        return F.fold(cols, op.size, kernel, dilation=dilation, stride=stride).reshape(*lead, *op.size)

    return sliding if type(op).__name__ == "SlidingWindows" else fold


def compare_with_torch(case, torch, seed: int = 0) -> None:
    tensors = [cr.tensor(x, requires_grad=True) if is_float(x) else x for x in case.inputs]
    leaves = [torch.tensor(x, requires_grad=True) if is_float(x) else x for x in case.inputs]
    y = case.fn(*tensors)
    yt = torch_version(case.op, torch)(*leaves)
    close(y.data, yt, f"{case!r}: forward")
    upstream = np.random.default_rng(seed).standard_normal(y.shape)
    y.backward(upstream)
    yt.backward(torch.as_tensor(upstream))
    for i, (mine, theirs) in enumerate(zip(tensors, leaves)):
        if isinstance(mine, cr.Tensor):
            close(mine.grad, theirs.grad, f"{case!r}: gradient of input {i}")


@pytest.mark.parametrize("name", sorted(CASES))
@oracle_settings(12)
@given(data=st.data())
def test_op_matches_torch(name, data, torch):
    compare_with_torch(data.draw(CASES[name], label=name), torch, seed=data.draw(st.integers(0, 2**16)))


@pytest.mark.parametrize("kind", MATMUL_KINDS)
@oracle_settings(8)
@given(data=st.data())
def test_matmul_matches_torch(kind, data, torch):
    """Vectors, matrices and broadcast batches, each case on its own."""
    compare_with_torch(data.draw(matmul_case(kind)), torch)


def test_matmul_batched_broadcasting_matches_torch(torch):
    rng = np.random.default_rng(7)
    for sa, sb in [((2, 1, 3, 4), (5, 4, 2)), ((4,), (3, 4, 2)), ((2, 3, 4), (4,)), ((1, 3, 4), (2, 1, 4, 5))]:
        case_inputs = [rng.standard_normal(sa), rng.standard_normal(sb)]
        a, b = (cr.tensor(x, requires_grad=True) for x in case_inputs)
        at, bt = (torch.tensor(x, requires_grad=True) for x in case_inputs)
        y, yt = cr.matmul(a, b), torch.matmul(at, bt)
        close(y.data, yt, f"{sa} @ {sb}")
        (y * y).sum().backward()
        (yt * yt).sum().backward()
        close(a.grad, at.grad, f"{sa} @ {sb}: da")
        close(b.grad, bt.grad, f"{sa} @ {sb}: db")


@pytest.mark.parametrize("subscripts, shapes", [
    ("ii->", [(3, 3)]), ("ii", [(3, 3)]), ("ii->i", [(4, 4)]), ("iij->j", [(3, 3, 2)]), ("iii->i", [(3, 3, 3)]),
    ("iji,j->i", [(3, 2, 3), (2,)]), ("ii,jj->ij", [(2, 2), (3, 3)]), ("...ii->...i", [(2, 3, 3)]),
    ("ijj,jk->ik", [(2, 3, 3), (3, 4)]), ("bii,bi->b", [(2, 3, 3), (2, 3)]),
])
def test_einsum_with_a_repeated_index_matches_torch(subscripts, shapes, torch):
    """A diagonal in the subscripts: the values, and the gradients put back on the diagonal, as PyTorch's."""
    rng = np.random.default_rng(len(subscripts))
    compare_with_torch(Case(ops.Einsum(subscripts), lambda *ts: cr.einsum(subscripts, *ts),
                            [rng.standard_normal(s) for s in shapes]), torch)


def test_softplus_and_log_softmax_match_torch_over_a_wide_range(torch):
    x = np.linspace(-40.0, 40.0, 81).reshape(9, 9)
    up = np.random.default_rng(3).standard_normal(x.shape)
    for mine, theirs in [
        (cr.softplus, lambda t: torch.nn.functional.softplus(t, threshold=100.0)),  # no linear cut-off at 20
        (lambda t: cr.log_softmax(t, axis=0), lambda t: torch.log_softmax(t, dim=0)),
        (lambda t: cr.logsumexp(t, axis=1), lambda t: torch.logsumexp(t, dim=1)),
        (lambda t: cr.softmax(t * 20, axis=-1), lambda t: torch.softmax(t * 20, dim=-1)),
    ]:
        a, at = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        with strict_floats():
            y = mine(a)
            upstream = up[0] if y.ndim == 1 else up
            y.backward(upstream)
        yt = theirs(at)
        yt.backward(torch.as_tensor(upstream))
        close(y.data, yt, "forward")
        close(a.grad, at.grad, "gradient")


def test_ties_split_like_torch(torch):
    """Our documented tie rule is PyTorch's: amax/amin and maximum/minimum share equally."""
    x = np.array([[2.0, 2.0, 1.0], [0.0, 0.0, 0.0]])
    for mine, theirs in [
        (lambda t: cr.max(t, axis=1), lambda t: torch.amax(t, dim=1)),
        (lambda t: cr.min(t), lambda t: torch.amin(t)),
        (lambda t: cr.maximum(t, t[0]), lambda t: torch.maximum(t, t[0])),
        (lambda t: cr.minimum(t[1:], 0.0), lambda t: torch.minimum(t[1:], torch.zeros(()))),
    ]:
        a, at = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, yt = mine(a), theirs(at)
        (y * 3).sum().backward()
        (yt * 3).sum().backward()
        np.testing.assert_array_equal(a.grad, at.grad.numpy())


# ------------------------------------------------------------------------------------
# 2. Random expression graphs, evaluated by chainrule and by PyTorch
# ------------------------------------------------------------------------------------

MIN_DEPTH = 12
MAX_SIZE = 48  # keeps every intermediate small


@dataclass
class Node:
    c: cr.Tensor  # the value in chainrule
    t: object  # the same value in PyTorch
    depth: int  # ops on the longest path from a leaf

    @property
    def shape(self) -> tuple[int, ...]:
        return self.c.shape


def fits(shape) -> bool:
    return len(shape) <= 3 and int(np.prod(shape)) <= MAX_SIZE


class GraphBuilder:
    """Grows one expression graph in both libraries at once.

    A pool holds every live value (leaves and intermediates). Each step applies an op to
    the newest value (so the graph gets one op deeper) and, for binary ops, to an
    operand picked from the whole pool, so earlier intermediates are reused on new paths.
    Hypothesis draws every choice; NumPy (seeded by hypothesis) draws the numbers.
    """

    def __init__(self, torch, data, rng: np.random.Generator):
        self.torch, self.data, self.rng = torch, data, rng
        self.pool: list[Node] = []
        self.leaves: list[Node] = []
        self.program: list[str] = []

    # -- helpers ----------------------------------------------------------------------
    def draw(self, strategy, label=None):
        return self.data.draw(strategy, label=label)

    def leaf(self, shape, scale: float = 1.0) -> Node:
        x = self.rng.standard_normal(shape) * scale
        node = Node(cr.tensor(np.array(x), requires_grad=True), self.torch.tensor(np.array(x), requires_grad=True), 0)
        self.leaves.append(node)
        self.pool.append(node)
        return node

    def pick(self, nodes: list[Node]) -> Node:
        return nodes[self.draw(st.integers(0, len(nodes) - 1))]

    def push(self, c, t, *inputs: Node, what: str) -> Node:
        node = Node(c, t, 1 + max(n.depth for n in inputs))
        self.pool.append(node)
        self.program.append(f"v{len(self.pool) - 1} = {what}  # shape {node.shape}")
        return node

    def axis_args(self, ndim: int):
        kind = self.draw(st.sampled_from(["none", "int", "tuple"]))
        if kind == "none":
            axis = None
        elif kind == "int":
            axis = self.draw(st.integers(-ndim, ndim - 1))
        else:
            axis = tuple(self.draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))
        keepdims = self.draw(st.booleans())
        torch_dims = tuple(range(ndim)) if axis is None else axis
        return axis, keepdims, torch_dims

    # -- one step ---------------------------------------------------------------------
    def step(self) -> Node:
        v = self.pool[-1]
        choices = self.applicable(v)
        kind = self.draw(st.sampled_from(sorted(choices)), label="op")
        node = choices[kind](v)
        if np.abs(node.c.data).max(initial=0.0) > 3.0:  # keep values bounded: exp of bounded values only
            node = self.push(cr.tanh(node.c), self.torch.tanh(node.t), node, what=f"tanh(v{len(self.pool) - 1})")
        return node

    def applicable(self, v: Node) -> dict:
        torch = self.torch
        ref = f"v{len(self.pool) - 1}"
        choices = {}

        def unary(name, fc, ft, shown="{}"):
            choices[name] = lambda v: self.push(fc(v.c), ft(v.t), v, what=f"{name}({shown.format(ref)})")

        unary("tanh", cr.tanh, torch.tanh)
        unary("sigmoid", cr.sigmoid, torch.sigmoid)
        unary("exp", cr.exp, torch.exp)
        unary("softplus", cr.softplus, torch.nn.functional.softplus)  # |x| <= 3: below torch's cut-off at 20
        unary("log", lambda x: cr.log(x * x + 0.5), lambda x: torch.log(x * x + 0.5), "{0}*{0} + 0.5")
        unary("sqrt", lambda x: cr.sqrt(x * x + 0.25), lambda x: torch.sqrt(x * x + 0.25), "{0}*{0} + 0.25")
        unary("pow", lambda x: cr.power(x * x + 1.0, 1.5), lambda x: (x * x + 1.0) ** 1.5, "{0}*{0} + 1, 1.5")
        unary("square", cr.square, torch.square)
        unary("neg", cr.neg, torch.neg)

        compatible = [w for w in self.pool if self._broadcasts(v.shape, w.shape)]
        for name, fc, ft in [
            ("add", cr.add, torch.add),
            ("sub", cr.sub, torch.sub),
            ("mul", cr.mul, torch.mul),
            ("div", lambda a, b: a / (1.5 + cr.tanh(b)), lambda a, b: a / (1.5 + torch.tanh(b))),
        ]:
            choices[name] = self._binary(name, fc, ft, compatible, ref)
        choices["where"] = self._where(compatible, ref)

        if v.c.ndim >= 1:
            n = v.shape[-1]
            partners = [w for w in self.pool if w.c.ndim >= 1 and w.shape[-1] == n and self._matmul_fits(v, w)]
            if partners:
                choices["matmul_pool"] = self._matmul_pool(partners, ref)
            choices["matmul_leaf"] = self._matmul_leaf(ref)
            for name, fc, ft in [("sum", cr.sum, torch.sum), ("mean", cr.mean, torch.mean),
                                 ("logsumexp", cr.logsumexp, torch.logsumexp)]:
                choices[name] = self._reduce(name, fc, ft, ref)
            for name, fc, ft in [("softmax", cr.softmax, torch.softmax),
                                 ("log_softmax", cr.log_softmax, torch.log_softmax)]:
                choices[name] = self._softmax(name, fc, ft, ref)
            choices["getitem"] = self._getitem(ref)
            choices["reshape"] = lambda v: self.push(
                cr.reshape(v.c, v.shape[::-1]), v.t.reshape(v.shape[::-1]), v, what=f"reshape({ref}, {v.shape[::-1]})"
            )
            same = [w for w in self.pool if w.shape == v.shape]
            if fits((2 * v.shape[0],) + v.shape[1:]):
                choices["concatenate"] = self._join("concatenate", same, ref)
            if fits((2,) + v.shape):
                choices["stack"] = self._join("stack", same, ref)
        if v.c.ndim >= 2:
            choices["transpose"] = self._transpose(ref)
        if fits((2,) + v.shape):
            choices["broadcast_to"] = lambda v: self.push(
                cr.broadcast_to(v.c, (2,) + v.shape), torch.broadcast_to(v.t, (2,) + v.shape), v,
                what=f"broadcast_to({ref}, {(2,) + v.shape})",
            )
        return choices

    @staticmethod
    def _broadcasts(a, b) -> bool:
        try:
            return fits(np.broadcast_shapes(a, b))
        except ValueError:
            return False

    @staticmethod
    def _matmul_fits(v: Node, w: Node) -> bool:
        wt = w.shape if len(w.shape) == 1 else w.shape[:-2] + (w.shape[-1], w.shape[-2])
        try:
            return fits(np.matmul(np.zeros(v.shape), np.zeros(wt)).shape)
        except ValueError:
            return False

    def _binary(self, name, fc, ft, compatible, ref):
        def apply(v):
            w = self.pick(compatible)
            a, b = (w, v) if self.draw(st.booleans()) else (v, w)
            second = f"1.5 + tanh({self._name(b)})" if name == "div" else self._name(b)
            shown = f"{self._name(a)}, {second}"
            return self.push(fc(a.c, b.c), ft(a.t, b.t), a, b, what=f"{name}({shown})")

        return apply

    def _where(self, compatible, ref):
        def apply(v):
            w = self.pick(compatible)
            mask = self.rng.random(np.broadcast_shapes(v.shape, w.shape)) > 0.5
            c = cr.where(mask, v.c, w.c)
            t = self.torch.where(self.torch.as_tensor(mask), v.t, w.t)
            return self.push(c, t, v, w, what=f"where(mask, {ref}, {self._name(w)})")

        return apply

    def _matmul_pool(self, partners, ref):
        def apply(v):
            w = self.pick(partners)
            if w.c.ndim == 1:
                c, t, how = cr.matmul(v.c, w.c), self.torch.matmul(v.t, w.t), self._name(w)
            else:
                perm = tuple(range(w.c.ndim - 2)) + (w.c.ndim - 1, w.c.ndim - 2)
                c = cr.matmul(v.c, cr.transpose(w.c, perm))
                t = self.torch.matmul(v.t, w.t.transpose(-1, -2))
                how = f"{self._name(w)}.T"
            return self.push(c, t, v, w, what=f"{ref} @ {how}")

        return apply

    def _matmul_leaf(self, ref):
        def apply(v):
            n = v.shape[-1]
            k = self.draw(st.integers(1, 4))
            if not fits(v.shape[:-1] + (k,)):
                k = 1
            w = self.leaf((n, k), scale=1 / np.sqrt(max(n, 1)))
            return self.push(cr.matmul(v.c, w.c), self.torch.matmul(v.t, w.t), v, w,
                             what=f"{ref} @ {self._name(w)}")

        return apply

    def _reduce(self, name, fc, ft, ref):
        def apply(v):
            axis, keepdims, dims = self.axis_args(v.c.ndim)
            return self.push(fc(v.c, axis=axis, keepdims=keepdims), ft(v.t, dim=dims, keepdim=keepdims), v,
                             what=f"{name}({ref}, axis={axis}, keepdims={keepdims})")

        return apply

    def _softmax(self, name, fc, ft, ref):
        def apply(v):
            axis = self.draw(st.integers(-v.c.ndim, v.c.ndim - 1))
            return self.push(fc(v.c, axis=axis), ft(v.t, dim=axis), v, what=f"{name}({ref}, axis={axis})")

        return apply

    def _getitem(self, ref):
        def apply(v):
            n = v.shape[0]
            if self.draw(st.booleans()):  # an integer array with repeats: gradients must accumulate
                most = max(1, min(5, MAX_SIZE // max(1, v.c.size // n)))  # rows for which the result fits
                index = self.rng.integers(-n, n, size=self.draw(st.integers(1, most)))
                c, t = v.c[index], v.t[self.torch.as_tensor(index)]
                what = f"{ref}[{index.tolist()}]"
            else:
                start = self.draw(st.integers(0, n - 1))
                c, t = v.c[start::2], v.t[start::2]
                what = f"{ref}[{start}::2]"
            if c.size == 0:  # cannot happen with start < n, but never keep an empty value
                raise AssertionError(what)
            return self.push(c, t, v, what=what)

        return apply

    def _join(self, name, same, ref):
        def apply(v):
            w = self.pick(same)
            nd = v.c.ndim
            if name == "concatenate":
                c, t = cr.concatenate([v.c, w.c], axis=0), self.torch.cat([v.t, w.t], dim=0)
            else:
                axis = self.draw(st.integers(-nd - 1, nd))
                c, t = cr.stack([v.c, w.c], axis=axis), self.torch.stack([v.t, w.t], dim=axis)
            return self.push(c, t, v, w, what=f"{name}([{ref}, {self._name(w)}])")

        return apply

    def _transpose(self, ref):
        def apply(v):
            perm = tuple(self.draw(st.permutations(range(v.c.ndim))))
            return self.push(cr.transpose(v.c, perm), v.t.permute(perm), v, what=f"transpose({ref}, {perm})")

        return apply

    def _name(self, node: Node) -> str:
        for i, n in enumerate(self.pool):
            if n is node:
                return f"v{i}"
        raise AssertionError("node not in the pool")


LEAF_SHAPES = st.sampled_from(["ab", "b", "a1", "1b", "", "cab", "ba"])


@oracle_settings(30)
@given(data=st.data())
def test_random_graphs_match_torch(data, torch):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    sizes = {"a": data.draw(st.integers(1, 4)), "b": data.draw(st.integers(1, 4)), "c": 2, "1": 1}
    builder = GraphBuilder(torch, data, rng)
    for pattern in data.draw(st.lists(LEAF_SHAPES, min_size=2, max_size=4), label="leaves"):
        builder.leaf(tuple(sizes[ch] for ch in pattern))
    for _ in range(data.draw(st.integers(MIN_DEPTH, MIN_DEPTH + 6), label="steps")):
        builder.step()
    assert builder.pool[-1].depth >= MIN_DEPTH

    # The output: every live value, weighted and summed. Each intermediate is thus used by
    # the next step and by the output (several paths), and earlier ones by later operands.
    out_c, out_t = None, None
    for node in builder.pool:
        weight = rng.standard_normal(node.shape)
        term_c, term_t = (node.c * weight).sum(), (node.t * torch.as_tensor(weight)).sum()
        out_c = term_c if out_c is None else out_c + term_c
        out_t = term_t if out_t is None else out_t + term_t
    program = "\n".join(builder.program)
    close(out_c.data, out_t, f"output of\n{program}", atol=1e-10)
    out_c.backward()
    out_t.backward()
    for i, leaf in enumerate(builder.leaves):
        assert leaf.c.grad is not None and leaf.t.grad is not None
        close(leaf.c.grad, leaf.t.grad, f"gradient of leaf {i} in\n{program}")


def test_a_fixed_deep_graph_with_reuse_matches_torch(torch):
    """A hand-written graph with an intermediate on four paths: a regression anchor for the random ones."""
    rng = np.random.default_rng(11)
    X, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)

    def run(lib, X, W, b):  # chainrule and torch share these names and positional axes
        h = lib.tanh(lib.matmul(X, W) + b)  # h is reused below on four paths
        g = lib.sigmoid(h) * h - h / (1.5 + lib.tanh(h))
        r = lib.logsumexp(h * lib.mean(g, 0), 1)
        return (lib.softmax(g, -1) * h).sum() + (r * r).sum() + (h.exp() * 0.1).sum()

    leaves_c = [cr.tensor(x, requires_grad=True) for x in (X, W, b)]
    leaves_t = [torch.tensor(x, requires_grad=True) for x in (X, W, b)]
    yc, yt = run(cr, *leaves_c), run(torch, *leaves_t)
    close(yc.data, yt, "output")
    yc.backward()
    yt.backward()
    for name, c, t in zip("XWb", leaves_c, leaves_t):
        close(c.grad, t.grad, f"d/d{name}")
