"""Data larger than memory (issue 18): mini-batches streamed from .npy, Parquet and CSV files."""

from __future__ import annotations

import os

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import StreamLoader
from chainrule.errors import ConfigError, DataError

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

N, D = 2_003, 4


@pytest.fixture(scope="module")
def table() -> np.ndarray:
    """Rows of 4 features and a target that is the row's number (so every batch says where it came from)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((N, D + 1))
    A[:, -1] = np.arange(N)
    return A


def write(kind: str, A: np.ndarray, folder, rows_per_group: int = 150) -> str:
    path = os.path.join(folder, f"data.{kind}")
    if kind == "npy":
        np.save(path, A)
    elif kind == "parquet":
        columns = {f"f{j}": A[:, j] for j in range(A.shape[1] - 1)} | {"y": A[:, -1]}
        pq.write_table(pa.table(columns), path, row_group_size=rows_per_group)
    else:
        with open(path, "w") as f:
            f.write(",".join([f"f{j}" for j in range(A.shape[1] - 1)] + ["y"]) + "\n")
            for row in A:
                f.write(",".join(repr(float(v)) for v in row) + "\n")
    return path


KINDS = ["npy", "parquet", "csv"]


def epoch(loader) -> tuple[np.ndarray, np.ndarray, list[int]]:
    xs, ys, sizes = [], [], []
    for X, Y in loader:
        xs.append(X)
        ys.append(Y)
        sizes.append(len(Y))
    return np.concatenate(xs), np.concatenate(ys), sizes


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shuffle", [False, True])
def test_every_epoch_is_a_permutation_of_the_rows_with_their_features(kind, shuffle, table, tmp_path):
    path = write(kind, table, tmp_path)
    loader = StreamLoader(path, 64, shuffle=shuffle, rng=5, chunk_rows=150, buffer_rows=400)
    seen = []
    for _ in range(3):
        X, Y, sizes = epoch(loader)
        ids = Y.astype(np.int64)
        np.testing.assert_array_equal(np.sort(ids), np.arange(N))
        np.testing.assert_array_equal(X, table[ids, :D])
        assert sizes == [64] * (N // 64) + [N % 64] and len(sizes) == len(loader)
        seen.append(ids)
    if shuffle:
        assert not np.array_equal(seen[0], seen[1]) and not np.array_equal(seen[1], seen[2])
        assert not np.array_equal(seen[0], np.arange(N))
    else:
        for ids in seen:
            np.testing.assert_array_equal(ids, np.arange(N))


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_seed_gives_the_same_epochs_and_the_formats_agree(kind, table, tmp_path):
    """The order depends on the seed, the chunks and the buffer only: the same for the three formats."""
    path = write(kind, table, tmp_path)
    npy = write("npy", table, tmp_path / "..")
    runs = []
    for p in (path, path, npy):
        loader = StreamLoader(p, 32, rng=11, chunk_rows=150, buffer_rows=300)
        runs.append([epoch(loader)[1] for _ in range(2)])
    for a, b in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(runs[0], runs[2]):
        np.testing.assert_array_equal(a, b)


def chunks_per_batch(loader, chunk: int, epochs: int = 5) -> float:
    return float(np.mean([len(np.unique(Y.astype(int) // chunk)) for _ in range(epochs) for _, Y in loader]))


def test_how_close_to_a_full_shuffle_as_the_module_says(table, tmp_path):
    """The figures of the module's text: how many of the 21 chunks a batch of 64 has rows of, on average, for
    windows of 3 chunks, 10 chunks and all the rows, against a permutation of the whole file."""
    path = write("npy", table, tmp_path)
    chunk = 100
    found = [chunks_per_batch(StreamLoader(path, 64, rng=1, chunk_rows=chunk, buffer_rows=b), chunk)
             for b in (300, 1000, N)]
    rng = np.random.default_rng(0)
    full = np.mean([len(np.unique(p[i:i + 64] // chunk)) for p in (rng.permutation(N) for _ in range(50))
                    for i in range(0, N - 64, 64)])
    assert 3 <= found[0] < 4 and 8.5 < found[1] < 10 and abs(found[2] - full) < 0.8
    assert found[0] < found[1] < found[2]


def test_the_first_batch_is_a_sample_of_the_whole_file_on_average(table, tmp_path):
    """Unbiased: over many seeds, the mean of the first batch's targets is the mean over the file (the chunk
    order is uniform), although each batch comes from a few neighbouring chunks."""
    path = write("npy", table, tmp_path)
    means = [next(iter(StreamLoader(path, 50, rng=s, chunk_rows=100, buffer_rows=200)))[1].mean()
             for s in range(300)]
    spread = np.std(means) / np.sqrt(len(means))
    assert abs(np.mean(means) - (N - 1) / 2) < 4 * spread


@pytest.mark.parametrize("kind", ["npy", "parquet"])
def test_columns_by_name_or_position_and_integer_labels(kind, table, tmp_path):
    A = table.copy()
    A[:, -1] = np.arange(N) % 3
    path = write(kind, A, tmp_path)
    target = "y" if kind == "parquet" else -1
    features = ["f2", "f0"] if kind == "parquet" else [2, 0]
    loader = StreamLoader(path, 100, target=target, features=features, shuffle=False, target_dtype="int64")
    X, Y, _ = epoch(loader)
    np.testing.assert_array_equal(X, A[:, [2, 0]])
    assert Y.dtype == np.int64 and set(Y) == {0, 1, 2}
    assert loader.n_features == 2 and loader.n_rows == N


def test_the_dtype_of_the_features(table, tmp_path):
    path = write("parquet", table, tmp_path)
    X, Y, _ = epoch(StreamLoader(path, 500, dtype="float32", shuffle=False))
    assert X.dtype == np.float32 and Y.dtype == np.float32


def test_drop_last(table, tmp_path):
    loader = StreamLoader(write("npy", table, tmp_path), 64, drop_last=True, chunk_rows=150)
    _, Y, sizes = epoch(loader)
    assert sizes == [64] * (N // 64) == [64] * len(loader) and len(np.unique(Y)) == len(Y)


def test_fit_trains_the_lecture_s_linear_regression_from_a_stream(tmp_path):
    """fit takes a StreamLoader as its data; SGD from the stream reaches the closed form."""
    data = cr.data.make_linear(3000, 5, noise=0.1, rng=0)
    X, Y = data.X, data.Y
    path = os.path.join(tmp_path, "linear.npy")
    np.save(path, np.column_stack([X, Y]))
    model = cr.nn.LinearRegression(5, rng=0)
    loader = StreamLoader(path, 50, rng=0, chunk_rows=400)
    history = cr.fit(model, cr.nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=0.05), loader, epochs=8,
                     progress=False)
    ones = np.column_stack([X, np.ones(len(X))])
    best = np.linalg.lstsq(ones, Y, rcond=None)[0]
    np.testing.assert_allclose(model.weight.numpy().ravel(), best[:5], atol=2e-2)
    assert history.train_loss[-1] < 0.02
    with pytest.raises(ConfigError, match="a StreamLoader's file is not"):
        cr.fit(model, cr.nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=0.05), loader, epochs=1,
               eval_train=True, progress=False)


def test_a_checkpointed_stream_resumes_to_the_same_parameters(tmp_path):
    """The stream's shuffling is part of a checkpoint: stopped after 3 epochs and resumed, the run ends where
    an uninterrupted one does, bit for bit."""
    pytest.importorskip("safetensors")
    data = cr.data.make_linear(900, 3, noise=0.5, rng=1)
    path = os.path.join(tmp_path, "linear.parquet")
    pq.write_table(pa.table({"a": data.X[:, 0], "b": data.X[:, 1], "c": data.X[:, 2], "y": data.Y}), path,
                   row_group_size=200)

    def run(epochs, checkpoint=None, resume=False):
        model = cr.nn.LinearRegression(3, rng=0)
        opt = cr.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        cr.fit(model, cr.nn.MSELoss(), opt, StreamLoader(path, 32, rng=7), epochs=epochs, progress=False,
               checkpoint=checkpoint, resume=resume)
        return [p.numpy().copy() for p in model.parameters()]

    whole = run(6)
    ckpt = os.path.join(tmp_path, "run.ckpt")
    run(3, ckpt)
    resumed = run(6, ckpt, resume=True)
    for a, b in zip(whole, resumed):
        np.testing.assert_array_equal(a, b)


def test_bad_files_get_one_clear_error(table, tmp_path):
    objects = os.path.join(tmp_path, "objects.npy")
    np.save(objects, np.array([[{"a": 1}, 2]], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="objects.npy: a .npy file of Python objects; chainrule reads numbers only "
                                        r"\(it never unpickles a file\)"):
        StreamLoader(objects)
    cube = os.path.join(tmp_path, "cube.npy")
    np.save(cube, np.zeros((2, 3, 4)))
    with pytest.raises(DataError, match=r"cube.npy: a .npy file of shape \(2, 3, 4\); a streamed training set is"):
        StreamLoader(cube)
    path = write("parquet", table, tmp_path)
    with pytest.raises(DataError, match=r"no target column 'price' \(columns: f0, f1, f2, f3, y\)"):
        StreamLoader(path, target="price")
    with pytest.raises(DataError, match="column 'y' is both the target and a feature"):
        StreamLoader(path, features=["f0", "y"])
    text = os.path.join(tmp_path, "names.parquet")
    pq.write_table(pa.table({"x": [1.0, 2.0], "name": ["a", "b"]}), text)
    with pytest.raises(DataError, match="column 'name' holds string, not numbers"):
        StreamLoader(text)
    with pytest.raises(DataError, match="stream .npy, .parquet or .csv files"):
        StreamLoader(__file__)
    with pytest.raises(DataError, match="not a readable file"):
        StreamLoader(tmp_path)
    with pytest.raises(DataError, match="batch_size must be a whole number >= 1"):
        StreamLoader(path, 0)
    bad = os.path.join(tmp_path, "bad.csv")
    with open(bad, "w") as f:
        f.write("a,b,y\n1,2,3\n4,oops,6\n")
    with pytest.raises(DataError, match=r"bad.csv, line 3, column 2 \('b'\): 'oops' is not a number"):
        epoch(StreamLoader(bad, 2))
    labels = os.path.join(tmp_path, "labels.csv")
    with open(labels, "w") as f:
        f.write("a,y\n1,0\n2,1.5\n")
    with pytest.raises(DataError, match=r"labels.csv, row 1 \(counted from 0\): target 1.5 is not a "
                                        r"whole number \(a class label as target_dtype=int64 asks\)"):
        epoch(StreamLoader(labels, 2, target_dtype="int64", shuffle=False))


def test_the_stream_benchmark_runs_on_a_small_file(tmp_path):
    """The benchmark's own checks on a 5 MB file: both runs train over every row to the same loss scale, and
    it reports peak memory of each process (not the parent's, which wrote the file)."""
    from chainrule.bench import stream as bench

    res = bench.run(size_gb=0.005, fmt="npy", batch_size=256, folder=str(tmp_path), repeats=1)
    assert res["rows"] == int(0.005e9 // (8 * 101)) and res["file_bytes"] > 0.004e9
    for mode in ("stream", "memory"):
        run = res["runs"][mode][0]
        assert run["rows"] == res["rows"] and 0 < run["final_loss"] < 10 and 20 < run["peak_rss_mb"] < 2000
    assert "streamed / in memory" in bench.report(res)
