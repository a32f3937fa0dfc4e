"""``chainrule train TASK ...``: one sub-subcommand per task module.

Each module named in :data:`TASKS` has ``register(train_subparsers)`` that adds
its parser (``train_subparsers.add_parser("linreg", ...)``) and sets ``func``.
A new task appends its module name to :data:`TASKS` and may reuse
:func:`add_common_arguments` (epochs, lr, seed, batch size, optimiser, schedule,
early stopping, plot, save) so every task speaks the same options.

A task module that saves models whose predictions need their own printing
(class labels, probabilities) registers a formatter at import time with
:func:`chainrule.commands.predict.register_formatter`; the CLI imports every
task module before running any command.
"""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

from ..errors import ChainruleError
from ._args import parse_lr, positive_int

#: Task modules, in the order ``chainrule train --help`` lists them.
TASKS = [
    "chainrule.commands.train_linreg",
    "chainrule.commands.train_mlp",
]


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model (linreg: the lecture's linear regression, ...)",
        description="Train a model with backpropagation and report how it went.",
    )
    tasks = p.add_subparsers(dest="task", metavar="TASK")
    for name in TASKS:
        importlib.import_module(name).register(tasks)

    def no_task(args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=no_task)


def add_common_arguments(p: argparse.ArgumentParser, *, optimizers: tuple[str, ...], default_optimizer: str,
                         default_epochs: int, default_lr: str = "auto") -> None:
    """The options every ``train`` task shares."""
    g = p.add_argument_group("training")
    g.add_argument("--optimizer", choices=optimizers, default=default_optimizer,
                   help=f"optimisation method (default {default_optimizer})")
    g.add_argument("--lr", type=parse_lr, default=default_lr, help=f"learning rate, or 'auto' (default {default_lr})")
    g.add_argument("--epochs", type=positive_int, default=default_epochs,
                   help=f"maximum number of epochs (default {default_epochs})")
    g.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                   help="objects per step (default: the whole set for gd, 32 otherwise)")
    g.add_argument("--momentum", type=float, default=0.9, help="momentum of 'momentum'/'nesterov' (default 0.9)")
    g.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty (default 0)")
    g.add_argument("--schedule", choices=("none", "step", "cosine"), default="none",
                   help="learning-rate schedule (default none)")
    g.add_argument("--tol", type=float, default=None,
                   help="early stopping: stop when the loss improves by less than this (relative)")
    g.add_argument("--patience", type=positive_int, default=1, help="epochs below --tol before stopping (default 1)")
    g.add_argument("--seed", type=int, default=0, help="one seed for split, initial values and batches (default 0)")
    g.add_argument("--test-size", type=float, default=0.2, help="fraction held out for testing (default 0.2)")
    out = p.add_argument_group("output")
    out.add_argument("--plot", metavar="PNG", help="write the loss curves (train/test, log scale) to this image")
    out.add_argument("--save", metavar="FILE", help="save the trained model as safetensors (for chainrule predict)")
    out.add_argument("--history", metavar="JSON", help="write the per-epoch history as JSON")
    bar = out.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show a progress bar (default: only on a terminal, with rich installed)")
    bar.add_argument("--quiet", dest="progress", action="store_false", help="no progress bar")


def write_json(path: str, data: Any, what: str) -> None:
    """Write ``data`` to ``path`` as indented JSON and say so (``--history``, ``--json``)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    print(f"wrote {what} to {path}")


def check_test_size(value: float) -> None:
    if not 0 <= value < 1:
        raise ChainruleError(f"--test-size must be a fraction in [0, 1), got {value}")
