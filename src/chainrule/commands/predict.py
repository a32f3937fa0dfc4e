"""``chainrule predict --model FILE.safetensors DATA.csv``: predictions of a saved model, as CSV.

The model file's metadata says how to prepare the data exactly as in training:
``feature_names`` pick the columns (by header name, in any order; extra columns
such as the target are ignored) and ``standardizer`` holds the training
statistics. The output is CSV on stdout (or ``--output``).

How predictions are printed depends on the model, through a formatter registry:
the formatter registered for the file's ``task`` metadata (e.g. "regression",
"classification") is used, else the one for its model ``kind``, else
:func:`format_regression`. A task module registers its own at import time::

    from chainrule.commands.predict import register_formatter

    def format_classes(outputs, checkpoint):
        labels = checkpoint.metadata["labels"]
        ...
        return ["label", "p_" + labels[0], ...], rows

    register_formatter("classification", format_classes)

A formatter takes the model's raw outputs (ndarray, first axis = objects) and the
:class:`~chainrule.serialization.Checkpoint`, and returns ``(header, rows)``.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ChainruleError, DataError
from ._args import delimiter
from ._files import FILE, check_files, write_text

Formatter = Callable[[np.ndarray, Any], tuple[list[str], list[list[Any]]]]

#: Formatters by task name or model kind.
FORMATTERS: dict[str, Formatter] = {}


def register_formatter(name: str, formatter: Formatter) -> None:
    """Use ``formatter`` for models whose ``task`` metadata or ``kind`` is ``name``."""
    FORMATTERS[name] = formatter


#: Readers by task name or model kind: ``reader(path, delimiter, checkpoint) -> X (n, d)``, used instead of
#: the numeric CSV read (e.g. a classifier's file may hold a text class column beside the features).
READERS: dict[str, Callable[[str, Any, Any], np.ndarray]] = {}


def register_reader(name: str, reader: Callable[[str, Any, Any], np.ndarray]) -> None:
    """Read the data of models whose ``task`` metadata or ``kind`` is ``name`` with ``reader``."""
    READERS[name] = reader


def format_regression(outputs: np.ndarray, checkpoint: Any) -> tuple[list[str], list[list[Any]]]:
    """One column named after the training target (``prediction`` by default); several for multi-output."""
    out = np.asarray(outputs)
    name = checkpoint.metadata.get("target_name") or "prediction"
    if out.ndim <= 1:
        return [f"predicted_{name}" if name != "prediction" else name], [[f"{v:.10g}"] for v in out.reshape(-1)]
    out = out.reshape(len(out), -1)
    header = [f"prediction_{j}" for j in range(out.shape[1])]
    return header, [[f"{v:.10g}" for v in row] for row in out]


register_formatter("regression", format_regression)


def formatter_for(checkpoint: Any) -> Formatter:
    """The formatter for a checkpoint: by task, then by kind, else regression."""
    for key in (checkpoint.task, checkpoint.kind):
        if key and key in FORMATTERS:
            return FORMATTERS[key]
    return format_regression


def register(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="predict with a saved model on a CSV file",
        description="Load a model saved by 'chainrule train ... --save' and print its predictions for the rows "
        "of a CSV file, preprocessed exactly as in training.",
    )
    p.add_argument("--model", required=True, metavar="FILE", help="model file (.safetensors) written by --save")
    p.add_argument("file", metavar="DATA.csv", help="CSV with the feature columns (a header names them)")
    p.add_argument("--delimiter", type=delimiter, default=None, help="CSV delimiter (default: detected)")
    p.add_argument("--output", "-o", metavar="CSV",
                   help="write the predictions here instead of stdout (checked first, written atomically)")
    p.set_defaults(func=run)


def features_from_table(table: Any, feature_names: list[str] | None, n_features: int | None) -> np.ndarray:
    """Pick the model's feature columns from a CSV table (by header name when possible)."""
    data = table.data
    if feature_names and table.names:
        missing = [f for f in feature_names if f not in table.names]
        if missing:
            raise DataError(f"{table.path}: the model needs columns {feature_names}, but {missing} "
                            f"{'is' if len(missing) == 1 else 'are'} missing (header: {table.names})")
        return data[:, [table.names.index(f) for f in feature_names]]
    want = len(feature_names) if feature_names else n_features
    if want is not None and data.shape[1] != want:
        hint = f" named {feature_names}" if feature_names else ""
        raise DataError(f"{table.path}: has {data.shape[1]} columns but the model needs {want} features{hint}; "
                        f"add a header row naming the columns to select them")
    return data


def n_features(checkpoint: Any) -> int | None:
    """How many features the saved model reads per row: its ``in_features`` (an MLP, a ConvNet), else the
    config's ``n_features`` / ``in_features``; None when it does not say."""
    size = getattr(checkpoint.model, "in_features", None)
    if isinstance(size, int):
        return size
    cfg = checkpoint.config
    for key in ("n_features", "in_features"):
        if isinstance(cfg.get(key), int):
            return cfg[key]
    return None


def model_metadata(checkpoint: Any) -> dict[str, Any]:
    """The parts of a model file's metadata the commands use, checked: a file written by hand (or damaged)
    gives one line naming the key, never a crash deep inside."""
    meta = checkpoint.metadata if isinstance(checkpoint.metadata, dict) else {}
    where = checkpoint.path or "the model file"

    def bad(key: str, want: str) -> ChainruleError:
        return ChainruleError(f"{where}: metadata {key!r} must be {want}, got {str(meta.get(key))[:60]!r}")

    names = meta.get("feature_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise bad("feature_names", "a list of column names")
    classes = meta.get("classes")
    if classes is not None and (not isinstance(classes, list) or not classes
                                or not all(isinstance(c, (str, int, float)) for c in classes)):
        raise bad("classes", "a list of class names")
    target = meta.get("target_name")
    if target is not None and not isinstance(target, str):
        raise bad("target_name", "a column name")
    if "standardizer" in meta and not isinstance(meta["standardizer"], dict):
        raise bad("standardizer", "an object with 'mean' and 'scale'")
    return meta


def finite_outputs(outputs: np.ndarray, where: str) -> np.ndarray:
    """The model's outputs, refused (naming the first row) when an input so large made them overflow."""
    outputs = np.asarray(outputs)
    bad = ~np.isfinite(outputs.reshape(len(outputs), -1)).all(axis=1) if outputs.size else np.zeros(0, bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{where}: the prediction for data row {row + 1} is not a finite number: its values are "
                        f"too large for the model, or the model's parameters are not finite (a diverged training)")
    return outputs


def prepare_features(X: np.ndarray, meta: dict[str, Any], where: str) -> np.ndarray:
    """New data as the model saw its training data: standardised with the saved statistics, checked finite."""
    from ..data.checks import check_columns
    from ..data.preprocessing import Standardizer

    names = meta.get("feature_names")
    if "standardizer" in meta:
        scaler = Standardizer.from_state(meta["standardizer"])
        if np.shape(scaler.mean) != X.shape[1:]:
            raise DataError(f"{where}: the model's standardiser has {np.size(scaler.mean)} columns, the data "
                            f"{X.shape[1] if X.ndim == 2 else 1}")
        with np.errstate(over="ignore", invalid="ignore"):
            X = scaler.transform(X)
    check_columns(X, names if isinstance(names, list) else None, where)
    return X


def run(args: argparse.Namespace) -> int:
    from ..data.csvfile import read_csv
    from ..serialization import load
    from ..train.fit import predict

    check_files({"--output": (args.output, FILE)}, {"--model": args.model, "DATA": args.file})
    checkpoint = load(args.model, with_metadata=True)
    meta = model_metadata(checkpoint)
    model = checkpoint.model
    reader = next((READERS[k] for k in (checkpoint.task, checkpoint.kind) if k and k in READERS), None)
    if reader is not None:
        X = reader(args.file, args.delimiter, checkpoint)
    else:
        table = read_csv(args.file, delimiter=args.delimiter, dtype=model.dtype or np.float64)
        X = features_from_table(table, meta.get("feature_names"), n_features(checkpoint))
    X = prepare_features(X, meta, args.file)
    with np.errstate(over="ignore", invalid="ignore"):
        outputs = predict(model, X)
    header, rows = formatter_for(checkpoint)(finite_outputs(outputs, args.file), checkpoint)
    if args.output:
        buffer = io.StringIO()
        _write(buffer, header, rows)
        write_text(args.output, buffer.getvalue(), "the predictions")
        print(f"wrote {len(rows)} predictions to {args.output}")
    else:
        _write(sys.stdout, header, rows)
    return 0


def _write(stream: Any, header: list[str], rows: list[list[Any]]) -> None:
    w = csv.writer(stream, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
