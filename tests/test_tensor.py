"""Tensor: construction, attributes, operators and NumPy-named methods, dtypes, errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import Tensor, tensor


def test_construction_and_attributes():
    t = tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert isinstance(t.data, np.ndarray)
    assert t.shape == (2, 2) and t.ndim == 2 and t.size == 4 and t.dtype == np.float64
    assert t.requires_grad and t.is_leaf and t.grad is None
    assert t.numpy() is t.data
    assert tensor(3.5).item() == 3.5
    assert len(t) == 2
    d = (t * 2).detach()
    assert d.is_leaf and not d.requires_grad
    np.testing.assert_array_equal(d.data, [[2, 4], [6, 8]])


def test_repr_shows_values_and_op():
    x = tensor([1.0, 2.0], requires_grad=True)
    assert "requires_grad=True" in repr(x) and "1." in repr(x)
    y = x * 3
    assert "op=Mul" in repr(y) and "6." in repr(y)
    assert "dtype=float32" in repr(tensor([1.0], dtype=np.float32))


def test_integer_and_bool_data_cannot_require_grad():
    with pytest.raises(cr.DTypeError, match="floating-point"):
        tensor([1, 2, 3], requires_grad=True)
    t = tensor([True, False])
    with pytest.raises(cr.DTypeError):
        t.requires_grad = True
    assert tensor([1, 2]).dtype.kind == "i"


@pytest.mark.parametrize(
    "fn, expected",
    [
        (lambda a, b: a + b, [5.0, 7.0]),
        (lambda a, b: a - b, [-3.0, -3.0]),
        (lambda a, b: a * b, [4.0, 10.0]),
        (lambda a, b: a / b, [0.25, 0.4]),
        (lambda a, b: a @ b, 14.0),
        (lambda a, b: a**2, [1.0, 4.0]),
        (lambda a, b: a**0.5, [1.0, np.sqrt(2.0)]),
        (lambda a, b: -a, [-1.0, -2.0]),
        (lambda a, b: 2**a, [2.0, 4.0]),
        (lambda a, b: a**b, [1.0, 32.0]),
    ],
)
def test_operators(fn, expected):
    a = tensor([1.0, 2.0], requires_grad=True)
    b = tensor([4.0, 5.0], requires_grad=True)
    out = fn(a, b)
    assert isinstance(out, Tensor)
    np.testing.assert_allclose(out.data, expected)
    assert out.requires_grad


def test_reflected_operators_with_scalars_and_arrays():
    t = tensor([1.0, 2.0], requires_grad=True)
    arr = np.array([10.0, 20.0])
    for out, expected in [
        (arr + t, [11, 22]),
        (arr - t, [9, 18]),
        (arr * t, [10, 40]),
        (arr / t, [10, 10]),
        (3 - t, [2, 1]),
        (3 / t, [3, 1.5]),
        (1 + t, [2, 3]),
        (np.eye(2) @ t, [1, 2]),
    ]:
        assert isinstance(out, Tensor), type(out)
        np.testing.assert_allclose(out.data, expected)
    (arr * t).sum().backward()
    np.testing.assert_array_equal(t.grad, arr)


def test_comparisons_return_boolean_arrays():
    t = tensor([1.0, 2.0, 3.0])
    for result, expected in [
        (t < 2, [True, False, False]),
        (t <= 2, [True, True, False]),
        (t > 2, [False, False, True]),
        (t >= 2, [False, True, True]),
        (t == 2, [False, True, False]),
        (t != tensor([1.0, 0.0, 3.0]), [False, True, False]),
    ]:
        assert isinstance(result, np.ndarray) and result.dtype == bool
        np.testing.assert_array_equal(result, expected)
    assert len({t, tensor([1.0])}) == 2  # still hashable by identity


def test_numpy_named_methods_and_functions(rng):
    x = rng.standard_normal((3, 4))
    t = tensor(x)
    np.testing.assert_allclose(t.sum().data, x.sum())
    np.testing.assert_allclose(t.sum(axis=0).data, x.sum(axis=0))
    np.testing.assert_allclose(t.sum(axis=(0, 1), keepdims=True).data, x.sum(axis=(0, 1), keepdims=True))
    np.testing.assert_allclose(t.mean(axis=1).data, x.mean(axis=1))
    np.testing.assert_allclose(t.max(axis=1).data, x.max(axis=1))
    np.testing.assert_allclose(t.min().data, x.min())
    assert t.reshape(4, 3).shape == (4, 3) and t.reshape((2, 6)).shape == (2, 6) and t.reshape(-1).shape == (12,)
    assert t.transpose().shape == (4, 3) and t.T.shape == (4, 3)
    assert tensor(rng.standard_normal((2, 3, 4))).transpose(1, 2, 0).shape == (3, 4, 2)
    np.testing.assert_allclose(t.exp().data, np.exp(x))
    np.testing.assert_allclose(t.abs().log().data, np.log(np.abs(x)))
    np.testing.assert_allclose(t.abs().sqrt().data, np.sqrt(np.abs(x)))
    np.testing.assert_allclose(t.square().data, x**2)
    np.testing.assert_allclose(t.tanh().data, np.tanh(x))
    np.testing.assert_allclose(t.sigmoid().data, 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(t.relu().data, np.maximum(x, 0))
    np.testing.assert_allclose(t[1:, ::2].data, x[1:, ::2])
    np.testing.assert_allclose(t[[0, 0, 2]].data, x[[0, 0, 2]])
    np.testing.assert_allclose(cr.exp(t).data, np.exp(x))
    np.testing.assert_allclose(cr.matmul(t, t.T).data, x @ x.T)
    np.testing.assert_allclose(cr.where(x > 0, t, 0.0).data, np.where(x > 0, x, 0.0))
    sm = cr.softmax(t, axis=-1).data
    np.testing.assert_allclose(sm, np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(cr.log_softmax(t, axis=0).data, np.log(np.exp(x) / np.exp(x).sum(0)))
    np.testing.assert_allclose(cr.logsumexp(t, axis=1).data, np.log(np.exp(x).sum(1)))
    np.testing.assert_allclose(cr.maximum(t, 0.1).data, np.maximum(x, 0.1))
    np.testing.assert_allclose(cr.concatenate([t, t], axis=1).data, np.concatenate([x, x], axis=1))
    np.testing.assert_allclose(cr.stack([t, t], axis=0).data, np.stack([x, x]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_in_forward_and_backward(dtype, rng):
    x = tensor(rng.standard_normal((3, 4)).astype(dtype), requires_grad=True)
    w = tensor(rng.standard_normal((4, 2)).astype(dtype), requires_grad=True)
    h = (x @ w).tanh() * 2.5 + 1  # Python scalars take the tensor's dtype
    out = (cr.softmax(h, axis=1) ** 2).mean() / 3 - cr.sigmoid(h).sum() * 0.5
    assert h.dtype == dtype and out.dtype == dtype
    out.backward()
    assert x.grad.dtype == dtype and w.grad.dtype == dtype


def test_shape_mismatch_errors_name_the_op_and_shapes():
    a, b = tensor(np.ones((3, 4))), tensor(np.ones((5, 2)))
    with pytest.raises(cr.ShapeError, match=r"matmul: cannot multiply \(3, 4\) by \(5, 2\)"):
        a @ b
    with pytest.raises(cr.ShapeError, match=r"add: cannot broadcast shapes \(3, 4\) and \(5, 2\)"):
        a + b
    with pytest.raises(cr.ShapeError, match=r"reshape: cannot reshape \(3, 4\) into \(5,\)"):
        a.reshape(5)
    with pytest.raises(cr.ShapeError, match="sum: bad axis 2"):
        a.sum(axis=2)
    assert issubclass(cr.ShapeError, cr.ChainruleError) and issubclass(cr.ShapeError, ValueError)


def test_iteration_gives_rows_in_the_graph():
    t = tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    rows = list(t)
    assert len(rows) == 2 and all(r.shape == (2,) for r in rows)
    (rows[0] * 2 + rows[1]).sum().backward()
    np.testing.assert_array_equal(t.grad, [[2.0, 2.0], [1.0, 1.0]])
    with pytest.raises(TypeError, match="0-d"):
        iter(tensor(1.0))


def test_python_abs_and_more_activation_methods(rng):
    x = rng.standard_normal(5)
    t = tensor(x, requires_grad=True)
    np.testing.assert_allclose(abs(t).data, np.abs(x))
    np.testing.assert_allclose(t.leaky_relu(0.1).data, np.where(x > 0, x, 0.1 * x))
    np.testing.assert_allclose(t.softplus().data, np.log1p(np.exp(x)))
    np.testing.assert_allclose(cr.pow(t, 3).data, x**3)


def test_tensor_copies_its_data_as_torch_tensor_does_and_as_tensor_shares():
    from chainrule import nn, optim

    weights = np.array([1.0, 2.0, 3.0])
    w = cr.tensor(weights, requires_grad=True)
    assert not np.shares_memory(w.data, weights)
    (w * w).sum().backward()
    optim.SGD([w], lr=0.1).step()  # a training step changes the tensor, not the caller's array
    np.testing.assert_array_equal(weights, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(w.data, [0.8, 1.6, 2.4])
    shared = cr.from_numpy(weights)
    assert shared.data is weights and cr.as_tensor(weights).data is weights
    assert cr.as_tensor(shared) is shared and cr.as_tensor(weights, dtype=np.float32).dtype == np.float32
    assert cr.tensor(shared).data is not shared.data
    with pytest.raises(TypeError, match="numpy.ndarray"):
        cr.from_numpy([1.0, 2.0])
    assert isinstance(nn.Parameter(weights), cr.Tensor)

