"""``chainrule train mlp``: a multi-layer network with a non-linear activation, trained to classify.

Also registers how ``chainrule predict`` prints a classifier's predictions (the
label, then one probability per class) and how it reads their CSV files (the
feature columns by name, whatever the other columns hold).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..data.checks import OPTIONS
from ..errors import ChainruleError
from ..optim import OPTIMIZERS
from ..train.classifier import MAX_LAYERS
from ._args import checked, delimiter, option
from ._files import CHECKPOINT, FILE, MODEL, PLOT, check_files
from .predict import n_features, register_formatter, register_reader
from .train import add_common_arguments, check_combinations, check_test_size, save_model, write_json
from .train_distributed import add_cluster_arguments, on_a_cluster

ACTIVATION_CHOICES = ("relu", "leaky_relu", "tanh", "sigmoid", "softplus", "gelu", "gelu_tanh", "identity")


def parse_hidden(text: str) -> list[int]:
    """``--hidden 64,64`` -> [64, 64]; ``none`` or an empty string -> [] (a linear classifier).

    Each size is a whole number from 1 to 65,536, at most 100 layers.
    """
    text = text.strip().lower()
    if text in ("", "none", "0"):
        return []
    spec = OPTIONS["hidden_size"]
    return checked(text, lambda t: [int(part) for part in t.replace(" ", "").split(",") if part],
                   lambda sizes: bool(sizes) and len(sizes) <= MAX_LAYERS and all(spec.contains(s) for s in sizes),
                   "expected comma-separated layer sizes such as 64,64, got {text}",
                   f"layer sizes must be whole numbers from 1 to {int(spec.high):,}, at most {MAX_LAYERS} "
                   f"layers, got {{text}}")


def register(tasks) -> None:
    p = tasks.add_parser(
        "mlp",
        help="a multi-layer network with a non-linear activation, classifying (digits, iris, moons, CSV ...)",
        description="Train a multi-layer perceptron (Linear → activation → ... → Linear) with softmax "
        "cross-entropy by backpropagation, then print the loss, the accuracy and the confusion matrix on the "
        "training and the held-out test part (a stratified split).",
    )
    add_data_arguments(p, "digits, iris, breast-cancer, wine (need chainrule[data]), moons, spirals, or a CSV "
                       "file whose class column may hold any labels (default digits)", generators=True)
    add_network_arguments(p, hidden=[64, 64], hidden_help="hidden layer sizes, comma-separated ('none' for a "
                          "linear classifier; default 64,64)")
    add_classifier_training(p)
    p.add_argument_group("more plots").add_argument(
        "--plot-boundary", metavar="PNG", help="2-D data only: the decision boundary over the points")
    add_cluster_arguments(p)
    p.set_defaults(func=run, network="mlp")


def add_data_arguments(p: argparse.ArgumentParser, data_help: str, generators: bool) -> None:
    """``--data`` (a named set or a CSV file) and the CSV options; ``generators``: moons/spirals' options."""
    d = p.add_argument_group("data")
    d.add_argument("--data", default="digits", metavar="NAME|FILE.csv", help=data_help)
    d.add_argument("--target", default=None, metavar="COL",
                   help="CSV class column, by header name or index (default: the last column)")
    d.add_argument("--delimiter", type=delimiter, default=None, help="CSV delimiter (default: detected)")
    if generators:
        d.add_argument("--n-samples", type=option("n_samples"), default=1000,
                       help="moons/spirals: points (default 1000; the data may take at most 2 GiB)")
        d.add_argument("--noise", type=option("noise"), default=None,
                       help="moons/spirals: noise standard deviation, in [0, 1e6] (default 0.2 for moons, 0.05 "
                       "for spirals)")
    d.add_argument("--no-standardize", dest="standardize", action="store_false",
                   help="keep raw features (default: standardise with training statistics)")
    d.add_argument("--val-size", type=option("val_size"), default=None,
                   help="fraction of the training part held out for validation: early stopping and keeping the "
                   "best epoch watch it, never the test part (default 0.1 when either is on, else 0; "
                   "0: the test part serves)")


def add_network_arguments(p: argparse.ArgumentParser, hidden: list[int], hidden_help: str) -> None:
    """The options every classifier network shares: hidden sizes, activation, dropout, smoothing, dtype."""
    n = p.add_argument_group("network")
    n.add_argument("--hidden", type=parse_hidden, default=hidden, metavar="64,64", help=hidden_help)
    n.add_argument("--activation", choices=ACTIVATION_CHOICES, default="relu", help="default relu")
    n.add_argument("--dropout", type=option("dropout"), default=0.0,
                   help="dropout after every hidden layer, in [0, 1) (default 0)")
    n.add_argument("--label-smoothing", type=option("label_smoothing"), default=0.0,
                   help="cross-entropy label smoothing, in [0, 1) (default 0)")
    n.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="default float64")
    n.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where to train: cpu (NumPy) or cuda (a GPU through CuPy: pip install 'chainrule[gpu]'; "
                   "default cpu)")
    n.add_argument("--no-restore-best", dest="restore_best", action="store_false",
                   help="keep the last epoch's parameters (default: those with the lowest validation loss)")


def add_classifier_training(p: argparse.ArgumentParser) -> None:
    """The shared training options with a classifier's defaults, and the curves and confusion plots."""
    add_common_arguments(p, optimizers=OPTIMIZERS, default_optimizer="adam", default_epochs=30)
    _set_default(p, "test_size", 0.25, "fraction held out for testing, stratified by class, in [0, 1) "
                 "(default 0.25)")
    _set_default(p, "patience", 5, "epochs without improvement beyond --tol before stopping (default 5)")
    _set_default(p, "plot", None, "write the loss and accuracy curves (train/test) to this image")
    p.add_argument_group("more plots").add_argument(
        "--plot-confusion", metavar="PNG", help="write the test confusion matrix as a heat map")


def _set_default(p: argparse.ArgumentParser, dest: str, value: Any, help_text: str) -> None:
    """Change a shared option's default and its help for this task."""
    p.set_defaults(**{dest: value})
    for action in p._actions:  # argparse keeps no public handle on an added option
        if action.dest == dest:
            action.help = help_text


def data_file(args: argparse.Namespace, flag: str = "--data") -> str | None:
    """The CSV file ``--data`` (or evaluate's DATA) names, or None for a named set; a word that is
    neither a set's name nor an existing file is refused listing the sets."""
    import os

    from ..data.classification import CLASSIFICATION_SETS

    name = args.data
    if name.strip().lower().replace("_", "-") in CLASSIFICATION_SETS:
        return None
    looks_like_a_path = "/" in name or "\\" in name or name.lower().endswith((".csv", ".tsv", ".txt"))
    if not looks_like_a_path and not os.path.lexists(name):
        raise ChainruleError(f"{flag}: unknown data set {name[:60]!r}: give one of {', '.join(CLASSIFICATION_SETS)} "
                             f"or a path to a CSV file")
    return name


def load_data(args: argparse.Namespace):
    from ..data.classification import (
        CLASSIFICATION_SETS,
        load_classification,
        load_csv_classification,
        make_moons,
        make_spirals,
    )

    name = args.data.strip().lower().replace("_", "-")
    if args.target is not None and name in CLASSIFICATION_SETS:
        raise ChainruleError("--target applies to CSV files only")
    dtype = np.dtype(args.dtype)
    generators = {"moons": (make_moons, 0.2), "spirals": (make_spirals, 0.05)}  # with their default noise
    if name in generators:
        make, default_noise = generators[name]
        noise = default_noise if args.noise is None else args.noise
        return make(args.n_samples, noise=noise, rng=args.seed, dtype=dtype), {"n_samples": args.n_samples,
                                                                               "noise": noise}
    if name in CLASSIFICATION_SETS:
        return load_classification(name, dtype=dtype), {}
    return load_csv_classification(args.data, target=args.target, delimiter=args.delimiter, dtype=dtype), {}


def run(args: argparse.Namespace) -> int:
    if on_a_cluster(args):  # --workers N or --scheduler tcp://...: the same training on Dask
        from . import train_distributed

        return train_distributed.run(args)
    from ..train.classifier import train_classifier

    check_test_size(args.test_size)
    check_combinations(args)
    if getattr(args, "device", "cpu") != "cpu":  # one line before any work when there is no GPU
        from ..backend import cupy

        cupy()
    boundary = getattr(args, "plot_boundary", None)
    check_files({"--plot": (args.plot, PLOT), "--plot-confusion": (args.plot_confusion, PLOT),
                 "--plot-boundary": (boundary, PLOT), "--history": (args.history, FILE),
                 "--save": (args.save, MODEL),
                 "--checkpoint": (args.checkpoint, CHECKPOINT)}, {"--data": data_file(args)}, force=args.force)
    data, generator = load_data(args)
    if boundary and data.n_features != 2:
        raise ChainruleError(f"--plot-boundary needs 2-D data; {data.name} has {data.n_features} features")
    conv = {"network": "cnn", "image_shape": args.image_shape, "channels": args.channels,
            "kernel_size": args.kernel_size} if args.network == "cnn" else {}
    result = train_classifier(
        data, hidden=args.hidden, activation=args.activation, dropout=args.dropout, optimizer=args.optimizer,
        lr=args.lr, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, test_size=args.test_size,
        val_size=args.val_size, standardize=args.standardize, label_smoothing=args.label_smoothing,
        momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule, tol=args.tol,
        patience=args.patience, restore_best=args.restore_best, progress=args.progress, dtype=np.dtype(args.dtype),
        checkpoint=args.checkpoint, resume=args.resume, device=args.device, **conv,
    )
    print(result.report())
    label = "validation" if result.n_val else "test"
    if args.plot:
        from ..train.plots_classification import plot_curves

        plot_curves(result.history, args.plot, title=f"{args.network.upper()} on {result.data_name}",
                    test_label=label)
        print(f"wrote the loss and accuracy curves to {args.plot}")
    if args.plot_confusion:
        from ..train.plots_classification import plot_confusion_matrix

        plot_confusion_matrix(result.confusion, args.plot_confusion, result.classes,
                              title=f"confusion matrix, {result.data_name} ({'test' if result.n_test else 'train'})")
        print(f"wrote the confusion matrix to {args.plot_confusion}")
    if boundary:
        from ..train.plots_classification import plot_decision_boundary

        plot_decision_boundary(result.predict_proba, data.X, data.Y, boundary, result.classes,
                               title=f"decision boundary, {result.data_name}, {result.model.activation}")
        print(f"wrote the decision boundary to {boundary}")
    if args.history:
        write_json(args.history, result.history.to_dict(), "the history")
    if args.save:
        meta = result.metadata()
        if generator:
            meta["generator"] = {**generator, "seed": args.seed}
        save_model(result.model, args.save, meta)
    return 1 if result.history.stop_reason == "diverged" else 0


# -- chainrule predict for classifiers ------------------------------------------------------------


def format_classification(outputs: np.ndarray, checkpoint: Any) -> tuple[list[str], list[list[Any]]]:
    """The predicted label, then the probability of every class (``p_<class>``), one row per object."""
    from ..train.metrics import softmax

    proba = softmax(outputs)
    classes = [str(c) for c in checkpoint.metadata.get("classes") or range(proba.shape[1])]
    if len(classes) != proba.shape[1]:
        classes = [str(i) for i in range(proba.shape[1])]
    header = ["label", *(f"p_{c}" for c in classes)]
    rows = [[classes[int(k)], *(f"{p:.6f}" for p in row)] for k, row in zip(proba.argmax(axis=1), proba)]
    return header, rows


def read_classification_features(path: str, delimiter: str | None, checkpoint: Any) -> np.ndarray:
    """The model's feature columns of a CSV file, by header name; other columns (the class) may hold text."""
    from ..data.classification import read_feature_columns

    return read_feature_columns(path, checkpoint.metadata.get("feature_names"), n_features(checkpoint),
                                delimiter=delimiter,
                                dtype=checkpoint.model.dtype or np.float64)


register_formatter("classification", format_classification)
register_reader("classification", read_classification_features)
