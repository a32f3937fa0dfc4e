"""Data larger than memory: mini-batches streamed from ``.npy`` (memory-mapped), Parquet and CSV files.

:class:`StreamLoader` is a :class:`~chainrule.data.DataLoader` for a file that need not fit in memory:
it reads the file a *chunk* of rows at a time (a row range of a ``.npy``, a row group of a Parquet
file, a block of lines of a CSV file), the next chunk on a background thread while the model trains on
the current one, and yields ``(X (b, d), Y (b,))`` batches. ``chainrule.fit`` takes it as its data.

Shuffling, as streaming loaders do (``tf.data``'s shuffle buffer, WebDataset), in two stages:

1. the order of the chunks is a fresh permutation every epoch;
2. rows pass through a *buffer* of ``buffer_rows`` rows: when it is full it is permuted, the batches
   are taken from its front, and half the buffer stays behind to be mixed with the next chunks.

Every epoch is a permutation of all the rows (each row exactly once), and the same seed gives the same
sequence of epochs. How close to a full shuffle: chunks come in a uniformly random order, so each batch
is, in expectation over the epoch's draw, a sample of the whole file, and the mini-batch gradient stays an
unbiased estimate of the full gradient (the lecture's point). What a full shuffle has and this has not:
a batch draws mostly from the last few chunks read (every round half the buffer stays, so a row read k
rounds ago is still waiting with probability about 2^-k), so when the file is sorted (by target, by time),
the batches of one epoch are more alike than a full shuffle's and the gradient's variance is larger.
Measured (``tests/test_stream.py``): 2,003 rows in 21 chunks, batches of 64, the mean number of chunks a
batch has rows of is 8.8 with a buffer of 3 chunks, 15.3 with 10, and 19.1 with a buffer of all the rows,
which is a full shuffle (a permutation of the whole file gives 19.4). For a sorted file, shuffle it once on
disk, or raise ``buffer_rows``.

Memory: the buffer, one chunk being read and one chunk read ahead: about
``(buffer_rows + 3 * chunk_rows) * row bytes``, whatever the file's size (see ``benchmarks/README.md``,
"Data larger than memory").

Nothing in a file is executed or unpickled: ``.npy`` files of Python objects are refused, the ``.npy``
header is read by NumPy's literal parser, Parquet by pyarrow, CSV as numbers only.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..errors import DataError, require
from ..nn.init import as_generator
from .checks import check_bool, check_float_dtype, check_path, check_seed, is_int

#: Default chunk size in bytes (a chunk is read at once, and one more is read ahead).
CHUNK_BYTES = 16 * 1024**2
#: Default shuffle buffer, in chunks.
BUFFER_CHUNKS = 4


class _Source:
    """A file read a chunk at a time: ``chunks`` are row ranges, :meth:`read` gives one as (X, Y)."""

    path: str
    n_rows: int
    feature_names: list[str]
    target_name: str
    chunks: list[tuple[int, int]]

    def read(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _row_ranges(n: int, rows: int) -> list[tuple[int, int]]:
    return [(start, min(start + rows, n)) for start in range(0, n, rows)]


def _pick_columns(names: list[str], target: str | int | None, features: list[str | int] | None,
                  path: str) -> tuple[list[int], int]:
    """Positions of the feature columns and of the target among ``names`` (target: the last by default)."""

    def position(c: str | int, what: str) -> int:
        if is_int(c):
            i = int(c)
            if not -len(names) <= i < len(names):
                raise DataError(f"{path}: no {what} column {i} (the file has {len(names)} columns)")
            return i % len(names)
        if c not in names:
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            raise DataError(f"{path}: no {what} column {c!r} (columns: {shown})")
        return names.index(c)

    if len(names) < 2:
        raise DataError(f"{path}: {len(names)} column(s); a training set needs features and a target")
    t = position(-1 if target is None else target, "target")
    cols = [i for i in range(len(names)) if i != t] if features is None else [position(c, "feature")
                                                                              for c in features]
    if t in cols:
        raise DataError(f"{path}: column {names[t]!r} is both the target and a feature")
    if not cols:
        raise DataError(f"{path}: no feature columns")
    return cols, t


class _NpySource(_Source):
    """A 2-D ``.npy`` array (rows are objects, one column the target), each chunk memory-mapped on its own
    (only its pages are mapped, and they are unmapped once copied: memory stays one chunk's)."""

    def __init__(self, path: str, target, features, chunk_rows: int | None, dtype: np.dtype):
        with open(path, "rb") as f:
            try:
                version = np.lib.format.read_magic(f)
                header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)
                shape, fortran, file_dtype = header(f)
            except (ValueError, OSError) as exc:
                raise DataError(f"{path}: not a .npy file NumPy can read ({exc})") from None
            self.offset = f.tell()
        if file_dtype.hasobject:
            raise DataError(f"{path}: a .npy file of Python objects; chainrule reads numbers only (it never "
                            f"unpickles a file)")
        if file_dtype.kind not in "fiub":
            raise DataError(f"{path}: a .npy file of {file_dtype}; chainrule reads numbers only")
        if len(shape) != 2 or fortran:
            raise DataError(f"{path}: a .npy file of shape {shape}{' in Fortran order' if fortran else ''}; a "
                            f"streamed training set is a 2-D C-ordered array (rows are objects)")
        self.path, self.file_dtype, self.dtype = path, file_dtype, dtype
        self.n_rows, width = shape
        names = [f"x{j}" for j in range(width)]
        self.columns, self.target = _pick_columns(names, target, features, path)
        self.feature_names = [names[j] for j in self.columns]
        self.target_name = names[self.target]
        self.row_bytes = width * file_dtype.itemsize
        rows = chunk_rows or max(1, CHUNK_BYTES // max(self.row_bytes, 1))
        self.chunks = _row_ranges(self.n_rows, rows)
        self.all_but_last = self.columns == list(range(width - 1)) and self.target == width - 1

    def read(self, k):
        start, stop = self.chunks[k]
        mm = np.memmap(self.path, dtype=self.file_dtype, mode="r", offset=self.offset + start * self.row_bytes,
                       shape=(stop - start, self.row_bytes // self.file_dtype.itemsize))
        X = np.array(mm[:, :-1] if self.all_but_last else mm[:, self.columns], dtype=self.dtype)
        Y = np.array(mm[:, self.target])
        del mm  # copied, and no view of it left: unmapped, its pages leave the process's memory
        return X, Y


class _ParquetSource(_Source):
    """A Parquet file, one row group per chunk, only the columns used read (pyarrow)."""

    def __init__(self, path: str, target, features, chunk_rows: int | None, dtype: np.dtype):
        pq = require("pyarrow.parquet", "stream", "reading Parquet files")
        try:
            self.file = pq.ParquetFile(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow's errors for a file that is not Parquet vary
            raise DataError(f"{path}: not a Parquet file pyarrow can read ({type(exc).__name__}: {exc})") from None
        names = list(self.file.schema_arrow.names)
        cols, t = _pick_columns(names, target, features, path)
        self.path, self.dtype = path, dtype
        self.feature_names, self.target_name = [names[j] for j in cols], names[t]
        schema = self.file.schema_arrow
        for name in [*self.feature_names, self.target_name]:
            kind = schema.field(name).type
            if not (str(kind).startswith(("int", "uint", "float", "double", "bool", "halffloat"))):
                raise DataError(f"{path}: column {name!r} holds {kind}, not numbers")
        meta = self.file.metadata
        self.n_rows = meta.num_rows
        starts = np.cumsum([0] + [meta.row_group(i).num_rows for i in range(meta.num_row_groups)])
        self.chunks = [(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:]) if b > a]
        self.groups = [i for i in range(meta.num_row_groups) if meta.row_group(i).num_rows]
        self.target_is_int = str(schema.field(self.target_name).type).startswith(("int", "uint"))

    def read(self, k):
        table = self.file.read_row_group(self.groups[k], columns=[*self.feature_names, self.target_name],
                                         use_threads=False)
        X = np.empty((table.num_rows, len(self.feature_names)), dtype=self.dtype)
        for j, name in enumerate(self.feature_names):
            X[:, j] = table.column(name).to_numpy()
        Y = table.column(self.target_name).to_numpy()
        if not (np.isfinite(X).all() and (self.target_is_int or np.isfinite(Y).all())):
            raise DataError(f"{self.path}, rows {self.chunks[k][0]:,}..{self.chunks[k][1] - 1:,}: a missing, "
                            f"NaN or infinite value")
        return X, Y

    def close(self):
        self.file.close()


class _CsvSource(_Source):
    """A CSV file of numbers with a header row: one pass finds where every chunk of lines starts (a byte
    offset), then a chunk is read from its offset and parsed by the CSV reader's number checks."""

    def __init__(self, path: str, target, features, chunk_rows: int | None, dtype: np.dtype,
                 delimiter: str | None):
        from .csvfile import _Numbers, detect_delimiter

        self.path, self.dtype, self._numbers = path, dtype, _Numbers
        with open(path, "rb") as f:
            head = f.readline()
            try:
                text = head.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise DataError(f"{path}, line 1: not UTF-8 text") from None
            self.delimiter = delimiter or detect_delimiter(text)
            names = [c.strip() for c in next(csv.reader([text], delimiter=self.delimiter), [])]
            cols, t = _pick_columns(names, target, features, path)
            self.names, self.columns, self.target = names, cols, t
            self.feature_names, self.target_name = [names[j] for j in cols], names[t]
            rows = chunk_rows or max(1, CHUNK_BYTES // (8 * len(names)))
            self.offsets, self.lines, n = [f.tell()], [2], 0
            line = 2
            for raw in iter(lambda: f.readline(), b""):
                line += 1
                if raw.strip():
                    n += 1
                    if n % rows == 0:
                        self.offsets.append(f.tell())
                        self.lines.append(line)
            end = f.tell()
        if self.offsets[-1] != end:
            self.offsets.append(end)
        else:
            self.lines.pop()
        self.n_rows = n
        self.chunks = _row_ranges(n, rows)

    def read(self, k):
        with open(self.path, "rb") as f:
            f.seek(self.offsets[k])
            raw = f.read(self.offsets[k + 1] - self.offsets[k])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{self.path}: not UTF-8 text near byte {self.offsets[k] + exc.start:,}") from None
        first = self.lines[k]
        rows, lines = [], []
        for i, cells in enumerate(csv.reader(io.StringIO(text), delimiter=self.delimiter)):
            if cells:
                rows.append(cells)
                lines.append(first + i)
        numbers = self._numbers(self.path, len(self.names), [*self.columns, self.target], self.names,
                                self.delimiter, np.dtype(np.float64))
        values = numbers.read([(lines, rows)]).array()
        return values[:, :-1].astype(self.dtype), values[:, -1]


class StreamLoader:
    """Mini-batches ``(X (b, d), Y (b,))`` streamed from a ``.npy``, Parquet or CSV file of any size.

    Parameters
    ----------
    path : ``.npy`` (a 2-D array, rows are objects), ``.parquet`` / ``.pq``, or ``.csv`` (a header row).
    batch_size : rows per batch.
    target : the target column: a name (Parquet, CSV) or a position; the last column by default.
    features : the feature columns (names or positions); all the others by default. Parquet reads
        only these columns from disk.
    shuffle : shuffle every epoch (chunk order, then a buffer of rows; see the module's text).
    rng : Generator or seed of the shuffling; the same seed gives the same epochs.
    chunk_rows : rows read at once (a ``.npy``'s or CSV's chunk; a Parquet file's chunks are its row
        groups); by default about 16 MB of rows.
    buffer_rows : rows of the shuffle buffer; by default four chunks. ``>=`` the number of rows: a full
        shuffle.
    drop_last : leave out the last, smaller batch of every epoch.
    dtype : the features' dtype (float64 by default).
    target_dtype : the target's dtype: by default an integer column (class labels) gives int64 and any
        other the features' dtype; a CSV file's target is numbers, so give ``"int64"`` for labels.
    prefetch : read the next chunk on a background thread while the model trains on this one.
    """

    def __init__(self, path: str | os.PathLike, batch_size: int = 256, *, target: str | int | None = None,
                 features: list[str | int] | None = None, shuffle: bool = True,
                 rng: np.random.Generator | int | None = 0, chunk_rows: int | None = None,
                 buffer_rows: int | None = None, drop_last: bool = False, dtype: Any = np.float64,
                 target_dtype: Any = None, prefetch: bool = True, delimiter: str | None = None):
        path = check_path(path, "StreamLoader")
        if not os.path.isfile(path):
            raise DataError(f"StreamLoader: {path!r} is not a readable file")
        for name, value in (("batch_size", batch_size), ("chunk_rows", chunk_rows), ("buffer_rows", buffer_rows)):
            if value is not None and (not is_int(value) or value < 1):
                raise DataError(f"StreamLoader: {name} must be a whole number >= 1, got {value!r}")
        self.batch_size = int(batch_size)
        self.shuffle = check_bool(shuffle, "shuffle", "StreamLoader", DataError)
        self.drop_last = check_bool(drop_last, "drop_last", "StreamLoader", DataError)
        self.prefetch = check_bool(prefetch, "prefetch", "StreamLoader", DataError)
        self.rng = as_generator(check_seed(rng, "StreamLoader", DataError) if rng is not None else 0)
        dtype = check_float_dtype(dtype, "StreamLoader", DataError)
        self.dtype = dtype
        try:
            self.target_dtype = None if target_dtype is None else np.dtype(target_dtype)
        except TypeError:
            raise DataError(f"StreamLoader: target_dtype {target_dtype!r} is not a dtype") from None
        kind = os.path.splitext(path)[1].lower()
        if kind == ".npy":
            self.source: _Source = _NpySource(path, target, features, chunk_rows, dtype)
        elif kind in (".parquet", ".pq"):
            self.source = _ParquetSource(path, target, features, chunk_rows, dtype)
        elif kind in (".csv", ".txt", ".tsv"):
            self.source = _CsvSource(path, target, features, chunk_rows, dtype, delimiter)
        else:
            raise DataError(f"StreamLoader: {path!r}: stream .npy, .parquet or .csv files (got {kind or 'no'} "
                            f"extension)")
        if self.source.n_rows == 0:
            raise DataError(f"{path}: no data rows")
        largest = max(b - a for a, b in self.source.chunks)
        self.buffer_rows = int(buffer_rows) if buffer_rows is not None else BUFFER_CHUNKS * largest
        self.path = path

    # -- what fit and the reports read -------------------------------------------------
    @property
    def n_rows(self) -> int:
        return self.source.n_rows

    @property
    def n_features(self) -> int:
        return len(self.source.feature_names)

    @property
    def feature_names(self) -> list[str]:
        return list(self.source.feature_names)

    @property
    def target_name(self) -> str:
        return self.source.target_name

    dataset = None  # not in memory: fit evaluates a stream on test data only

    def __len__(self) -> int:
        n, b = self.n_rows, self.batch_size
        return n // b if self.drop_last else math.ceil(n / b)

    def __repr__(self) -> str:
        return (f"StreamLoader({self.path!r}, rows={self.n_rows:,}, features={self.n_features}, "
                f"batch_size={self.batch_size}, chunks={len(self.source.chunks)}, shuffle={self.shuffle})")

    # -- the batches -------------------------------------------------------------------
    def chunk_order(self, rng: np.random.Generator | None) -> list[int]:
        k = len(self.source.chunks)
        return [int(i) for i in rng.permutation(k)] if rng is not None else list(range(k))

    def read_chunk(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Chunk ``k`` of the file as ``(X, Y)``: features in ``dtype``, the target in ``target_dtype``."""
        X, Y = self.source.read(k)
        want = self.target_dtype or (np.dtype(np.int64) if Y.dtype.kind in "iu" else self.dtype)
        if want.kind in "iu" and Y.dtype.kind == "f" and not np.array_equal(Y, np.round(Y)):
            a, _ = self.source.chunks[k]
            bad = int(np.flatnonzero(Y != np.round(Y))[0])
            raise DataError(f"{self.path}, row {a + bad:,} (counted from 0): target {float(Y[bad])!r} is not a "
                            f"whole number (a class label as target_dtype={want.name} asks)")
        return X, Y.astype(want, copy=False)

    def _chunks(self, order: list[int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The chunks in ``order``, each read while the one before is used (on a thread: NumPy's copies,
        pyarrow's decoding and the file reads release the GIL)."""
        if not self.prefetch or len(order) < 2:
            for k in order:
                yield self.read_chunk(k)
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="chainrule-stream") as pool:
            ahead = pool.submit(self.read_chunk, order[0])
            for nxt in [*order[1:], None]:
                chunk = ahead.result()
                ahead = pool.submit(self.read_chunk, nxt) if nxt is not None else None
                yield chunk
                del chunk

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = self.rng if self.shuffle else None
        order = self.chunk_order(rng)
        b = self.batch_size
        # the pool holds what is kept (< half the buffer + a batch) or fills up to the buffer, plus a chunk
        largest = max(bb - a for a, bb in self.source.chunks)
        cap = max(self.buffer_rows, self.buffer_rows // 2 + b) + largest
        pool_x = pool_y = None
        m = 0  # rows in the pool
        for i, (X, Y) in enumerate(self._chunks(order)):
            last = i == len(order) - 1
            if rng is None:  # in order: the batches straddle chunks, the rest is carried
                if m:
                    X, Y = np.concatenate([pool_x[:m], X]), np.concatenate([pool_y[:m], Y])
                full = (len(X) // b) * b
                for s in range(0, full, b):
                    yield X[s:s + b], Y[s:s + b]
                pool_x, pool_y, m = X[full:], Y[full:], len(X) - full
                continue
            if pool_x is None:
                pool_x = np.empty((cap,) + X.shape[1:], X.dtype)
                pool_y = np.empty((cap,), Y.dtype)
            pool_x[m:m + len(X)], pool_y[m:m + len(Y)] = X, Y
            m += len(X)
            del X, Y
            if m < self.buffer_rows and not last:
                continue
            perm = rng.permutation(m)
            keep = 0 if last else self.buffer_rows // 2
            out = ((m - keep) // b) * b
            for s in range(0, out, b):
                idx = perm[s:s + b]
                yield pool_x[idx], pool_y[idx]
            rest = perm[out:]
            pool_x[:len(rest)], pool_y[:len(rest)] = pool_x[rest], pool_y[rest]
            m = len(rest)
        if m and not self.drop_last:  # the last, smaller batch (already shuffled)
            yield pool_x[:m].copy(), pool_y[:m].copy()

    def close(self) -> None:
        self.source.close()
