"""The ops on arrays other than NumPy's, through the Python array API standard (issue 17).

Every op test case runs on ``array-api-strict`` arrays, a minimal implementation that refuses
anything outside the standard: an op that declares ``array_api = True`` must give the same values
and gradients as on NumPy, by hand and through the graph, and hand back array-api-strict arrays (a
NumPy call inside it would return NumPy's); an op that does not declare it must refuse such arrays
with one clear error naming it. So a NumPy-only call slipping into a declared op fails here, on a
machine with no GPU.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import ops
from chainrule.errors import DTypeError
from test_ops import CASES, Case

xs = pytest.importorskip("array_api_strict")

strict_settings = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def strict(x):
    return xs.asarray(np.asarray(x))


def is_strict(x) -> bool:
    return type(x).__module__.split(".")[0] == "array_api_strict"


def close(got, want, what: str) -> None:
    assert is_strict(got), f"{what}: a {type(got).__name__}, not an array-api-strict array (a NumPy call leaked)"
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-12, err_msg=what)


def upstream_for(out) -> np.ndarray:
    return np.random.default_rng(1).standard_normal(np.shape(out)).astype(np.result_type(out))


def run_by_hand(case: Case) -> None:
    """forward and backward on array-api-strict arrays, against the same on NumPy's."""
    on_numpy, on_strict = copy.deepcopy(case.op), copy.deepcopy(case.op)
    out = on_numpy.forward(*case.inputs)
    got = on_strict.forward(*[strict(x) for x in case.inputs])
    close(got, out, f"{case.op.describe()} forward")
    up = upstream_for(out)
    want = on_numpy.backward(up)
    for k, (g, w) in enumerate(zip(on_strict.backward(strict(up)), want)):
        if w is not None:
            close(g, w, f"{case.op.describe()} backward, input {k}")


def run_in_graph(case: Case) -> None:
    """The same through Tensors: the result and every gradient stay array-api-strict arrays."""
    floats = [np.asarray(x).dtype.kind == "f" for x in case.inputs]
    mine = [cr.Tensor(strict(x), requires_grad=f) for x, f in zip(case.inputs, floats)]
    ref = [cr.Tensor(np.asarray(x), requires_grad=f) for x, f in zip(case.inputs, floats)]
    y, y_ref = case.fn(*mine), case.fn(*ref)
    close(y.data, y_ref.data, f"{case.op.describe()} through the graph")
    up = upstream_for(y_ref.data)
    y.backward(strict(up))
    y_ref.backward(up)
    for k, (t, r) in enumerate(zip(mine, ref)):
        if r.grad is not None:
            close(t.grad, r.grad, f"{case.op.describe()} gradient of input {k} through the graph")


# ToDevice changes library on purpose: test_devices_of_tensors checks it
DECLARED = sorted(n for n in CASES if ops.REGISTRY[n].array_api and n != "ToDevice")


@pytest.mark.parametrize("name", DECLARED)
@strict_settings
@given(data=st.data())
def test_a_declared_op_runs_on_array_api_strict(name, data):
    case = data.draw(CASES[name], label=name)
    run_by_hand(case)
    run_in_graph(case)


def test_every_block_is_declared():
    """All of chainrule's blocks run on the standard's arrays (issue 17): none left on NumPy only."""
    assert [n for n, c in ops.REGISTRY.items() if not c.array_api] == []


def test_a_user_op_that_does_not_declare_it_refuses_them_clearly():
    class Cube(ops.Op):  # a user's block written with NumPy, not declared
        arity = 1

        def forward(self, x):
            self.saved = (x,)
            return np.power(x, 3)

        def backward(self, upstream):
            return (3 * np.power(self.saved[0], 2) * upstream,)

    x = cr.Tensor(strict([1.0, 2.0]), requires_grad=True)
    with pytest.raises(DTypeError, match=r"cube works on NumPy arrays only \(its class does not declare "
                                         r"array_api = True\), got arrays on array_api_strict:cpu_device"):
        Cube.apply(x)
    np.testing.assert_array_equal(Cube.apply(x.to("cpu")).numpy(), [1.0, 8.0])


def test_the_declared_set_grows_from_the_lecture_s_blocks():
    """What is declared so far (the list grows as ops are written on the standard)."""
    for name in ("Add", "Sub", "Mul", "Div", "Neg", "Square", "Identity", "MatMul", "Exp", "Log", "Sqrt", "Abs",
                 "Sin", "Cos"):
        assert ops.REGISTRY[name].array_api, name


def test_devices_of_tensors():
    t = cr.tensor([1.0, 2.0])
    assert t.device == "cpu" and t.to("cpu") is t
    s = cr.Tensor(xs.asarray([1.0, 2.0]), requires_grad=True)
    assert s.device.startswith("array_api_strict") and "device=" in repr(s)
    back = s.to("cpu")
    assert type(back.data) is np.ndarray
    (back * 3).sum().backward()
    assert is_strict(s.grad) and np.allclose(np.asarray(s.grad), 3.0)  # the gradient went back to its device
    np.testing.assert_array_equal(s.numpy(), [1.0, 2.0])


def test_mixing_devices_in_one_op_is_refused_naming_both():
    a = cr.Tensor(xs.asarray([1.0, 2.0]), requires_grad=True)
    b = cr.tensor([3.0, 4.0])
    with pytest.raises(DTypeError, match=r"mul: inputs on different devices \(array_api_strict:cpu_device, cpu\)"):
        a * b
    assert np.allclose((a.to("cpu") * b).numpy(), [3.0, 8.0])


def test_cuda_without_cupy_is_one_clear_line(hide_package):
    from chainrule.errors import MissingDependencyError

    hide_package("cupy")
    with pytest.raises(MissingDependencyError, match="device 'cuda' needs CuPy"):
        cr.tensor([1.0], device="cuda")
    with pytest.raises(cr.ConfigError, match="unknown device 'tpu'"):
        cr.tensor([1.0], device="tpu")


def test_the_linear_block_runs_on_array_api_strict():
    rng = np.random.default_rng(4)
    for x_shape, bias in (((5, 3), True), ((2, 4, 3), True), ((5, 3), False)):
        x, w, b = rng.standard_normal(x_shape), rng.standard_normal((2, 3)), rng.standard_normal(2)
        inputs = [x, w, b] if bias else [x, w]
        run_by_hand(Case(ops.Linear(), lambda *t: ops.Linear.apply(*t), inputs))
        run_in_graph(Case(ops.Linear(), lambda *t: ops.Linear.apply(*t), inputs))


def train(X, Y, to_strict: bool, steps: int = 30):
    """A small MLP trained by SGD with momentum on a mean squared error written with declared blocks."""
    model = cr.nn.MLP(3, [8], 1, activation="tanh", rng=0)
    if to_strict:
        for p in model.parameters():
            p.data = xs.asarray(p.numpy())
        X, Y = xs.asarray(X), xs.asarray(Y)
    opt = cr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        d = model(X) - Y
        (d * d).mean().backward()
        opt.step()
    return [p.numpy() for p in model.parameters()], [type(p.data) for p in model.parameters()]


def test_an_mlp_trains_on_array_api_strict_as_on_numpy():
    """The same 30 steps, on NumPy and on array-api-strict: the same parameters to rounding, and the
    parameters stay array-api-strict arrays all along (the optimiser updates them where they are)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 3))
    Y = np.tanh(X @ np.array([[1.0], [-2.0], [0.5]]))
    on_numpy, _ = train(X, Y, False)
    on_strict, kinds = train(X, Y, True)
    assert all(k.__module__.startswith("array_api_strict") for k in kinds)
    for a, b in zip(on_numpy, on_strict):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_module_to_cpu_and_cuda(hide_package):
    from chainrule.errors import MissingDependencyError

    model = cr.nn.MLP(2, [3], 1, rng=0)
    assert model.to("cpu") is model and model.device == "cpu"
    hide_package("cupy")
    with pytest.raises(MissingDependencyError, match="device 'cuda' needs CuPy"):
        model.to("cuda")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("target", ["index", "probabilities", "one object"])
def test_softmax_cross_entropy_runs_on_array_api_strict(reduction, smoothing, target):
    rng = np.random.default_rng(6)
    logits = rng.standard_normal(4) if target == "one object" else rng.standard_normal((5, 4)) * 3
    labels = {"index": rng.integers(0, 4, 5), "probabilities": rng.dirichlet(np.ones(4), 5),
              "one object": np.array(2)}[target]
    case = Case(ops.SoftmaxCrossEntropy(reduction, smoothing),
                lambda z, t: ops.SoftmaxCrossEntropy.apply(z, t, reduction=reduction, label_smoothing=smoothing),
                [logits, labels])
    run_by_hand(case)
    run_in_graph(case)


def test_softmax_cross_entropy_on_array_api_strict_refuses_what_it_cannot_do_yet():
    op = ops.SoftmaxCrossEntropy()
    with pytest.raises(cr.ShapeError, match="out of range for 3 classes"):
        op.forward(xs.asarray(np.zeros((2, 3))), xs.asarray(np.array([0, -100])))


def test_fit_trains_a_classifier_on_array_api_strict_as_on_numpy():
    """fit moves each batch to the parameters' library; Adam's moments live there too; predict brings the
    outputs back: five epochs end with NumPy's parameters and losses exactly."""
    from chainrule.train import fit, predict

    rng = np.random.default_rng(7)
    X = rng.standard_normal((120, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    runs = []
    for strict_params in (False, True):
        model = cr.nn.MLP(4, [8], 2, activation="relu", rng=0)
        if strict_params:
            for p in model.parameters():
                p.data = xs.asarray(p.numpy())
        opt = cr.optim.Adam(model.parameters(), lr=0.01)
        history = fit(model, cr.nn.CrossEntropyLoss(), opt, (X, y), epochs=5, batch_size=16, seed=0,
                      progress=False)
        runs.append((model, history))
    (ref, ref_history), (mine, history) = runs
    assert all(is_strict(p.data) for p in mine.parameters())
    for a, b in zip(ref.parameters(), mine.parameters()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(history.train_loss, ref_history.train_loss, rtol=1e-10)
    out = predict(mine, X)
    assert type(out) is np.ndarray and (out.argmax(axis=1) == y).mean() > 0.85


def test_asking_for_cuda_without_a_gpu_is_one_line_and_exit_2(hide_package, capsys):
    from chainrule import cli
    from chainrule.bench import gpu_mlp

    hide_package("cupy")
    for argv in (["train", "mlp", "--data", "moons", "--device", "cuda", "--epochs", "1"],
                 ["bench", "--device", "cuda"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "device 'cuda' needs CuPy and an NVIDIA GPU" in err[0], err
    assert gpu_mlp.main([]) == 2
    assert "needs CuPy" in capsys.readouterr().err


def test_a_model_on_another_library_saves_host_arrays_and_loads_back(tmp_path):
    model = cr.nn.MLP(3, [4], 2, rng=0)
    for p in model.parameters():
        p.data = xs.asarray(p.numpy())
    assert model.dtype == np.float64  # NumPy's name for the dtype, whatever the library
    cr.save(model, tmp_path / "m.safetensors")
    again = cr.load(tmp_path / "m.safetensors")
    assert all(type(p.data) is np.ndarray for p in again.parameters())
    np.testing.assert_array_equal(again[0].weight.numpy(), model[0].weight.numpy())
    model.load_state_dict(again.state_dict())  # back into the other library's arrays, in place
    assert all(is_strict(p.data) for p in model.parameters())


def test_dropout_draws_numpys_mask_on_another_library():
    """The same generator gives the same mask on every device: the mask is drawn by NumPy, then moved."""
    x = np.random.default_rng(8).standard_normal((4, 5))
    ours = ops.Dropout(0.3, rng=np.random.default_rng(1))
    theirs = ops.Dropout(0.3, rng=np.random.default_rng(1))
    run = ours.forward(x)
    got = theirs.forward(xs.asarray(x))
    close(got, run, "dropout forward")
    up = np.ones((4, 5))
    close(theirs.backward(xs.asarray(up))[0], ours.backward(up)[0], "dropout backward")


def test_a_small_cnn_runs_on_array_api_strict_as_on_numpy():
    """Conv2d (padding, stride, groups), max- and average-pooling, a linear layer: the windows, the einsum
    contraction and the pools on array-api-strict give NumPy's outputs and parameter gradients."""
    from chainrule import nn

    def network():
        return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, groups=2, rng=0), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(4, 4, 2, stride=1, rng=1), nn.AvgPool2d(2, padding=1), nn.Flatten(),
                             nn.Linear(4 * 2 * 2, 3, rng=2))

    x = np.random.default_rng(9).standard_normal((2, 2, 6, 6))
    ref, mine = network(), network()
    for p in mine.parameters():
        p.data = xs.asarray(p.numpy())
    out_ref, out = ref(x), mine(xs.asarray(x))
    close(out.data, out_ref.data, "CNN forward")
    (out_ref * out_ref).sum().backward()
    (out * out).sum().backward()
    for a, b in zip(ref.parameters(), mine.parameters()):
        close(b.grad, a.grad, "CNN parameter gradient")


def test_erf_and_erfc_on_array_api_strict_equal_numpy_s_everywhere():
    """The error function has no standard spelling: chainrule's own, written on the standard, gives NumPy's
    values on array-api-strict, bit for bit, over the series, every Chebyshev piece, the asymptotic tail,
    beyond 27, infinities and NaN, in float64 and float32."""
    from chainrule.ops.nn_ops import erf, erfc, normal_cdf

    x = np.concatenate([np.linspace(-30, 30, 2001), [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, 2.0, 3.5, 6.0]])
    for dtype in (np.float64, np.float32):
        v = x.astype(dtype)
        for f in (erf, erfc, normal_cdf):
            got = f(strict(v))
            assert is_strict(got) and str(got.dtype).endswith(np.dtype(dtype).name)
            np.testing.assert_array_equal(np.asarray(got), f(v), err_msg=f.__name__)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_runs_on_array_api_strict(approximate):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 5)) * 3
    run_by_hand(Case(ops.GELU(approximate), lambda t: cr.gelu(t, approximate=approximate), [x]))
    run_in_graph(Case(ops.GELU(approximate), lambda t: cr.gelu(t, approximate=approximate), [x]))
    run_by_hand(Case(ops.NormalCDF(), lambda t: ops.NormalCDF.apply(t), [x]))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape", [(6, 3), (2, 3, 3)])
def test_the_linear_regression_block_runs_on_array_api_strict(bias, x_shape):
    from chainrule.nn.linear import LinearRegressionOp

    rng = np.random.default_rng(8)
    inputs = [rng.standard_normal(x_shape), rng.standard_normal((1, 3))] + ([rng.standard_normal(1)] if bias else [])
    case = Case(LinearRegressionOp(), lambda *t: LinearRegressionOp.apply(*t), inputs)
    run_by_hand(case)
    run_in_graph(case)


@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
def test_the_squared_error_block_runs_on_array_api_strict(reduction):
    from chainrule.nn.losses import SquaredErrorOp

    rng = np.random.default_rng(9)
    inputs = [rng.standard_normal((7, 2)), rng.standard_normal((7, 2))]
    case = Case(SquaredErrorOp(reduction), lambda p, t: SquaredErrorOp.apply(p, t, reduction=reduction), inputs)
    run_by_hand(case)
    run_in_graph(case)


def test_the_lecture_s_linear_regression_trains_on_array_api_strict_as_on_numpy():
    """μ = Xθ, L = ΣΔ², gradient descent by ``fit``: the same θ on array-api-strict as on NumPy."""
    data = cr.data.make_linear(80, 3, noise=0.1, rng=0)  # NumPy data: fit moves batches to the model
    found = []
    for to_strict in (False, True):
        model = cr.nn.LinearRegression(3, rng=0)
        if to_strict:
            for p in model.parameters():
                p.data = xs.asarray(p.numpy())
        cr.fit(model, cr.nn.SumSquaredError(), cr.optim.SGD(model.parameters(), lr=1e-3), data, epochs=20,
               batch_size=16, progress=False)
        assert all(is_strict(p.data) for p in model.parameters()) == to_strict
        found.append([p.numpy().copy() for p in model.parameters()])
    for a, b in zip(*found):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


def second_derivatives(case: Case, to_strict: bool) -> list:
    """First derivatives recorded (create_graph) and the Hessian-vector products through them."""
    lift = strict if to_strict else np.asarray
    floats = [np.asarray(x).dtype.kind == "f" for x in case.inputs]
    ts = [cr.Tensor(lift(x), requires_grad=f) for x, f in zip(case.inputs, floats)]
    wrt = [t for t, f in zip(ts, floats) if f]
    y = case.fn(*ts)
    rng = np.random.default_rng(2)
    up = cr.Tensor(lift(rng.standard_normal(tuple(y.shape))))
    firsts = cr.grad(y, wrt, grad_outputs=up, create_graph=True, allow_unused=True)
    total = None
    for g in firsts:
        if g is not None and g.requires_grad:
            term = (g * cr.Tensor(lift(rng.standard_normal(tuple(g.shape))))).sum()
            total = term if total is None else total + term
    seconds = [None] * len(wrt) if total is None else cr.grad(total, wrt, allow_unused=True)
    return [g if g is None else (g.data if isinstance(g, cr.Tensor) else g) for g in (*firsts, *seconds)]


@pytest.mark.parametrize("name", DECLARED)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_declared_op_differentiates_twice_on_array_api_strict(name, data):
    """create_graph on another library's arrays: the recorded backward of every op computes on them, and the
    first and second derivatives equal NumPy's."""
    case = data.draw(CASES[name], label=name)
    want = second_derivatives(case, False)
    got = second_derivatives(case, True)
    for k, (g, w) in enumerate(zip(got, want)):
        assert (g is None) == (w is None), f"{name}: derivative {k}"
        if w is not None:
            close(g, w, f"{name}: derivative {k} ({'first' if k < len(got) // 2 else 'second'})")


def fused_cases() -> dict:
    from chainrule.nn.linear import LinearRegressionOp
    from chainrule.nn.losses import SquaredErrorOp

    rng = np.random.default_rng(10)
    x, w, b = rng.standard_normal((5, 3)), rng.standard_normal((2, 3)), rng.standard_normal(2)
    logits, labels = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    return {
        "Linear": Case(ops.Linear(), lambda *t: ops.Linear.apply(*t), [x, w, b]),
        "GELU": Case(ops.GELU(), lambda t: cr.gelu(t), [x * 2]),
        "GELU tanh": Case(ops.GELU("tanh"), lambda t: cr.gelu(t, approximate="tanh"), [x * 2]),
        "SoftmaxCrossEntropy": Case(ops.SoftmaxCrossEntropy(), lambda z, t: ops.SoftmaxCrossEntropy.apply(z, t),
                                    [logits, labels]),
        "LinearRegressionOp": Case(LinearRegressionOp(), lambda *t: LinearRegressionOp.apply(*t),
                                   [x, w[:1], b[:1]]),
        "SquaredErrorOp": Case(SquaredErrorOp("mean"), lambda p, t: SquaredErrorOp.apply(p, t, reduction="mean"),
                               [x, x[::-1] * 0.5]),
    }


@pytest.mark.parametrize("name", list(fused_cases()))
def test_the_fused_blocks_differentiate_twice_on_array_api_strict(name):
    case = fused_cases()[name]
    want, got = second_derivatives(case, False), second_derivatives(case, True)
    for k, (g, w) in enumerate(zip(got, want)):
        assert (g is None) == (w is None), f"{name}: derivative {k}"
        if w is not None:
            close(g, w, f"{name}: derivative {k}")


def test_in_place_methods_write_the_standard_s_arrays_and_the_graph_watches_them():
    """add_, mul_, t[i] = v... write another library's array in place (a mask from the host moved to its
    device), and a saved input written before backward is refused, as on NumPy."""
    t = cr.Tensor(strict([0.5, 1.0]))
    t[0] = 5.0
    t.mul_(2.0)
    t[np.array([True, False])] = 1.0
    m = cr.Tensor(strict([[1.0, 2.0], [3.0, 4.0]]))
    m[np.array([1]), 0] = 7.0  # an integer array beside an integer: moved to the data's device
    np.testing.assert_array_equal(m.numpy(), [[1.0, 2.0], [7.0, 4.0]])
    for index, value in (((np.array([0, 0]), np.array([1, 1])), np.array([5.0, 6.0])),  # the last write wins
                         (np.array([[True, False], [False, True]]), -1.0),
                         ((slice(None), np.array([1, 0])), np.array([[8.0, 9.0]]))):
        want, got = np.arange(4.0).reshape(2, 2), cr.Tensor(strict(np.arange(4.0).reshape(2, 2)))
        want[index] = value
        got[index] = value
        np.testing.assert_array_equal(got.numpy(), want)
    t.sub_(np.array([1.0, 1.0]))
    t.div_(2)
    assert is_strict(t.data)
    np.testing.assert_array_equal(t.numpy(), [0.0, 0.5])
    with pytest.raises(DTypeError, match=r"add_: cannot write into this tensor's array on "
                                         r"array_api_strict:cpu_device in place"):
        t.add_(np.ones(3))

    x = cr.Tensor(strict([0.5, 1.0]), requires_grad=True)
    y = x.exp() * x  # mul saves x
    with cr.no_grad():
        x.add_(1.0)
    with pytest.raises(cr.GraphError, match=r"mul saved its input 'b' \(shape \(2,\)\) for backward, and it was "
                                            r"changed in place"):
        y.sum().backward()


def test_an_optimiser_step_on_the_standard_s_arrays_is_seen_by_the_graph():
    """A graph built before a step saved the old parameters: its backward after the step is refused."""
    w = cr.Tensor(strict([1.0, 2.0]), requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.1)
    loss = (w * w).sum()
    stale = (w * w).sum()
    loss.backward()
    opt.step()
    assert is_strict(w.data)
    np.testing.assert_allclose(w.numpy(), [0.8, 1.6])
    with pytest.raises(cr.GraphError, match="changed in place"):
        stale.backward()
