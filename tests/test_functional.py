"""The functions built on the blocks (chainrule.functional's composites), against NumPy and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

rng = np.random.default_rng(0)
X = rng.standard_normal((3, 5))


def test_sort_topk_argmax_and_take_along_axis_match_torch(torch):
    t, tt = cr.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    values, indices = cr.topk(t, 2, axis=1)
    values_t, indices_t = torch.topk(tt, 2, dim=1)
    np.testing.assert_array_equal(indices.numpy(), indices_t.numpy())
    s, s_t = cr.sort(t, axis=0, descending=True), torch.sort(tt, dim=0, descending=True).values
    ((values * values).sum() + (s * s[::-1]).sum()).backward()
    ((values_t * values_t).sum() + (s_t * s_t.flip(0)).sum()).backward()
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(cr.argmax(t, axis=1).numpy(), np.argmax(X, axis=1))
    np.testing.assert_array_equal(cr.argmin(t).numpy(), np.argmin(X))
    picked = cr.take_along_axis(t, np.array([[1, 1], [0, 4], [2, 2]]), 1)  # a repeat: its gradient sums
    np.testing.assert_array_equal(picked.numpy(), np.take_along_axis(X, np.array([[1, 1], [0, 4], [2, 2]]), 1))
    t.grad = None
    picked.sum().backward()
    assert t.grad[0, 1] == 2.0 and t.grad[1, 4] == 1.0 and t.grad.sum() == 6.0
    assert cr.gradgradcheck(lambda x: (cr.sort(x, axis=1) ** 3).sum(), [X])


def test_split_chunk_tensordot_slogdet_atleast_2d():
    t = cr.tensor(X, requires_grad=True)
    parts = cr.split(t, [1, 4], axis=1)
    assert [p.shape for p in parts] == [(3, 1), (3, 3), (3, 1)]
    assert [p.shape for p in cr.chunk(t, 2, axis=1)] == [(3, 3), (3, 2)]
    with pytest.raises(ValueError, match="equal pieces"):
        cr.split(t, 2, axis=1)
    sum(((k + 1) * p).sum() for k, p in enumerate(parts)).backward()
    np.testing.assert_array_equal(t.grad[0], [1, 2, 2, 2, 3])
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 3, 2))
    np.testing.assert_allclose(cr.tensordot(a, b, ([1, 2], [1, 0])).numpy(), np.tensordot(a, b, ([1, 2], [1, 0])))
    assert cr.gradcheck(lambda x, y: cr.tensordot(x, y, 1), [a, b])
    m = np.array([[2.0, 1.0], [1.0, -3.0]])
    sign, logabs = cr.slogdet(m)
    assert sign == -1.0 and np.isclose(float(logabs.item()), np.log(7.0))
    assert cr.atleast_2d(cr.tensor(2.0)).shape == (1, 1) and cr.atleast_2d(t).shape == (3, 5)
