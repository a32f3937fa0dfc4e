"""CSV loading: header names, target column by name or index, delimiter detection, precise errors.

Every cell must be a finite number; an empty, non-numeric, NaN or infinite cell
is a :class:`DataError` naming the file, the line (1-based, as an editor shows
it) and the column (1-based, and its header name when there is one).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError
from .datasets import ArrayDataset

_DELIMITERS = ",;\t|"


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
    if isinstance(column, str) and names is not None and column in names:
        return names.index(column)
    try:
        j = int(column)
    except (TypeError, ValueError):
        have = f"columns are {names}" if names else "the file has no header; give an index"
        raise DataError(f"{path}: no column named {column!r} ({have})") from None
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


def _read_rows(path: str | os.PathLike, delimiter: str | None) -> tuple[str, str, Iterator[tuple[int, list[str]]]]:
    """Open a CSV file: ``(path, delimiter, rows)``, the delimiter checked or detected.

    ``rows`` yields ``(line number, stripped cells)`` for each non-blank row, as the
    reader reaches it. Raises :class:`DataError` for an unreadable or non-UTF-8 file
    and a delimiter that is not one character.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except OSError as exc:
        raise DataError(f"cannot read {path!r}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path!r} is not a UTF-8 text file ({exc.reason} at byte {exc.start})") from exc
    if delimiter is None:
        delimiter = detect_delimiter(text[:65536])
    elif len(delimiter) != 1:
        raise DataError(f"the delimiter must be one character, got {delimiter!r}")
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delimiter)
    rows = ((reader.line_num, [c.strip() for c in cells])
            for cells in reader if cells and any(c.strip() for c in cells))
    return path, delimiter, rows


def _parse_row(path: str, line: int, cells: list[str], width: int, delimiter: str, columns: Iterable[int],
              names: list[str] | None) -> list[float]:
    """The numbers in ``cells[j]`` for j in ``columns``, once the row is checked to hold ``width`` cells.

    Raises :class:`DataError` for a ragged row, or an empty, non-numeric or non-finite
    cell (naming the file, the line and the column, with its header name if any).
    """
    if len(cells) != width:
        raise DataError(f"{path}, line {line}: expected {width} cells separated by {delimiter!r}, found {len(cells)}")
    return [_number(cells[j], path, line, j, names) for j in columns]


def _number(cell: str, path: str, line: int, j: int, names: list[str] | None) -> float:
    try:
        value = float(cell)
        if math.isfinite(value):
            return value
        problem = "is not a finite number"
    except ValueError:
        problem = "is not a number"
    where = f"{path}, line {line}, column {j + 1}" + (f" ({names[j]!r})" if names else "")
    if not cell:
        raise DataError(f"{where}: missing value (empty cell)")
    raise DataError(f"{where}: {cell!r} {problem}")


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
        missing / non-numeric / non-finite cell (naming line and column).
    """
    path, delimiter, lines = _read_rows(path, delimiter)
    names: list[str] | None = None
    rows: list[list[float]] = []
    width = None
    for line, cells in lines:
        if width is None:
            width = len(cells)
            has_header = header if header is not None else not all(_is_number(c) for c in cells)
            if has_header:
                names = cells
                if any(not n for n in names):
                    j = names.index("")
                    raise DataError(f"{path}, line {line}, column {j + 1}: empty column name in the header")
                continue
        rows.append(_parse_row(path, line, cells, width, delimiter, range(width), names))
    if not rows:
        raise DataError(f"{path}: no data rows" + (" (only a header)" if names else " (the file is empty)"))
    return CSVTable(names=names, data=np.asarray(rows, dtype=dtype), delimiter=delimiter, path=path)


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
    table = read_csv(path, delimiter=delimiter, header=header, dtype=dtype)
    k = table.data.shape[1]
    if k < 2:
        raise DataError(f"{table.path}: needs at least two columns (features and a target), found {k}")
    t = table.column_index(-1 if target is None else target)
    keep = [j for j in range(k) if j != t]
    names = [table.names[j] for j in keep] if table.names else [f"x{j}" for j in keep]
    target_name = table.names[t] if table.names else f"x{t}"
    return ArrayDataset(np.ascontiguousarray(table.data[:, keep]), table.data[:, t].copy(), feature_names=names,
                        target_name=target_name, name=name or os.path.basename(table.path),
                        info={"path": table.path, "delimiter": table.delimiter})


def save_csv(path: str | os.PathLike, columns: dict[str, Any], delimiter: str = ",") -> None:
    """Write equally long 1-D arrays as named CSV columns (used by examples and tests)."""
    names = list(columns)
    arrays = [np.asarray(columns[n]).reshape(-1) for n in names]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(names)
        for row in zip(*arrays):
            w.writerow([repr(float(v)) for v in row])
