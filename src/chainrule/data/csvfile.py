"""CSV loading: header names, target column by name or index, delimiter detection, precise errors.

Every cell must be a finite number; an empty, non-numeric, NaN or infinite cell
is a :class:`DataError` naming the file, the line (1-based, as an editor shows
it) and the column (1-based, and its header name when there is one).

What the reader holds against, each with one line naming the file (and the line):
a path that is not a regular readable file (a folder, ``/dev/zero``, a pipe), a file
larger than half the machine's memory, a file that is not UTF-8 (Latin-1, UTF-16: the
line and byte are named), a cell longer than :data:`MAX_CELL` characters (an unclosed
quote often makes one), ragged rows, duplicate or empty header names, an empty or
header-only file, and numbers that would not fit in memory.

Rows are streamed: the file is read a line at a time and every block of rows goes into
a NumPy array at once, so reading a million-row file takes about twice the memory of the
array it gives (the blocks, then the array they are joined into), never a Python list of
the whole file.
"""

from __future__ import annotations

import array
import codecs
import collections
import csv
import itertools
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ChainruleError, DataError, shorten
from .checks import check_bool, check_float_dtype, check_memory, check_path, format_bytes, memory_budget
from .datasets import ArrayDataset

_DELIMITERS = ",;\t|"
#: The longest cell the reader takes (the csv module's own default limit), in characters.
MAX_CELL = 131_072
#: How much of the file's start (in characters) the delimiter is guessed from.
SNIFF_CHARS = 16_384
#: Rows converted at once (and between two checks of the memory taken so far).
_BLOCK = 4096


@dataclass
class CSVTable:
    """A numeric table read from CSV.

    Attributes
    ----------
    names : column names from the header, or ``None`` when the file has none.
    data : (n, k) array of the cells.
    delimiter : the delimiter used (given or detected).
    path : the file read.
    """

    names: list[str] | None
    data: np.ndarray
    delimiter: str
    path: str

    def column_index(self, column: str | int) -> int:
        """Position of a column given by header name, or by index (negative counts from the end)."""
        return _column_position(column, self.names, self.data.shape[1], self.path)


def _column_position(column: str | int, names: list[str] | None, width: int, path: str) -> int:
    """Position of a column of a ``width``-column file, by header name or index (negative from the end)."""
    if isinstance(column, (bool, np.bool_)) or not isinstance(column, (str, int, np.integer)):
        raise DataError(f"{path}: a column is given by header name (str) or index (int), got {column!r}")
    if isinstance(column, str) and names is not None and column in names:
        return names.index(column)
    try:
        j = int(column)
    except (TypeError, ValueError):
        have = f"columns are {listed(names)}" if names else "the file has no header; give an index"
        raise DataError(f"{path}: no column named {shorten(column, 60)!r} ({have})") from None
    if not -width <= j < width:
        raise DataError(f"{path}: column index {j} is out of range for {width} columns")
    return j % width


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def detect_delimiter(sample: str) -> str:
    """The delimiter of a CSV sample, by ``csv.Sniffer`` among ``, ; TAB |`` (``,`` when unsure)."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        counts = {d: sample.count(d) for d in _DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def separates_numbers(delimiter: str) -> bool:
    """Whether one character can stand between numbers: not a quote, a line end, NUL, a letter,
    a digit, or part of a number (``.``, ``-``, ``+``)."""
    return delimiter not in '"\r\n\0.-+' and not delimiter.isalnum()


def _check_delimiter(delimiter: Any) -> str | None:
    if delimiter is None:
        return None
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise DataError(f"the delimiter must be one character, got {delimiter!r}")
    if not separates_numbers(delimiter):
        raise DataError(f"the delimiter {delimiter!r} cannot separate numbers; use one of , ; TAB |")
    return delimiter


def _open_checked(path: Any, what: str = "CSV file") -> str:
    """``path`` as a str, checked to be a regular, readable file (not a folder, a device or a pipe)."""
    from ..files import input_file

    path = check_path(path, f"the {what}")
    try:
        input_file(path, what)
    except ChainruleError as exc:
        raise DataError(str(exc)) from None
    return path


def _decode_error(path: str, exc: UnicodeDecodeError | None = None) -> DataError:
    """The line and byte where ``path`` stops being UTF-8, found by decoding it again from the start."""
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return DataError(f"{path}: is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8")
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset, line = 0, 1
        while True:
            chunk = f.read(1 << 20)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as err:
                at = offset + max(0, err.start)
                # the bytes before the failure in this chunk (the decoder may hold up to 3 from the last one)
                line += chunk[: max(0, err.start)].count(b"\n")
                bad = chunk[err.start] if 0 <= err.start < len(chunk) else None
                byte = f" (byte 0x{bad:02x})" if bad is not None else ""
                return DataError(f"{path}, line {line}: not UTF-8 text at byte offset {at}{byte}; "
                                 f"save the file as UTF-8 (e.g. from Latin-1)")
            if not chunk:
                break
            line += chunk.count(b"\n")
            offset += len(chunk)
    reason = f" ({exc.reason})" if exc is not None else ""
    return DataError(f"{path}: is not a UTF-8 text file{reason}")


def _sample(f: Any, path: str) -> str:
    """The first lines of the file, up to :data:`SNIFF_CHARS` characters, to guess the delimiter from."""
    try:
        text = f.read(SNIFF_CHARS)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, exc) from None
    if len(text) == SNIFF_CHARS:  # cut at the last line end, so no row is seen half
        end = max(text.rfind("\n"), text.rfind("\r"))
        if end > 0:
            text = text[:end]
    return text


def _read_rows(path: str | os.PathLike, delimiter: str | None,
               what: str = "CSV file") -> tuple[str, str, Iterator[Block]]:
    """Open a CSV file: ``(path, delimiter, blocks)``, the delimiter checked or detected.

    ``blocks`` yields ``(line numbers, rows)`` for every :data:`_BLOCK` records the csv module
    reads (cells as they are, not stripped; empty lines left out), lazily: the file is read as
    the blocks are taken and closed at the end. Raises :class:`DataError` for a path that is not a
    readable regular file or larger than :func:`~chainrule.data.checks.memory_budget`, a
    file that is not UTF-8 (naming the line and byte), a delimiter that cannot separate
    numbers, a cell longer than :data:`MAX_CELL`.
    """
    path = _open_checked(path, what)
    delimiter = _check_delimiter(delimiter)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise DataError(f"cannot read {path!r}: {exc.strerror or exc}") from exc
    # a line is read whole before it is split: bounding the file bounds the longest line too
    check_memory(size, f"{path}: reading this {format_bytes(size)} file", memory_budget(),
                 "half of this machine's memory")
    try:
        f = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise DataError(f"cannot read {path!r}: {exc.strerror or exc}") from exc
    try:
        if delimiter is None:
            delimiter = detect_delimiter(_sample(f, path))
            f.seek(0)
    except BaseException:
        f.close()
        raise
    return path, delimiter, _rows(f, path, delimiter)


Block = tuple[list[int], list[list[str]]]


def _rows(f: Any, path: str, delimiter: str) -> Iterator[Block]:
    """Blocks of up to :data:`_BLOCK` records: ``(line numbers, rows of cells)``, empty lines left out."""
    with f:
        reader = csv.reader(f, delimiter=delimiter)
        lines: list[int] = []
        block: list[list[str]] = []
        try:
            for cells in reader:
                if cells:
                    block.append(cells)
                    lines.append(reader.line_num)
                    if len(block) >= _BLOCK:
                        yield lines, block
                        lines, block = [], []
        except csv.Error as exc:
            line = reader.line_num
            if "field larger than field limit" in str(exc):
                raise DataError(f"{path}, line {line}: a cell longer than {MAX_CELL:,} characters "
                                f"(an unclosed quote?)") from None
            raise DataError(f"{path}, line {line}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise _decode_error(path, exc) from None
        except OSError as exc:
            raise DataError(f"cannot read {path!r}: {exc.strerror or exc}") from exc
        if block:
            yield lines, block


def _first_row(blocks: Iterator[Block]) -> tuple[int, list[str], Iterator[Block]] | None:
    """The first non-blank row (line, cells stripped) and the blocks of the rows after it; None if there is none."""
    for lines, block in blocks:
        for i, cells in enumerate(block):
            stripped = [c.strip() for c in cells]
            if any(stripped):
                return lines[i], stripped, itertools.chain([(lines[i + 1:], block[i + 1:])], blocks)
    return None


def _open_table(path: str | os.PathLike, delimiter: str | None) -> tuple[str, str, int, list[str], Iterator[Block]]:
    """Open a CSV file at its first non-blank row: ``(path, delimiter, line, cells, blocks after it)``.

    Raises :class:`DataError` as :func:`_read_rows` does, and for a file with no rows at all.
    """
    path, delimiter, blocks = _read_rows(path, delimiter)
    first = _first_row(blocks)
    if first is None:
        raise DataError(f"{path}: no data rows (the file is empty)")
    line, cells, blocks = first
    return path, delimiter, line, cells, blocks


def _parse_row(path: str, line: int, cells: list[str], width: int, delimiter: str, columns: Iterable[int],
               names: list[str] | None) -> list[float]:
    """The numbers in ``cells[j]`` for j in ``columns``, once the row is checked to hold ``width`` cells.

    Raises :class:`DataError` for a ragged row, or an empty, non-numeric or non-finite
    cell (naming the file, the line and the column, with its header name if any).
    """
    if len(cells) != width:
        raise DataError(f"{path}, line {line}: expected {width} cells separated by {delimiter!r}, found {len(cells)}")
    return [_number(cells[j], path, line, j, names) for j in columns]


def _number(cell: str, path: str, line: int, j: int, names: list[str] | None, limit: float = math.inf,
            dtype: str = "float64") -> float:
    try:
        value = float(cell)
        if math.isfinite(value) and abs(value) <= limit:
            return value
        problem = ("is not a finite number" if not math.isfinite(value)
                   else f"is too large for {dtype} (at most ±{limit:.6g})")
    except ValueError:
        problem = "is not a number"
    where = f"{path}, line {line}, column {j + 1}" + (f" ({names[j][:40]!r})" if names else "")
    if not cell:
        raise DataError(f"{where}: missing value (empty cell)")
    raise DataError(f"{where}: {shorten(cell)!r} {problem}")


def listed(names: list[str], limit: int = 8) -> str:
    """Column names for a message: the first ``limit`` of them, and how many there are in all."""
    shown = ", ".join(repr(n[:40]) for n in names[:limit])
    return f"[{shown}{f', ... ({len(names):,} in all)' if len(names) > limit else ''}]"


def _check_header(path: str, line: int, names: list[str]) -> None:
    """A header row: no empty names, no name twice (a second ``y`` would silently become a feature)."""
    if any(not n for n in names):
        j = names.index("")
        raise DataError(f"{path}, line {line}, column {j + 1}: empty column name in the header")
    counts = collections.Counter(names)
    twice = [n for n, c in counts.items() if c > 1]
    if twice:
        where = "; ".join(f"{n[:40]!r} in columns {', '.join(str(j + 1) for j, m in enumerate(names) if m == n)}"
                          for n in twice[:3])
        raise DataError(f"{path}, line {line}: duplicate column names in the header: {where}; "
                        f"every column needs its own name")


class _Numbers:
    """The numeric columns of a CSV file's rows (and, for classification, its label column), read in blocks.

    A block of :data:`_BLOCK` rows is converted by NumPy at once (``np.array(rows, float64)``
    parses each cell as :func:`float` does); a block that does not convert cleanly (a ragged or
    blank row, a cell that is not a finite number) is read again row by row, which finds the line
    and column at fault or skips the blank rows. The memory taken is checked after every block.
    """

    def __init__(self, path: str, width: int, columns: list[int], names: list[str] | None, delimiter: str,
                 dtype: np.dtype, label: int | None = None):
        self.path, self.width, self.columns, self.names = path, width, columns, names
        self.delimiter, self.dtype, self.label = delimiter, dtype, label
        self.all_columns = label is None and columns == list(range(width))
        self.limit = math.inf if dtype == np.float64 else float(np.finfo(dtype).max)
        self.parts: list[np.ndarray] = []
        self.rows = 0
        self.codes = array.array("q")
        self.index: dict[str, int] = {}  # label -> its code, in the order first seen
        self.budget = memory_budget()

    def read(self, blocks: Iterable[Block]) -> _Numbers:
        """Take every block of rows (see :func:`_read_rows`)."""
        for lines, block in blocks:
            self._flush(block, lines)
        return self

    def _fast(self, block: list[list[str]]) -> tuple[np.ndarray, list[str] | None] | None:
        """The block converted by NumPy, or None when it needs the row-by-row reading."""
        try:
            if self.all_columns:
                values = np.array(block, dtype=np.float64)
                labels = None
            else:
                cells = np.array(block, dtype=object)
                if cells.ndim != 2 or cells.shape[1] != self.width:
                    return None
                values = cells[:, self.columns].astype(np.float64)
                labels = None
                if self.label is not None:
                    labels = [str(c).strip() for c in cells[:, self.label]]
                    if not all(labels):
                        return None
        except (ValueError, TypeError):
            return None
        if values.shape != (len(block), len(self.columns)) or not np.isfinite(values).all():
            return None
        if self.limit < math.inf and values.size and np.abs(values).max() > self.limit:
            return None
        return values, labels

    def _slow(self, block: list[list[str]], lines: list[int]) -> tuple[np.ndarray, list[str]]:
        """The block row by row: blank rows skipped, the first bad row or cell raised as a DataError."""
        values, labels = [], []
        for line, cells in zip(lines, block):
            stripped = [c.strip() for c in cells]
            if not any(stripped):
                continue
            if len(stripped) != self.width:
                _parse_row(self.path, line, stripped, self.width, self.delimiter, self.columns, self.names)
            values.append([_number(stripped[j], self.path, line, j, self.names, self.limit, self.dtype.name)
                           for j in self.columns])
            if self.label is not None:
                if not stripped[self.label]:
                    raise DataError(f"{self.path}, line {line}, column {self.label + 1}: missing class label "
                                    f"(empty cell)")
                labels.append(stripped[self.label])
        return np.array(values, dtype=np.float64).reshape(len(values), len(self.columns)), labels

    def _flush(self, block: list[list[str]], lines: list[int]) -> None:
        if not block:
            return
        done = self._fast(block)
        values, labels = done if done is not None else self._slow(block, lines)
        if not len(values):
            return
        self.parts.append(values if self.dtype == np.float64 else values.astype(self.dtype))
        self.rows += len(values)
        if self.label is not None:
            index = self.index
            for label in labels:
                code = index.get(label)
                if code is None:
                    code = index[label] = len(index)
                self.codes.append(code)
        check_memory(self.rows * len(self.columns) * self.dtype.itemsize,
                     f"{self.path}: the numbers read up to line {lines[-1]:,}", self.budget,
                     "half of this machine's memory")

    def array(self) -> np.ndarray:
        """The numbers as an (n, len(columns)) array of the dtype."""
        if not self.parts:
            return np.empty((0, len(self.columns)), dtype=self.dtype)
        out = self.parts[0] if len(self.parts) == 1 else np.concatenate(self.parts)
        self.parts = []
        return out

    def label_codes(self) -> np.ndarray:
        """Each row's label as its position in :attr:`index` (the labels in the order first seen)."""
        return np.frombuffer(self.codes, dtype=np.int64) if self.codes else np.empty(0, dtype=np.int64)


def read_csv(path: str | os.PathLike, delimiter: str | None = None, header: bool | None = None,
             dtype: Any = np.float64) -> CSVTable:
    """Read a numeric CSV file.

    Parameters
    ----------
    path : the file (UTF-8, an optional BOM is ignored). Blank lines are skipped.
    delimiter : one character; ``None`` detects it with ``csv.Sniffer``.
    header : True/False; ``None`` treats the first row as a header when any of its
        cells is not a number.
    dtype : floating dtype of the result.

    Raises
    ------
    DataError : unreadable file, no data, a row with the wrong number of cells, or a
        missing / non-numeric / non-finite cell (naming line and column), duplicate
        column names, data that would not fit in memory.
    """
    dtype = check_float_dtype(dtype, "read_csv", DataError)
    if header is not None:
        header = check_bool(header, "header", "read_csv", DataError)
    path, delimiter, line, cells, blocks = _open_table(path, delimiter)
    width = len(cells)
    names: list[str] | None = None
    has_header = header if header is not None else not all(_is_number(c) for c in cells)
    numbers = _Numbers(path, width, list(range(width)), None, delimiter, dtype)
    if has_header:
        _check_header(path, line, cells)
        names = numbers.names = cells
    else:
        numbers.read([([line], [cells])])
    numbers.read(blocks)
    if not numbers.rows:
        raise DataError(f"{path}: no data rows" + (" (only a header)" if names else " (the file is empty)"))
    return CSVTable(names=names, data=numbers.array(), delimiter=delimiter, path=path)


def load_csv(path: str | os.PathLike, target: str | int | None = None, delimiter: str | None = None,
             header: bool | None = None, dtype: Any = np.float64, name: str | None = None) -> ArrayDataset:
    """A regression data set from CSV: features X (n, d) and the target column Y (n,).

    Parameters
    ----------
    target : the target column, by header name or index (negative from the end);
        default: the last column.
    delimiter, header, dtype : as :func:`read_csv`.
    name : data set name in reports (default: the file name).
    """
    if name is not None and not isinstance(name, str):
        raise DataError(f"load_csv: name must be a string, got {name!r}")
    table = read_csv(path, delimiter=delimiter, header=header, dtype=dtype)
    k = table.data.shape[1]
    if k < 2:
        raise DataError(f"{table.path}: needs at least two columns (features and a target), found {k}")
    t = table.column_index(-1 if target is None else target)
    keep = [j for j in range(k) if j != t]
    names = [table.names[j] for j in keep] if table.names else [f"x{j}" for j in keep]
    target_name = table.names[t] if table.names else f"x{t}"
    Y = table.data[:, t].copy()
    X = np.ascontiguousarray(table.data[:, keep])
    return ArrayDataset(X, Y, feature_names=names, target_name=target_name,
                        name=name or os.path.basename(table.path),
                        info={"path": table.path, "delimiter": table.delimiter})


def save_csv(path: str | os.PathLike, columns: dict[str, Any], delimiter: str = ",") -> None:
    """Write equally long 1-D arrays as named CSV columns (used by examples and tests).

    The file is written atomically (:func:`chainrule.files.write_text_atomically`).
    """
    import io

    from ..files import write_text_atomically

    delimiter = _check_delimiter(delimiter) or ","
    names = [str(n) for n in columns]
    arrays = [np.asarray(columns[n]).reshape(-1) for n in columns]
    if len({len(a) for a in arrays}) > 1:
        raise DataError(f"save_csv: the columns differ in length: {[len(a) for a in arrays]}")
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter)
    w.writerow(names)
    for row in zip(*arrays):
        w.writerow([repr(float(v)) for v in row])
    write_text_atomically(check_path(path, "save_csv"), buf.getvalue(), "CSV file")
