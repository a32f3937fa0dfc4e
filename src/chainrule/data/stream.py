"""Data larger than memory: mini-batches streamed from ``.npy`` (memory-mapped), Parquet and CSV files.

:class:`StreamLoader` is a :class:`~chainrule.data.DataLoader` for a file that need not fit in memory:
it reads the file a *chunk* of rows at a time (a row range of a ``.npy``, a row group of a Parquet
file, a block of lines of a CSV file), the next chunk on a background thread while the model trains on
the current one, and yields ``(X (b, d), Y (b,))`` batches. ``chainrule.fit`` takes it as its data.

Shuffling, as streaming loaders do (``tf.data``'s shuffle buffer, WebDataset's shards), in two stages:

1. the order of the chunks is a fresh permutation every epoch;
2. the chunks are taken, in that order, into *windows* of at most ``buffer_rows`` rows, and the rows of
   a window are permuted together (the few left over from a window's last batch open the next one).

Every epoch is a permutation of all the rows (each row exactly once), and the same seed gives the same
sequence of epochs. How close to a full shuffle: chunks come in a uniformly random order, so each batch
is, in expectation over the epoch's draw, a sample of the whole file, and the mini-batch gradient stays an
unbiased estimate of the full gradient (the lecture's point). What a full shuffle has and this has not: a
batch holds rows of the chunks of one window only, so when the file is sorted (by target, by time), the
batches of an epoch are more alike than a full shuffle's and the gradient's variance is larger. Measured
(``tests/test_stream.py``): 2,003 rows in 21 chunks, batches of 64, a batch has rows of 3.5 chunks on
average with a window of 3 chunks, 9.3 with 10, and 19.1 with a window of all the rows, which is a full
shuffle (a permutation of the whole file gives 19.4). For a sorted file, shuffle it once on disk, or
raise ``buffer_rows``.

Memory: two windows (a thread reads the next window while the batches are drawn from this one), about
``2 * buffer_rows * row bytes`` (by default 2 x 32 MB, or two chunks where a chunk is larger), whatever
the file's size; the mapped pages of a ``.npy`` are unmapped as soon as they are copied, a Parquet row group
is decoded 16,384 rows at a time. See ``benchmarks/README.md``, "Data larger
than memory".

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
#: Default window of rows shuffled together, in bytes (whole chunks, one at least); two are held.
WINDOW_BYTES = 32 * 1024**2
#: Rows of a Parquet row group decoded at once.
PARQUET_BATCH = 16_384


class _Source:
    """A file read a chunk at a time: ``chunks`` are row ranges, :meth:`read_into` writes one into buffers."""

    path: str
    n_rows: int
    feature_names: list[str]
    target_name: str
    chunks: list[tuple[int, int]]

    def read_into(self, k: int, X: np.ndarray, Y: np.ndarray) -> None:
        """Chunk ``k`` written into ``X`` (its rows of the features) and ``Y`` (of the target)."""
        raise NotImplementedError

    #: the kind of the target column as stored ("i": integers, "f": other numbers)
    target_kind: str = "f"

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


def _labels(y: np.ndarray, dtype: np.dtype, source: _Source, k: int) -> np.ndarray:
    """``y`` for a target of ``dtype``: numbers read as class labels (an integer dtype) must be whole."""
    if dtype.kind in "iu" and y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
        bad = int(np.flatnonzero(y != np.round(y))[0])
        raise DataError(f"{source.path}, row {source.chunks[k][0] + bad:,} (counted from 0): target "
                        f"{float(y[bad])!r} is not a whole number (a class label as target_dtype={dtype.name} asks)")
    return y


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
        self.target_kind = "i" if file_dtype.kind in "iub" else "f"

    def _map(self, k):
        start, stop = self.chunks[k]
        return np.memmap(self.path, dtype=self.file_dtype, mode="r", offset=self.offset + start * self.row_bytes,
                         shape=(stop - start, self.row_bytes // self.file_dtype.itemsize))

    def read_into(self, k, X, Y):
        mm = self._map(k)  # copied straight from the mapped pages into the buffer, then unmapped (no view of
        # it is left: its pages leave the process's memory)
        np.copyto(X, mm[:, :-1] if self.all_but_last else mm[:, self.columns], casting="unsafe")
        np.copyto(Y, _labels(mm[:, self.target], Y.dtype, self, k), casting="unsafe")
        del mm


class _ParquetSource(_Source):
    """A Parquet file, one row group per chunk, only the columns used read (pyarrow)."""

    def __init__(self, path: str, target, features, chunk_rows: int | None, dtype: np.dtype):
        pq = require("pyarrow.parquet", "stream", "reading Parquet files")
        import pyarrow

        self._pool = pyarrow.default_memory_pool()
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
        self.target_kind = "i" if str(schema.field(self.target_name).type).startswith(("int", "uint", "bool")) \
            else "f"

    def read_into(self, k, X, Y):
        """The row group read in record batches of at most :data:`PARQUET_BATCH` rows (pyarrow decodes the
        columns on its threads), each batch's columns stacked into rows by one ``numpy.stack`` into the
        buffer (on 16,384 x 100 in isolation: 1.9x faster than a transpose through a column-major scratch
        array, 7x than a strided write per column; pyarrow's decoding takes longer than either)."""
        d = len(self.feature_names)
        names = [*self.feature_names, self.target_name]
        at = 0
        for batch in self.file.iter_batches(batch_size=PARQUET_BATCH, row_groups=[self.groups[k]], columns=names,
                                            use_threads=True):
            r = batch.num_rows
            for j, name in enumerate(names):
                if batch.column(j).null_count:
                    first = self.chunks[k][0] + at
                    raise DataError(f"{self.path}, rows {first:,}..{first + r - 1:,}: column {name!r} has missing "
                                    f"values")
            np.stack([batch.column(j).to_numpy() for j in range(d)], axis=1, out=X[at:at + r])
            Y[at:at + r] = _labels(batch.column(d).to_numpy(), Y.dtype, self, k)
            at += r
        self._pool.release_unused()  # pyarrow's allocator would keep the decoded pages otherwise

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

    def read_into(self, k, X, Y):
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
        X[...] = values[:, :-1]
        Y[...] = _labels(values[:, -1], Y.dtype, self, k)


class StreamLoader:
    """Mini-batches ``(X (b, d), Y (b,))`` streamed from a ``.npy``, Parquet or CSV file of any size.

    Parameters
    ----------
    path : ``.npy`` (a 2-D array, rows are objects), ``.parquet`` / ``.pq``, or ``.csv`` (a header row).
    batch_size : rows per batch.
    target : the target column: a name (Parquet, CSV) or a position; the last column by default.
    features : the feature columns (names or positions); all the others by default. Parquet reads
        only these columns from disk.
    shuffle : shuffle every epoch (chunk order, then the rows of windows of chunks; see the module's text).
    rng : Generator or seed of the shuffling; the same seed gives the same epochs.
    chunk_rows : rows read at once (a ``.npy``'s or CSV's chunk; a Parquet file's chunks are its row
        groups); by default about 16 MB of rows.
    buffer_rows : rows shuffled together (a window of whole chunks, one at least); by default 32 MB of rows.
        ``>=`` the number of rows: a full shuffle. Memory holds two windows.
    drop_last : leave out the last, smaller batch of every epoch.
    dtype : the features' dtype (float64 by default).
    target_dtype : the target's dtype: by default an integer column (class labels) gives int64 and any
        other the features' dtype; a CSV file's target is numbers, so give ``"int64"`` for labels.
    prefetch : read the next window on a background thread while the model trains on this one.
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
        row_bytes = (self.n_features + 1) * 8
        self.buffer_rows = int(buffer_rows) if buffer_rows is not None else max(largest, WINDOW_BYTES // row_bytes)
        self.path = path
        self.y_dtype = self.target_dtype or (np.dtype(np.int64) if self.source.target_kind == "i" else dtype)

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

    def windows(self, order: list[int]) -> list[list[int]]:
        """The chunks of ``order`` grouped, in turn, into windows of at most ``buffer_rows`` rows (a chunk at
        least): the rows of a window are shuffled together."""
        groups: list[list[int]] = []
        rows = 0
        for k in order:
            a, b = self.source.chunks[k]
            if groups and rows + (b - a) <= self.buffer_rows:
                groups[-1].append(k)
                rows += b - a
            else:
                groups.append([k])
                rows = b - a
        return groups

    def _fill(self, group: list[int], X: np.ndarray, Y: np.ndarray) -> int:
        """Read the chunks of ``group`` into the front of the buffers ``X``, ``Y``; the rows read."""
        m = 0
        for k in group:
            a, b = self.source.chunks[k]
            self.source.read_into(k, X[m:m + b - a], Y[m:m + b - a])
            m += b - a
        return m

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = self.rng if self.shuffle else None
        groups = self.windows(self.chunk_order(rng))
        b = self.batch_size
        rows = max(sum(self.source.chunks[k][1] - self.source.chunks[k][0] for k in g) for g in groups)
        # two buffers: the reading thread fills one window while the batches are drawn from the other
        bufs = [(np.empty((rows, self.n_features), self.dtype), np.empty(rows, self.y_dtype)) for _ in range(2)]
        carry_x = carry_y = None  # the rows of a window that did not fill a last batch: they open the next
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chainrule-stream") if self.prefetch else None
        try:
            ahead = pool.submit(self._fill, groups[0], *bufs[0]) if pool else None
            for i in range(len(groups)):
                X, Y = bufs[i % 2]
                m = ahead.result() if pool else self._fill(groups[i], X, Y)
                if pool and i + 1 < len(groups):
                    ahead = pool.submit(self._fill, groups[i + 1], *bufs[(i + 1) % 2])
                order = rng.permutation(m) if rng is not None else None
                s = 0
                if carry_x is not None:  # a batch across two windows
                    need = min(b - len(carry_y), m)
                    idx = order[:need] if order is not None else slice(0, need)
                    carry_x, carry_y = np.concatenate([carry_x, X[idx]]), np.concatenate([carry_y, Y[idx]])
                    s = need
                    if len(carry_y) == b:
                        yield carry_x, carry_y
                        carry_x = carry_y = None
                while s + b <= m:  # fresh arrays: the buffer is refilled while the batches are still in use
                    if order is None:
                        yield X[s:s + b].copy(), Y[s:s + b].copy()
                    else:
                        idx = order[s:s + b]
                        yield X[idx], Y[idx]
                    s += b
                if s < m:
                    idx = order[s:m] if order is not None else slice(s, m)
                    carry_x, carry_y = X[idx].copy(), Y[idx].copy()
            if carry_x is not None and not self.drop_last:  # the last, smaller batch
                yield carry_x, carry_y
        finally:
            if pool:
                pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self.source.close()
