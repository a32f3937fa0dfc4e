"""Training checkpoints: a run stopped after any epoch and resumed ends bit for bit where an
uninterrupted run ends; a kill while a checkpoint is written keeps the previous one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule import data, nn, optim
from chainrule.serialization import read_file
from chainrule.train.checkpoint import load_checkpoint


def _run(checkpoint=None, resume=False, epochs=6, stop_after=None, dropout=0.0):
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((90, 4)), rng.integers(0, 3, 90)
    model = nn.MLP(4, [8], 3, rng=0, dropout=dropout)
    opt = optim.Adam(model.parameters(), lr=0.02)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)

    def crash(epoch, history, model):
        if stop_after is not None and epoch == stop_after:
            raise KeyboardInterrupt  # the run dies here, after epoch `stop_after` was checkpointed
        return None

    history = cr.fit(model, nn.CrossEntropyLoss(), opt, (X, y), test_data=(X[:20], y[:20]), epochs=epochs,
                     batch_size=16, seed=7, scheduler=sched, restore_best=True, progress=False,
                     checkpoint=checkpoint, resume=resume, callbacks=[crash] if stop_after else ())
    return model, opt, history


@pytest.mark.parametrize("stop_after, dropout", [(1, 0.0), (3, 0.0), (5, 0.0), (3, 0.3)])
def test_a_resumed_run_ends_bit_identical(tmp_path, stop_after, dropout):
    reference, ref_opt, ref_history = _run(dropout=dropout)
    path = tmp_path / "run.safetensors"
    with pytest.raises(KeyboardInterrupt):
        _run(checkpoint=path, stop_after=stop_after, dropout=dropout)
    if stop_after > 1:  # the crash came before the epoch's own checkpoint: the one before it is there
        assert load_checkpoint(path).epoch == stop_after - 1
    else:
        assert not path.exists()
    model, opt, history = _run(checkpoint=path, resume=True, dropout=dropout)  # dropout's generator resumed too
    for a, b in zip(model.parameters(), reference.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    ours, theirs = opt.state_dict()["state"], ref_opt.state_dict()["state"]
    for a, b in zip((ours[i] for i in sorted(ours)), (theirs[i] for i in sorted(theirs))):
        np.testing.assert_array_equal(a["exp_avg"], b["exp_avg"])
        assert a["step"] == b["step"]
    assert history.train_loss == ref_history.train_loss and history.lr == ref_history.lr
    assert history.best_epoch == ref_history.best_epoch and history.restored_best == ref_history.restored_best


def test_resuming_a_finished_run_returns_its_history_and_checks_what_it_resumes(tmp_path):
    path = tmp_path / "run.safetensors"
    _, _, first = _run(checkpoint=path, epochs=3)
    _, _, again = _run(checkpoint=path, resume=True, epochs=3)
    assert again.train_loss == first.train_loss
    model = nn.Linear(4, 3, rng=0)
    with pytest.raises(cr.ChainruleError):
        cr.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), (np.ones((6, 4)), np.zeros(6, int)),
               epochs=1, checkpoint=path, resume=True, progress=False)
    with pytest.raises(cr.ConfigError, match="resume=True needs checkpoint"):
        cr.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), (np.ones((6, 4)), np.zeros(6, int)),
               resume=True, progress=False)


def _exact_fit(checkpoint=None, resume=False, die_in_epoch=None):
    """Full-batch GD on data fitted exactly (optimum 0) until the target gap; may die inside an epoch."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    y = X @ np.array([[1.0], [-2.0], [0.5]]) + 0.25
    model = nn.Linear(3, 1, rng=0)
    mse, calls = nn.MSELoss(), [0]

    def loss_fn(out, target):  # one call per epoch
        calls[0] += 1
        if calls[0] == die_in_epoch:
            raise KeyboardInterrupt
        return mse(out, target)

    history = cr.fit(model, loss_fn, optim.SGD(model.parameters(), lr=0.3), (X, y), epochs=500, batch_size=50,
                     progress=False, optimum=0.0, target_gap=1e-3, checkpoint=checkpoint, resume=resume)
    return model, history


def test_a_resumed_run_stops_at_the_target_where_an_uninterrupted_one_does(tmp_path):
    reference, ref_history = _exact_fit()
    last = ref_history.epoch[-1]
    assert ref_history.stop_reason == "target" and np.isnan(ref_history.grad_norm[-1])  # no step in the last epoch
    path = tmp_path / "run.safetensors"
    with pytest.raises(KeyboardInterrupt):
        _exact_fit(checkpoint=path, die_in_epoch=last)
    model, history = _exact_fit(checkpoint=path, resume=True)  # the gap's scale is the first epoch's loss again
    assert history.epoch[-1] == last and np.isnan(history.grad_norm[-1])
    for a, b in zip(model.parameters(), reference.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_resuming_a_stopped_run_still_puts_back_the_best_parameters(tmp_path):
    def run(checkpoint=None, resume=False):
        rng = np.random.default_rng(3)
        X, y = rng.standard_normal((90, 4)), rng.integers(0, 3, 90)
        model = nn.MLP(4, [32], 3, rng=0)
        history = cr.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.05), (X, y),
                         test_data=(X[:20] + 3, y[:20]), epochs=20, batch_size=16, seed=7, restore_best=True,
                         progress=False, checkpoint=checkpoint, resume=resume,
                         callbacks=[lambda epoch, h, m: epoch == 8])
        return model, history

    reference, ref_history = run()
    assert ref_history.stop_reason == "callback" and ref_history.restored_best and ref_history.best_epoch < 8
    path = tmp_path / "run.safetensors"
    run(checkpoint=path)  # stopped, and its checkpoint says so; then the same run again
    model, history = run(checkpoint=path, resume=True)
    assert history.restored_best and history.stop_reason == "callback" and len(history) == 8
    for a, b in zip(model.parameters(), reference.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def _variant(tmp_path, good, name, tensors=None, **metadata):
    from safetensors.numpy import save_file

    original, meta = read_file(good)
    path = tmp_path / name
    save_file(original if tensors is None else tensors(original), str(path), metadata={**meta, **metadata})
    return path


def test_a_damaged_checkpoint_is_a_clear_error_and_changes_nothing(tmp_path):
    good = tmp_path / "good.safetensors"
    _run(checkpoint=good, epochs=2)
    fit_meta = json.loads(read_file(good)[1]["fit"])
    bad_history = {**fit_meta, "history": {**fit_meta["history"], "train_loss": "abc"}}
    cases = {
        "fit.st": ({"fit": "[]"}, "fit entry is a list"),
        "nohistory.st": ({"fit": json.dumps({"epoch": 1, "stale": 0})}, "KeyError: 'history'"),
        "nogroups.st": ({"optimizer": json.dumps({"kind": "Adam", "scalars": {}})}, "param_groups"),
        "history.st": ({"fit": json.dumps(bad_history)}, "history's 'train_loss'"),
        "rng.st": ({"rng": json.dumps({"bit_generator": "PCG64", "state": 3})}, "random state does not fit"),
        "epoch.st": ({"fit": json.dumps({**fit_meta, "epoch": -1})}, "whole numbers"),
    }
    for name, (metadata, message) in cases.items():
        path = _variant(tmp_path, good, name, **metadata)
        with pytest.raises(cr.SerializationError, match=message) as caught:
            _run(checkpoint=path, resume=True, epochs=4)
        assert name in str(caught.value)
    renamed = _variant(tmp_path, good, "tensor.st", tensors=lambda t: {**t, "optimizer.x.exp_avg": np.zeros(1)})
    with pytest.raises(cr.SerializationError, match="tensor.st.*damaged"):
        _run(checkpoint=renamed, resume=True, epochs=4)
    # a checkpoint of another dtype is refused before the model is touched
    model = nn.MLP(4, [8], 3, rng=1, dropout=0.0, dtype="float32")
    before = [p.data.copy() for p in model.parameters()]
    opt = optim.Adam(model.parameters(), lr=0.02)
    with pytest.raises(cr.SerializationError, match="float64 of shape"):
        cr.fit(model, nn.CrossEntropyLoss(), opt, (np.ones((6, 4), np.float32), np.zeros(6, int)), epochs=4,
               scheduler=optim.StepLR(opt, step_size=2, gamma=0.5), checkpoint=good, resume=True, progress=False)
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters()))


KILLED = r"""
import sys
import numpy as np
import chainrule as cr
from chainrule import nn, optim

rng = np.random.default_rng(3)
X, y = rng.standard_normal((3000, 40)), rng.integers(0, 5, 3000)
model = nn.MLP(40, [256, 256], 5, rng=0)
opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
cr.fit(model, nn.CrossEntropyLoss(), opt, (X, y), epochs=int(sys.argv[2]), batch_size=64, seed=1,
       progress=False, checkpoint=sys.argv[1], resume=True)
np.save(sys.argv[1] + ".final.npy", np.concatenate([p.data.ravel() for p in model.parameters()]))
"""


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_bit_identical(tmp_path):
    epochs = 6
    reference = tmp_path / "reference.safetensors"
    subprocess.run([sys.executable, "-c", KILLED, str(reference), str(epochs)], check=True, timeout=300)
    path = tmp_path / "run.safetensors"
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(path), str(epochs)])
    deadline = time.time() + 240
    while time.time() < deadline and not (path.exists() and load_checkpoint(path).epoch >= 2):
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    killed_at = load_checkpoint(path).epoch
    assert 2 <= killed_at < epochs
    subprocess.run([sys.executable, "-c", KILLED, str(path), str(epochs)], check=True, timeout=300)
    np.testing.assert_array_equal(np.load(str(path) + ".final.npy"), np.load(str(reference) + ".final.npy"))


def test_loader_order_depends_only_on_the_seed_and_the_epoch():
    loader = data.DataLoader((np.arange(10.0)[:, None], np.arange(10)), batch_size=3, shuffle=True, rng=5)
    first = [b[1].tolist() for b in loader]
    state = loader.rng.bit_generator.state
    second = [b[1].tolist() for b in loader]
    loader.rng.bit_generator.state = state
    assert [b[1].tolist() for b in loader] == second != first
