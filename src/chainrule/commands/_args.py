"""Argument types the commands share: each reads one option's text, or refuses it with argparse's error.

The ranges come from :data:`chainrule.data.checks.OPTIONS`, the table the library's
functions check their arguments against, so ``--lr 1e308`` on the command line and
``train_linreg(lr=1e308)`` are refused in the same words. argparse turns the refusal
into its usage line and ``chainrule ...: error: argument --lr: ...`` with exit status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from ..data.checks import OPTIONS
from ..data.csvfile import separates_numbers
from ..errors import shorten

T = TypeVar("T")


def shown(text: str, limit: int = 40) -> str:
    """``repr(text)``, cut to about ``limit`` characters (a pasted megabyte stays one short line)."""
    return repr(shorten(text, limit))


def checked(text: str, read: Callable[[str], T], valid: Callable[[T], object], unreadable: str,
            invalid: str) -> T:
    """``read(text)`` if it reads and ``valid`` accepts it; else an :class:`argparse.ArgumentTypeError` with
    ``unreadable`` or ``invalid``, str.format templates of ``{text}`` (given as a short repr: use ``{text}``,
    not ``{text!r}``)."""
    short = shown(text)
    try:
        value = read(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(unreadable.format(text=short)) from None
    if not valid(value):
        raise argparse.ArgumentTypeError(invalid.format(text=short))
    return value


def _read_int(text: str) -> int:
    return int(text.strip())


def _read_float(text: str) -> float:
    return float(text.strip())


def option(name: str) -> Callable[[str], int | float]:
    """The argparse type of the option ``name`` of :data:`~chainrule.data.checks.OPTIONS`: its text read
    as a whole number or a real, and refused unless finite and in range (``nan``, ``inf``, ``1e999`` never are).
    """
    spec = OPTIONS[name]
    read = _read_int if spec.kind is int else _read_float
    kind = "a whole number" if spec.kind is int else "a number"

    def parse(text: str) -> int | float:
        return checked(text, read, spec.contains, f"expected {kind}, got {{text}}",
                       f"expected {spec.describe()}, got {{text}}")

    parse.__name__ = name  # argparse names the type in its fallback messages
    return parse


def positive_int(text: str) -> int:
    """A whole number from 1 to 2**31 - 1 (a size, a count)."""
    return checked(text, _read_int, lambda v: 1 <= v <= 2**31 - 1, "expected a whole number, got {text}",
                   "expected a whole number from 1 to 2,147,483,647, got {text}")


def fraction(text: str) -> float:
    """A number in [0, 1) (dropout, label smoothing, a held-out part)."""
    return checked(text, _read_float, lambda v: 0 <= v < 1, "expected a number in [0, 1), got {text}",
                   "expected a number in [0, 1), got {text}")


#: ``--seed``: a whole number from 0 to 2**63 - 1 (NumPy refuses negative seeds).
seed = option("seed")


def parse_lr(text: str) -> float | str:
    """``--lr``: a number in (0, 1000] or ``auto``."""
    if text.strip() == "auto":
        return "auto"
    spec = OPTIONS["lr"]
    return checked(text, _read_float, spec.contains, "expected a positive number or 'auto', got {text}",
                   f"the learning rate must be {spec.describe()} (or 'auto'), got {{text}}")


def size_list(name: str, what: str) -> Callable[[str], list[int]]:
    """A comma-separated list of whole numbers each in the range of :data:`OPTIONS` [``name``]."""
    spec = OPTIONS[name]

    def parse(text: str) -> list[int]:
        return checked(text, lambda t: [int(part) for part in t.replace(" ", "").split(",") if part],
                       lambda sizes: bool(sizes) and len(sizes) <= 1000 and all(spec.contains(b) for b in sizes),
                       f"expected comma-separated whole numbers such as {what}, got {{text}}",
                       f"expected comma-separated whole numbers, each {spec.describe()[2:]}, got {{text}}")

    parse.__name__ = name
    return parse


def delimiter(text: str) -> str:
    """``--delimiter``: one character that can separate numbers (``\\t`` may be written as ``\\t`` or ``tab``)."""
    value = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(text, text)
    if len(value) != 1:
        raise argparse.ArgumentTypeError(f"expected one character such as , ; | or tab, got {shown(text)}")
    if not separates_numbers(value):
        raise argparse.ArgumentTypeError(f"{shown(text)} cannot separate numbers; use , ; | or tab")
    return value
