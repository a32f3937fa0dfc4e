"""gradcheck: passes correct gradients, catches wrong ones, and says where."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import ops


class WrongCube(ops.Op):
    """y = x**3, with a deliberately wrong backward: 3x instead of 3x²."""

    def forward(self, x):
        self.x = x
        return x**3

    def backward(self, upstream):
        return (upstream * 3 * self.x,)


class Cube(ops.Op):
    """y = x**3;  dy/dx = 3x²."""

    def forward(self, x):
        self.x = x
        return x**3

    def backward(self, upstream):
        return (upstream * 3 * self.x**2,)


def test_a_correct_user_op_passes_by_hand_in_the_graph_and_in_gradcheck(rng):
    x = rng.standard_normal((3, 2))
    result = cr.gradcheck(Cube, [x])
    assert result and result.passed and result.max_abs_error < 1e-6
    t = cr.tensor(x, requires_grad=True)
    Cube.apply(t).sum().backward()
    np.testing.assert_allclose(t.grad, 3 * x**2)
    assert cr.gradcheck(lambda a: Cube.apply(a).sum(), [x])


def test_a_wrong_user_op_fails_and_the_report_names_input_and_element():
    x = np.array([[0.5, 2.0], [-1.5, 3.0]])
    assert not cr.gradcheck(WrongCube, [x])  # as a block, by hand (random projection of y)
    result = cr.gradcheck(lambda a: WrongCube.apply(a).sum(), [x])  # in the graph
    assert not result
    check = result.checks[0]
    assert not check.passed
    # |3x - 3x²| is largest at x = 3.0, element (1, 1).
    assert check.worst_index == (1, 1)
    report = result.report()
    assert "FAILED" in report and "input 0" in report and "element (1, 1)" in report
    assert "backward 9" in report and "numerical 27" in report
    with pytest.raises(cr.GradcheckError, match=r"element \(1, 1\)"):
        cr.gradcheck(lambda a: WrongCube.apply(a).sum(), [x], raise_on_failure=True)


def test_configured_op_instances_and_constant_inputs():
    x = np.arange(6.0).reshape(2, 3)
    assert cr.gradcheck(ops.Sum(axis=1, keepdims=True), [x])
    cond = np.array([[True, False, True], [False, True, False]])
    result = cr.gradcheck(ops.Where, [cond, x, -x])
    assert result and [c.position for c in result.checks] == [1, 2]


def test_model_parameters_as_inputs_are_restored(rng):
    w = cr.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    X = rng.standard_normal((5, 3))
    before = w.data.copy()
    result = cr.gradcheck(lambda w_: ((X @ w_).tanh() ** 2).sum(), [w])
    assert result
    np.testing.assert_array_equal(w.data, before)
    assert w.grad is None


def test_float32_tensors_are_refused():
    with pytest.raises(cr.DTypeError, match="float64"):
        cr.gradcheck(lambda a: a.sum(), [cr.tensor(np.ones(2, dtype=np.float32), requires_grad=True)])


def test_tolerances_decide():
    x = np.array([1.0, 2.0])
    loose = cr.gradcheck(WrongCube, [x], atol=10.0, rtol=1.0)
    assert loose  # within the (silly) tolerance
    assert not cr.gradcheck(WrongCube, [x])


def test_gradgradcheck_needs_a_float_input():
    with pytest.raises(cr.DTypeError, match="no floating-point input"):
        cr.gradgradcheck(lambda i: cr.tensor([1.0])[i], [np.array([0])])


def test_gradgradcheck_on_a_function_and_an_op_instance():
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    assert cr.gradgradcheck(lambda t: (t.tanh() * t.exp()).sum(axis=0), [x])
    assert cr.gradgradcheck(ops.LogSumExp(axis=1), [x])
    result = cr.gradgradcheck(ops.Softmax(axis=0), [x])
    assert result and [c.position for c in result.checks] == [0, 1]  # the input, then the upstream
