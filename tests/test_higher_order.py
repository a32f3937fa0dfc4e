"""Derivatives of derivatives (issue 15): ``create_graph=True``, for every op.

1. Every op, on the hypothesis cases of ``test_ops.py`` and on cases of the fused nn ops:
   the recorded first derivatives, the second derivatives (a Hessian-vector product) and
   the mixed derivative with respect to the upstream gradient equal PyTorch's double
   backward to 1e-10 (float64).
2. ``gradgradcheck`` passes on every op: the recorded backward's own backward against
   finite differences of it.
3. The engine's contract: a user's op that cannot record its backward says so by name;
   higher orders; the arguments of ``grad`` and ``backward`` with PyTorch's meaning.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import ops
from chainrule.errors import GraphError
from chainrule.nn.linear import LinearRegressionOp
from chainrule.nn.losses import SquaredErrorOp
from chainrule.ops.base import Op
from test_ops import CASES, Case, is_float
from test_oracle import torch_version

RTOL, ATOL = 1e-10, 1e-10


def oracle_settings(max_examples: int):
    return settings(max_examples=max_examples, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _close(ours, theirs, what: str) -> None:
    theirs = theirs.detach().numpy(force=True) if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = np.asarray(ours._data if isinstance(ours, cr.Tensor) else ours)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs PyTorch {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=what)


def _or_zeros(g, like):
    return np.zeros(np.shape(like)) if g is None else g


class Cube(Op):
    """y = x**3;  dy/dx = 3x²: a user's op whose backward has no recorded form."""

    arity = 1
    fresh_grads = True
    saves = ("x",)

    def forward(self, x):
        self.saved = (x,)
        return x**3

    def backward(self, upstream):
        (x,) = self.saved
        return (upstream * 3 * x**2,)


# ------------------------------------------------------------------------------------
# 1. Second derivatives against PyTorch's double backward
# ------------------------------------------------------------------------------------


def compare_double_backward(fn, torch_fn, inputs: list, torch, seed: int, what: str) -> None:
    """First derivatives recorded with an upstream U that requires grad, then the gradient of
    Σ <g_i, v_i> with respect to every input and to U: second derivatives (H v) and J v."""
    rng = np.random.default_rng(seed)
    floats = [i for i, x in enumerate(inputs) if is_float(x)]
    ts = [cr.tensor(x, requires_grad=True) if is_float(x) else x for x in inputs]
    tt = [torch.tensor(x, requires_grad=True) if is_float(x) else x for x in inputs]
    y, yt = fn(*ts), torch_fn(*tt)
    u = rng.standard_normal(y.shape)
    vs = [rng.standard_normal(np.shape(inputs[i])) for i in floats]
    U, Ut = cr.tensor(u, requires_grad=True), torch.tensor(u, requires_grad=True)
    wrt, wrt_t = [ts[i] for i in floats], [tt[i] for i in floats]
    gs = cr.grad(y, wrt, grad_outputs=U, create_graph=True, allow_unused=True)
    gts = torch.autograd.grad(yt, wrt_t, grad_outputs=Ut, create_graph=True, allow_unused=True)
    for i, g, gt in zip(floats, gs, gts):
        _close(_or_zeros(g, inputs[i]), _or_zeros(gt, inputs[i]), f"{what}: first derivative, input {i}")
    terms = [(g * v).sum() for g, v in zip(gs, vs) if g is not None and g.requires_grad]
    terms_t = [(g * torch.as_tensor(v)).sum() for g, v in zip(gts, vs) if g is not None and g.requires_grad]
    ours = [None] * (len(floats) + 1)
    theirs = [None] * (len(floats) + 1)
    if terms:
        ours = cr.grad(sum(terms[1:], terms[0]), [*wrt, U], allow_unused=True)
    if terms_t:
        theirs = torch.autograd.grad(sum(terms_t[1:], terms_t[0]), [*wrt_t, Ut], allow_unused=True)
    shapes = [np.shape(inputs[i]) for i in floats] + [y.shape]
    names = [f"input {i}" for i in floats] + ["the upstream"]
    for name, shape, a, b in zip(names, shapes, ours, theirs):
        _close(_or_zeros(a, np.zeros(shape)), _or_zeros(b, np.zeros(shape)),
               f"{what}: second derivative (Hessian-vector product) with respect to {name}")


@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(CASES))
@oracle_settings(10)
@given(data=st.data())
def test_every_op_differentiates_twice_as_torch(name, data, torch):
    case = data.draw(CASES[name], label=name)
    compare_double_backward(case.fn, torch_version(case.op, torch), case.inputs, torch,
                            data.draw(st.integers(0, 2**16)), repr(case))


def _nn_cases(rng) -> dict:
    """The ops outside the core modules, each with its PyTorch twin: (make inputs, ours, theirs)."""
    x = rng.standard_normal((5, 3))
    w = rng.standard_normal((4, 3))
    b = rng.standard_normal(4)
    z = rng.standard_normal((6, 4))
    index = np.array([0, 3, 1, 1, 2, 3])
    ignored = np.array([0, -100, 1, 1, 2, -100])
    probs = rng.dirichlet(np.ones(4), size=6)
    X = rng.standard_normal((7, 3))
    W = rng.standard_normal((1, 3))
    b1 = rng.standard_normal(1)
    p, t = rng.standard_normal(7), rng.standard_normal(7)

    def sce(reduction="mean", label_smoothing=0.0):
        return lambda z_, y_: ops.SoftmaxCrossEntropy.apply(z_, y_, reduction=reduction,
                                                            label_smoothing=label_smoothing)

    def torch_sce(torch, **kw):
        return lambda z_, y_: torch.nn.functional.cross_entropy(z_, torch.as_tensor(y_), **kw)

    return {
        "GELU": ([rng.standard_normal(9) * 2], lambda v: ops.GELU.apply(v),
                 lambda T: lambda v: T.nn.functional.gelu(v)),
        "GELU(tanh)": ([rng.standard_normal(9) * 2], lambda v: ops.GELU.apply(v, approximate="tanh"),
                       lambda T: lambda v: T.nn.functional.gelu(v, approximate="tanh")),
        "NormalCDF": ([rng.standard_normal(9) * 2], lambda v: ops.NormalCDF.apply(v),
                      lambda T: lambda v: T.special.ndtr(v)),
        "Dropout(mask)": ([rng.standard_normal(8)],
                          lambda v: ops.Dropout.apply(v, p=0.25, mask=np.arange(8) % 3 != 0),
                          lambda T: lambda v: v * T.as_tensor((np.arange(8) % 3 != 0) / 0.75)),
        "Linear": ([x, w, b], lambda *a: ops.Linear.apply(*a), lambda T: T.nn.functional.linear),
        "Linear(no bias, 3-d)": ([rng.standard_normal((2, 5, 3)), w], lambda *a: ops.Linear.apply(*a),
                                 lambda T: T.nn.functional.linear),
        "SoftmaxCrossEntropy(mean)": ([z, index], sce(), lambda T: torch_sce(T)),
        "SoftmaxCrossEntropy(sum, 0.1)": ([z, index], sce("sum", 0.1),
                                          lambda T: torch_sce(T, reduction="sum", label_smoothing=0.1)),
        "SoftmaxCrossEntropy(none)": ([z, index], sce("none"), lambda T: torch_sce(T, reduction="none")),
        "SoftmaxCrossEntropy(ignore_index)": ([z, ignored], sce(), lambda T: torch_sce(T)),
        "SoftmaxCrossEntropy(probabilities, 0.1)": ([z, probs], sce("mean", 0.1),
                                                    lambda T: torch_sce(T, label_smoothing=0.1)),
        "SoftmaxCrossEntropy(one row)": ([z[0], np.array(2)], sce(), lambda T: torch_sce(T)),
        "LinearRegressionOp": ([X, W, b1], lambda *a: LinearRegressionOp.apply(*a),
                               lambda T: lambda X_, W_, b_: X_ @ W_[0] + b_[0]),
        "SquaredErrorOp(sum)": ([p, t], lambda *a: SquaredErrorOp.apply(*a, reduction="sum"),
                                lambda T: lambda p_, t_: ((p_ - t_) ** 2).sum()),
        "SquaredErrorOp(mean)": ([p, t], lambda *a: SquaredErrorOp.apply(*a, reduction="mean"),
                                 lambda T: lambda p_, t_: ((p_ - t_) ** 2).mean()),
        "SquaredErrorOp(none)": ([p, t], lambda *a: SquaredErrorOp.apply(*a, reduction="none"),
                                 lambda T: lambda p_, t_: (p_ - t_) ** 2),
    }


NN_CASES = sorted(_nn_cases(np.random.default_rng(0)))


@pytest.mark.oracle
@pytest.mark.parametrize("name", NN_CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_nn_ops_differentiate_twice_as_torch(name, seed, torch):
    inputs, ours, theirs = _nn_cases(np.random.default_rng(seed))[name]
    compare_double_backward(ours, theirs(torch), inputs, torch, seed, name)


# ------------------------------------------------------------------------------------
# 2. gradgradcheck on every op
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_gradgradcheck_passes_on_every_op(name, data):
    case: Case = data.draw(CASES[name], label=name)
    result = cr.gradgradcheck(case.fn if case.symmetric else case.op, case.inputs, atol=1e-5, rtol=1e-4)
    assert result, result.report()


@pytest.mark.parametrize("name", NN_CASES)
def test_gradgradcheck_passes_on_the_nn_ops(name):
    inputs, ours, _ = _nn_cases(np.random.default_rng(3))[name]
    result = cr.gradgradcheck(ours, inputs, atol=1e-5, rtol=1e-4)
    assert result, result.report()


def test_every_registered_op_records_its_backward():
    """No built-in op is left with the default, which refuses: each declares backward_records or
    writes recorded_backward."""
    for name, cls in [*ops.BUILTIN.items(), ("LinearRegressionOp", LinearRegressionOp),
                      ("SquaredErrorOp", SquaredErrorOp)]:
        assert cls.backward_records or cls.recorded_backward is not Op.recorded_backward, name


def test_gradgradcheck_reports_a_wrong_second_derivative():
    class DetachedCube(Cube):
        """A recorded backward that cuts x off: its second derivative is lost."""

        def recorded_backward(self, upstream):
            (x,) = self.saved
            return (upstream * 3 * x.detach() ** 2,)

    x = np.array([0.5, -1.5, 2.0])
    assert cr.gradcheck(DetachedCube, [x])  # first derivatives are right
    result = cr.gradgradcheck(DetachedCube, [x])
    assert not result
    report = result.report()
    assert "second derivatives of" in report and "MISMATCH" in report and "input 0" in report
    with pytest.raises(cr.GradcheckError):
        cr.gradgradcheck(DetachedCube, [x], raise_on_failure=True)


# ------------------------------------------------------------------------------------
# 3. The engine's contract
# ------------------------------------------------------------------------------------


def test_a_users_op_without_a_recorded_backward_is_named_under_create_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (g,) = cr.grad(Cube.apply(x).sum(), x)  # first derivatives as ever
    np.testing.assert_allclose(g, [3.0, 12.0])
    with pytest.raises(GraphError, match=r"'cube' \(Cube\) cannot be recorded.*backward_records = True"):
        cr.grad(Cube.apply(x).sum(), x, create_graph=True)


def test_a_users_op_that_declares_backward_records_is_differentiated_twice():
    class RecordedCube(Cube):
        backward_records = True  # upstream * 3 * x**2: operators only, x saved under its own name

    x = cr.tensor([1.0, -2.0], requires_grad=True)
    (g,) = cr.grad(RecordedCube.apply(x).sum(), x, create_graph=True)
    (h,) = cr.grad(g.sum(), x)
    np.testing.assert_allclose(h, 6 * np.array([1.0, -2.0]))


@pytest.mark.parametrize("local, message", [
    (np.asarray, "turned into a NumPy array inside a recorded backward"),   # exp's derivative, cut off
    (np.cos, "recorded backward of op 'falseclaim' .*not NumPy functions"),  # a ufunc refuses a Tensor
])
def test_numpy_on_a_recorded_tensor_is_refused_not_silently_cut(local, message):
    class FalseClaim(Op):
        arity = 1
        saves = ("x",)
        backward_records = True  # a false claim: NumPy functions of a Tensor cannot be recorded

        def forward(self, x):
            self.saved = (x,)
            return np.exp(x)

        def backward(self, upstream):
            (x,) = self.saved
            return (upstream * local(x),)

    x = cr.tensor([0.5], requires_grad=True)
    with pytest.raises(GraphError, match=message):
        cr.grad(FalseClaim.apply(x).sum(), x, create_graph=True)


def test_third_and_fourth_derivatives():
    x = cr.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = (x**4).sum()
    g1 = cr.grad(y, x, create_graph=True)[0]
    g2 = cr.grad(g1.sum(), x, create_graph=True)[0]
    g3 = cr.grad(g2.sum(), x, create_graph=True)[0]
    g4 = cr.grad(g3.sum(), x)[0]
    v = x.numpy()
    np.testing.assert_allclose(g1._data, 4 * v**3)
    np.testing.assert_allclose(g2._data, 12 * v**2)
    np.testing.assert_allclose(g3._data, 24 * v)
    np.testing.assert_allclose(g4, 24 * np.ones(3))


@pytest.mark.oracle
def test_fourth_derivative_of_a_composite_equals_torch(torch):
    v = np.array([0.3, -0.7, 1.1])

    def f(lib, x):
        return (lib.tanh(x) * lib.exp(-x * x) + lib.sigmoid(x) ** 3).sum()

    x, xt = cr.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    g, gt = f(cr, x), f(torch, xt)
    for order in range(1, 5):
        (g,) = cr.grad(g.sum() if g.ndim else g, x, create_graph=True)
        (gt,) = torch.autograd.grad(gt.sum() if gt.ndim else gt, xt, create_graph=True)
        _close(g, gt, f"derivative of order {order}")


def test_backward_create_graph_makes_grad_a_tensor_in_the_graph():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x.exp() * x).sum().backward(create_graph=True)
    assert isinstance(x.grad, cr.Tensor) and x.grad.requires_grad
    first = x.grad._data.copy()
    np.testing.assert_allclose(first, np.exp([1, 2, 3]) * (1 + np.array([1, 2, 3])))
    x.grad.sum().backward()  # accumulates the second derivative into .grad, as PyTorch does
    np.testing.assert_allclose(x.grad._data, first + np.exp([1, 2, 3]) * (2 + np.array([1, 2, 3])))


def test_grad_arguments_follow_pytorch():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    unused = cr.tensor([3.0], requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(GraphError, match="input 1 .* was not used.*allow_unused=True"):
        cr.grad(y, [x, unused], retain_graph=True)
    gx, gu = cr.grad(y, [x, unused], retain_graph=True, allow_unused=True)
    assert gu is None and isinstance(gx, np.ndarray)
    _, gu = cr.grad(y, [x, unused], materialize_grads=True)
    np.testing.assert_array_equal(gu, [0.0])
    # several outputs in one pass, each with its own gradient
    a, b = x * 2, x.exp()
    (g,) = cr.grad([a, b], x, grad_outputs=[np.array([1.0, 0.0]), np.array([0.0, 1.0])])
    np.testing.assert_allclose(g, [2.0, np.exp(2.0)])
    # create_graph keeps the graph by default (retain_graph defaults to create_graph)
    y = (x**3).sum()
    (g,) = cr.grad(y, x, create_graph=True)
    (again,) = cr.grad(y, x)
    np.testing.assert_allclose(again, g._data)


def test_a_grad_outputs_tensor_is_part_of_the_recorded_graph():
    x = cr.tensor([0.5, 1.5], requires_grad=True)
    u = cr.tensor([2.0, -1.0], requires_grad=True)
    (g,) = cr.grad(x.exp(), x, grad_outputs=u, create_graph=True)  # g = u · exp(x)
    (du,) = cr.grad(g.sum(), u)
    np.testing.assert_allclose(du, np.exp([0.5, 1.5]))


def test_backward_inputs_limits_what_gets_a_gradient():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    h = a * b
    (h * h).sum().backward(inputs=[a, h])
    assert b.grad is None
    np.testing.assert_allclose(a.grad, 2 * (a.numpy() * b.numpy()) * b.numpy())
    np.testing.assert_allclose(h.grad, 2 * h.numpy())


def test_a_retained_first_pass_can_be_differentiated_again_and_freed_after():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x.tanh() ** 2).sum()
    (g,) = cr.grad(y, x, create_graph=True, retain_graph=False)  # as PyTorch: the old graph is freed
    with pytest.raises(GraphError, match="freed"):
        cr.grad(g.sum(), x)


def test_hooks_see_recorded_gradients():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(type(g)))
    (g,) = cr.grad((h * 3).sum(), x, create_graph=True)
    assert seen == [cr.Tensor]
    (gg,) = cr.grad(g.sum(), x)
    np.testing.assert_allclose(gg, [6.0, 6.0])


def test_no_grad_outside_does_not_stop_a_recorded_backward():
    x = cr.tensor([2.0], requires_grad=True)
    y = x**3
    with cr.no_grad():
        (g,) = cr.grad(y, x, create_graph=True)
    (h,) = cr.grad(g.sum(), x)
    np.testing.assert_allclose(h, [12.0])


# -- what the review found ------------------------------------------------------------------------


def test_a_saved_leaf_array_is_linked_whatever_its_name():
    """A user's op that saves its input under another name than forward's still gets it linked (by identity):
    its Hessian is not silently zero."""
    class RenamedCube(Cube):
        saves = ("inp",)  # not forward's name for it
        backward_records = True

    x = cr.tensor([0.3, 1.2], requires_grad=True)
    H = cr.func.hessian(lambda t: RenamedCube.apply(t).sum(), x)
    np.testing.assert_allclose(H.numpy(), np.diag([1.8, 7.2]), rtol=1e-12)


def test_a_leaf_whose_data_was_replaced_is_refused_under_create_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x**3).sum()
    x.data = np.array([10.0, 20.0])
    with pytest.raises(GraphError, match="leaf's data was replaced"):
        cr.grad(y, x, create_graph=True)


def test_duplicate_inputs_and_a_lone_grad_outputs():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    g1, g2 = cr.grad((x * x).sum(), [x, x])
    np.testing.assert_allclose(g1, [2.0, 4.0])
    np.testing.assert_allclose(g2, [2.0, 4.0])
    y = x * 3
    (g,) = cr.grad([y], [x], grad_outputs=cr.tensor(np.ones(2)))
    np.testing.assert_allclose(g, [3.0, 3.0])
    (x * x).sum().backward(inputs=[x, x])  # once, not twice
    np.testing.assert_allclose(x.grad, [2.0, 4.0])


def test_anomaly_mode_and_hooks_under_create_graph():
    x = cr.tensor([1.0, 4.0], requires_grad=True)
    h = x * x
    h.register_hook(lambda g: np.ones(2))  # an array back: a constant upstream
    with cr.detect_anomaly():
        (g,) = cr.grad((h * 3).sum(), x, create_graph=True)
    np.testing.assert_allclose(g._data, 2 * x.numpy())
    z = cr.tensor([0.0, 1.0], requires_grad=True)
    with cr.detect_anomaly(), pytest.raises(GraphError, match="recorded by the backward of Sqrt"):
        cr.grad(z.sqrt().sum(), z, create_graph=True)


def test_a_parameter_saved_by_an_op_is_linked_as_itself():
    """A Parameter (a Tensor subclass) saved by an op is handed to the recorded backward as the very leaf."""
    from chainrule.graph import _linked_saved

    w = cr.nn.Parameter(np.array([0.5, -2.0]))
    y = w * w
    linked = _linked_saved(y._node, y._node.op.saved)
    assert linked[0] is w and linked[1] is w
    (g,) = cr.grad((y * w).sum(), w, create_graph=True)
    (h,) = cr.grad(g.sum(), w)
    np.testing.assert_allclose(h, 6 * w.numpy())
