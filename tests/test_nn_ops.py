"""The neural-network blocks: GELU (and erf), Dropout, the fused Linear and SoftmaxCrossEntropy.

Each block is checked three ways: by hand against finite differences (gradcheck),
through Tensor, and against PyTorch (the oracle) to 1e-10 in float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import ops
from chainrule.errors import DTypeError, ShapeError
from chainrule.ops.nn_ops import erf, erfc, normal_cdf

# -- erf ------------------------------------------------------------------------------


def test_erf_matches_math_erf_to_1e15_everywhere():
    x = np.concatenate([np.linspace(-7, 7, 20001), [0.0, -0.0, 1.0, -1.0, 6.0, 30.0, -30.0, 1e-300]])
    ref = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(erf(x) - ref)) <= 1e-15
    refc = np.array([math.erfc(v) for v in x])
    assert np.max(np.abs(erfc(x) - refc)) <= 1e-15


def test_erfc_is_relatively_accurate_in_the_far_tail():
    x = np.linspace(1, 26, 5001)
    ref = np.array([math.erfc(v) for v in x])
    assert np.max(np.abs(erfc(x) - ref) / ref) < 1e-14


def test_erf_special_values_and_dtype():
    out = erf(np.array([np.inf, -np.inf, np.nan, 0.0]))
    assert out[0] == 1.0 and out[1] == -1.0 and np.isnan(out[2]) and out[3] == 0.0
    assert erf(np.ones(3, dtype=np.float32)).dtype == np.float32
    assert normal_cdf(np.array([0.0]))[0] == 0.5
    assert normal_cdf(np.array([-40.0]))[0] == pytest.approx(math.erfc(40 / math.sqrt(2)) / 2, rel=1e-13)


# -- GELU --------------------------------------------------------------------------------


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradcheck(rng, approximate):
    x = rng.standard_normal((4, 5)) * 3
    assert cr.gradcheck(ops.GELU(approximate=approximate), [x], atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(torch, rng, approximate):
    x = np.concatenate([rng.standard_normal(500) * 4, np.linspace(-12, 12, 241)])
    up = rng.standard_normal(x.shape)
    op = ops.GELU(approximate)
    y = op.forward(x)
    (dx,) = op.backward(up)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.gelu(xt, approximate=approximate)
    yt.backward(torch.tensor(up))
    assert np.max(np.abs(y - yt.detach().numpy())) < 1e-12
    assert np.max(np.abs(dx - xt.grad.numpy())) < 1e-12


def test_gelu_keeps_float32(rng):
    x = rng.standard_normal(10).astype(np.float32)
    for approximate in ("none", "tanh"):
        op = ops.GELU(approximate)
        assert op.forward(x).dtype == np.float32
        assert op.backward(np.ones_like(x))[0].dtype == np.float32


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        ops.GELU("sigmoid")


# -- Dropout -------------------------------------------------------------------------------


def test_dropout_mask_and_scale(rng):
    x = rng.standard_normal((3, 4))
    mask = rng.random((3, 4)) > 0.3
    op = ops.Dropout(p=0.3, mask=mask)
    y = op.forward(x)
    np.testing.assert_allclose(y, np.where(mask, x / 0.7, 0.0), rtol=1e-15)
    (dx,) = op.backward(np.ones_like(x))
    np.testing.assert_allclose(dx, mask / 0.7, rtol=1e-15)
    assert cr.gradcheck(ops.Dropout(p=0.3, mask=mask), [x])


def test_dropout_is_seeded_and_drops_about_p(rng):
    x = np.ones((200, 200))
    a = ops.Dropout(0.25, rng=np.random.default_rng(7)).forward(x)
    b = ops.Dropout(0.25, rng=np.random.default_rng(7)).forward(x)
    np.testing.assert_array_equal(a, b)
    dropped = np.mean(a == 0)
    assert abs(dropped - 0.25) < 0.01  # 40,000 draws: standard error 0.002
    assert np.all((a == 0) | np.isclose(a, 4 / 3, rtol=1e-15))
    # the gradient check replays the same mask (the op's generator is copied for every evaluation)
    assert cr.gradcheck(ops.Dropout(0.5, rng=np.random.default_rng(3)), [rng.standard_normal((3, 3))])


def test_dropout_edges_and_errors(rng):
    x = rng.standard_normal(5).astype(np.float32)
    assert np.array_equal(ops.Dropout(0.0).forward(x), x)
    assert np.all(ops.Dropout(1.0).forward(x) == 0)
    assert ops.Dropout(0.5, rng=rng).forward(x).dtype == np.float32
    with pytest.raises(ValueError, match="rng"):
        ops.Dropout(0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ops.Dropout(1.5, rng=rng)
    with pytest.raises(ShapeError, match="mask"):
        ops.Dropout(0.5, mask=np.ones(4, dtype=bool)).forward(x)


# -- Linear ---------------------------------------------------------------------------------


@pytest.mark.parametrize("x_shape", [(5, 3), (3,), (2, 4, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(rng, x_shape, bias):
    x, w = rng.standard_normal(x_shape), rng.standard_normal((4, 3))
    inputs = [x, w, rng.standard_normal(4)] if bias else [x, w]
    assert cr.gradcheck(ops.Linear, inputs)


def test_linear_matches_torch(torch, rng):
    x, w, b = rng.standard_normal((7, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)
    up = rng.standard_normal((7, 3))
    op = ops.Linear()
    y = op.forward(x, w, b)
    dx, dw, db = op.backward(up)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.linear(xt, wt, bt)
    yt.backward(torch.tensor(up))
    assert np.max(np.abs(y - yt.detach().numpy())) < 1e-12
    for ours, theirs in ((dx, xt), (dw, wt), (db, bt)):
        assert np.max(np.abs(ours - theirs.grad.numpy())) < 1e-12


def test_linear_skips_the_input_gradient_when_the_input_needs_none(rng):
    x = cr.tensor(rng.standard_normal((6, 3)))  # data: no gradient wanted
    w = cr.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = cr.tensor(rng.standard_normal(2), requires_grad=True)
    y = ops.Linear.apply(x, w, b)
    op = y.op
    assert op.saved_value("weight") is None  # W is not even kept: nothing will multiply by it
    assert op.saved_value("x") is x.data
    grads = op.backward(np.ones((6, 2)))
    assert grads[0] is None
    np.testing.assert_allclose(grads[1], np.ones((6, 2)).T @ x.data)
    np.testing.assert_allclose(grads[2], np.full(2, 6.0))


def test_linear_through_tensor_equals_the_composed_ops(rng):
    x = cr.tensor(rng.standard_normal((6, 3)), requires_grad=True)
    w = cr.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = cr.tensor(rng.standard_normal(2), requires_grad=True)
    ops.Linear.apply(x, w, b).tanh().sum().backward()
    fused = [t.grad.copy() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    (x @ w.T + b).tanh().sum().backward()
    for f, t in zip(fused, (x, w, b)):
        np.testing.assert_allclose(f, t.grad, rtol=1e-14, atol=1e-15)


def test_linear_without_bias_through_tensor(rng):
    x = cr.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = cr.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    ops.Linear.apply(x, w).sum().backward()
    np.testing.assert_allclose(w.grad, np.ones((4, 2)).T @ x.data)
    np.testing.assert_allclose(x.grad, np.ones((4, 2)) @ w.data)


def test_linear_float32_stays_float32(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    w = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal(2).astype(np.float32)
    op = ops.Linear()
    assert op.forward(x, w, b).dtype == np.float32
    assert all(g.dtype == np.float32 for g in op.backward(np.ones((4, 2), dtype=np.float32)))


def test_linear_shape_errors(rng):
    with pytest.raises(ShapeError, match=r"weight of shape \(2, 4\)"):
        ops.Linear().forward(rng.standard_normal((5, 3)), rng.standard_normal((2, 4)))
    with pytest.raises(ShapeError, match="bias"):
        ops.Linear().forward(rng.standard_normal((5, 3)), rng.standard_normal((2, 3)), np.zeros(3))


# -- SoftmaxCrossEntropy -----------------------------------------------------------------------


def _logits_targets(rng, n=6, c=4):
    return rng.standard_normal((n, c)) * 2, rng.integers(0, c, n)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_gradcheck_index_targets(rng, reduction, smoothing):
    z, y = _logits_targets(rng)
    op = ops.SoftmaxCrossEntropy(reduction=reduction, label_smoothing=smoothing)
    assert cr.gradcheck(op, [z, y], atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradcheck_probability_targets(rng, reduction):
    z = rng.standard_normal((5, 3))
    p = rng.random((5, 3))
    p /= p.sum(axis=1, keepdims=True)
    op = ops.SoftmaxCrossEntropy(reduction=reduction, label_smoothing=0.1)
    # both the logits and the (soft) targets are checked
    assert cr.gradcheck(op, [z, p], atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("kind", ["index", "probability", "ignore", "ignore a class"])
def test_cross_entropy_matches_torch(torch, rng, reduction, smoothing, kind):
    z = rng.standard_normal((8, 5)) * 3
    if kind == "probability":
        t = rng.random((8, 5))
        t /= t.sum(axis=1, keepdims=True)
        t_torch = torch.tensor(t, requires_grad=True)
    else:
        t = rng.integers(0, 5, 8)
        if kind == "ignore":
            t[[1, 4]] = -100
        if kind == "ignore a class":
            t[[0, 5]] = [4, 3]
        t_torch = torch.tensor(t)
    ignore = 3 if kind == "ignore a class" else -100  # a real class, inside the targets' range
    op = ops.SoftmaxCrossEntropy(reduction=reduction, label_smoothing=smoothing, ignore_index=ignore)
    loss = op.forward(z, t)
    up = np.asarray(1.7) if reduction != "none" else rng.standard_normal(8)
    dz, dt = op.backward(up)
    zt = torch.tensor(z, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(zt, t_torch, reduction=reduction, label_smoothing=smoothing,
                                           ignore_index=ignore)
    lt.backward(torch.tensor(up))
    assert np.max(np.abs(loss - lt.detach().numpy())) < 1e-12
    assert np.max(np.abs(dz - zt.grad.numpy())) < 1e-12
    if kind == "probability":
        assert np.max(np.abs(dt - t_torch.grad.numpy())) < 1e-12
    else:
        assert dt is None


def test_cross_entropy_single_sample_and_through_tensor(torch, rng):
    z = rng.standard_normal(4)
    loss = ops.SoftmaxCrossEntropy().forward(z, np.asarray(2))
    assert loss == pytest.approx(-(z[2] - np.log(np.exp(z).sum())), rel=1e-14)
    zt = cr.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    y = np.array([0, 2, 1, 1, 0])
    ops.SoftmaxCrossEntropy.apply(zt, y).backward()
    ref = torch.tensor(zt.data, requires_grad=True)
    torch.nn.functional.cross_entropy(ref, torch.tensor(y)).backward()
    assert np.max(np.abs(zt.grad - ref.grad.numpy())) < 1e-14


def test_cross_entropy_equals_the_composed_log_softmax(rng):
    z, y = _logits_targets(rng)
    zt = cr.tensor(z, requires_grad=True)
    ops.SoftmaxCrossEntropy.apply(zt, y).backward()
    fused = zt.grad
    zt.grad = None
    (-(zt.log_softmax(axis=1)[np.arange(6), y]).mean()).backward()
    np.testing.assert_allclose(fused, zt.grad, rtol=1e-13, atol=1e-16)


def test_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1000.0, -1000.0, 0.0], [-5e5, 5e5, 0.0]])
    op = ops.SoftmaxCrossEntropy(reduction="none")
    loss = op.forward(z, np.array([0, 0]))
    np.testing.assert_allclose(loss, [0.0, 1e6])
    (dz, _) = op.backward(np.ones(2))
    assert np.all(np.isfinite(dz))


def test_cross_entropy_float32_stays_float32(rng):
    z = rng.standard_normal((4, 3)).astype(np.float32)
    op = ops.SoftmaxCrossEntropy(label_smoothing=0.1)
    loss = np.asarray(op.forward(z, np.array([0, 1, 2, 1])))
    assert loss.dtype == np.float32
    assert op.backward(np.asarray(1.0, dtype=np.float32))[0].dtype == np.float32


def test_cross_entropy_errors(rng):
    z = rng.standard_normal((3, 4))
    with pytest.raises(ShapeError, match="out of range for 4 classes"):
        ops.SoftmaxCrossEntropy().forward(z, np.array([0, 4, 1]))
    with pytest.raises(ShapeError, match="target class -1 is out of range"):
        ops.SoftmaxCrossEntropy().forward(z, np.array([0, -1, 1]))
    with pytest.raises(ShapeError, match="target class 7 is out of range"):
        ops.SoftmaxCrossEntropy(ignore_index=2).forward(z, np.array([2, 7, 1]))
    with pytest.raises(ShapeError, match="class-index target"):
        ops.SoftmaxCrossEntropy().forward(z, np.array([0, 1]))
    with pytest.raises(ShapeError, match="probability target"):
        ops.SoftmaxCrossEntropy().forward(z, np.ones((3, 3)))
    with pytest.raises(DTypeError, match="integer dtype"):
        ops.SoftmaxCrossEntropy().forward(z, np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="reduction"):
        ops.SoftmaxCrossEntropy(reduction="avg")
