"""``chainrule train cnn``: a small convolutional network on images, trained to classify.

The rows of the data are images (digits: 8×8 pixels, one channel); a
:class:`~chainrule.nn.ConvNet` unflattens them, convolves, pools and classifies.
Everything after training (the report, plots, ``--save`` for ``chainrule predict``
and ``evaluate``) is ``chainrule train mlp``'s: the saved network reads the same rows.
"""

from __future__ import annotations

import argparse

from ..errors import ChainruleError
from ._args import checked
from .train_mlp import add_classifier_training, add_data_arguments, add_network_arguments, parse_hidden
from .train_mlp import run as run_classifier


def parse_image_shape(text: str) -> tuple[int, int, int]:
    """``--image-shape 1,8,8`` (channels, height, width) or ``8,8`` (one channel)."""
    def read(t: str) -> tuple[int, ...]:
        parts = tuple(int(v) for v in t.replace("x", ",").replace("×", ",").split(","))
        return (1, *parts) if len(parts) == 2 else parts

    return checked(text.strip(), read, lambda s: len(s) == 3 and all(1 <= v <= 65536 for v in s),
                   "expected C,H,W such as 1,8,8 (or H,W), got {text}",
                   "expected three sizes C,H,W from 1 to 65,536, got {text}")


def parse_kernel(text: str) -> int:
    return checked(text, int, lambda k: 1 <= k <= 15 and k % 2 == 1, "expected a whole number, got {text}",
                   "expected an odd kernel size from 1 to 15, got {text}")


def register(tasks) -> None:
    p = tasks.add_parser(
        "cnn",
        help="a small convolutional network on images, classifying (digits, or a CSV of pixel rows)",
        description="Train a convolutional network (Conv2d → activation → MaxPool2d per stage, then Linear) "
        "with softmax cross-entropy by backpropagation on images given as rows of pixels, then print the loss, "
        "the accuracy and the confusion matrix on the training and the held-out test part.",
    )
    add_data_arguments(p, "digits (8×8 images), or a CSV file of pixel rows with a class column (give "
                       "--image-shape unless the images are square, one channel; default digits)", generators=False)
    add_network_arguments(p, hidden=[], hidden_help="fully connected hidden layers after the convolutions, "
                          "comma-separated (default none)")
    conv = p.add_argument_group("convolutions")
    conv.add_argument("--channels", type=parse_hidden, default=[16, 32], metavar="16,32",
                      help="filters of each convolution stage, comma-separated (default 16,32)")
    conv.add_argument("--kernel-size", type=parse_kernel, default=3, help="odd filter size (default 3)")
    conv.add_argument("--image-shape", type=parse_image_shape, default=None, metavar="C,H,W",
                      help="channels, height and width of one image (default: 1,s,s for rows of s² pixels)")
    add_classifier_training(p)
    _set_default_epochs(p, 15)
    p.set_defaults(func=run, network="cnn")


def _set_default_epochs(p: argparse.ArgumentParser, epochs: int) -> None:
    p.set_defaults(epochs=epochs)
    for action in p._actions:  # argparse keeps no public handle on an added option
        if action.dest == "epochs":
            action.help = f"maximum number of epochs, 1 to 1,000,000 (default {epochs})"


def run(args: argparse.Namespace) -> int:
    name = args.data.strip().lower()
    if name in ("moons", "spirals", "iris", "wine", "breast-cancer", "breast_cancer"):
        raise ChainruleError(f"--data {args.data}: not images; a CNN trains on digits or a CSV of pixel rows "
                             f"(use chainrule train mlp for {args.data})")
    if not args.channels:
        raise ChainruleError("--channels: a convolutional network needs one stage or more, such as 16,32")
    return run_classifier(args)
