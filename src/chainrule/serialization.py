"""Saving and loading models as safetensors files (never pickle), with a model registry.

A file holds the model's state dict, tensor names exactly as
:meth:`Module.state_dict` gives them (``weight``, ``bias``, ``0.weight``: the
same as PyTorch, so ``torch.nn.Linear`` can read a ``Linear``'s file), and
string metadata (each value JSON):

================  ==========================================================
``format``        ``"chainrule"`` (marks the file as ours)
``format_version`` ``1``
``kind``          the registered model name, e.g. ``"LinearRegression"``
``config``        ``model.config()``: the constructor arguments
``task``          optional, e.g. ``"regression"`` or ``"classification"``
anything else     the ``metadata`` given to :func:`save`: feature names,
                  standardiser statistics, a class label mapping, ...
================  ==========================================================

Registering a model kind (for new model classes)::

    from chainrule.serialization import register_model

    @register_model                 # or register_model(MLP), or register_model(name="mlp")
    class MLP(Module):
        def config(self): ...       # JSON-able constructor arguments

For a container, store the children's specs in ``config`` with
:func:`module_spec` and rebuild them in ``from_config`` with :func:`build_module`.

This module imports nothing from :mod:`chainrule.nn` at import time, so layer
modules can import :func:`register_model` without a cycle.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ChainruleError, SerializationError, require

FORMAT = "chainrule"
FORMAT_VERSION = 1
_RESERVED = ("format", "format_version", "kind", "config")

#: Registered model classes by kind name.
MODEL_REGISTRY: dict[str, type] = {}


def register_model(cls: type | None = None, *, name: str | None = None):
    """Register a Module subclass so :func:`load` can rebuild it; usable as a decorator.

    Parameters
    ----------
    cls : the class (it needs ``config()`` and the class method ``from_config``).
    name : the kind written in files (default: the class name).
    """

    def do(klass: type) -> type:
        kind = name or klass.__name__
        if not hasattr(klass, "from_config") or not hasattr(klass, "state_dict"):
            raise TypeError(f"register_model: {klass.__name__} is not a chainrule Module")
        MODEL_REGISTRY[kind] = klass
        klass._chainrule_kind = kind
        return klass

    return do if cls is None else do(cls)


def kind_of(model: Any) -> str:
    """The registered kind of ``model``'s class; raises if it was never registered."""
    kind = getattr(type(model), "_chainrule_kind", None)
    if kind is None or MODEL_REGISTRY.get(kind) is not type(model):
        raise SerializationError(
            f"{type(model).__name__} is not a registered model kind; register it with "
            f"chainrule.serialization.register_model (registered: {sorted(MODEL_REGISTRY)})"
        )
    return kind


def module_spec(module: Any) -> dict[str, Any]:
    """``{"kind": ..., "config": ...}`` describing how to rebuild ``module`` (for containers' configs)."""
    return {"kind": kind_of(module), "config": module.config()}


def build_module(spec: dict[str, Any]) -> Any:
    """Rebuild a fresh module from :func:`module_spec`'s dict."""
    _load_builtin_models()
    kind = spec.get("kind") if isinstance(spec, dict) else None
    cls = MODEL_REGISTRY.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise SerializationError(
            f"unknown model kind {kind!r}; registered kinds: {sorted(MODEL_REGISTRY)}"
        )
    config = spec.get("config") or {}
    if not isinstance(config, dict):
        raise SerializationError(f"the config of a {kind} must be a JSON object, got {type(config).__name__}")
    try:
        return cls.from_config(config)
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"cannot rebuild a {kind} from config {config}: {exc}") from exc


def _load_builtin_models() -> None:
    from . import nn  # noqa: F401 - importing registers Linear, LinearRegression and the rest


def _to_json(key: str, value: Any) -> str:
    try:
        return json.dumps(value, default=_json_default, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"save: metadata {key!r} is not JSON-able: {exc}") from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.dtype):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-able")


@dataclass
class Checkpoint:
    """What ``load(path, with_metadata=True)`` returns: the rebuilt model and the file's metadata.

    Unpacks as ``model, metadata = chainrule.load(path, with_metadata=True)``.

    Attributes
    ----------
    model : the Module, parameters loaded, in eval mode.
    kind : the registered model kind, e.g. ``"LinearRegression"``.
    config : the constructor arguments the model was rebuilt from.
    metadata : every other metadata entry, JSON-decoded (feature names, standardiser, ...).
    path : the file read.
    """

    model: Any
    kind: str
    config: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    def __iter__(self):
        yield self.model
        yield self.metadata

    @property
    def task(self) -> str | None:
        """``metadata["task"]`` when the trainer wrote one ("regression", "classification")."""
        task = self.metadata.get("task")
        return task if isinstance(task, str) else None


def save(model: Any, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> None:
    """Write ``model``'s state dict and metadata to a safetensors file.

    Parameters
    ----------
    model : a registered Module (see :func:`register_model`).
    path : destination file (conventionally ``*.safetensors``).
    metadata : extra JSON-able entries, e.g. ``{"feature_names": [...], "standardizer":
        {"mean": [...], "scale": [...]}, "task": "regression", "labels": [...]}``.
        The keys ``format``, ``format_version``, ``kind`` and ``config`` are reserved.

    Raises
    ------
    SerializationError : unregistered model, non-JSON-able metadata, reserved key.
    MissingDependencyError : safetensors is not installed (``pip install 'chainrule[io]'``).
    """
    st = require("safetensors.numpy", "io", "saving a model")
    kind = kind_of(model)
    try:
        config = model.config()
    except NotImplementedError as exc:
        raise SerializationError(str(exc)) from exc
    if metadata is None:
        metadata = getattr(model, "metadata", None) if isinstance(getattr(model, "metadata", None), dict) else None
    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "kind": kind,
        "config": _to_json("config", config),
    }
    for key, value in (metadata or {}).items():
        if not isinstance(key, str):
            raise SerializationError(f"save: metadata keys must be strings, got {key!r}")
        if key in _RESERVED:
            raise SerializationError(f"save: metadata key {key!r} is reserved by chainrule")
        header[key] = _to_json(key, value)
    tensors = {name: np.ascontiguousarray(value) for name, value in model.state_dict().items()}
    # a loaded model keeps its file's metadata: saving it again keeps the preprocessing with it
    try:
        st.save_file(tensors, os.fspath(path), metadata=header)
    except Exception as exc:  # OSError, or safetensors' own SafetensorError wrapping one
        raise SerializationError(f"save: cannot write {os.fspath(path)!r}: {exc}") from exc


def read_file(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The raw contents of a safetensors file: ``(tensors, string metadata)``, checked to be readable.

    Raises :class:`SerializationError` for a missing, damaged or non-safetensors file.
    """
    st = require("safetensors", "io", "loading a model")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise SerializationError(f"load: no such file {path!r}")
    try:
        with st.safe_open(path, framework="np") as f:
            meta = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as exc:  # safetensors raises its own SafetensorError for damaged files
        raise SerializationError(
            f"load: {path!r} is not a readable safetensors file (damaged, truncated or another format): {exc}"
        ) from exc
    return tensors, dict(meta)


def load(path: str | os.PathLike, *, with_metadata: bool = False) -> Any:
    """Rebuild a model saved by :func:`save`: ``model = chainrule.load(path)``.

    The model is built from its registered kind and ``config``, converted to the
    file's dtype, its state dict loaded (names and shapes checked) and put in eval mode.
    The file's metadata (feature names, standardiser, classes, ...) is on ``model.metadata``.
    ``with_metadata=True`` returns a :class:`Checkpoint` instead, which unpacks as
    ``model, metadata = chainrule.load(path, with_metadata=True)`` and also holds the kind,
    the config and the path.

    Raises
    ------
    SerializationError : missing, damaged or foreign file, unknown kind, mismatched tensors.
    """
    tensors, meta = read_file(path)
    path = os.fspath(path)
    if meta.get("format") != FORMAT:
        names = ", ".join(f"{k} {tuple(v.shape)}" for k, v in list(tensors.items())[:6])
        raise SerializationError(
            f"load: {path!r} is a safetensors file but was not written by chainrule "
            f"(no 'format: chainrule' metadata); it holds tensors: {names or 'none'}"
        )
    version = meta.get("format_version", "")
    if version != str(FORMAT_VERSION):
        raise SerializationError(
            f"load: {path!r} has chainrule format version {version!r}; this chainrule reads version "
            f"{FORMAT_VERSION}"
        )
    try:
        config = json.loads(meta.get("config", "{}"))
        extras = {k: json.loads(v) for k, v in meta.items() if k not in _RESERVED}
    except json.JSONDecodeError as exc:
        raise SerializationError(f"load: {path!r} has damaged metadata (not JSON): {exc}") from exc
    kind = meta.get("kind", "")
    model = build_module({"kind": kind, "config": config})
    dtypes = {v.dtype for v in tensors.values() if v.dtype.kind == "f"}
    if len(dtypes) == 1 and model.dtype is not None and model.dtype != next(iter(dtypes)):
        model.astype(next(iter(dtypes)))
    try:
        model.load_state_dict(tensors, strict=True)
    except (ChainruleError, ValueError) as exc:
        raise SerializationError(f"load: {path!r} does not fit a {kind} built from {config}: {exc}") from exc
    model.eval()
    checkpoint = Checkpoint(model=model, kind=kind, config=config, metadata=extras, path=path)
    model.metadata = extras
    model._loaded_from = (kind, path)  # for code written when load returned the Checkpoint (deprecated)
    return checkpoint if with_metadata else model


__all__ = [
    "save", "load", "read_file", "register_model", "kind_of", "module_spec", "build_module",
    "Checkpoint", "MODEL_REGISTRY",
]
