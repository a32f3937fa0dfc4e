"""Training on a Dask cluster (issue 18): synchronous data-parallel SGD on a LocalCluster of worker processes,
on loopback only."""

from __future__ import annotations

import logging
import os
import re
import signal

import numpy as np
import pytest

import chainrule as cr
from chainrule import distributed as crd
from chainrule.errors import ConfigError, DataError

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning")


def cluster(workers: int):
    c = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                 dashboard_address=None, silence_logs=logging.ERROR)
    return c, distributed.Client(c)


def running(workers: int):
    c, client = cluster(workers)
    yield client
    client.close()
    c.close()


@pytest.fixture(scope="module")
def two():
    yield from running(2)


@pytest.fixture(scope="module")
def one():
    yield from running(1)


@pytest.fixture(scope="module")
def problem():
    data = cr.data.make_linear(600, 4, noise=0.3, rng=0)
    return data.X, data.Y


def dask_data(X, Y, rows: int = 150):
    return da.from_array(X, chunks=(rows, X.shape[1])), da.from_array(Y, chunks=rows)


def train(client, data, epochs: int = 2, batch_size: int = 40, **kw):
    model = cr.nn.LinearRegression(4, rng=0)
    opt = cr.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    history = crd.fit(model, cr.nn.MSELoss(), opt, data, client=client, epochs=epochs, batch_size=batch_size,
                      progress=False, **kw)
    return [p.numpy().copy() for p in model.parameters()], history


def by_hand(X, Y, shard_rows: int, epochs: int = 2, batch_size: int = 40):
    """The same schedule in one process without Dask: each step, every shard's slice of its permutation,
    joined into one batch, one mean-squared-error gradient, one step."""
    shards = [(X[a:a + shard_rows], Y[a:a + shard_rows]) for a in range(0, len(X), shard_rows)]
    model = cr.nn.LinearRegression(4, rng=0)
    opt = cr.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    steps = -(-len(X) // batch_size)
    for epoch in range(1, epochs + 1):
        for step in range(steps):
            rows = [crd._rows(len(x), 0, epoch, i, step, steps) for i, (x, _) in enumerate(shards)]
            xb = np.concatenate([x[r] for (x, _), r in zip(shards, rows)])
            yb = np.concatenate([y[r] for (_, y), r in zip(shards, rows)])
            opt.zero_grad()
            cr.nn.MSELoss()(model(xb), yb).backward()
            opt.step()
    return [p.numpy().copy() for p in model.parameters()]


def test_one_worker_and_two_give_the_same_parameters_and_the_minibatch_gradient(one, two, problem):
    X, Y = problem
    on_one, h1 = train(one, dask_data(X, Y))
    on_two, h2 = train(two, dask_data(X, Y))
    for a, b in zip(on_one, on_two):
        np.testing.assert_array_equal(a, b)  # the same sum in the same order: bit for bit
    assert h1.train_loss == h2.train_loss and len(h1) == 2 and h1.train_loss[1] < h1.train_loss[0]
    # and it is the gradient of one mini-batch made of every shard's slice, to float64 rounding
    for a, b in zip(on_two, by_hand(X, Y, 150)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_files_a_dataframe_and_arrays_with_the_same_shards_agree(two, problem, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pd = pytest.importorskip("pandas")
    X, Y = problem
    npys, parquets = [], []
    for k in range(4):
        block = np.column_stack([X[150 * k:150 * (k + 1)], Y[150 * k:150 * (k + 1)]])
        npys.append(str(tmp_path / f"part{k}.npy"))
        np.save(npys[-1], block)
        parquets.append(str(tmp_path / f"part{k}.parquet"))
        pq.write_table(pa.table({"a": block[:, 0], "b": block[:, 1], "c": block[:, 2], "d": block[:, 3],
                                 "y": block[:, 4]}), parquets[-1])
    frame = dd.from_pandas(pd.DataFrame(np.column_stack([X, Y]), columns=["a", "b", "c", "d", "y"]),
                           npartitions=4)
    assert [len(p) for p in frame.partitions] == [150] * 4
    want, _ = train(two, dask_data(X, Y))
    for data, kw in ((npys, {}), (parquets, {"target": "y"}), (frame, {"target": "y"})):
        got, _ = train(two, data, **kw)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_a_worker_killed_mid_epoch_does_not_lose_the_run(two, problem):
    """A worker process killed in the middle of the first epoch: its tasks (and the shards it held) are
    computed again on the others, and the run ends with the same parameters as one never disturbed."""
    X, Y = problem
    want, _ = train(two, dask_data(X, Y))
    pids = two.run(os.getpid)
    killed = []

    def kill_one(epoch, step, loss):
        if epoch == 1 and step == 5 and not killed:
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    got, _ = train(two, dask_data(X, Y), on_step=kill_one)
    assert killed
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    two.wait_for_workers(2, timeout=60)  # the nanny starts a new worker: the cluster is whole again


def test_checkpoints_every_n_steps_and_resumes_after_the_client_is_lost(problem, tmp_path):
    """A run stopped (its client and cluster closed) after 7 of its 30 steps goes on from the checkpoint of
    step 6 with a new cluster and ends where an uninterrupted run ends."""
    pytest.importorskip("safetensors")
    X, Y = problem
    ckpt = str(tmp_path / "run.ckpt")
    class Lost(Exception):
        pass

    def lose(epoch, step, loss):
        if epoch == 1 and step == 7:
            raise Lost  # the driver dies here, as when its client loses the scheduler

    c, client = cluster(2)
    try:
        want, _ = train(client, dask_data(X, Y))
        with pytest.raises(Lost):
            train(client, dask_data(X, Y), checkpoint=ckpt, checkpoint_every=3, on_step=lose)
    finally:
        client.close()
        c.close()
    state = cr.train.checkpoint.load_checkpoint(ckpt)
    assert state.epoch == 0 and state.extra["step"] == 6  # the last checkpoint before the stop
    c, client = cluster(1)
    try:
        got, history = train(client, dask_data(X, Y), checkpoint=ckpt, checkpoint_every=3, resume=True)
    finally:
        client.close()
        c.close()
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert len(history) == 2


def test_bad_data_and_options_are_refused_in_one_line(two, problem, tmp_path):
    X, Y = problem
    with pytest.raises(DataError, match="data must be \\(X, Y\\) Dask arrays, a Dask DataFrame, or a list"):
        train(two, (X, Y))
    with pytest.raises(DataError, match="is not a readable file"):
        train(two, [str(tmp_path / "missing.npy")])
    with pytest.raises(ConfigError, match="batch_size must be a whole number >= 1"):
        train(two, dask_data(X, Y), batch_size=0)
    with pytest.raises(ConfigError, match="resume=True needs checkpoint="):
        train(two, dask_data(X, Y), resume=True)
    pd = pytest.importorskip("pandas")
    frame = dd.from_pandas(pd.DataFrame({"a": [1.0, 2.0], "name": ["x", "y"], "y": [0.0, 1.0]}), npartitions=1)
    with pytest.raises(DataError, match="column 'name' of the DataFrame holds"):
        train(two, frame, target="y")
    for model, message in ((cr.nn.Sequential(cr.nn.Linear(4, 3), cr.nn.BatchNorm1d(3)), "running_mean"),
                           (cr.nn.MLP(4, [3], 1, dropout=0.5), "dropout draws its masks on each worker")):
        opt = cr.optim.SGD(model.parameters(), lr=0.1)
        with pytest.raises(ConfigError, match=message):
            crd.fit(model, cr.nn.MSELoss(), opt, dask_data(X, Y), client=two)


# -- the command line ----------------------------------------------------------------------


def cli(capsys, *argv):
    from chainrule import cli as main

    code = main.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_linreg_on_a_local_cluster_from_a_parquet_file(capsys, tmp_path):
    """The README's command: a Parquet file, two worker processes; progress with steps per second and the
    workers alive; the model saved and usable; the same θ as the same shards trained by hand."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pytest.importorskip("safetensors")
    d = cr.data.make_linear(2000, 3, noise=0.1, rng=0)
    path = str(tmp_path / "houses.parquet")
    pq.write_table(pa.table({"rooms": d.X[:, 0], "age": d.X[:, 1], "area": d.X[:, 2], "price": d.Y}), path,
                   row_group_size=500)
    saved = str(tmp_path / "model.safetensors")
    code, out, err = cli(capsys, "train", "linreg", "--data", path, "--target", "price", "--workers", "2",
                         "--optimizer", "sgd", "--lr", "0.05", "--batch-size", "100", "--epochs", "4",
                         "--loss", "mse", "--progress", "--save", saved)
    assert code == 0, err
    assert "training on a local cluster of 2 worker processes (2 workers)" in out
    assert "data: 2,000 rows x 3 features in 4 shards" in out
    assert re.search(r"epoch 4 step 20  80/80 steps  [\d.]+ steps/s  loss \S+  workers alive 2", out)
    loss = float(re.search(r"train loss (\S+);", out).group(1))
    assert loss < 0.02
    model = cr.load(saved)
    ones = np.column_stack([d.X, np.ones(len(d.X))])
    best = np.linalg.lstsq(ones, d.Y, rcond=None)[0]
    np.testing.assert_allclose(model.weight.numpy().ravel(), best[:3], atol=0.02)


def test_train_mlp_on_a_local_cluster_from_npy(capsys, tmp_path):
    digits = cr.data.load_digits()
    path = str(tmp_path / "digits.npy")
    np.save(path, np.column_stack([digits.X / 16.0, digits.Y]))
    code, out, err = cli(capsys, "train", "mlp", "--data", path, "--workers", "2", "--hidden", "32", "--epochs", "8",
                         "--lr", "0.01", "--batch-size", "64", "--quiet")
    assert code == 0, err
    assert "1,797 rows x 64 features in 4 shards" in out
    assert float(re.search(r"train accuracy (\S+)", out).group(1)) > 0.9


@pytest.mark.parametrize("argv, message", [
    (["train", "linreg", "--data", "diabetes", "--workers", "2", "--lr", "0.1"],
     "on a cluster, train from .npy, .parquet or .csv files"),
    (["train", "linreg", "--data", "missing.npy", "--workers", "2", "--lr", "0.1"], "is not a readable file"),
    (["train", "linreg", "--data", "x.npy", "--workers", "2"], "--lr auto reads the whole data set in memory"),
    (["train", "mlp", "--data", "x.npy", "--workers", "2", "--plot", "a.png"],
     "--plot is not available with --workers/--scheduler"),
])
def test_what_a_cluster_run_cannot_do_is_one_line(capsys, argv, message):
    code, out, err = cli(capsys, *argv)
    assert code != 0 and message in err and "Traceback" not in err
