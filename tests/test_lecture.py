"""The lecture's worked examples, with the expected numbers worked out by hand.

Each is computed the three ways the course teaches: with the op blocks by
hand (forward saving caches, backward passing upstream gradients down),
through Tensor, and by finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import ops
from chainrule.lecture import linreg_three_ways, loss_by_hand, loss_tensor, make_problem


def test_example_1_add_sub_mul_by_hand_with_blocks():
    # A = 2, B = -1, C = 3, D = 5:  E = A + B = 1,  F = C - D = -2,  G = E·F = -2,  H = G·C = -6.
    A, B, C, D = 2.0, -1.0, 3.0, 5.0
    add, sub, mul_g, mul_h = ops.Add(), ops.Sub(), ops.Mul(), ops.Mul()
    E = add.forward(A, B)
    F = sub.forward(C, D)
    G = mul_g.forward(E, F)
    H = mul_h.forward(G, C)
    assert (E, F, G, H) == (1.0, -2.0, -2.0, -6.0)
    # Backward: dH/dH = 1; dH/dG = C = 3, and C's first path gives G = -2.
    dG, dC_direct = mul_h.backward(np.float64(1.0))
    assert (dG, dC_direct) == (3.0, -2.0)
    dE, dF = mul_g.backward(dG)  # dH/dE = dH/dG·F = -6, dH/dF = dH/dG·E = 3
    assert (dE, dF) == (-6.0, 3.0)
    dA, dB = add.backward(dE)  # -6, -6
    dC_via_F, dD = sub.backward(dF)  # 3, -3
    assert (dA, dB, dC_via_F, dD) == (-6.0, -6.0, 3.0, -3.0)
    assert dC_direct + dC_via_F == 1.0  # C is on two paths: the contributions are summed


def test_example_1_through_tensor_and_gradcheck():
    A, B, C, D = (cr.tensor(v, requires_grad=True) for v in (2.0, -1.0, 3.0, 5.0))
    H = (A + B) * (C - D) * C
    H.backward()
    assert H.item() == -6.0
    assert [t.grad for t in (A, B, C, D)] == [-6.0, -6.0, 1.0, -3.0]
    assert cr.gradcheck(lambda a, b, c, d: (a + b) * (c - d) * c, [2.0, -1.0, 3.0, 5.0])


def test_example_2_square_and_a_value_on_two_paths():
    # a = 3, b = 2:  E = a·b = 6,  F = E + a = 9,  G = F² = 81.
    # dG/dF = 2F = 18;  dG/dE = 18;  dG/db = 18·a = 54;  dG/da = 18·b + 18 = 54 (two paths summed).
    a = cr.tensor(3.0, requires_grad=True)
    b = cr.tensor(2.0, requires_grad=True)
    E = a * b
    F = E + a
    G = F**2
    for t in (E, F):
        t.retain_grad()
    G.backward()
    assert (E.item(), F.item(), G.item()) == (6.0, 9.0, 81.0)
    assert (F.grad, E.grad, a.grad, b.grad) == (18.0, 18.0, 54.0, 54.0)
    assert cr.gradcheck(lambda a, b: (a * b + a) ** 2, [3.0, 2.0])


def test_linear_regression_three_ways_equal_the_formula():
    X, Y, theta = make_problem(n_objects=8, n_features=3, seed=4)
    r = linreg_three_ways(X, Y, theta)
    expected = 2 * X.T @ (X @ theta - Y)
    np.testing.assert_allclose(r.by_hand, expected, rtol=1e-12)
    np.testing.assert_allclose(r.by_tensor, expected, rtol=1e-12)
    np.testing.assert_allclose(r.numerical, expected, rtol=1e-6)
    assert r.loss == pytest.approx(np.sum((X @ theta - Y) ** 2))
    assert r.max_disagreement() < 1e-5


def test_linear_regression_theta_starts_from_standard_normal():
    thetas = np.array([make_problem(n_features=4, seed=s)[2] for s in range(400)]).ravel()
    assert abs(thetas.mean()) < 0.1 and abs(thetas.std() - 1) < 0.1


def test_blocks_by_hand_agree_with_tensor_on_a_batch_of_problems(rng):
    for _ in range(5):
        X = rng.standard_normal((10, 4))
        Y = rng.standard_normal(10)
        theta = rng.standard_normal(4)
        L, dtheta = loss_by_hand(X, Y, theta)
        t = cr.tensor(theta, requires_grad=True)
        out = loss_tensor(X, Y, t)
        out.backward()
        assert L == pytest.approx(out.item(), rel=1e-12)
        np.testing.assert_allclose(dtheta, t.grad, rtol=1e-12)
