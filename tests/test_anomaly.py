"""detect_anomaly: the first NaN or Inf names its op, forward or backward, what went in and where;
a saved value changed by any means is caught; nothing changes, or costs, when it is off."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule import tensor


def test_a_nan_in_forward_names_the_op_its_inputs_and_the_line():
    x = tensor(np.array([1.0, -1.0, 4.0]), requires_grad=True)
    with cr.detect_anomaly(), pytest.raises(cr.GraphError) as info, np.errstate(invalid="ignore"):
        y = x * 2.0
        y.sqrt().sum()
    message = str(info.value)
    assert "Sqrt produced NaN in its forward" in message
    assert "test_anomaly.py:" in message and "min -2 max 8" in message


def test_an_infinity_in_backward_names_the_op_and_the_forward_line():
    x = tensor(np.array([0.0, 1.0]), requires_grad=True)
    with cr.detect_anomaly():
        y = x.sqrt().sum()  # finite forward; d sqrt(x)/dx = inf at 0
        with pytest.raises(cr.GraphError) as info, np.errstate(divide="ignore"):
            y.backward()
    message = str(info.value)
    assert "Sqrt produced infinity in its backward" in message and "gradient for input 0" in message
    assert "test_anomaly.py:" in message and "upstream gradient" in message


def test_without_anomaly_mode_nan_flows_as_numbers_do():
    x = tensor(np.array([-1.0]), requires_grad=True)
    with np.errstate(invalid="ignore"):
        y = x.log().sum()
        y.backward()
    assert np.isnan(float(y.data)) and not cr.is_anomaly_enabled()


def test_a_write_into_a_users_array_is_caught_under_anomaly_mode():
    c = np.array([1.0, 2.0])
    w = tensor(np.ones(2), requires_grad=True)
    with cr.detect_anomaly():
        out = (w * c).sum()  # Mul saves c, the caller's own array
        c[0] = 99.0  # a write chainrule cannot see
        with pytest.raises(cr.GraphError) as info:
            out.backward()
    message = str(info.value)
    assert "mul saved its input 'b' (shape (2,))" in message and "test_anomaly.py:" in message


def test_anomaly_mode_is_per_thread():
    seen = []
    with cr.detect_anomaly():
        t = threading.Thread(target=lambda: seen.append(cr.is_anomaly_enabled()))
        t.start()
        t.join()
        assert cr.is_anomaly_enabled()
    assert seen == [False] and not cr.is_anomaly_enabled()


def test_the_same_gradients_with_and_without_anomaly_mode():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))

    def grads():
        w = tensor(rng.standard_normal((3, 2)) * 0 + 0.5, requires_grad=True)
        (x @ w).tanh().sum().backward()
        return w.grad

    plain = grads()
    with cr.detect_anomaly():
        checked = grads()
    np.testing.assert_array_equal(plain, checked)
