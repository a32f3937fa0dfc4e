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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ChainruleError as exc:
        print(f"chainrule {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
