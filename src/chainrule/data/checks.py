"""What numbers and data chainrule accepts, checked in one place for the API and the command line.

* :data:`OPTIONS` – the valid range of every numeric option of the data sets and of training
  (seed, learning rate, momentum, sizes, ...). The functions check their arguments with
  :func:`check_option`, the ``chainrule`` command line builds its argparse types from the
  same table (:mod:`chainrule.commands._args`), so both refuse the same values with the
  same words.
* :func:`check_memory` – an array is refused *before* it is made when it would not fit:
  generated data above :data:`MAX_GENERATED_BYTES` (2 GiB), anything above
  :func:`memory_budget` (half of this machine's memory).
* :func:`check_columns` – data whose values are not finite, or so large that summing their
  squares would overflow (the loss, the least-squares solution and the standardiser all do),
  are refused naming the column.

Every check raises one of chainrule's own errors (:class:`~chainrule.errors.DataError`,
:class:`~chainrule.errors.ConfigError`) with a one-line message naming the function, the
argument and the value.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import files
from ..errors import ConfigError, DataError
from ..files import _shown  # a value in a message: its repr, cut to 40 characters

#: Generated (synthetic) data sets may take at most this many bytes (2 GiB).
MAX_GENERATED_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Range:
    """The valid values of one numeric option: whole numbers or reals, always finite, from ``low`` to ``high``.

    ``low_open`` / ``high_open`` exclude the bound itself; ``None`` means no bound.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: float) -> bool:
        """Whether ``value`` (already a number) is in the range (NaN and infinities never are)."""
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def describe(self) -> str:
        """The range in words, e.g. ``a number in (0, 1000]`` or ``a whole number from 1 to 1,000,000``."""
        if self.kind is int:
            low = "" if self.low is None else f"{int(self.low):,}"
            if self.high is None:
                return f"a whole number >= {low}"
            return f"a whole number from {low} to {int(self.high):,}"
        if self.high is None:
            return f"a finite number {'>' if self.low_open else '>='} {self.low:g}"
        return (f"a number in {'(' if self.low_open else '['}{self.low:g}, "
                f"{self.high:g}{')' if self.high_open else ']'}")


#: The valid range of every numeric option, by the name the functions and the command line use.
OPTIONS: dict[str, Range] = {
    # one seed for everything random: NumPy takes any non-negative whole number; below 2**63 it fits
    # every integer type and JSON reader that sees it again in a model file
    "seed": Range(int, 0, 2**63 - 1),
    # steps beyond 1000 only make sense for features on a tiny scale: standardise them instead
    "lr": Range(float, 0, 1000, low_open=True),
    "momentum": Range(float, 0, 1, high_open=True),
    "weight_decay": Range(float, 0, 1000),
    # relative improvement: 0 stops once the loss does not improve at all, 1 after `patience` epochs
    "tol": Range(float, 0, 1),
    "target_gap": Range(float, 0),
    "noise": Range(float, 0, 1e6),
    "test_size": Range(float, 0, 1, high_open=True),
    "val_size": Range(float, 0, 1, high_open=True),
    "dropout": Range(float, 0, 1, high_open=True),
    "label_smoothing": Range(float, 0, 1, high_open=True),
    "epochs": Range(int, 1, 1_000_000),
    "patience": Range(int, 1, 1_000_000),
    "batch_size": Range(int, 1, 2**31 - 1),
    "n_samples": Range(int, 1, 1_000_000_000),
    "n_features": Range(int, 1, 1_000_000_000),
    "samples": Range(int, 2, 1_000_000),
    "hidden_size": Range(int, 1, 65_536),
    "threads": Range(int, 1, 4096),
    "workers": Range(int, 1, 4096),
    "checkpoint_every": Range(int, 1, 1_000_000_000),
}


def is_int(value: Any) -> bool:
    """A whole number given as an int (a bool is not one)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """A real number (int or float, not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_option(value: Any, name: str, who: str, error: type[Exception] = ConfigError) -> Any:
    """``value`` checked against :data:`OPTIONS` [``name``]: the right type and in range.

    Returns it as an int or a float; raises ``error`` ("``who``: ``name`` must be ..., got ...").
    """
    spec = OPTIONS[name]
    ok_type = is_int(value) if spec.kind is int else is_real(value)
    if ok_type:
        try:
            number = int(value) if spec.kind is int else float(value)
        except (OverflowError, ValueError):
            number = math.nan
        if spec.contains(number):
            return number
    raise error(f"{who}: {name} must be {spec.describe()}, got {_shown(value)}")


def check_optional(value: Any, name: str, who: str, error: type[Exception] = ConfigError) -> Any:
    """:func:`check_option`, or ``None`` passed through."""
    return None if value is None else check_option(value, name, who, error)


def check_seed(rng: Any, who: str, error: type[Exception] = ConfigError) -> Any:
    """A seed argument: a ``numpy.random.Generator``, ``None``, or a whole number in :data:`OPTIONS` ["seed"]."""
    if rng is None or isinstance(rng, np.random.Generator):
        return rng
    if not is_int(rng) or not OPTIONS["seed"].contains(int(rng)):
        raise error(f"{who}: rng must be a numpy.random.Generator, a seed ({OPTIONS['seed'].describe()}) "
                    f"or None, got {_shown(rng)}")
    return int(rng)


def check_choice(value: Any, name: str, who: str, choices: tuple, error: type[Exception] = ConfigError) -> Any:
    """``value`` if it is one of ``choices``; else ``error`` listing them."""
    try:
        if value in choices:
            return value
    except TypeError:  # unhashable or uncomparable values
        pass
    raise error(f"{who}: {name} must be one of {', '.join(map(repr, choices))}, got {_shown(value)}")


def check_bool(value: Any, name: str, who: str, error: type[Exception] = ConfigError) -> bool:
    """``value`` if it is True or False (a NumPy bool too)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise error(f"{who}: {name} must be True or False, got {_shown(value)}")


def check_float_dtype(dtype: Any, who: str, error: type[Exception] = ConfigError) -> np.dtype:
    """``dtype`` as a NumPy floating dtype (float16, float32, float64, ...); anything else is refused."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind != "f":
        raise error(f"{who}: dtype must be a floating type such as float64 or float32, got {_shown(dtype)}")
    return dt


def check_path(path: Any, who: str, error: type[Exception] = DataError) -> str:
    """:func:`chainrule.files.check_path`, raising :class:`~chainrule.errors.DataError` by default."""
    return files.check_path(path, who, error)


# -- memory ---------------------------------------------------------------------------------------


def memory_budget() -> int:
    """Half of this machine's physical memory in bytes (4 GiB when the system does not say)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = 0
    return total // 2 if total > 0 else 4 * 1024**3


def format_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KiB``; ``40e9`` -> ``37.3 GiB``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def check_memory(n_bytes: float, what: str, limit: float | None = None, limit_name: str | None = None,
                 error: type[Exception] = DataError) -> None:
    """Refuse to make ``what`` when it would take more than ``limit`` bytes (default: :func:`memory_budget`).

    The message says how much memory it would take and what the limit is, e.g. "synthetic data of
    50 × 100,000,000 float64 values would take 37.3 GiB of memory, more than the 2.0 GiB allowed
    for generated data".
    """
    if limit is None:
        limit, limit_name = memory_budget(), "half of this machine's memory"
    if n_bytes > limit:
        raise error(f"{what} would take {format_bytes(n_bytes)} of memory, more than the {format_bytes(limit)} "
                    f"allowed ({limit_name or 'the limit'})")


def check_generated(shape: tuple[int, ...], what: str, itemsize: int = 8) -> None:
    """Generated data of ``shape`` must fit in :data:`MAX_GENERATED_BYTES` and in the machine's memory."""
    n_bytes = math.prod(shape) * itemsize
    dims = " × ".join(f"{d:,}" for d in shape)
    label = f"{what} of {dims} values ({itemsize} bytes each)"
    check_memory(n_bytes, label, MAX_GENERATED_BYTES, "for generated data")
    check_memory(n_bytes, label)


# -- values ---------------------------------------------------------------------------------------


def value_limit(n_rows: int, n_columns: int = 1, dtype: Any = np.float64) -> float:
    """The largest magnitude a value may have so that summing the squares of ``n_rows`` × ``n_columns``
    such values (as losses, least squares and standardising do) stays finite in ``dtype``, with room
    for a factor of 4 (differences of two values)."""
    big = float(np.finfo(np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.float64).max)
    return math.sqrt(big) / (2.0 * math.sqrt(max(1, n_rows) * max(1, n_columns)))


def check_columns(array: Any, names: list[str] | None, who: str, dtype: Any = np.float64,
                  n_columns: int | None = None, error: type[Exception] = DataError) -> None:
    """Refuse an array (n,) or (n, d) whose values are not finite, or too large to train on.

    Too large means above :func:`value_limit` for its rows and ``n_columns`` (default: its own
    columns): the squares summed over the data would overflow ``dtype``. The message names the
    column (``names[j]``, else its position), the value and the limit, and says to rescale.
    """
    a = np.asarray(array)
    if a.dtype.kind not in "biuf":
        raise error(f"{who}: expected numbers, got an array of {a.dtype}")
    if a.dtype.kind != "f" or a.size == 0:
        return
    a2 = a.reshape(len(a), -1) if a.ndim != 2 else a
    width = a2.shape[1]
    limit = value_limit(len(a2), n_columns or width, dtype)
    with np.errstate(invalid="ignore"):
        biggest = np.max(np.abs(a2), axis=0) if len(a2) else np.zeros(width)
    bad = np.flatnonzero(~(biggest <= limit))  # NaN compares False: caught here too
    if not bad.size:
        return
    j = int(bad[0])
    col = a2[:, j]
    name = f"column {names[j]!r}" if names is not None and j < len(names) else f"column {j + 1}"
    finite = np.isfinite(col)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise error(f"{who}: {name} holds {col[i]} (row {i + 1}); every value must be a finite number")
    i = int(np.argmax(np.abs(col)))
    raise error(f"{who}: {name} holds {col[i]:.6g} (row {i + 1}), too large to train on: the sum of the squares "
                f"of {len(a2):,} such values overflows {np.dtype(dtype).name}. Values up to ±{limit:.3g} work; "
                f"rescale the column (e.g. divide it by a power of ten)")


__all__ = [
    "OPTIONS", "Range", "MAX_GENERATED_BYTES", "check_option", "check_optional", "check_seed", "check_choice",
    "check_bool", "check_float_dtype", "check_path", "memory_budget", "format_bytes", "check_memory",
    "check_generated", "value_limit", "check_columns", "is_int", "is_real",
]
