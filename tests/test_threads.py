"""Training in two threads at once: each model ends bit for bit where it ends alone; grad mode and
anomaly mode are each thread's own."""

from __future__ import annotations

import threading

import numpy as np

import chainrule as cr
from chainrule import nn, optim


def _train(seed: int, steps: int = 30) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((64, 5)), rng.integers(0, 3, 64)
    model = nn.MLP(5, [16, 8], 3, activation="tanh", rng=seed)
    opt = optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(steps):
        batch = rng.permutation(64)[:16]
        opt.zero_grad()
        loss_fn(model(X[batch]), y[batch]).backward()
        opt.step()
        if step % 7 == 0:
            with cr.no_grad():  # an evaluation in the middle: this thread's setting only
                model(X)
    return [p.data.copy() for p in model.parameters()]


def test_two_models_trained_at_once_match_training_them_in_turn():
    alone = [_train(1), _train(2)]
    together: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []

    def run(seed):
        try:
            together[seed] = _train(seed)
        except BaseException as exc:  # noqa: BLE001 - reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for seed, expected in zip((1, 2), alone):
        for a, b in zip(together[seed], expected):
            np.testing.assert_array_equal(a, b)


def test_no_grad_in_one_thread_does_not_reach_another():
    x = cr.tensor(np.ones(2), requires_grad=True)
    inside, released = threading.Event(), threading.Event()
    seen = []

    def holds_no_grad():
        with cr.no_grad():
            inside.set()
            released.wait(5)

    t = threading.Thread(target=holds_no_grad)
    t.start()
    inside.wait(5)
    seen.append((x * 2).requires_grad)  # this thread records while the other is in no_grad
    released.set()
    t.join()
    assert seen == [True]
