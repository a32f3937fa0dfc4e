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

Saving goes through :func:`chainrule.files.write_atomically`: a process killed in
the middle leaves the previous file as it was.

Loading trusts nothing in the file. Before anything is built it reads the header
itself, within bounds (:data:`MAX_HEADER_BYTES`, :data:`MAX_JSON_DEPTH`), checks every
tensor's dtype, shape and byte range, and builds a *skeleton* of the model from its
``config`` (:func:`chainrule.nn.init.skeleton`: parameters of the right shapes that take
no memory) to compare with the file's tensors; only a file that fits is given to
safetensors and only then is the real model built. Every problem is one
:class:`~chainrule.errors.SerializationError` that names the file and the tensor,
metadata key or config at fault.

This module imports nothing from :mod:`chainrule.nn` at import time, so layer
modules can import :func:`register_model` without a cycle.
"""

from __future__ import annotations

import json
import math
import os
import reprlib
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backend import to_numpy
from .errors import ChainruleError, SerializationError, require, shorten
from .files import write_atomically

FORMAT = "chainrule"
FORMAT_VERSION = 1
_RESERVED = ("format", "format_version", "kind", "config")

#: The largest safetensors header (tensor table and metadata, in bytes) that is read or written.
MAX_HEADER_BYTES = 8 * 2**20
#: The deepest nesting of JSON arrays and objects read from (or written to) a header or metadata value.
MAX_JSON_DEPTH = 64
#: The most modules one :func:`load` may build from a config (a bound on hostile configs).
MAX_MODULES = 1_000
#: The most dimensions a tensor in a file may have.
MAX_NDIM = 32

#: safetensors dtype codes that chainrule reads, with their NumPy dtypes. Model
#: parameters must be one of the float ones; other codes only fit a buffer of that dtype.
FLOAT_DTYPES: dict[str, np.dtype] = {"F16": np.dtype(np.float16), "F32": np.dtype(np.float32),
                                     "F64": np.dtype(np.float64)}
_NUMPY_DTYPES: dict[str, np.dtype] = {
    **FLOAT_DTYPES,
    "I8": np.dtype(np.int8), "I16": np.dtype(np.int16), "I32": np.dtype(np.int32), "I64": np.dtype(np.int64),
    "U8": np.dtype(np.uint8), "U16": np.dtype(np.uint16), "U32": np.dtype(np.uint32), "U64": np.dtype(np.uint64),
    "BOOL": np.dtype(np.bool_), "C64": np.dtype(np.complex64),
}
#: dtype codes safetensors knows but NumPy cannot hold.
_FOREIGN_DTYPES = ("BF16", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2")
_CODE_OF = {dtype: code for code, dtype in _NUMPY_DTYPES.items()}

_brief_repr = reprlib.Repr()
_brief_repr.maxlevel, _brief_repr.maxdict, _brief_repr.maxlist = 3, 6, 6
_brief_repr.maxstring, _brief_repr.maxother, _brief_repr.maxlong = 60, 60, 40


def _brief(value: Any) -> str:
    """A short repr for messages: a hostile file's config or name can be megabytes long."""
    return _brief_repr.repr(value)


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


class _ModuleBudget:
    """How many more modules :func:`build_module` may build in the current :func:`load`."""

    __slots__ = ("left", "limit")

    def __init__(self, limit: int):
        self.left = self.limit = limit


_MODULE_BUDGET: ContextVar[_ModuleBudget | None] = ContextVar("chainrule_module_budget", default=None)


@contextmanager
def _module_budget(limit: int) -> Iterator[None]:
    token = _MODULE_BUDGET.set(_ModuleBudget(limit))
    try:
        yield
    finally:
        _MODULE_BUDGET.reset(token)


def build_module(spec: dict[str, Any]) -> Any:
    """Rebuild a fresh module from :func:`module_spec`'s dict.

    Raises
    ------
    SerializationError : an unknown kind, a config that is not a JSON object, or any error
        of the class's ``from_config`` (a bad size, a bad dtype, a missing argument, a
        number too large, ...), naming the kind and the config.
    """
    _load_builtin_models()
    budget = _MODULE_BUDGET.get()
    if budget is not None:
        budget.left -= 1
        if budget.left < 0:
            raise SerializationError(f"the config describes more than {budget.limit} modules")
    kind = spec.get("kind") if isinstance(spec, dict) else None
    cls = MODEL_REGISTRY.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise SerializationError(
            f"unknown model kind {_brief(kind)}; registered kinds: {sorted(MODEL_REGISTRY)}"
        )
    config = spec.get("config") or {}
    if not isinstance(config, dict):
        raise SerializationError(f"the config of a {kind} must be a JSON object, got {type(config).__name__}")
    try:
        return cls.from_config(config)
    except SerializationError:
        raise  # a child's error already names the child's kind and config
    except RecursionError as exc:
        raise SerializationError(f"cannot rebuild a {kind}: its config nests too deeply") from exc
    except Exception as exc:  # noqa: BLE001 - a config is data: any failure of from_config is the file's fault
        detail = str(exc) if isinstance(exc, (ValueError, TypeError)) and str(exc) else f"{type(exc).__name__}: {exc}"
        raise SerializationError(f"cannot rebuild a {kind} from config {_brief(config)}: {detail}") from exc


def _load_builtin_models() -> None:
    from . import nn  # noqa: F401 - importing registers Linear, LinearRegression and the rest


def _to_json(key: str, value: Any) -> str:
    try:
        text = json.dumps(value, default=_json_default, allow_nan=True)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SerializationError(f"save: metadata {key!r} is not JSON-able: {exc}") from exc
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise SerializationError(f"save: metadata {key!r} nests {depth} levels of lists and dicts; "
                                 f"chainrule reads at most {MAX_JSON_DEPTH}")
    return text


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(f"the key {_brief(key)} appears twice")
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for :func:`json.loads` that refuses a key given twice (JSON keeps the last)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def _json_depth(text: str | bytes) -> int:
    """How deeply JSON ``text`` nests arrays and objects, found without parsing it (no recursion).

    Exact for valid JSON; for invalid JSON at least the depth a parser reaches before it
    fails, so ``json.loads`` can be refused before it recurses. Returns early, with some
    value above :data:`MAX_JSON_DEPTH`, once the depth passes it. Time linear in
    ``len(text)``; memory: a copy of it and a few arrays of 64 K elements.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    openers = data.count(b"[") + data.count(b"{")
    if openers <= MAX_JSON_DEPTH:
        return openers
    if b"\\" in data:
        # Escapes only occur in strings: pair the backslashes from the left (as a parser does);
        # a backslash left before a quote escapes it. Every quote left opens or closes a string.
        data = data.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    codes = np.frombuffer(data, np.uint8)
    depth = peak = quotes = 0
    chunk = 1 << 16
    for start in range(0, len(codes), chunk):
        part = codes[start:start + chunk]
        # inside a string: an odd number of quotes up to here (a uint8 running count keeps its parity)
        inside = ((np.cumsum(part == ord('"'), dtype=np.uint8) + quotes) & 1).astype(bool)
        quotes = int(inside[-1])
        steps = ((part == ord("[")) | (part == ord("{"))).astype(np.int8)
        steps -= ((part == ord("]")) | (part == ord("}"))).astype(np.int8)
        steps[inside] = 0
        running = np.cumsum(steps, dtype=np.int64) + depth
        peak, depth = max(peak, int(running.max())), int(running[-1])
        if peak > MAX_JSON_DEPTH:
            break
    return peak


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
    """Write ``model``'s state dict and metadata to a safetensors file, atomically.

    The file is written to a temporary file in the same folder, which then replaces
    ``path`` in one step (:func:`chainrule.files.write_atomically`): a process killed in
    the middle leaves the previous file whole, an existing file keeps its permissions,
    and a symbolic link is written through.

    Parameters
    ----------
    model : a registered Module (see :func:`register_model`).
    path : destination file (conventionally ``*.safetensors``).
    metadata : extra JSON-able entries, e.g. ``{"feature_names": [...], "standardizer":
        {"mean": [...], "scale": [...]}, "task": "regression", "labels": [...]}``.
        The keys ``format``, ``format_version``, ``kind`` and ``config`` are reserved.
        A loaded model's own ``model.metadata`` is used when ``metadata`` is None.

    Raises
    ------
    SerializationError : unregistered model, non-JSON-able metadata, reserved key, metadata
        larger than :func:`load` reads (:data:`MAX_HEADER_BYTES`, :data:`MAX_JSON_DEPTH`),
        a path that cannot be written.
    MissingDependencyError : safetensors is not installed (``pip install 'chainrule[io]'``).
    """
    st = require("safetensors.numpy", "io", "saving a model")
    kind = kind_of(model)
    try:
        config = model.config()
    except NotImplementedError as exc:
        raise SerializationError(str(exc)) from exc
    if metadata is None:
        # a loaded model keeps its file's metadata: saving it again keeps the preprocessing with it
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
    # C order, the shape kept (ascontiguousarray would make a 0-d buffer, a BatchNorm's count, 1-d)
    # always host arrays: a model trained on a GPU saves a file that loads anywhere
    tensors = {name: np.require(to_numpy(value), requirements="C") for name, value in model.state_dict().items()}
    for name, value in tensors.items():
        if value.dtype not in _CODE_OF:
            raise SerializationError(f"save: {name!r} has dtype {value.dtype}, which chainrule cannot store "
                                     f"(use float16, float32 or float64: model.astype('float64'))")
    size = _header_size(header, tensors)
    if size > MAX_HEADER_BYTES:
        raise SerializationError(
            f"save: the metadata takes {size} bytes, more than the {MAX_HEADER_BYTES} bytes chainrule reads back; "
            f"keep large data (whole data sets, long tables) in a separate file")

    def write(temporary: str) -> None:
        mode = stat.S_IMODE(os.stat(temporary).st_mode)
        st.save_file(tensors, temporary, metadata=header)
        # safetensors writes a temporary file of its own (mode 0600) and renames it onto ours:
        # give back the mode write_atomically chose (the umask's, or the replaced file's)
        os.chmod(temporary, mode)

    try:
        write_atomically(path, write, "model file")
    except SerializationError:
        raise
    except ChainruleError as exc:  # a folder, a missing folder, no permission, a full disk
        text = str(exc)
        raise SerializationError(f"save: {text}" if text.startswith("cannot write")
                                 else f"save: cannot write the model ({text})") from exc
    except Exception as exc:  # noqa: BLE001 - safetensors' own SafetensorError (not an OSError)
        raise SerializationError(f"save: cannot write {os.fspath(path)!r}: {exc}") from exc


def _header_size(header: dict[str, str], tensors: dict[str, np.ndarray]) -> int:
    """The size in bytes of the safetensors header that ``save_file`` writes for these (within 8)."""
    table: dict[str, Any] = {"__metadata__": header}
    offset = 0
    for name, value in tensors.items():
        table[name] = {"dtype": _CODE_OF[value.dtype], "shape": list(value.shape),
                       "data_offsets": [offset, offset + value.nbytes]}
        offset += value.nbytes
    return len(json.dumps(table, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")) + 8


# -- reading: the header first, checked within bounds, then the tensors ----------------------------------


@dataclass(frozen=True)
class _TensorEntry:
    """One tensor of a safetensors header, checked: a known dtype, a shape, its byte range in the data."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class _Header:
    """A safetensors file's header, checked against the file's size, before any tensor is read."""

    path: str
    tensors: dict[str, _TensorEntry]
    metadata: dict[str, str]


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    for types, name in (((bool,), "boolean"), ((dict,), "object"), ((list,), "array"), ((str,), "string"),
                        ((int, float), "number")):
        if isinstance(value, types):
            return name
    return "null"


def _damaged(verb: str, path: str, problem: str) -> SerializationError:
    return SerializationError(
        f"{verb}: {path!r} is not a readable safetensors file (damaged, truncated or another format): {problem}"
    )


def _open_regular_file(path: str, verb: str) -> tuple[Any, int]:
    """``path`` opened for reading as a binary file, with its size; refuses folders, devices, pipes."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)  # a FIFO must not block
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise SerializationError(f"{verb}: no such file {path!r}") from None
    except OSError as exc:
        if os.path.isdir(path):
            raise SerializationError(f"{verb}: {path!r} is a folder, not a model file") from None
        if isinstance(exc, PermissionError):
            raise SerializationError(f"{verb}: cannot read {path!r} (permission denied)") from None
        raise SerializationError(f"{verb}: cannot open {path!r}: {exc.strerror or exc}") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise SerializationError(f"{verb}: {path!r} is a folder, not a model file")
        raise SerializationError(f"{verb}: {path!r} is not a regular file (a device, a pipe or a socket); "
                                 f"give the path of a .safetensors file")
    return os.fdopen(fd, "rb"), info.st_size


def _read_header(path: str, verb: str = "load") -> _Header:
    """Read and check a safetensors header without trusting it.

    Reads at most 8 + :data:`MAX_HEADER_BYTES` bytes; checks the header length against
    the file size, the JSON's nesting before parsing it, duplicate keys, every tensor's
    dtype, shape and byte range (in order, not overlapping, covering the data exactly),
    and that metadata values are strings. Raises one :class:`SerializationError` per problem.
    """
    f, size = _open_regular_file(path, verb)
    with f:
        if size < 8:
            raise _damaged(verb, path, "the file is empty" if size == 0 else
                           f"it has {size} bytes, fewer than the 8 that give the header's length")
        length = int.from_bytes(f.read(8), "little")
        if length > size - 8:
            raise _damaged(verb, path, f"its header length says {length} bytes but only {size - 8} bytes follow")
        if length > MAX_HEADER_BYTES:
            raise SerializationError(
                f"{verb}: {path!r} has a header (tensor table and metadata) of {length} bytes; chainrule reads "
                f"headers of at most {MAX_HEADER_BYTES} bytes")
        raw = f.read(length)
    if len(raw) != length:
        raise _damaged(verb, path, "the file became shorter while it was read")
    depth = _json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise _damaged(verb, path, f"its header nests JSON more than {MAX_JSON_DEPTH} levels deep")
    try:
        table = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except UnicodeDecodeError:
        raise _damaged(verb, path, "its header is not UTF-8 text") from None
    except _DuplicateKey as exc:
        raise _damaged(verb, path, f"in its header {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise _damaged(verb, path, f"its header is not JSON ({exc})") from None
    if not isinstance(table, dict):
        raise _damaged(verb, path, f"its header is a JSON {_json_type(table)}, not an object")
    metadata = table.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise _damaged(verb, path, f"its __metadata__ is a JSON {_json_type(metadata)}, not an object")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise _damaged(verb, path, f"metadata {_brief(key)} is a JSON {_json_type(value)}; "
                                       f"safetensors metadata values are strings")
        if not _is_unicode(key) or not _is_unicode(value):
            raise _damaged(verb, path, f"metadata {_brief(key)} holds an invalid Unicode escape")
    tensors = {name: _tensor_entry(verb, path, name, info) for name, info in table.items()}
    _check_layout(verb, path, tensors, size - 8 - length)
    return _Header(path, tensors, metadata)


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a "\\ud800" escape
        return False
    return True


def _is_index(value: Any) -> bool:
    """A size or offset as safetensors stores them: an integer in [0, 2**64)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64


def _tensor_entry(verb: str, path: str, name: str, info: Any) -> _TensorEntry:
    """One header entry checked: its dtype known to NumPy, its shape and offsets non-negative
    integers, and the byte range exactly the size of the shape."""
    what = f"tensor {_brief(name)}"
    if not _is_unicode(name):
        raise _damaged(verb, path, f"{what}: the name holds an invalid Unicode escape")
    if not isinstance(info, dict):
        raise _damaged(verb, path, f"{what} is described by a JSON {_json_type(info)}, not an object")
    missing = [k for k in ("dtype", "shape", "data_offsets") if k not in info]
    if missing:
        raise _damaged(verb, path, f"{what} has no {' or '.join(missing)}")
    code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(code, str) or (code not in _NUMPY_DTYPES and code not in _FOREIGN_DTYPES):
        raise _damaged(verb, path, f"{what} has unknown dtype {_brief(code)} "
                                   f"(safetensors dtypes: {', '.join([*_NUMPY_DTYPES, *_FOREIGN_DTYPES])})")
    if code in _FOREIGN_DTYPES:
        raise SerializationError(f"{verb}: {path!r}: {what} has dtype {code}, which NumPy (and chainrule) cannot "
                                 f"hold; chainrule models hold F16, F32 or F64 tensors")
    if not isinstance(shape, list) or len(shape) > MAX_NDIM or not all(_is_index(n) for n in shape):
        raise _damaged(verb, path, f"{what} has shape {_brief(shape)}; a shape is a list of at most {MAX_NDIM} "
                                   f"integers in [0, 2**64)")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_index(n) for n in offsets)
            or offsets[0] > offsets[1]):
        raise _damaged(verb, path, f"{what} has data_offsets {_brief(offsets)}; expected [begin, end], integers "
                                   f"with 0 <= begin <= end < 2**64")
    nbytes = math.prod(shape) * _NUMPY_DTYPES[code].itemsize  # Python integers: no overflow
    if offsets[1] - offsets[0] != nbytes:
        raise _damaged(verb, path, f"{what} is {code} of shape {tuple(shape)}, {nbytes} bytes, but its data_offsets "
                                   f"{offsets} span {offsets[1] - offsets[0]} bytes")
    return _TensorEntry(name, code, tuple(shape), offsets[0], offsets[1])


def _check_layout(verb: str, path: str, tensors: dict[str, _TensorEntry], data_size: int) -> None:
    """The tensors' byte ranges follow each other without gap or overlap and fill the data exactly."""
    end, previous = 0, None
    for entry in sorted(tensors.values(), key=lambda e: (e.begin, e.end)):
        if entry.begin < end:
            raise _damaged(verb, path, f"tensors {_brief(previous)} and {_brief(entry.name)} overlap "
                                       f"(bytes {entry.begin} to {end})")
        if entry.begin > end:
            raise _damaged(verb, path, f"{entry.begin - end} bytes before tensor {_brief(entry.name)} belong to "
                                       f"no tensor")
        end, previous = entry.end, entry.name
    if end > data_size:
        raise _damaged(verb, path, f"its tensors need {end} bytes of data but the file holds {data_size} "
                                   f"(truncated?)")
    if end < data_size:
        raise _damaged(verb, path, f"{data_size - end} bytes after the last tensor belong to no tensor")


def _read_tensors(header: _Header, verb: str = "load") -> dict[str, np.ndarray]:
    """The tensors of a file whose header was checked, read by safetensors (memory: their size)."""
    st = require("safetensors", "io", "loading a model")
    path = header.path
    try:
        with st.safe_open(path, framework="np") as f:
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own SafetensorError for damaged files
        raise _damaged(verb, path, str(exc)) from exc
    got = {name: (value.dtype, value.shape) for name, value in tensors.items()}
    want = {name: (_NUMPY_DTYPES[e.dtype], e.shape) for name, e in header.tensors.items()}
    if got != want:  # the file was replaced between reading the header and the tensors
        raise SerializationError(f"{verb}: {path!r} changed while it was being read; load it again")
    return tensors


def read_file(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The raw contents of a safetensors file: ``(tensors, string metadata)``, checked to be readable.

    The header is checked (within bounds, see :func:`load`) before any tensor is read.

    Raises :class:`SerializationError` for a missing, damaged or non-safetensors file.
    """
    require("safetensors", "io", "loading a model")
    header = _read_header(os.fspath(path), "read")
    return _read_tensors(header, "read"), dict(header.metadata)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of a safetensors file, read from its header alone (no tensor is read).

    The header is checked as :func:`load` checks it (within bounds, every tensor's byte
    range against the file), so this is a cheap way to ask whether a file is a chainrule
    model (``read_metadata(path).get("format") == "chainrule"``).

    Raises :class:`SerializationError` for a missing, damaged or non-safetensors file.
    """
    return dict(_read_header(os.fspath(path), "read").metadata)


def _parse_metadata(path: str, key: str, text: str) -> Any:
    """One metadata value decoded from JSON, its nesting checked first."""
    if _json_depth(text) > MAX_JSON_DEPTH:
        raise SerializationError(f"load: {path!r}: metadata {_brief(key)} nests JSON more than "
                                 f"{MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise SerializationError(f"load: {path!r} has damaged metadata: in {_brief(key)} {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise SerializationError(f"load: {path!r} has damaged metadata: {_brief(key)} is not JSON ({exc})") from None


def _expected_state(path: str, kind: str, config: dict[str, Any], n_tensors: int) -> dict[str, tuple]:
    """``{name: (shape, dtype, "parameter" | "buffer")}`` of the model ``kind`` and ``config`` describe,
    from a skeleton whose parameters take no memory (:func:`chainrule.nn.init.skeleton`)."""
    from .nn import init as nn_init

    limit = 4 * n_tensors + 64  # a Linear initialises 2 arrays, an MLP with init= refills them: room to spare
    try:
        with nn_init.skeleton(max_arrays=limit) as made, _module_budget(MAX_MODULES):
            model = build_module({"kind": kind, "config": config})
            expected: dict[str, tuple] = {
                name: (tuple(p.shape), np.dtype(p.dtype), "parameter") for name, p in model.named_parameters()}
            for name, buf in model.named_buffers():
                expected.setdefault(name, (tuple(np.shape(buf)), np.asarray(buf).dtype, "buffer"))
    except Exception as exc:  # noqa: BLE001 - building from a file's config: every failure is the file's fault
        if made.count > limit:
            raise SerializationError(
                f"load: {path!r}: the config of this {kind} asks for more than {limit} parameter arrays, but the "
                f"file holds {n_tensors} tensors") from exc
        if isinstance(exc, SerializationError):
            raise SerializationError(f"load: {path!r}: {exc}") from exc
        detail = str(exc) if isinstance(exc, (ValueError, TypeError)) and str(exc) else f"{type(exc).__name__}: {exc}"
        raise SerializationError(
            f"load: {path!r}: cannot rebuild a {kind} from config {_brief(config)}: {detail}") from exc
    return expected


def _check_tensors(header: _Header, kind: str, config: dict[str, Any], expected: dict[str, tuple]) -> np.dtype | None:
    """The file's tensors against the skeleton's: names, dtypes (floats only, one dtype unless the
    model mixes them), shapes. Returns the float dtype to convert the model to, if any."""
    path, found = header.path, header.tensors
    fault = f"load: {path!r} does not fit a {kind} built from config {_brief(config)}"
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    if missing or unexpected:
        parts = ([f"missing tensors {_brief(missing)}"] if missing else []) + (
            [f"unexpected tensors {_brief(unexpected)}"] if unexpected else [])
        raise SerializationError(f"{fault}: {'; '.join(parts)}; the model has {_brief(list(expected))}")
    for name, (_, dtype, role) in expected.items():
        code = found[name].dtype
        if role == "parameter" or dtype.kind == "f":
            if code not in FLOAT_DTYPES:
                sort = {"b": "bool", "c": "complex", "i": "integer", "u": "integer"}[_NUMPY_DTYPES[code].kind]
                raise SerializationError(
                    f"{fault}: tensor {_brief(name)} holds {sort} values ({code}); chainrule model weights are "
                    f"floating point: F16, F32 or F64")
        elif _NUMPY_DTYPES[code] != dtype:
            raise SerializationError(f"{fault}: buffer {_brief(name)} is {code} but the model keeps it as {dtype}")
    for name, (shape, _, role) in expected.items():
        if found[name].shape != shape:
            raise SerializationError(f"{fault}: tensor {_brief(name)} has shape {found[name].shape} but the "
                                     f"model's {role} has shape {shape}")
    floats = [name for name, (_, dtype, _) in expected.items() if dtype.kind == "f"]
    if len({expected[name][1] for name in floats}) > 1:  # the model itself mixes float dtypes: match each
        for name in floats:
            if _NUMPY_DTYPES[found[name].dtype] != expected[name][1]:
                raise SerializationError(f"{fault}: tensor {_brief(name)} is {found[name].dtype} but this {kind} "
                                         f"keeps it as {expected[name][1]}")
        return None
    codes = sorted({found[name].dtype for name in floats})
    if len(codes) > 1:
        raise SerializationError(f"{fault}: its tensors mix float dtypes ({', '.join(codes)}); a {kind} keeps "
                                 f"all its parameters in one dtype")
    return FLOAT_DTYPES[codes[0]] if codes else None


def load(path: str | os.PathLike, *, with_metadata: bool = False, device: str | None = None) -> Any:
    """Rebuild a model saved by :func:`save`: ``model = chainrule.load(path)``; ``device="cuda"`` puts it on
    the GPU (files always hold host arrays).

    The model is built from its registered kind and ``config``, converted to the
    file's dtype, its state dict loaded and put in eval mode.
    The file's metadata (feature names, standardiser, classes, ...) is on ``model.metadata``.
    ``with_metadata=True`` returns a :class:`Checkpoint` instead, which unpacks as
    ``model, metadata = chainrule.load(path, with_metadata=True)`` and also holds the kind,
    the config and the path.

    Nothing in the file is trusted. In order, and before anything is built:

    1. the header is read within bounds: its length against the file's size and
       :data:`MAX_HEADER_BYTES`, its JSON's nesting against :data:`MAX_JSON_DEPTH` (before
       parsing), every tensor's dtype, shape and byte range against the file;
    2. the metadata: written by chainrule, this format version, each value JSON;
    3. a skeleton of the model is built from ``kind`` and ``config`` with
       :func:`chainrule.nn.init.skeleton` (parameters of the right shapes that take no
       memory), and the file's tensors must match its names and shapes exactly, be
       float16/32/64 (no integer, bool or complex weights) and share one dtype unless
       the model itself mixes dtypes.

    Only then are the tensors read (by safetensors) and the real model built, so a
    config asking for 10⁹ features in a 1 KB file costs nothing.

    Raises
    ------
    SerializationError : missing, damaged or foreign file, a folder or a device, a header
        too large or nested too deeply, unknown kind, a config that cannot be built, tensors
        that do not fit the config. Never a MemoryError, a RecursionError or a partial model.
    """
    require("safetensors", "io", "loading a model")
    path = os.fspath(path)
    header = _read_header(path)
    meta = header.metadata
    if meta.get("format") != FORMAT:
        names = ", ".join(f"{shorten(k, 60)} {e.shape}"
                          for k, e in list(header.tensors.items())[:6])
        raise SerializationError(
            f"load: {path!r} is a safetensors file but was not written by chainrule "
            f"(no 'format: chainrule' metadata); it holds tensors: {names or 'none'}"
        )
    version = meta.get("format_version", "")
    if version != str(FORMAT_VERSION):
        raise SerializationError(
            f"load: {path!r} has chainrule format version {_brief(version)}; this chainrule reads version "
            f"{FORMAT_VERSION}"
        )
    kind = meta.get("kind", "")
    config = _parse_metadata(path, "config", meta.get("config", "{}"))
    if not isinstance(config, dict):
        raise SerializationError(f"load: {path!r}: the config of a {_brief(kind)} must be a JSON object, got a JSON "
                                 f"{_json_type(config)}")
    extras = {k: _parse_metadata(path, k, v) for k, v in meta.items() if k not in _RESERVED}
    expected = _expected_state(path, kind, config, len(header.tensors))
    dtype = _check_tensors(header, kind, config, expected)
    tensors = _read_tensors(header)
    try:
        # the initial values are overwritten: overflow in them (init_std 1e308) is no one's concern
        with _module_budget(MAX_MODULES), np.errstate(over="ignore", invalid="ignore"):
            model = build_module({"kind": kind, "config": config})
        if dtype is not None and model.dtype is not None and model.dtype != dtype:
            model.astype(dtype)
        model.load_state_dict(tensors, strict=True)
    except Exception as exc:  # noqa: BLE001 - the skeleton passed, so this is unexpected: still one clear error
        raise SerializationError(f"load: {path!r} does not fit a {kind} built from {_brief(config)}: {exc}") from exc
    model.eval()
    if device is not None:
        model.to(device)
    checkpoint = Checkpoint(model=model, kind=kind, config=config, metadata=extras, path=path)
    model.metadata = extras
    model._loaded_from = (kind, path)  # for code written when load returned the Checkpoint (deprecated)
    return checkpoint if with_metadata else model


__all__ = [
    "save", "load", "read_file", "read_metadata", "register_model", "kind_of", "module_spec", "build_module",
    "Checkpoint", "MODEL_REGISTRY",
]
