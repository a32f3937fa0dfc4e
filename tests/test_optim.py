"""chainrule.optim: update rules (against the formulas and PyTorch), in-place steps, schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ChainruleError, ConfigError


def _quadratic_setup(seed: int = 0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((12, 3))
    y = rng.standard_normal(12)
    w0 = rng.standard_normal(3)
    return A, y, w0


def _run_ours(make_opt, A, y, w0, steps=15, schedule=None):
    p = nn.Parameter(w0.copy())
    opt = make_opt([p])
    sched = schedule(opt) if schedule else None
    data_before = p.data
    trace = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((A @ p - y) ** 2).sum()
        loss.backward()
        opt.step()
        if sched:
            sched.step()
        trace.append(p.data.copy())
    assert p.data is data_before  # updated in place
    return np.array(trace)


def _run_torch(torch, make_opt, A, y, w0, steps=15, schedule=None):
    p = torch.tensor(w0.copy(), requires_grad=True)
    opt = make_opt([p])
    sched = schedule(opt) if schedule else None
    At, yt = torch.from_numpy(A), torch.from_numpy(y)
    trace = []
    for _ in range(steps):
        opt.zero_grad()
        ((At @ p - yt) ** 2).sum().backward()
        opt.step()
        if sched:
            sched.step()
        trace.append(p.detach().numpy().copy())
    return np.array(trace)


def test_plain_sgd_is_gradient_descent():
    A, y, w0 = _quadratic_setup()
    trace = _run_ours(lambda ps: optim.SGD(ps, lr=0.01), A, y, w0, steps=3)
    w = w0.copy()
    for k in range(3):
        w = w - 0.01 * 2 * A.T @ (A @ w - y)
        np.testing.assert_allclose(trace[k], w, rtol=1e-13)


def test_momentum_and_weight_decay_formula():
    A, y, w0 = _quadratic_setup(1)
    trace = _run_ours(lambda ps: optim.SGD(ps, lr=0.01, momentum=0.5, weight_decay=0.1), A, y, w0, steps=3)
    w, buf = w0.copy(), None
    for k in range(3):
        g = 2 * A.T @ (A @ w - y) + 0.1 * w
        buf = g if buf is None else 0.5 * buf + g
        w = w - 0.01 * buf
        np.testing.assert_allclose(trace[k], w, rtol=1e-13)


def test_adam_formula():
    A, y, w0 = _quadratic_setup(2)
    trace = _run_ours(lambda ps: optim.Adam(ps, lr=0.1), A, y, w0, steps=4)
    w, m, v = w0.copy(), 0, 0
    for t in range(1, 5):
        g = 2 * A.T @ (A @ w - y)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 0.1 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        np.testing.assert_allclose(trace[t - 1], w, rtol=1e-12)


@pytest.mark.oracle
@pytest.mark.parametrize("kwargs", [
    {"lr": 0.01},
    {"lr": 0.01, "momentum": 0.9},
    {"lr": 0.01, "momentum": 0.9, "nesterov": True},
    {"lr": 0.005, "momentum": 0.8, "weight_decay": 0.05},
])
def test_sgd_matches_pytorch(torch, kwargs):
    A, y, w0 = _quadratic_setup(3)
    ours = _run_ours(lambda ps: optim.SGD(ps, **kwargs), A, y, w0)
    theirs = _run_torch(torch, lambda ps: torch.optim.SGD(ps, **kwargs), A, y, w0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.oracle
@pytest.mark.parametrize("kwargs", [{"lr": 0.05}, {"lr": 0.02, "betas": (0.8, 0.99), "weight_decay": 0.1}])
def test_adam_matches_pytorch(torch, kwargs):
    A, y, w0 = _quadratic_setup(4)
    ours = _run_ours(lambda ps: optim.Adam(ps, **kwargs), A, y, w0)
    theirs = _run_torch(torch, lambda ps: torch.optim.Adam(ps, **kwargs), A, y, w0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.oracle
def test_schedules_match_pytorch(torch):
    A, y, w0 = _quadratic_setup(5)
    ours = _run_ours(lambda ps: optim.SGD(ps, lr=0.01), A, y, w0, steps=12,
                     schedule=lambda o: optim.StepLR(o, step_size=4, gamma=0.5))
    theirs = _run_torch(torch, lambda ps: torch.optim.SGD(ps, lr=0.01), A, y, w0, steps=12,
                        schedule=lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5))
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    ours = _run_ours(lambda ps: optim.SGD(ps, lr=0.01), A, y, w0, steps=12,
                     schedule=lambda o: optim.CosineAnnealingLR(o, T_max=10, eta_min=0.001))
    theirs = _run_torch(torch, lambda ps: torch.optim.SGD(ps, lr=0.01), A, y, w0, steps=12,
                        schedule=lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001))
    np.testing.assert_allclose(ours[:11], theirs[:11], rtol=1e-10)


def test_schedule_values():
    p = nn.Parameter(np.zeros(1))
    opt = optim.SGD([p], lr=1.0)
    step = optim.StepLR(opt, step_size=2, gamma=0.1)
    lrs = []
    for _ in range(5):
        lrs.append(opt.lr)
        step.step()
    np.testing.assert_allclose(lrs, [1.0, 1.0, 0.1, 0.1, 0.01])
    opt = optim.SGD([p], lr=2.0)
    cos = optim.CosineAnnealingLR(opt, T_max=4)
    values = [opt.lr]
    for _ in range(6):
        cos.step()
        values.append(cos.get_last_lr()[0])
    expected = [1 + math.cos(math.pi * min(e, 4) / 4) for e in range(7)]
    np.testing.assert_allclose(values, expected, atol=1e-15)
    assert optim.build_scheduler("none", opt, 10) is None
    assert isinstance(optim.build_scheduler("cosine", opt, 10), optim.CosineAnnealingLR)


def test_parameter_groups_and_zero_grad():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad = np.ones(2)
    b.grad = np.ones(2)
    opt.step()
    np.testing.assert_allclose(a.data, 0.9)
    np.testing.assert_allclose(b.data, 0.5)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad, 0)
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    opt.step()  # no gradients: nothing moves
    np.testing.assert_allclose(a.data, 0.9)


def test_float32_parameters_stay_float32():
    p = nn.Parameter(np.ones(3, np.float32))
    for opt in (optim.SGD([p], lr=0.1, momentum=0.9), optim.Adam([p], lr=0.1)):
        p.grad = np.full(3, 0.5, np.float32)
        opt.step()
        assert p.data.dtype == np.float32


def test_build_and_errors():
    p = nn.Parameter(np.ones(1))
    assert isinstance(optim.build("gd", [p], 0.1), optim.SGD)
    assert optim.build("momentum", [p], 0.1).param_groups[0]["momentum"] == 0.9
    assert optim.build("nesterov", [p], 0.1).param_groups[0]["nesterov"]
    assert isinstance(optim.build("adam", [p], 0.1), optim.Adam)
    with pytest.raises(ChainruleError, match="unknown optimizer"):
        optim.build("rmsprop", [p], 0.1)
    with pytest.raises(ChainruleError, match="lr"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ChainruleError, match="nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ChainruleError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ChainruleError, match="betas"):
        optim.Adam([p], betas=(1.0, 0.9))
    x = nn.Parameter(np.ones(1))
    with pytest.raises(ChainruleError, match="leaf"):
        optim.SGD([x * 2], lr=0.1)
    assert "SGD(lr=0.1" in repr(optim.SGD([p], lr=0.1))


@pytest.mark.parametrize("shape", [(1,), (), (1, 1)])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_updates_one_element_parameters_to_the_same_bits_as_numpy(shape, momentum):
    """One-element float64 parameters take a Python-float path in SGD.step; it must be exact."""
    from chainrule import Tensor

    rng = np.random.default_rng(7)
    values = rng.standard_normal(50) * 10.0 ** rng.integers(-8, 8, 50)
    grads = rng.standard_normal(50) * 10.0 ** rng.integers(-8, 8, 50)
    lr = 0.0137
    for v, g in zip(values, grads):
        p = Tensor(np.full(shape, v), requires_grad=True)
        opt = optim.SGD([p], lr=lr, momentum=momentum)
        expected = np.full(shape, v)
        buf = None
        for _ in range(3):
            p.grad = np.full(shape, g)
            opt.step()
            step = np.full(shape, g)
            if momentum:
                buf = step.copy() if buf is None else buf * momentum + step
                step = buf
            expected -= lr * step
        assert p.data.shape == shape and p.data.dtype == np.float64
        np.testing.assert_array_equal(p.data, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [optim._SLICE + 1, optim.SCRATCH_BYTES // 4 * 3 + 7, 200_003])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_updates_big_parameters_to_the_same_bits_as_numpy(dtype, size, momentum):
    """Big parameters are updated a slice at a time through a scratch array; the bits must be those of
    ``p -= lr * g``, the gradient must be left as it was, and the scratch is kept between steps."""
    from chainrule import Tensor

    rng = np.random.default_rng(size)
    start = rng.standard_normal(size).astype(dtype)
    p = Tensor(start.copy(), requires_grad=True)
    opt = optim.SGD([p], lr=0.0137, momentum=momentum)
    expected, buf = start.copy(), None
    for _ in range(3):
        g = rng.standard_normal(size).astype(dtype)
        p.grad = g.copy()
        opt.step()
        np.testing.assert_array_equal(p.grad, g)  # the update reads the gradient, never scales it in place
        step = g
        if momentum:
            buf = g.copy() if buf is None else buf * dtype(momentum) + g
            step = buf
        expected -= dtype(0.0137) * step if dtype is np.float32 else 0.0137 * step
        np.testing.assert_array_equal(p.data, expected)
    assert p.data.dtype == dtype
    scratch = opt._scratch[np.dtype(dtype)]
    assert scratch.nbytes == optim.SCRATCH_BYTES  # one scratch of the documented size, not one per step


def test_subtract_scaled_falls_back_to_one_update_for_odd_layouts():
    rng = np.random.default_rng(1)
    p = rng.standard_normal((300, 200))
    g = rng.standard_normal((200, 300)).T  # not C-contiguous
    expected = p - 0.5 * g
    optim.subtract_scaled(p, g, 0.5)
    np.testing.assert_array_equal(p, expected)
    p32, g64 = rng.standard_normal(70_000).astype(np.float32), rng.standard_normal(70_000)
    expected = p32.copy()
    expected -= 0.5 * g64  # mixed dtypes: NumPy's own rule, rounded once
    optim.subtract_scaled(p32, g64, 0.5, {})
    np.testing.assert_array_equal(p32, expected)


# -- L-BFGS (issue 15) ------------------------------------------------------------------------


def _logistic_problem(seed: int = 0):
    """A strongly convex loss: L2-regularised logistic regression on random data."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 5))
    y = (X @ rng.standard_normal(5) + 0.3 * rng.standard_normal(40) > 0).astype(np.float64)
    w0, b0 = rng.standard_normal(5), rng.standard_normal(1)
    return X, y, w0, b0


def _lbfgs_iterates(lib, X, y, w0, b0, steps: int, **options):
    """The parameters after each of ``steps`` L-BFGS steps, with chainrule or PyTorch."""
    if lib == "torch":
        import torch

        w, b = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
        Xt, yt = torch.tensor(X), torch.tensor(y)
        opt = torch.optim.LBFGS([w, b], **options)

        def closure():
            opt.zero_grad()
            z = Xt @ w + b
            loss = torch.nn.functional.softplus(z).sum() - (yt * z).sum() + 0.05 * (w * w).sum()
            loss.backward()
            return loss
    else:
        w, b = cr.tensor(w0, requires_grad=True), cr.tensor(b0, requires_grad=True)
        opt = optim.LBFGS([w, b], **options)

        def closure():
            opt.zero_grad()
            z = cr.as_tensor(X) @ w + b
            loss = z.softplus().sum() - (cr.as_tensor(y) * z).sum() + 0.05 * (w * w).sum()
            loss.backward()
            return loss
    out = []
    for _ in range(steps):
        opt.step(closure)
        out.append(np.concatenate([np.array(w.detach().numpy()), np.array(b.detach().numpy())]))
    return out


@pytest.mark.oracle
@pytest.mark.parametrize("options", [
    {},  # fixed step lr=1
    {"lr": 0.5, "max_iter": 7, "history_size": 3},
    {"line_search_fn": "strong_wolfe"},
    {"line_search_fn": "strong_wolfe", "lr": 2.0, "history_size": 2, "max_iter": 5},
])
def test_lbfgs_takes_torchs_iterates(options, torch):
    X, y, w0, b0 = _logistic_problem()
    ours = _lbfgs_iterates("chainrule", X, y, w0, b0, 4, **options)
    theirs = _lbfgs_iterates("torch", X, y, w0, b0, 4, **options)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10, err_msg=f"after step {k + 1} with {options}")


def test_lbfgs_converges_on_least_squares_and_keeps_its_state():
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((30, 4)), rng.standard_normal(30)
    theta = cr.tensor(np.zeros(4), requires_grad=True)
    opt = optim.LBFGS([theta], line_search_fn="strong_wolfe", max_iter=50, tolerance_grad=1e-12,
                      tolerance_change=1e-15)

    def closure():
        opt.zero_grad()
        loss = ((cr.as_tensor(X) @ theta - Y) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    best, *_ = np.linalg.lstsq(X, Y, rcond=None)
    assert np.linalg.norm(theta.numpy() - best) <= 1e-7 * np.linalg.norm(best)
    state = opt.state_dict()
    again = optim.LBFGS([cr.tensor(theta.numpy(), requires_grad=True)], line_search_fn="strong_wolfe")
    again.load_state_dict(state)
    assert next(iter(again.state.values()))["n_iter"] == next(iter(opt.state.values()))["n_iter"]


def test_lbfgs_errors_are_clear():
    p = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(ConfigError, match="needs a closure"):
        optim.LBFGS([p]).step()
    with pytest.raises(ConfigError, match="line_search_fn must be None or 'strong_wolfe'"):
        optim.LBFGS([p], line_search_fn="backtracking")


@pytest.mark.oracle
@pytest.mark.parametrize("options", [{"max_iter": 5, "max_eval": 6}, {"max_iter": 1}, {"max_iter": 20}])
def test_lbfgs_line_search_counts_against_max_eval_as_torch(options, torch):
    """On Rosenbrock's function, far from a quadratic, the strong-Wolfe search takes several evaluations:
    they count against max_eval, as in PyTorch."""
    def run(lib, steps=3):
        x0 = np.array([-1.5, 2.0])
        if lib == "torch":
            x = torch.tensor(x0, requires_grad=True)
            opt = torch.optim.LBFGS([x], line_search_fn="strong_wolfe", **options)
        else:
            x = cr.tensor(x0, requires_grad=True)
            opt = optim.LBFGS([x], line_search_fn="strong_wolfe", **options)

        def closure():
            opt.zero_grad()
            loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
            loss.backward()
            return loss

        out = []
        for _ in range(steps):
            opt.step(closure)
            out.append(np.array(x.detach().numpy()))
        return out

    for k, (a, b) in enumerate(zip(run("chainrule"), run("torch"))):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10, err_msg=f"after step {k + 1} with {options}")
