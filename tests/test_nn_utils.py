"""chainrule.nn.utils (gradient clipping) and the hooks on tensors and modules, against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def _grads(rng, shapes, dtype=np.float64):
    params = [cr.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]
    for p in params:
        p.grad = rng.standard_normal(p.shape).astype(dtype) * 3
    return params


@pytest.mark.oracle
@pytest.mark.parametrize("max_norm, norm_type", [(1.0, 2.0), (100.0, 2.0), (0.5, 1.0), (2.0, 3.0), (0.1, float("inf"))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_norm_equals_pytorch(torch, rng, max_norm, norm_type, dtype):
    ours = _grads(rng, [(3, 4), (4,), ()], dtype)
    theirs = [torch.nn.Parameter(torch.tensor(p.data)) for p in ours]
    for p, q in zip(ours, theirs):
        q.grad = torch.tensor(p.grad.copy())
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert float(total) == pytest.approx(float(expected), rel=rtol)
    for p, q in zip(ours, theirs):
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=rtol, atol=rtol)


@pytest.mark.oracle
def test_clip_grad_value_equals_pytorch(torch, rng):
    ours = _grads(rng, [(5, 2), (7,)])
    theirs = [torch.nn.Parameter(torch.tensor(p.data)) for p in ours]
    for p, q in zip(ours, theirs):
        q.grad = torch.tensor(p.grad.copy())
    nn.utils.clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad, q.grad.numpy())


def test_clipping_edge_cases(rng):
    (p,) = _grads(rng, [(3,)])
    p.grad = np.array([np.nan, 1.0, 2.0])
    with pytest.raises(cr.GraphError, match="total norm"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    q = cr.tensor(np.ones(2), requires_grad=True)
    q.grad = np.array([4.0, 1.0])
    for order in ([p, q], [q, p]):  # the infinity norm sees a NaN wherever it is
        with pytest.raises(cr.GraphError, match="is nan"):
            nn.utils.clip_grad_norm_(order, 1.0, norm_type=float("inf"), error_if_nonfinite=True)
    assert float(nn.utils.clip_grad_norm_([cr.tensor(np.ones(2), requires_grad=True)], 1.0)) == 0.0  # no grads
    with pytest.raises(cr.ConfigError):
        nn.utils.clip_grad_norm_(p, -1.0)
    with pytest.raises(cr.ConfigError):
        nn.utils.clip_grad_value_(p, -1.0)


@pytest.mark.oracle
def test_tensor_hooks_see_and_replace_gradients_as_pytorchs_do(torch):
    x0 = np.array([1.0, -2.0, 3.0])

    def run(make, as_array):
        x = make(x0)
        h = x * 2
        seen = []
        h.register_hook(lambda g: seen.append(as_array(g)) or g * 10)  # the non-leaf's gradient, replaced
        x.register_hook(lambda g: g + 1)  # a leaf's gradient, replaced before it reaches .grad
        (h * h).sum().backward()
        return seen[0], as_array(x.grad)

    ours = run(lambda a: cr.tensor(a, requires_grad=True), np.array)
    theirs = run(lambda a: torch.tensor(a, requires_grad=True), lambda g: g.detach().numpy().copy())
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b)


def test_a_removed_hook_no_longer_runs_and_retain_grad_is_a_hook():
    x = cr.tensor(np.ones(2), requires_grad=True)
    calls = []
    handle = x.register_hook(lambda g: calls.append(1))
    (x * 3).sum().backward()
    handle.remove()
    (x * 3).sum().backward()
    assert calls == [1]
    h = x * 2
    h.retain_grad()
    h.retain_grad()  # twice is once
    (h * 5).sum().backward()
    np.testing.assert_array_equal(h.grad, [5.0, 5.0])
    with pytest.raises(cr.GraphError, match="does not require grad"):
        cr.tensor(np.ones(2)).register_hook(print)


@pytest.mark.oracle
def test_forward_hooks_see_and_replace_outputs_as_pytorchs_do(torch):
    ours = nn.Linear(3, 2, rng=0)
    theirs = torch.nn.Linear(3, 2)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        theirs.bias.copy_(torch.tensor(ours.bias.data))
    x = np.arange(6.0).reshape(2, 3)
    seen = {}

    def hook(name, as_array):
        def record(module, inputs, output):
            seen[name] = (len(inputs), as_array(output))
            return output * 2

        return record

    h1 = ours.register_forward_hook(hook("ours", lambda t: t.data.copy()))
    h2 = theirs.register_forward_hook(hook("theirs", lambda t: t.detach().numpy().copy()))
    a, b = ours(x), theirs(torch.tensor(x))
    np.testing.assert_allclose(a.data, b.detach().numpy())
    assert seen["ours"][0] == seen["theirs"][0] == 1
    np.testing.assert_allclose(seen["ours"][1], seen["theirs"][1])
    h1.remove()
    h2.remove()
    np.testing.assert_allclose(ours(x).data, theirs(torch.tensor(x)).detach().numpy())


def test_clipping_takes_gradients_recorded_with_create_graph():
    m = cr.nn.Linear(3, 2, rng=0)
    (m(np.ones((4, 3))) ** 2).sum().backward(create_graph=True)
    assert isinstance(m.weight.grad, cr.Tensor)
    expected = np.sqrt(sum(float(np.sum(p.grad.numpy() ** 2)) for p in m.parameters()))
    total = nn.utils.clip_grad_norm_(m.parameters(), 0.1)
    assert abs(float(total) - expected) <= 1e-12 * expected
    norm = np.sqrt(sum(float(np.sum(p.grad**2)) for p in m.parameters()))
    assert abs(norm - 0.1) < 1e-6
    (m(np.ones((4, 3))) ** 2).sum().backward(create_graph=True)
    nn.utils.clip_grad_value_(m.parameters(), 0.5)
    assert all(np.abs(p.grad).max() <= 0.5 for p in m.parameters())
