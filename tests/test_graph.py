"""The define-by-run graph: reverse order, sums over paths, accumulation, freeing, no_grad."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

import chainrule as cr
from chainrule import ops, tensor


def test_value_on_several_paths_gets_the_sum_of_their_gradients():
    x = tensor(3.0, requires_grad=True)
    y = x * x + x * 2 + x.exp()  # dy/dx = 2x + 2 + e^x
    y.backward()
    assert x.grad == pytest.approx(2 * 3 + 2 + np.exp(3.0))


def test_diamond_graph_runs_each_op_once_after_all_its_consumers():
    calls = []

    class Spy(ops.Op):
        """y = x; dy/dx = 1, recording the order of backward calls."""

        def __init__(self, name):
            self.label = name

        def forward(self, x):
            return x

        def backward(self, upstream):
            calls.append((self.label, float(upstream)))
            return (upstream,)

    x = tensor(1.0, requires_grad=True)
    a = Spy.apply(x, name="a")
    b, c = a * 2, a * 3  # a feeds two paths
    Spy.apply(b + c, name="top").backward()
    # "a" runs once, after both paths reached it, with the summed gradient 2 + 3.
    assert calls == [("top", 1.0), ("a", 5.0)]
    assert x.grad == 5.0


def test_implicit_gradient_only_for_one_element_outputs():
    x = tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(cr.GraphError, match=r"one-element output.*shape \(2,\)"):
        (x * 2).backward()
    (x * 2).backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 20.0])
    with pytest.raises(cr.ShapeError, match="gradient of shape"):
        (x * 2).backward(np.ones(3))
    (x.sum(keepdims=True)).backward()  # shape (1,) counts as one element


def test_backward_on_a_tensor_without_graph_is_an_error():
    with pytest.raises(cr.GraphError, match="does not require grad"):
        tensor(1.0).backward()


def test_leaf_gradients_accumulate_across_calls_and_zero_by_none():
    w = tensor([1.0, -1.0], requires_grad=True)
    for _ in range(3):
        (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad, 3 * 2 * w.data)
    w.grad = None
    (w * 5).sum().backward()
    np.testing.assert_array_equal(w.grad, [5.0, 5.0])


def test_second_backward_through_a_freed_graph_raises_and_changes_nothing():
    x = tensor(2.0, requires_grad=True)
    y = x * x
    z = y * 3
    z.backward()
    assert x.grad == 12.0
    with pytest.raises(cr.GraphError, match="already freed.*retain_graph=True"):
        z.backward()
    with pytest.raises(cr.GraphError, match="already freed"):
        (y * 1).backward()  # a new op on top of a freed part of the graph
    assert x.grad == 12.0  # nothing half-accumulated


def test_retain_graph_allows_a_second_backward_that_accumulates():
    x = tensor(2.0, requires_grad=True)
    z = (x * x) * 3
    z.backward(retain_graph=True)
    z.backward(retain_graph=True)
    assert x.grad == 24.0
    z.backward()
    assert x.grad == 36.0


def test_cache_of_an_intermediate_is_released_after_backward():
    x = tensor(np.linspace(0.1, 1.0, 5), requires_grad=True)
    y = x.exp()
    z = (y * y).sum()  # Mul caches y's array, twice
    ref = weakref.ref(y.data)
    del y
    gc.collect()
    assert ref() is not None  # held by the Mul op's cache until backward
    z.backward()
    gc.collect()
    assert ref() is None
    np.testing.assert_allclose(x.grad, 2 * np.exp(2 * x.data))


def test_cache_is_dropped_even_while_the_output_tensor_lives():
    x = tensor(np.ones(4), requires_grad=True)
    h = x.exp()
    y = h * h
    ref = weakref.ref(h.data)
    del h
    y.sum().backward()
    gc.collect()
    assert ref() is None  # y is alive, but its op's cache is gone
    assert y.op is not None and not y.is_leaf


def test_backward_frees_ops_no_one_holds_and_releases_the_ones_held():
    x = tensor(np.ones(3), requires_grad=True)
    h = x.exp()  # the caller keeps h, so its node must be released (op cache dropped, unlinked)
    mid = h * 2.0
    mid_op = weakref.ref(mid.op)
    loss = mid.tanh().sum()
    del mid
    gc.disable()  # freed by reference counting alone, at once, not by the collector later
    try:
        loss.backward()
        assert mid_op() is None
    finally:
        gc.enable()
    np.testing.assert_allclose(x.grad, 2 * np.exp(1.0) * (1 - np.tanh(2 * np.exp(1.0)) ** 2))
    with pytest.raises(cr.GraphError, match="already freed"):
        (h * 1).sum().backward()
    with pytest.raises(cr.GraphError, match="already freed"):
        loss.backward()  # the root's node is held by loss: released too


def test_backward_drops_the_cache_of_an_op_held_without_its_tensor():
    """Holding only ``t.op`` (as a drawing of the graph does) must not keep its cache alive."""
    x = tensor(np.ones(5), requires_grad=True)
    h = x * x
    op = h.op
    y = h.sum()
    del h
    y.backward()
    with pytest.raises(cr.GraphError, match="freed by an earlier backward"):
        a, b = op.saved  # its cache (a, b) is gone
    assert repr(op) == "<op Mul, released>"  # its parameters (none here) stay


def test_retain_graph_keeps_the_cache():
    x = tensor(np.ones(4), requires_grad=True)
    h = x.exp()
    y = (h * h).sum()
    ref = weakref.ref(h.data)
    del h
    y.backward(retain_graph=True)
    gc.collect()
    assert ref() is not None


def test_non_leaf_gradients_only_with_retain_grad():
    x = tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    k = x * 4
    h.retain_grad()
    (h * k).sum().backward()
    np.testing.assert_array_equal(h.grad, k.data)
    assert k.grad is None
    np.testing.assert_array_equal(x.grad, 3 * k.data + 4 * h.data)


def test_no_grad_keeps_no_graph_and_is_thread_local():
    x = tensor([1.0, 2.0], requires_grad=True)
    seen_in_thread = []
    with cr.no_grad():
        y = x * 2
        assert not cr.is_grad_enabled()

        def worker():
            seen_in_thread.append((x * 2).requires_grad)

        t = threading.Thread(target=worker)
        t.start()
        t.join()
        with cr.enable_grad():
            assert (x * 2).requires_grad
    assert not y.requires_grad and y.op is None
    assert seen_in_thread == [True]
    assert cr.is_grad_enabled() and (x * 2).requires_grad


def test_grad_function_returns_gradients_without_touching_dot_grad():
    x = tensor([1.0, 2.0], requires_grad=True)
    w = tensor([3.0, 4.0], requires_grad=True)
    h = x * w
    out = (h * h).sum()
    gx, gh = cr.grad(out, [x, h])
    np.testing.assert_allclose(gh, 2 * h.data)
    np.testing.assert_allclose(gx, 2 * h.data * w.data)
    assert x.grad is None and w.grad is None


def test_constants_and_inputs_without_grad_get_no_gradient():
    x = tensor([1.0, 2.0], requires_grad=True)
    c = tensor([5.0, 6.0])
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad, [5.0, 6.0])


def test_ops_are_told_which_inputs_need_gradients():
    seen = []

    class Probe(ops.Op):
        def forward(self, a, b):
            seen.append(tuple(self.needs_input_grad))
            return a * b

        def backward(self, upstream):
            return (upstream, None)

    Probe.apply(tensor(1.0, requires_grad=True), tensor(2.0))
    Probe.apply(tensor(1.0), 3.0)
    assert seen == [(True, False), (False, False)]
    assert ops.Mul().needs_input_grad[5]  # by hand: every input needs one


def test_a_user_op_returning_a_wrong_shape_is_named():
    class Bad(ops.Op):
        def forward(self, x):
            return x.sum()

        def backward(self, upstream):
            return (np.ones(7),)

    x = tensor(np.ones(3), requires_grad=True)
    with pytest.raises(cr.ShapeError, match=r"bad.backward returned a gradient of shape \(7,\)"):
        Bad.apply(x).backward()


def test_a_user_op_may_return_a_python_number_as_a_gradient():
    """The ops below a user's op receive an array whatever the user's backward returned."""

    class Twice(ops.Op):
        def forward(self, x):
            return 2.0 * x

        def backward(self, upstream):
            return (2.0 * float(upstream),)  # a Python float, not an array

    cases = [  # (the op below Twice, d(2 * below(x))/dx at x = 0.5)
        (lambda t: t * np.array(3.0), 6.0),
        (lambda t: t + np.array(3.0), 2.0),
        (lambda t: t.tanh(), 2.0 * (1 - np.tanh(0.5) ** 2)),
    ]
    for below, expected in cases:
        x = tensor(np.array(0.5), requires_grad=True)
        Twice.apply(below(x)).backward()
        assert isinstance(x.grad, np.ndarray)
        assert float(x.grad) == pytest.approx(expected, rel=1e-12)


def test_leaf_gradients_never_alias_arrays_held_elsewhere():
    """.grad accumulates in place, so a leaf keeps a returned array only when it owns it alone."""
    const = np.array([1.0, 2.0, 3.0])

    class Same(ops.Op):  # one array returned for both inputs
        def forward(self, a, b):
            return a + b

        def backward(self, upstream):
            g = upstream * 1.0
            return (g, g)

    class Cached(ops.Op):  # returns an array from its own cache, and a read-only view
        def forward(self, x, y):
            self.keep = const * 1.0
            return x * 1.0 + y

        def backward(self, upstream):
            return (self.keep, np.broadcast_to(np.float64(2.0), (3,)))

    a, b = tensor(np.zeros(3), requires_grad=True), tensor(np.zeros(3), requires_grad=True)
    for _ in range(2):
        Same.apply(a, b).sum().backward()
    assert a.grad is not b.grad
    np.testing.assert_array_equal(a.grad, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(b.grad, [2.0, 2.0, 2.0])

    x, y = tensor(np.zeros(3), requires_grad=True), tensor(np.zeros(3), requires_grad=True)
    op_out = Cached.apply(x, y)
    kept = op_out.op.keep
    op_out.backward(np.ones(3), retain_graph=True)
    op_out.backward(np.ones(3))
    np.testing.assert_array_equal(kept, const)  # the cache was not accumulated into
    np.testing.assert_array_equal(x.grad, 2 * const)
    np.testing.assert_array_equal(y.grad, [4.0, 4.0, 4.0])  # the read-only view was copied

    u = tensor(np.zeros(3), requires_grad=True)
    given = np.ones(3)
    for _ in range(2):
        (u + 0.0).backward(given)  # Add passes the caller's array through
    np.testing.assert_array_equal(given, np.ones(3))
    np.testing.assert_array_equal(u.grad, [2.0, 2.0, 2.0])


def test_backward_of_a_leaf_gives_it_a_copy_of_the_gradient():
    """dL/dL: a leaf's own backward hands it the gradient, never the caller's array or a shared one."""
    x = tensor(np.array([1.0, 2.0]), requires_grad=True)
    given = np.array([3.0, 4.0])
    x.backward(given)
    x.backward(given)
    np.testing.assert_array_equal(x.grad, [6.0, 8.0])
    np.testing.assert_array_equal(given, [3.0, 4.0])

    s = tensor(2.0, requires_grad=True)
    s.backward()
    s.grad += 5.0  # .grad is the leaf's own array: the implied 1 of later calls is untouched
    t = tensor(1.0, requires_grad=True)
    t.backward()
    assert float(s.grad) == 6.0 and float(t.grad) == 1.0
    (dx,) = cr.grad(x, [x], grad_outputs=given)
    np.testing.assert_array_equal(dx, given)



@pytest.fixture
def relu_flags(monkeypatch):
    """What ``upstream_is_free`` said at each ReLU backward, in the order they ran."""
    seen: list[bool] = []
    backward = ops.ReLU.backward

    def spy(self, upstream):
        seen.append(self.upstream_is_free)
        return backward(self, upstream)

    monkeypatch.setattr(ops.ReLU, "backward", spy)
    return seen


def test_relu_masks_the_engines_own_upstream_in_place(relu_flags, monkeypatch):
    """In an MLP every ReLU's upstream is the engine's alone (Linear's fresh dx): it may be reused,
    and the gradients are exactly those computed without reuse."""
    from chainrule import nn

    x = np.random.default_rng(0).standard_normal((7, 4))
    target = np.array([0, 1, 2, 0, 1, 2, 0])

    def grads():
        model = nn.MLP(4, [5, 6], 3, rng=0)
        nn.CrossEntropyLoss()(model(x), target).backward()
        return [p.grad for p in model.parameters()]

    reused = grads()
    assert relu_flags == [True, True]
    relu_flags.clear()
    monkeypatch.setattr(ops.Linear, "fresh_grads", False)  # then Linear's dx is not the engine's own:
    fresh = grads()  # every ReLU makes a new array
    assert relu_flags == [False, False]
    for a, b in zip(reused, fresh):
        np.testing.assert_array_equal(a, b)


def test_relu_never_writes_into_an_upstream_someone_else_can_see(relu_flags):
    x_data = np.array([1.0, -2.0, 3.0])

    op = ops.ReLU()  # by hand, on a named array
    op.forward(x_data)
    g = np.array([5.0, 6.0, 7.0])
    np.testing.assert_array_equal(op.backward(g)[0], [5.0, 0.0, 7.0])
    np.testing.assert_array_equal(g, [5.0, 6.0, 7.0])

    t = tensor(x_data, requires_grad=True)  # the caller's gradient, given to backward
    g = np.ones(3)
    t.relu().backward(g)
    np.testing.assert_array_equal(g, np.ones(3))

    t = tensor(x_data, requires_grad=True)  # Add hands one array to two ReLUs: neither may write into it
    ((t.relu() + (t * -3.0).relu()) * 1.5).sum().backward()
    np.testing.assert_array_equal(t.grad, [1.5, -4.5, 1.5])

    t = tensor(x_data, requires_grad=True)  # cr.grad captures the upstream of the ReLU's node
    c = np.array([2.0, 3.0, 4.0])
    h = (t * 1.0).relu()
    (dh,) = cr.grad((h * c).sum(), [h])
    np.testing.assert_array_equal(dh, c)

    t = tensor(x_data, requires_grad=True)  # a step hook (the explain trace) sees every upstream as it was
    shown = []
    out = (t * 1.0).relu() * c
    cr.graph.run_backward(out, np.ones(3), hook=lambda op, up, grads: shown.append((op.name, up.copy())))
    np.testing.assert_array_equal(dict(shown)["relu"], c)
    assert relu_flags == [False, False, False, False, False, False]


def test_the_engine_lowers_upstream_is_free_after_the_call_even_when_backward_fails():
    class Fails(ops.Op):
        reuses_upstream = True

        def forward(self, x):
            return x * 1.0

        def backward(self, upstream):
            self.saw = self.upstream_is_free
            raise RuntimeError("no")

    y = Fails.apply(tensor(np.ones(2), requires_grad=True) * 2.0)
    op = y.op
    with pytest.raises(RuntimeError, match="no"):
        (y * 1.0).sum().backward()
    assert op.saw is True and op.upstream_is_free is False

def test_grad_mode_is_restored_after_an_error_and_three_input_ops_follow_it():
    w = tensor(np.ones((2, 3)), requires_grad=True)
    b = tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(RuntimeError), cr.no_grad():
        raise RuntimeError("inside no_grad")
    assert cr.is_grad_enabled()
    x = [[1.0, 2.0, 3.0]]  # a list input becomes an array
    assert ops.Linear.apply(x, w, b).requires_grad
    with cr.no_grad():
        y = ops.Linear.apply(x, w, b)
    assert not y.requires_grad and y.op is None
    np.testing.assert_array_equal(y.data, [[6.0, 6.0]])


def test_a_chain_of_a_million_ops():
    x = tensor(1.0, requires_grad=True)
    y = x
    n = 1_000_000
    for _ in range(n):
        y = y * 1.0000001
    y.backward()
    assert x.grad == pytest.approx(1.0000001**n, rel=1e-9)


def test_a_released_op_still_has_a_readable_repr():
    x = tensor([1.0, 2.0], requires_grad=True)
    y = x.sum(axis=0)
    assert repr(y.op) == "<op Sum(axis=0)>"
    y.backward()
    assert repr(y.op) == "<op Sum(axis=0), released>"  # its cache is gone, its parameters stay


# -- declared ownership: right whatever else runs in the process ------------------------------------

def test_two_relus_below_one_add_each_get_the_whole_gradient():
    """The issue's example: Add hands one upstream array to two ReLUs, so neither may mask it in place."""
    t = tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    ((t.relu() + (t * -3.0).relu()) * 1.5).sum().backward()
    np.testing.assert_array_equal(t.grad, [1.5, -4.5, 1.5])


#: Runs in a fresh interpreter: chainrule imported under a tracer, then this module's aliasing
#: tests, once after the traced import and once with the tracer on while they run.
TRACED = r'''
import sys


def tracer(frame, event, arg):
    frame.f_locals  # what a debugger's variables pane, pysnooper or snoop read at every line
    return tracer


sys.settrace(tracer)
import chainrule  # noqa: E402, F401

sys.settrace(None)
sys.path.insert(0, sys.argv[1])
import test_graph as tests  # noqa: E402

for tracing in (False, True):
    sys.settrace(tracer if tracing else None)
    tests.test_two_relus_below_one_add_each_get_the_whole_gradient()
    tests.test_leaf_gradients_never_alias_arrays_held_elsewhere()
    tests.test_backward_of_a_leaf_gives_it_a_copy_of_the_gradient()
    tests.test_a_leaf_keeps_a_fresh_gradient_and_copies_one_passed_through()
    sys.settrace(None)
print("ok")
'''


def test_gradients_are_right_under_a_line_tracer_that_reads_frame_locals():
    """The engine's reuse of arrays rests on what ops declare, not on reference counts, which a
    tracer reading every frame's locals (during the import, or while backward runs) shifts."""
    import subprocess
    import sys
    from pathlib import Path

    here = str(Path(__file__).parent)
    done = subprocess.run([sys.executable, "-c", TRACED, here], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_engine_holds_no_reference_count_thresholds():
    import inspect

    source = inspect.getsource(cr.graph) + inspect.getsource(cr.tensor)
    assert "getrefcount" not in source and "_REFS" not in source


def test_a_leaf_keeps_a_fresh_gradient_and_copies_one_passed_through():
    """Declared fresh (Mul): the leaf keeps the very array backward returned. Passed through
    (Add hands back its upstream, which the caller owns): the leaf keeps a copy."""
    kept = []

    class Spy(ops.Mul):
        def backward(self, upstream):
            grads = super().backward(upstream)
            kept.append(grads[0])
            return grads

    x = tensor(np.ones(3), requires_grad=True)
    Spy.apply(x, 2.0).backward(np.ones(3))
    assert x.grad is kept[0]
    y = tensor(np.ones(3), requires_grad=True)
    given = np.ones(3)
    (y + 1.0).backward(given)
    assert y.grad is not given and not np.shares_memory(y.grad, given)


def test_an_op_that_does_not_declare_fresh_gradients_never_has_its_arrays_written_into():
    class Keeps(ops.Op):  # returns an array from its own cache; declares nothing
        def forward(self, x):
            self.saved = (np.full(np.shape(x), 2.0),)
            return x * 2.0

        def backward(self, upstream):
            return self.saved

    x = tensor(np.ones(3), requires_grad=True)
    y = Keeps.apply(x)
    op = y.op
    y.relu().backward(np.ones(3), retain_graph=True)  # ReLU below Keeps: ReLU's upstream is the engine's
    y.sum().backward(retain_graph=True)
    np.testing.assert_array_equal(op.saved[0], [2.0, 2.0, 2.0])  # never accumulated into
    np.testing.assert_array_equal(x.grad, [4.0, 4.0, 4.0])


def test_a_users_op_with_slots_needs_nothing_special():
    class Scale(ops.Op):
        """y = k x;  dy/dx = k.  Shapes: x (...) -> y (...)."""

        __slots__ = ("k",)
        saves = ()

        def __init__(self, k):
            self.k = k

        def params(self):
            return {"k": self.k}

        def forward(self, x):
            return self.k * x

        def backward(self, upstream):
            return (upstream * self.k,) if self.needs_input_grad[0] else (None,)

    x = tensor(np.ones(2), requires_grad=True)
    y = Scale.apply(x, k=3.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    assert repr(y.op) == "<op Scale(k=3.0), released>"
    assert cr.gradcheck(Scale(2.0), [np.array([0.5, -1.0])])
