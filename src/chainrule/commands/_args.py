"""Argument types the commands share: each reads one option's text, or refuses it with argparse's error."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def checked(text: str, read: Callable[[str], T], valid: Callable[[T], object], unreadable: str,
            invalid: str) -> T:
    """``read(text)`` if it reads and ``valid`` accepts it; else an :class:`argparse.ArgumentTypeError` with
    ``unreadable`` or ``invalid``, str.format templates of ``{text}``."""
    try:
        value = read(text)
    except ValueError:
        raise argparse.ArgumentTypeError(unreadable.format(text=text)) from None
    if not valid(value):
        raise argparse.ArgumentTypeError(invalid.format(text=text))
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1 (epochs, batch size, samples, ...)."""
    return checked(text, int, lambda v: v >= 1, "expected a whole number, got {text!r}",
                   "expected a number >= 1, got {text}")


def fraction(text: str) -> float:
    """A number in [0, 1) (dropout, label smoothing, a held-out part)."""
    return checked(text, float, lambda v: 0 <= v < 1, "expected a number in [0, 1), got {text!r}",
                   "expected a number in [0, 1), got {text}")


def parse_lr(text: str) -> float | str:
    """``--lr``: a positive number or ``auto``."""
    if text == "auto":
        return text
    return checked(text, float, lambda v: v > 0, "expected a positive number or 'auto', got {text!r}",
                   "the learning rate must be positive, got {text}")
