"""Training checkpoints: a run stopped after any epoch and resumed ends bit for bit where an
uninterrupted run ends; a kill while a checkpoint is written keeps the previous one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule import data, nn, optim
from chainrule.train.checkpoint import load_checkpoint


def _run(checkpoint=None, resume=False, epochs=6, stop_after=None):
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((90, 4)), rng.integers(0, 3, 90)
    model = nn.MLP(4, [8], 3, rng=0, dropout=0.0)
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


@pytest.mark.parametrize("stop_after", [1, 3, 5])
def test_a_resumed_run_ends_bit_identical(tmp_path, stop_after):
    reference, ref_opt, ref_history = _run()
    path = tmp_path / "run.safetensors"
    with pytest.raises(KeyboardInterrupt):
        _run(checkpoint=path, stop_after=stop_after)
    if stop_after > 1:  # the crash came before the epoch's own checkpoint: the one before it is there
        assert load_checkpoint(path).epoch == stop_after - 1
    else:
        assert not path.exists()
    model, opt, history = _run(checkpoint=path, resume=True)
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
