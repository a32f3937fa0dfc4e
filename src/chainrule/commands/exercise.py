"""``chainrule exercise list|init|check|grade``: the lecture's homework, written by a learner and checked.

``list`` the exercises; ``init NAME [DIR]`` writes a template (never over a file); ``check FILE``
runs the checks in a separate process and prints the report (exit 0 when all pass, 1 otherwise;
``--format json`` for tools); ``grade DIR --exercise NAME --out grades.csv`` checks a folder of
submissions. ``--lang en|ru`` (default: the locale) for every text.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import ChainruleError
from ..lang import LANGUAGES, resolve


def _lang_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", choices=LANGUAGES, default=None,
                   help="language of the texts: en or ru (default: from the locale, LANG; else en)")


def _limits(p: argparse.ArgumentParser) -> None:
    from ..exercise.isolate import MEMORY_MB, OUTPUT_KB, TIMEOUT_S

    g = p.add_argument_group("limits of each run")
    g.add_argument("--timeout", type=float, default=TIMEOUT_S, metavar="S",
                   help=f"seconds before a file is stopped (default {TIMEOUT_S:g})")
    g.add_argument("--memory", type=int, default=MEMORY_MB, metavar="MiB",
                   help=f"memory a file may use (default {MEMORY_MB})")
    g.add_argument("--output", type=int, default=OUTPUT_KB, metavar="KiB",
                   help=f"what a file may print (default {OUTPUT_KB})")


def register(sub) -> None:
    p = sub.add_parser(
        "exercise",
        help="the lecture's homework: write the blocks yourself and have them checked",
        description="The lecture's homework as exercises: list them, write a template, check your file "
        "(each block against chainrule's own, with hints), or grade a folder of submissions.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    a = actions.add_parser("list", help="the exercises, in the lecture's order")
    _lang_option(a)
    a.set_defaults(func=run_list)
    a = actions.add_parser("init", help="write an exercise's template file (never over an existing file)")
    a.add_argument("name", help="the exercise: its name (blocks, linreg, ...) or number")
    a.add_argument("folder", nargs="?", default=".", help="where to write it (default: here)")
    _lang_option(a)
    a.set_defaults(func=run_init)
    a = actions.add_parser("check", help="check your file: every block, with hints (exit 0 when all pass)")
    a.add_argument("file", help="your exercise file, e.g. blocks.py")
    a.add_argument("--exercise", default=None, metavar="NAME", help="the exercise (default: from the file's name)")
    a.add_argument("--format", choices=("text", "json"), default="text", help="report format (default text)")
    _lang_option(a)
    _limits(a)
    a.set_defaults(func=run_check)
    a = actions.add_parser("grade", help="a teacher's folder of submissions into one CSV")
    a.add_argument("folder", help="a folder of submissions: NAME.py files, or one folder per student")
    a.add_argument("--exercise", required=True, metavar="NAME", help="the exercise they solved")
    a.add_argument("--out", required=True, metavar="CSV", help="the grades table to write")
    _lang_option(a)
    _limits(a)
    a.set_defaults(func=run_grade)

    def no_action(args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=no_action)


def run_list(args: argparse.Namespace) -> int:
    from ..exercise import EXERCISES, MESSAGES, TITLES

    lang = resolve(args.lang)
    print(MESSAGES.text("list_header", lang))
    for ex in EXERCISES:
        point = MESSAGES.text("list_point", lang, point=ex.lecture_point)
        print(f"  {ex.number}. {ex.name:<12} {TITLES.text(ex.name, lang)} ({point})")
    return 0


def run_init(args: argparse.Namespace) -> int:
    from ..exercise import MESSAGES, find, init

    lang = resolve(args.lang)
    find(args.name)  # an unknown name is refused before any folder is made
    try:
        done = init(args.name, args.folder, lang)
    except OSError as exc:
        raise ChainruleError(f"cannot write into {args.folder}: {exc.strerror or exc}") from None
    for path, written in done:
        print(MESSAGES.text("wrote" if written else "kept", lang, path=path))
    print(MESSAGES.text("next", lang, path=done[-1][0]))
    return 0


def _check_limits(args: argparse.Namespace) -> None:
    if not 0 < args.timeout <= 3600 or not 64 <= args.memory <= 65536 or not 64 <= args.output <= 1_048_576:
        raise ChainruleError("limits: --timeout in (0, 3600] s, --memory 64 to 65,536 MiB, --output 64 to "
                             "1,048,576 KiB")


def run_check(args: argparse.Namespace) -> int:
    import os

    from ..exercise import MESSAGES, exercise_of, run_isolated
    from ..exercise.report import render_json, render_text

    lang = resolve(args.lang)
    _check_limits(args)
    if not os.path.isfile(args.file):
        raise ChainruleError(MESSAGES.text("missing_file", lang, path=args.file))
    if not args.file.endswith(".py"):
        raise ChainruleError(MESSAGES.text("not_py", lang, path=args.file))
    ex = exercise_of(args.file, args.exercise)
    outcome = run_isolated(ex.name, args.file, timeout=args.timeout, memory_mb=args.memory, output_kb=args.output)
    render = render_json if args.format == "json" else render_text
    print(render(outcome, ex, args.file, lang))
    return 0 if outcome.passed else 1


def run_grade(args: argparse.Namespace) -> int:
    from ..exercise import MESSAGES, find
    from ..exercise.grade import grade, to_csv
    from ._files import FILE, check_files, write_text

    lang = resolve(args.lang)
    _check_limits(args)
    ex = find(args.exercise)
    check_files({"--out": (args.out, FILE)}, {})

    def progress(name, outcome) -> None:
        passed = sum(r["passed"] for r in outcome.results)
        print(f"  {name}: {outcome.status}, {passed}/{len(outcome.results)}", file=sys.stderr)

    columns, rows = grade(args.folder, ex, timeout=args.timeout, memory_mb=args.memory, output_kb=args.output,
                          progress=progress)
    write_text(args.out, to_csv(columns, rows), "the grades")
    print(MESSAGES.text("graded", lang, n=len(rows), path=args.out))
    return 0
