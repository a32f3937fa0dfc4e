"""chainrule.func against torch.func and torch.autograd.functional (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import func
from chainrule.errors import GraphError, ShapeError

TOL = dict(rtol=1e-10, atol=1e-12)


def arr(x):
    if hasattr(x, "detach"):
        return x.detach().numpy()
    return np.asarray(x._data if isinstance(x, cr.Tensor) else x)


def assert_same(ours, theirs, what=""):
    """Equal nested structures (tuples, dicts) of arrays."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), what
        for k in theirs:
            assert_same(ours[k], theirs[k], f"{what}[{k}]")
    elif isinstance(theirs, (tuple, list)):
        assert isinstance(ours, tuple) and len(ours) == len(theirs), f"{what}: {type(ours)} vs {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{what}[{i}]")
    else:
        assert isinstance(ours, cr.Tensor), f"{what}: {type(ours).__name__}"
        assert ours.shape == tuple(theirs.shape), f"{what}: {ours.shape} vs {tuple(theirs.shape)}"
        np.testing.assert_allclose(arr(ours), arr(theirs), err_msg=what, **TOL)


rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4))
X0 = rng.standard_normal(4)
Y0 = rng.standard_normal((2, 3))


def f_vec(lib, x):  # R^4 -> R^3
    return lib.tanh(lib.as_tensor(A) @ x) if lib is not cr else (cr.as_tensor(A) @ x).tanh()


def f_two(lib, x, y):  # two inputs, two outputs
    if lib is cr:
        return (x * x).sum() * y, (y.exp() @ cr.as_tensor(A) * x).sum(axis=0)
    return (x * x).sum() * y, (y.exp() @ lib.as_tensor(A) * x).sum(dim=0)


def f_scalar(lib, x, y):
    if lib is cr:
        return (x.sigmoid() * (y @ cr.as_tensor(A)).sum(axis=0)).sum() + (y**3).sum()
    return (lib.sigmoid(x) * (y @ lib.as_tensor(A)).sum(dim=0)).sum() + (y**3).sum()


@pytest.mark.oracle
def test_jacobian_matches_torch(torch):
    F = torch.autograd.functional
    x, y = torch.tensor(X0), torch.tensor(Y0)
    assert_same(func.jacobian(lambda v: f_vec(cr, v), X0), F.jacobian(lambda v: f_vec(torch, v), x), "one, one")
    assert_same(func.jacobian(lambda a, b: f_two(cr, a, b), (X0, Y0)),
                F.jacobian(lambda a, b: f_two(torch, a, b), (x, y)), "two, two")
    assert_same(func.jacobian(lambda a, b: f_two(cr, a, b)[1], (X0, Y0)),
                F.jacobian(lambda a, b: f_two(torch, a, b)[1], (x, y)), "two inputs, one output")


@pytest.mark.oracle
def test_hessian_hvp_vhp_match_torch(torch):
    F = torch.autograd.functional
    x, y = torch.tensor(X0), torch.tensor(Y0)
    v = (rng.standard_normal(4), rng.standard_normal((2, 3)))
    vt = tuple(torch.tensor(a) for a in v)
    assert_same(func.hessian(lambda a, b: f_scalar(cr, a, b), (X0, Y0)),
                F.hessian(lambda a, b: f_scalar(torch, a, b), (x, y)), "hessian of two inputs")
    assert_same(func.hessian(lambda a: f_scalar(cr, a, cr.tensor(Y0)), X0),
                F.hessian(lambda a: f_scalar(torch, a, y), x), "hessian of one input")
    for ours_fn, torch_fn in ((func.hvp, F.hvp), (func.vhp, F.vhp)):
        out, hv = ours_fn(lambda a, b: f_scalar(cr, a, b), (X0, Y0), v)
        out_t, hv_t = torch_fn(lambda a, b: f_scalar(torch, a, b), (x, y), vt)
        assert_same(out, out_t, "value")
        assert_same(hv, hv_t, ours_fn.__name__)


@pytest.mark.oracle
def test_vjp_and_jvp_match_torch_func(torch):
    x, y = torch.tensor(X0), torch.tensor(Y0)
    u = (rng.standard_normal((2, 3)), rng.standard_normal(4))
    out, vjp_fn = func.vjp(lambda a, b: f_two(cr, a, b), X0, Y0)
    out_t, vjp_fn_t = torch.func.vjp(lambda a, b: f_two(torch, a, b), x, y)
    assert_same(out, out_t, "vjp value")
    assert_same(vjp_fn(u), vjp_fn_t(tuple(torch.tensor(a) for a in u)), "vjp")
    assert_same(vjp_fn((np.ones((2, 3)), np.zeros(4))), vjp_fn_t((torch.ones(2, 3), torch.zeros(4))),
                "vjp, called again")
    t = (rng.standard_normal(4), rng.standard_normal((2, 3)))
    out, jv = func.jvp(lambda a, b: f_two(cr, a, b), (X0, Y0), t)
    out_t, jv_t = torch.func.jvp(lambda a, b: f_two(torch, a, b), (x, y), tuple(torch.tensor(a) for a in t))
    assert_same(out, out_t, "jvp value")
    assert_same(jv, jv_t, "jvp")
    # and the functional (torch.autograd.functional) form of jvp, one input
    _, jv = func.jvp(lambda a: f_vec(cr, a), X0, t[0])
    _, jv_t = torch.autograd.functional.jvp(lambda a: f_vec(torch, a), x, torch.tensor(t[0]))
    assert_same(jv, jv_t, "jvp of one input")


def test_function_forms_and_argnums():
    H = func.hessian(lambda x, Y: ((cr.as_tensor(Y) @ x) ** 2).sum(), argnums=0)(X0, A)
    np.testing.assert_allclose(H.numpy(), 2 * A.T @ A, **TOL)
    J = func.jacobian(lambda x: f_vec(cr, x))(X0)
    assert J.shape == (3, 4)
    np.testing.assert_allclose(J.numpy(), (1 - np.tanh(A @ X0) ** 2)[:, None] * A, **TOL)


def test_a_constant_output_has_zero_derivatives_and_strict_refuses_it():
    J = func.jacobian(lambda x, y: x * 2, (X0, Y0))
    np.testing.assert_array_equal(J[1].numpy(), np.zeros((4, 2, 3)))
    np.testing.assert_allclose(J[0].numpy(), 2 * np.eye(4))
    with pytest.raises(GraphError, match="does not depend on input 1"):
        func.jacobian(lambda x, y: x * 2, (X0, Y0), strict=True)
    H = func.hessian(lambda x: (x * 3).sum(), X0)  # linear: the gradient is a constant
    np.testing.assert_array_equal(H.numpy(), np.zeros((4, 4)))
    with pytest.raises(GraphError, match="linear in it"):
        func.hessian(lambda x: (x * 3).sum(), X0, strict=True)


def test_errors_name_what_is_wrong():
    with pytest.raises(ShapeError, match="one-element Tensor.*shape \\(3,\\)"):
        func.hessian(lambda x: f_vec(cr, x), X0)
    with pytest.raises(GraphError, match="input 0 has dtype int64"):
        func.jacobian(lambda x: x * 2, np.arange(3))
    with pytest.raises(ShapeError, match="hvp: v of shape \\(3,\\) given for a value of shape \\(4,\\)"):
        func.hvp(lambda x: (x**3).sum(), X0, np.ones(3))
    with pytest.raises(KeyError, match="no parameter named 'nope'"):
        func.functional_call(cr.nn.Linear(2, 1, rng=0), {"nope": cr.tensor([1.0])}, (np.ones(2),))


def _mlp_pair(torch):
    model = cr.nn.Sequential(cr.nn.Linear(5, 4, rng=1), cr.nn.Tanh(), cr.nn.Linear(4, 3, rng=2))
    twin = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3)).double()
    twin.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    return model, twin


@pytest.mark.oracle
def test_module_parameters_as_inputs_match_torch(torch):
    model, twin = _mlp_pair(torch)
    data = np.random.default_rng(3)
    x, target = data.standard_normal((8, 5)), data.integers(0, 3, 8)
    params = {k: p.numpy().copy() for k, p in model.named_parameters()}
    names = list(params)
    v = {k: data.standard_normal(p.shape) for k, p in params.items()}

    def loss(p):
        return cr.nn.CrossEntropyLoss()(func.functional_call(model, p, (x,)), target)

    def loss_t(*ps):
        out = torch.func.functional_call(twin, dict(zip(names, ps)), (torch.tensor(x),))
        return torch.nn.functional.cross_entropy(out, torch.tensor(target))

    value, hv = func.hvp(loss, params, v)
    value_t, hv_t = torch.autograd.functional.hvp(loss_t, tuple(torch.tensor(params[k]) for k in names),
                                                  tuple(torch.tensor(v[k]) for k in names))
    assert_same(value, value_t, "loss")
    assert_same(hv, dict(zip(names, hv_t)), "hvp over the parameters")
    H = func.hessian(loss, {k: params[k] for k in ("2.weight", "2.bias")})
    H_t = torch.autograd.functional.hessian(lambda w, b: loss_t(*[torch.tensor(params[k]) for k in names[:2]], w, b),
                                            (torch.tensor(params["2.weight"]), torch.tensor(params["2.bias"])))
    assert_same(H, {"2.weight": {"2.weight": H_t[0][0], "2.bias": H_t[0][1]},
                    "2.bias": {"2.weight": H_t[1][0], "2.bias": H_t[1][1]}}, "hessian over two parameters")
    # the model's own parameters are back, untouched
    for k, p in model.named_parameters():
        np.testing.assert_array_equal(p.numpy(), params[k])
        assert p.grad is None


def test_linear_regression_hessian_is_twice_xtx():
    """The lecture's L = Σ(Xθ − Y)²: its Hessian is 2XᵀX, whatever θ."""
    X = rng.standard_normal((20, 3))
    Y = rng.standard_normal(20)
    for theta in (np.zeros(3), rng.standard_normal(3)):
        H = func.hessian(lambda t: ((cr.as_tensor(X) @ t - Y) ** 2).sum(), theta)
        np.testing.assert_allclose(H.numpy(), 2 * X.T @ X, rtol=1e-12)


def test_vjp_and_jvp_over_a_models_parameters():
    model = cr.nn.Sequential(cr.nn.Linear(3, 2, rng=4), cr.nn.Tanh())
    x = rng.standard_normal((5, 3))
    params = {k: p.numpy().copy() for k, p in model.named_parameters()}
    out, vjp_fn = func.vjp(lambda p: func.functional_call(model, p, (x,)), params)
    u = rng.standard_normal(out.shape)
    (grads,) = vjp_fn(u)
    assert set(grads) == set(params)
    tangents = {k: rng.standard_normal(p.shape) for k, p in params.items()}
    _, jv = func.jvp(lambda p: func.functional_call(model, p, (x,)), params, tangents)
    # <u, J t> = <Jᵀ u, t>: the two products agree
    lhs = float(np.sum(u * jv.numpy()))
    rhs = sum(float(np.sum(grads[k].numpy() * tangents[k])) for k in params)
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))


def test_an_optimiser_steps_on_gradients_recorded_with_create_graph():
    """A gradient penalty: backward(create_graph=True) leaves .grad a Tensor; SGD and Adam step on its values."""
    for make in (lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: cr.optim.Adam(ps, lr=0.1)):
        w = cr.tensor([1.0, -2.0], requires_grad=True)
        opt = make([w])
        loss = (w**3).sum()
        loss.backward(create_graph=True)
        assert isinstance(w.grad, cr.Tensor)
        (penalty,) = cr.grad((w.grad * w.grad).sum(), w)  # d/dw Σ(3w²)² = 36 w³
        np.testing.assert_allclose(penalty, 36 * np.array([1.0, -8.0]))
        before = w.numpy().copy()
        opt.step()
        assert np.all(w.numpy() != before)


def test_jvp_and_vjp_with_create_graph_are_differentiable_in_the_callers_graph():
    x = cr.tensor([0.3, -0.7, 1.1], requires_grad=True)
    t = cr.tensor([1.0, 2.0, -1.0])
    _, jv = func.jvp(lambda a: a.exp() * a, x, t, create_graph=True)  # (1 + x) eˣ t
    (d,) = cr.grad(jv.sum(), x)  # (2 + x) eˣ t
    np.testing.assert_allclose(d, (2 + x.numpy()) * np.exp(x.numpy()) * t.numpy(), rtol=1e-12)
    _, vjp_fn = func.vjp(lambda a: a.exp() * a, x)
    (g,) = vjp_fn(t, create_graph=True)
    (d,) = cr.grad(g.sum(), x)
    np.testing.assert_allclose(d, (2 + x.numpy()) * np.exp(x.numpy()) * t.numpy(), rtol=1e-12)


def test_argnums_may_be_a_tuple():
    def f(a, b, c):
        return (a * b * c).sum()

    a, b, c = np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([5.0, 6.0])
    ja, jc = func.jacobian(f, argnums=(0, 2))(a, b, c)
    np.testing.assert_allclose(ja.numpy(), b * c)
    np.testing.assert_allclose(jc.numpy(), a * b)
    H = func.hessian(f, argnums=(0, 1))(a, b, c)
    np.testing.assert_allclose(H[0][1].numpy(), np.diag(c))
    np.testing.assert_array_equal(H[0][0].numpy(), np.zeros((2, 2)))
