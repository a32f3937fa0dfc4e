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
from typing import Any

from ..data.checks import OPTIONS
from ..errors import ChainruleError
from . import _files
from ._args import option, parse_lr, positive_int, seed

__all__ = ["TASKS", "register", "add_common_arguments", "write_json", "save_model", "check_test_size",
           "check_combinations", "positive_int"]

#: Task modules, in the order ``chainrule train --help`` lists them.
TASKS = [
    "chainrule.commands.train_linreg",
    "chainrule.commands.train_mlp",
    "chainrule.commands.train_cnn",
]


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model (linreg: the lecture's linear regression; mlp, cnn: classifiers)",
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
    """The options every ``train`` task shares; every number is checked by argparse against its range
    (:data:`chainrule.data.checks.OPTIONS`)."""
    g = p.add_argument_group("training")
    g.add_argument("--optimizer", choices=optimizers, default=default_optimizer,
                   help=f"optimisation method (default {default_optimizer})")
    g.add_argument("--lr", type=parse_lr, default=default_lr,
                   help=f"learning rate in (0, 1000], or 'auto' (default {default_lr})")
    g.add_argument("--epochs", type=option("epochs"), default=default_epochs,
                   help=f"maximum number of epochs, 1 to 1,000,000 (default {default_epochs})")
    g.add_argument("--batch-size", type=option("batch_size"), default=None, metavar="N",
                   help="objects per step (default: the whole set for gd, 32 otherwise)")
    g.add_argument("--momentum", type=option("momentum"), default=0.9,
                   help="momentum of 'momentum'/'nesterov', in [0, 1) (default 0.9)")
    g.add_argument("--weight-decay", type=option("weight_decay"), default=0.0,
                   help="L2 penalty, in [0, 1000] (default 0)")
    g.add_argument("--schedule", choices=("none", "step", "cosine"), default="none",
                   help="learning-rate schedule (default none)")
    g.add_argument("--tol", type=option("tol"), default=None,
                   help="early stopping: stop when the loss improves by less than this (relative, in [0, 1])")
    g.add_argument("--patience", type=option("patience"), default=1,
                   help="epochs below --tol before stopping (default 1)")
    g.add_argument("--seed", type=seed, default=0,
                   help="one seed for split, initial values and batches, a whole number >= 0 (default 0)")
    g.add_argument("--test-size", type=option("test_size"), default=0.2,
                   help="fraction held out for testing, in [0, 1) (default 0.2)")
    out = p.add_argument_group("output (every file is checked before training and written atomically)")
    out.add_argument("--plot", metavar="PNG", help="write the loss curves (train/test, log scale) to this image")
    out.add_argument("--save", metavar="FILE",
                     help="save the trained model as safetensors (for chainrule predict). An existing file is "
                     "replaced only when it is a chainrule model file (or with --force); its permissions are "
                     "kept and a symbolic link is written through")
    out.add_argument("--force", action="store_true",
                     help="let --save replace an existing file that is not a chainrule model file")
    out.add_argument("--history", metavar="JSON", help="write the per-epoch history as JSON")
    out.add_argument("--checkpoint", metavar="FILE",
                     help="write the whole state of the run (model, optimiser, batch order, history) to this file "
                     "after every epoch; with --resume, go on from it")
    out.add_argument("--resume", action="store_true",
                     help="go on from --checkpoint when it exists: the run ends as if never interrupted")
    bar = out.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show a progress bar (default: only on a terminal, with rich installed)")
    bar.add_argument("--quiet", dest="progress", action="store_false", help="no progress bar")


def write_json(path: str, data: Any, what: str) -> None:
    """Write ``data`` to ``path`` as indented JSON, atomically, and say so (``--history``, ``--json``)."""
    _files.write_json(path, data, what)


def save_model(model: Any, path: str, metadata: dict[str, Any]) -> None:
    """``--save``: the model as safetensors (:func:`chainrule.save`, which writes atomically), and say so."""
    from ..serialization import save

    save(model, path, metadata=metadata)
    print(f"saved the model to {path}")


def check_combinations(args: argparse.Namespace) -> None:
    """Options that only fail together, refused before any work: gd with a batch size, nesterov without
    momentum, --resume without --checkpoint."""
    if args.optimizer == "gd" and args.batch_size is not None and getattr(args, "task", None) == "linreg":
        raise ChainruleError("--optimizer gd is full-batch; use --optimizer sgd with --batch-size")
    if args.optimizer == "nesterov" and args.momentum == 0:
        raise ChainruleError("--optimizer nesterov needs --momentum > 0")
    if args.resume and not args.checkpoint:
        raise ChainruleError("--resume needs --checkpoint FILE (the run to go on from)")


def check_test_size(value: float) -> None:
    if not OPTIONS["test_size"].contains(value):
        raise ChainruleError(f"--test-size must be a fraction in [0, 1), got {value}")
