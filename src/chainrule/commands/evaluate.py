"""``chainrule evaluate --model FILE.safetensors DATA``: accuracy and confusion matrix of a saved classifier.

DATA is a built-in set (digits, iris, breast-cancer, wine, moons, spirals) or a
CSV file with the feature columns and a class column (labels as in training).
When DATA is the set the model was trained on, the default is to score the
held-out test part, reproduced exactly from the split seed saved in the file;
for any other data, every row is scored.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..data.classification import CLASSIFICATION_SETS
from ..errors import ChainruleError, ConfigError, DataError
from ._args import delimiter
from ._files import PLOT, check_files
from .predict import finite_outputs, model_metadata, n_features, prepare_features
from .train_mlp import data_file as csv_file


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="accuracy and confusion matrix of a saved classifier on labelled data",
        description="Load a classifier saved by 'chainrule train mlp --save' and print its accuracy, "
        "cross-entropy loss, per-class precision and recall, and the confusion matrix on labelled data.",
    )
    p.add_argument("--model", required=True, metavar="FILE", help="model file (.safetensors) written by --save")
    p.add_argument("data", metavar="DATA", help="a built-in set (digits, iris, breast-cancer, wine, moons, "
                   "spirals) or a CSV file with the features and the class column")
    p.add_argument("--target", default=None, metavar="COL",
                   help="CSV class column (default: the training target's name if present, else the last column)")
    p.add_argument("--delimiter", type=delimiter, default=None, help="CSV delimiter (default: detected)")
    p.add_argument("--split", choices=("auto", "test", "train", "all"), default="auto",
                   help="which rows to score: the saved held-out test part, the training part, or all "
                   "(default auto: test for the model's own data set, else all)")
    p.add_argument("--plot-confusion", metavar="PNG",
                   help="write the confusion matrix as a heat map (checked first, written atomically)")
    p.set_defaults(func=run)


def _load(args: argparse.Namespace, checkpoint: Any, dtype: Any):
    from ..data.classification import load_classification, load_csv_classification, make_moons, make_spirals

    meta = checkpoint.metadata
    classes = meta.get("classes")
    key = args.data.strip().lower().replace("_", "-")
    if key in CLASSIFICATION_SETS:
        if args.target is not None:
            raise ChainruleError("--target applies to CSV files only")
        gen = meta.get("generator") if meta.get("data") == key else None
        if key in ("moons", "spirals") and gen:
            if not isinstance(gen, dict) or not {"n_samples", "noise", "seed"} <= set(gen):
                raise ChainruleError(f"{args.model}: metadata 'generator' must hold n_samples, noise and seed, "
                                     f"got {str(gen)[:60]!r}")
            make = make_moons if key == "moons" else make_spirals
            return make(gen["n_samples"], noise=gen["noise"], rng=gen["seed"], dtype=dtype)
        return load_classification(key, dtype=dtype)
    target = args.target
    if target is None and meta.get("target_name"):
        try:
            return load_csv_classification(args.data, target=meta["target_name"], delimiter=args.delimiter,
                                           dtype=dtype, classes=classes)
        except DataError as exc:
            if "no column named" not in str(exc):
                raise
    return load_csv_classification(args.data, target=target, delimiter=args.delimiter, dtype=dtype,
                                   classes=classes)


def _features(data: Any, feature_names: list[str] | None, n_features: int | None) -> np.ndarray:
    """The model's feature columns of a data set, by name when the names are known."""
    X = data.X
    if feature_names and data.feature_names != feature_names:
        missing = [f for f in feature_names if f not in data.feature_names]
        if missing:
            raise DataError(f"{data.name}: the model needs features {feature_names}, but {missing} "
                            f"{'is' if len(missing) == 1 else 'are'} missing (have {data.feature_names})")
        X = X[:, [data.feature_names.index(f) for f in feature_names]]
    if n_features is not None and X.shape[1] != n_features:
        raise DataError(f"{data.name}: has {X.shape[1]} features but the model takes {n_features}")
    return X


def run(args: argparse.Namespace) -> int:
    from ..nn.classification_losses import CrossEntropyLoss
    from ..serialization import load
    from ..train.classifier import holdout_split
    from ..train.fit import predict
    from ..train.metrics import accuracy, confusion_matrix, format_confusion_matrix, per_class

    data_file = csv_file(args, "DATA")
    check_files({"--plot-confusion": (args.plot_confusion, PLOT)}, {"--model": args.model, "DATA": data_file})
    checkpoint = load(args.model, with_metadata=True)
    meta = model_metadata(checkpoint)
    if checkpoint.task not in (None, "classification") or "classes" not in meta:
        raise ChainruleError(f"{args.model} holds a {checkpoint.task or checkpoint.kind} model; evaluate scores "
                             f"classifiers (use 'chainrule predict' for other models)")
    model = checkpoint.model
    dtype = model.dtype or np.float64
    data = _load(args, checkpoint, dtype)
    classes = [str(c) for c in meta["classes"]]
    own = data.name == meta.get("data")
    split = args.split if args.split != "auto" else ("test" if own and meta.get("split") else "all")
    if split in ("test", "train"):
        info = meta.get("split") or {}
        if not isinstance(info, dict) or not info.get("test_size"):
            raise ChainruleError(f"{args.model} records no held-out split; use --split all")
        try:
            train_part, test_part = holdout_split(data, info["test_size"], info.get("seed"))
        except ConfigError as exc:
            raise ChainruleError(f"{args.model}: metadata 'split' is damaged ({exc})") from None
        data = test_part if split == "test" else train_part
    n_in = n_features(checkpoint)
    X = prepare_features(_features(data, meta.get("feature_names"), n_in), meta, data.name)
    y = np.asarray(data.Y)
    if y.size and y.max() >= len(classes):
        raise DataError(f"{data.name}: class index {int(y.max())} but the model knows {len(classes)} classes")
    with np.errstate(over="ignore", invalid="ignore"):
        logits = finite_outputs(predict(model, X.astype(dtype, copy=False)), data.name)
    loss = float(np.asarray(CrossEntropyLoss()(logits, y).data))
    acc = accuracy(y, logits)
    cm = confusion_matrix(y, logits, len(classes))
    stats = per_class(cm)
    part = {"test": "held-out test part", "train": "training part", "all": "all rows"}[split]
    print(f"{checkpoint.kind} from {args.model} on {data.name} ({part}): {len(y)} objects, {len(classes)} classes")
    print(f"  accuracy {acc:.4f} ({int(np.trace(cm))} of {len(y)} right), cross-entropy loss {loss:.6f}")
    print("  confusion matrix (rows: true class, columns: predicted):")
    for line in format_confusion_matrix(cm, classes).split("\n"):
        print("    " + line)
    width = max(8, *(len(c) for c in classes))
    print(f"  {'class':<{width}}  {'precision':>9}  {'recall':>9}  {'f1':>9}  {'support':>8}")
    for i, c in enumerate(classes):
        print(f"  {c:<{width}}  {stats['precision'][i]:>9.4f}  {stats['recall'][i]:>9.4f}  {stats['f1'][i]:>9.4f}"
              f"  {stats['support'][i]:>8d}")
    if args.plot_confusion:
        from ..train.plots_classification import plot_confusion_matrix

        plot_confusion_matrix(cm, args.plot_confusion, classes, title=f"confusion matrix, {data.name} ({part})")
        print(f"wrote the confusion matrix to {args.plot_confusion}")
    return 0
