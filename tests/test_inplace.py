"""In-place changes after a value was saved for backward: every way is loud, and nothing legal is refused."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim, tensor


def test_the_issue_example_with_an_op_that_saves_its_input():
    """Log saves its input: writing into it through .data, before backward, cannot go unnoticed."""
    a = tensor(np.ones(3), requires_grad=True)
    b = a * 2
    c = b.log()
    with pytest.raises(ValueError, match="read-only"):
        b.data[:] = 5  # the data of a recorded result is read-only while its graph is alive
    c.sum().backward()
    np.testing.assert_allclose(a.grad, [1.0, 1.0, 1.0])
    b.data[:] = 5  # backward has freed the graph: writeable again
    assert b.data[0] == 5


@pytest.mark.parametrize("change", [
    lambda t: t.add_(1.0), lambda t: t.sub_(1.0), lambda t: t.mul_(3.0), lambda t: t.div_(2.0),
    lambda t: t.zero_(), lambda t: t.fill_(7.0), lambda t: t.copy_(np.full(3, 4.0)),
    lambda t: t.__setitem__(1, 9.0), lambda t: t.__setitem__(slice(None), cr.tensor([1.0, 2.0, 3.0])),
])
def test_every_in_place_method_on_a_saved_value_makes_backward_refuse(change):
    w = tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = (w * w).sum()  # Mul saves both operands: w's array
    with cr.no_grad():
        change(w)
    with pytest.raises(cr.GraphError) as info:
        y.backward()
    message = str(info.value)
    assert "mul saved its input 'a'" in message and "shape (3,)" in message and "Mul" in message
    assert w.grad is None  # nothing was accumulated


def test_a_write_through_a_view_counts():
    w = tensor(np.arange(6.0), requires_grad=True)
    y = (w.reshape(2, 3) + 2.0).exp().sum()  # Add saves shapes, Exp its own output
    z = (w[:3] * w[:3]).sum()  # Mul saves views of w's memory
    with cr.no_grad():
        w[0] = 10.0
    y.backward()  # nothing y's ops saved shares w's memory: legal
    with pytest.raises(cr.GraphError, match="mul saved its input"):
        z.backward()


def test_an_optimiser_step_between_forward_and_backward_is_refused():
    model = nn.MLP(3, [4], 2, rng=0)
    opt = optim.Adam(model.parameters(), lr=0.1)
    x = np.ones((5, 3))
    loss = nn.CrossEntropyLoss()(model(x), np.array([0, 1, 0, 1, 0]))
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    opt.step()  # changes the second layer's weight, which its Linear saved for dx
    with pytest.raises(cr.GraphError, match="linear saved its input 'weight'"):
        loss.backward()


def test_every_step_stamps_even_after_a_parameter_got_new_data():
    # the optimiser remembers the arrays it stamped last; a replaced array must be stamped too
    model = nn.Linear(3, 2, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = cr.tensor(np.ones((4, 3)), requires_grad=True)  # so that Linear saves the weight, for dx
    for replace in (False, True, False):
        if replace:
            with cr.no_grad():
                model.weight.data = model.weight.data.copy()
        out = model(x).sum()
        model.weight.grad, model.bias.grad = np.ones((2, 3)), np.ones(2)
        opt.step()
        with pytest.raises(cr.GraphError, match="saved its input 'weight'"):
            out.backward()
        opt.zero_grad()
        model(x).sum().backward()  # after the step, a new forward is fine


def test_a_write_made_during_backward_by_a_hook_is_caught():
    w = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    x = cr.tensor(np.ones(3), requires_grad=True)
    z = (w * x) * 1.0

    def hook(grad):
        with cr.no_grad():
            w.mul_(10.0)  # changes what the first Mul saved, after backward started

    z.register_hook(hook)
    with pytest.raises(cr.GraphError, match="mul saved its input 'a'"):
        z.sum().backward()


def test_a_step_does_not_stamp_a_parameter_it_leaves_alone():
    w1 = cr.tensor(np.ones(3), requires_grad=True)
    w2 = cr.tensor(np.full(3, 2.0), requires_grad=True)
    x = cr.tensor(np.arange(3.0))
    opt = optim.SGD([w1, w2], lr=0.1)
    loss_b = (w2 * x).sum()  # saves w2
    (w1 * x).sum().backward()
    opt.step()  # w2 has no gradient: the step skips it, as PyTorch's does
    loss_b.backward()
    np.testing.assert_array_equal(w2.grad, [0.0, 1.0, 2.0])


def test_a_failed_in_place_write_changes_nothing_and_is_not_counted():
    w = cr.tensor(np.ones(3), requires_grad=True)
    c = cr.tensor(np.ones(3))
    y = (w * c).sum()  # Mul saves c
    with cr.no_grad(), pytest.raises(ValueError):
        c.add_(np.ones(4))  # shapes that do not broadcast: nothing written
    y.backward()
    np.testing.assert_array_equal(w.grad, np.ones(3))


def test_reading_data_of_a_view_and_its_base_then_backward():
    x = cr.tensor(np.ones(4), requires_grad=True)
    h = x * 2
    v = h.reshape(2, 2)
    assert not v.data.flags.writeable and not h.data.flags.writeable  # backward frees v's node before h's
    v.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full(4, 2.0))
    assert h.data.flags.writeable and v.data.flags.writeable  # both writeable again once their graph is gone


def test_reading_a_result_never_locks_the_users_own_array_and_a_shared_write_is_a_clear_error():
    mine = np.array([1.0, 2.0, 3.0])
    y = cr.identity(cr.from_numpy(mine).requires_grad_())  # the result is the user's array itself
    assert y.data is mine
    mine[0] = 10.0  # still the user's to write
    w = cr.tensor(np.ones(3), requires_grad=True)
    r = w * 2
    assert not r.data.flags.writeable  # while backward may need it
    with cr.no_grad(), pytest.raises(cr.GraphError, match="add_: this tensor's data is read-only"):
        r.detach().add_(1.0)  # shares r's memory


def test_no_false_alarms():
    model = nn.MLP(3, [4], 2, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = np.ones((5, 3)), np.array([0, 1, 0, 1, 0])
    for _ in range(3):  # optimiser steps after backward
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(x), y)
        loss.backward(retain_graph=True)
        loss.backward()  # a rerun without edits
        opt.step()
    with cr.no_grad():  # no_grad edits of parameters, with no graph alive
        model[0].weight.mul_(0.5)
        model[0].bias[0] = 1.0
        model[0].weight.data[...] = 0.25
    w = tensor(np.ones(2), requires_grad=True)
    out = (w + 1.0).sum()  # Add saves no array of w's: changing w does not touch its backward
    with cr.no_grad():
        w.add_(1.0)
    out.backward()
    np.testing.assert_array_equal(w.grad, [1.0, 1.0])
    c = tensor(np.ones(2))  # a constant that no op saved
    c.add_(1.0)
    np.testing.assert_array_equal(c.data, [2.0, 2.0])


def test_in_place_change_of_a_tensor_that_requires_grad_needs_no_grad():
    w = tensor(np.ones(2), requires_grad=True)
    with pytest.raises(cr.GraphError, match="add_: an in-place change of a tensor that requires grad"):
        w.add_(1.0)
    with pytest.raises(cr.GraphError, match=r"t\[index\] = value"):
        w[0] = 3.0
    np.testing.assert_array_equal(w.data, [1.0, 1.0])
    total = w * 1.0
    total += w  # `+=` makes a new tensor (never a write in place), so it is recorded as an addition
    total.sum().backward()
    np.testing.assert_array_equal(w.grad, [2.0, 2.0])


def test_a_result_read_during_forward_is_writeable_once_its_graph_is_gone():
    x = tensor(np.ones(3), requires_grad=True)
    h = x.exp()
    values = h.data
    assert not values.flags.writeable
    del h
    import gc

    gc.collect()
    assert values.flags.writeable  # the graph went without a backward: nothing needs it any more
    with cr.no_grad():
        free = x.exp()
    assert free.data.flags.writeable  # not recorded: an ordinary array


def test_numpy_and_array_share_the_rules_of_data():
    x = tensor(np.ones(2), requires_grad=True)
    y = x * 3.0
    assert not y.numpy().flags.writeable and not np.asarray(y).flags.writeable
    assert x.numpy() is x.data and x.numpy().flags.writeable  # a leaf's data is its own array


def test_stamping_from_many_threads_while_thousands_of_stamped_arrays_live():
    kept = [cr.tensor(np.zeros(2)) for _ in range(5000)]
    with cr.no_grad():
        for t in kept:
            t.zero_()  # each stamped once, and alive
    errors = []

    def write():
        try:
            with cr.no_grad():
                for _ in range(1000):
                    cr.tensor(np.ones(3)).mul_(2.0)  # a fresh array each time: registered, then gone
        except Exception as exc:  # noqa: BLE001 - any escaping error is the failure
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can
    try:
        threads = [threading.Thread(target=write) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors
