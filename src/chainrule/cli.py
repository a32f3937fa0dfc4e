"""The ``chainrule`` command line: parses, calls the layers below, prints.

Each subcommand lives in its own module under :mod:`chainrule.commands` with a
``register(subparsers)`` function that adds its parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import ChainruleError

#: Subcommand modules, in the order ``chainrule --help`` lists them.
COMMANDS = [
    "chainrule.commands.demo",
    "chainrule.commands.explain",
    "chainrule.commands.train",
    "chainrule.commands.predict",
    "chainrule.commands.sgd_noise",
    "chainrule.commands.evaluate",
    "chainrule.commands.bench",
    "chainrule.commands.exercise",
    "chainrule.commands.notebooks",
]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Backpropagation made real, visible and fast.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``chainrule`` with ``argv`` (default: the process's arguments); returns the exit status.

    0: done; 1: training diverged (the report says so); 2: the input cannot be used: argparse's
    usage and error for a bad option, else one line ``chainrule <command>: error: <message>``
    on stderr; 130: interrupted. Every output file is checked before any work and written
    atomically, so a refused or failed run leaves existing files as they were.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    command = " ".join(filter(None, [args.command, getattr(args, "task", None)])) or "chainrule"
    try:
        return int(args.func(args) or 0)
    except ChainruleError as exc:
        print(f"chainrule {command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"chainrule {command}: error: out of memory; use smaller data or sizes", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `chainrule predict ... | head`: the reader left; say nothing more
        _silence_stdout()
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again (see the Python
    documentation on SIGPIPE)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
