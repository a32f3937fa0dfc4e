"""``chainrule explain``: the lecture's demonstration for any small computation.

    chainrule explain "(a + b) * (c - d)" a=1 b=2 c=5 d=3
    chainrule explain "mu = X @ theta; L = sum((mu - Y) ** 2)" --random X:3x2,theta:2,Y:3 --wrt theta
    chainrule explain --lecture 2 --format html -o lecture2.html

Bad input (syntax, unknown names or functions, missing or extra values, shapes) gives
one clear message and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import textwrap

import numpy as np

from ..errors import ExpressionError, RenderError, shorten
from ..lang import LANGUAGES, resolve
from ._args import seed
from ._files import FILE, check_files


def register(sub) -> None:
    from ..explain.parse import FUNCTIONS
    from ..explain.render import FORMATS

    p = sub.add_parser(
        "explain",
        help="trace an expression forward and backward, step by step, as in the lecture",
        description=textwrap.fill(
            "Run a small computation forward (every intermediate named E, F, G, … and kept) and backward "
            "(upstream gradient × local derivative, passed down, summed where paths meet), and show every step, "
            "with the gradients checked by finite differences. Name intermediates with 'name = …' parts "
            "separated by ';'. An expression that starts with '-' goes after '--'.", 88)
        + "\n\nfunctions: " + textwrap.fill(", ".join(FUNCTIONS), 78, subsequent_indent="  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        '  chainrule explain "(a + b) * (c - d)" a=1 b=2 c=5 d=3\n'
        '  chainrule explain "sum((X @ w - y) ** 2)" --random X:4x2,w:2,y:4 --seed 1 --wrt w\n'
        '  chainrule explain "x**3 * y" x=2 y=1 --order 2\n'
        "  chainrule explain --lecture 3 --format html -o lecture3.html",
    )
    p.add_argument("expression", nargs="?", help='the expression, e.g. "(a + b) * (c - d)"')
    p.add_argument("values", nargs="*", metavar="NAME=VALUE", help="input values: a=2, x=[1,2,3], X=[[1,2],[3,4]]")
    p.add_argument("--lecture", type=int, choices=(1, 2, 3), help="run one of the lecture's three examples")
    p.add_argument("--format", "-f", choices=FORMATS, help="rendering (default: text, or from -o's suffix)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the rendering to FILE (checked first, written atomically)")
    p.add_argument("--wrt", metavar="a,b", help="show gradients with respect to these inputs only")
    p.add_argument("--random", action="append", default=[], metavar="NAME:SHAPE",
                   help="random N(0, 1) values, e.g. x:3x2 (repeat or separate by commas; NAME alone: a number)")
    p.add_argument("--seed", type=seed, default=0, help="seed of --random, a whole number >= 0 (default 0)")
    p.add_argument("--order", type=int, choices=(1, 2), default=1,
                   help="2: also the second derivatives of a one-number output, and the backward graph "
                        "recorded to get them (dot, svg and png draw that graph, of the first input differentiated) "
                        "(default 1)")
    p.add_argument("--no-check", action="store_true", help="skip the finite-difference gradient check")
    p.add_argument("--lang", choices=LANGUAGES, default=None,
                   help="language of the tables and sentences: en or ru (default: from the locale, LANG; else en)")
    p.set_defaults(func=run)


def parse_assignments(items: list[str]) -> dict[str, np.ndarray]:
    """``["a=1", "x=[1,2]"]`` as ``{"a": array(1.), "x": array([1., 2.])}``."""
    from ..explain.parse import parse_value

    values: dict[str, np.ndarray] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or not text.strip():
            raise ExpressionError(f"{shorten(item)!r} is not NAME=VALUE (e.g. a=2 or x=[1,2,3])")
        if name in values:
            raise ExpressionError(f"{name} is given twice")
        values[name] = parse_value(text, name)
    return values


def parse_random(specs: list[str], seed: int) -> dict[str, np.ndarray]:
    """``["x:3x2", "w:2,b"]`` as seeded N(0, 1) arrays of those shapes (``b``: one number)."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for spec in ",".join(specs).split(","):
        spec = spec.strip()
        if not spec:
            continue
        name, _, dims = spec.partition(":")
        name = name.strip()
        if not name.isidentifier():
            raise ExpressionError(f"--random {spec[:40]!r}: expected NAME:SHAPE such as x:3x2")
        shape: tuple[int, ...] = ()
        if dims.strip():
            try:
                shape = tuple(int(d) for d in dims.lower().replace("×", "x").split("x"))
            except ValueError:
                raise ExpressionError(f"--random {spec[:40]!r}: the shape must be sizes joined by x, e.g. 3x2"
                                      ) from None
            if not shape or any(d < 1 for d in shape) or len(shape) > 32 or math.prod(shape) > 1_000_000:
                raise ExpressionError(f"--random {spec[:40]!r}: sizes must be positive, at most 1,000,000 "
                                      f"elements in all")
        if name in out:
            raise ExpressionError(f"--random gives {name} twice")
        out[name] = rng.standard_normal(shape)
    return out


def run(args: argparse.Namespace) -> int:
    from ..explain.lectures import lecture
    from ..explain.trace import SUFFIXES, explain

    fmt = args.format
    if fmt is None and args.output:
        fmt = SUFFIXES.get(os.path.splitext(args.output)[1].lower(), "text")
    fmt = fmt or "text"
    check_files({"--output": (args.output, FILE)})
    if args.lecture is not None:
        if args.expression or args.values or args.random or args.order != 1:
            raise ExpressionError("--lecture runs a fixed example: give no expression, no values and no --order "
                                  "with it")
        trace = lecture(args.lecture, check=not args.no_check)
    else:
        if not args.expression:
            raise ExpressionError('give an expression, e.g. chainrule explain "(a + b) * c" a=1 b=2 c=3, '
                                  "or --lecture 1")
        values = parse_random(args.random, args.seed)
        given = parse_assignments(args.values)
        both = sorted(set(values) & set(given))
        if both:
            raise ExpressionError(f"{', '.join(both)} given both as a value and with --random")
        values.update(given)
        trace = explain(args.expression, wrt=args.wrt, check=not args.no_check, order=args.order, **values)
    trace.lang = resolve(args.lang)
    if args.output:
        try:
            trace.save(args.output, fmt)
        except OSError as exc:
            raise RenderError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        print(f"wrote {args.output} ({fmt})")
        return 0
    if fmt == "png":
        if sys.stdout.isatty():
            raise ExpressionError("png is binary: write it to a file with -o FILE.png")
        sys.stdout.flush()
        sys.stdout.buffer.write(trace.render("png"))  # type: ignore[arg-type]
        return 0
    color = fmt == "text" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    text = trace.render(fmt, color=color)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")  # type: ignore[union-attr]
    return 0
