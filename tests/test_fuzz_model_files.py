"""Fuzzing ``chainrule.load`` with hostile model files.

Seeded generators turn a few valid saved models into more than 10,000 hostile files:
byte flips, truncations, header-length edits, JSON header mutations (dtypes, shapes,
offsets, names, duplicates, nesting, types), metadata and config mutations, and
re-encoded files that are well formed but do not fit their config, plus the specific
cases that once broke loading (``n_features: 1e9`` in a 1 KB file, ``Infinity``, a C64
weight, deeply nested JSON, a weight relabelled from F64 to I64).

Every file must either load a model whose parameters are exactly the file's tensors
(as safetensors itself decodes them) or raise :class:`SerializationError`: never any
other exception, never more than a fraction of a second, never more than a few MiB
(tracemalloc). Mutations that keep the file valid (padding, an extra header field, other
values, benign metadata) must load.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import SerializationError

safetensors_numpy = pytest.importorskip("safetensors.numpy")

SEED = 20240611
N_CASES = 10_500
MAX_SECONDS = 0.5  # per file
MAX_PEAK_BYTES = 16 * 2**20  # per file, traced by tracemalloc (the files are a few KB)


# -- the valid files the mutations start from --------------------------------------------------------------

@dataclass
class Base:
    name: str
    blob: bytes
    table: dict[str, Any]  # the JSON header, "__metadata__" included
    data: bytes

    @property
    def header_length(self) -> int:
        return int.from_bytes(self.blob[:8], "little")

    def tensors(self) -> list[str]:
        return [k for k in self.table if k != "__metadata__"]

    def copy_table(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.table))


def _base_models() -> list[tuple[str, Any, dict[str, Any]]]:
    return [
        ("linreg", nn.LinearRegression(3, rng=0),
         {"task": "regression", "feature_names": ["age", "bmi", "bp"],
          "standardizer": {"mean": [50.0, 26.0, 94.0], "scale": [13.0, 4.4, 13.8]}}),
        ("mlp32", nn.MLP(4, [5], 3, activation="tanh", dropout=0.1, dtype="float32", rng=1),
         {"task": "classification", "classes": ["setosa", "versicolor", "virginica"]}),
        ("seq", nn.Sequential(nn.Linear(3, 4, rng=2), nn.LeakyReLU(0.2), nn.Linear(4, 2, bias=False, rng=3)), {}),
        ("lin16", nn.Linear(2, 2, dtype="float16", rng=4), {"note": "half precision"}),
        ("noparams", nn.Sequential(nn.ReLU(), nn.Identity()), {}),
    ]


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> list[Base]:
    folder = tmp_path_factory.mktemp("bases")
    out = []
    for name, model, metadata in _base_models():
        path = folder / f"{name}.safetensors"
        cr.save(model, path, metadata=metadata)
        blob = path.read_bytes()
        n = int.from_bytes(blob[:8], "little")
        table, data = json.loads(blob[8:8 + n]), blob[8 + n:]
        # safetensors writes the metadata in a random order (a Rust HashMap): put it in a fixed
        # one, so that the same seed gives the same files
        metadata = table.pop("__metadata__")
        table = {"__metadata__": dict(sorted(metadata.items())),
                 **dict(sorted(table.items(), key=lambda item: item[1]["data_offsets"]))}
        blob = assemble(table, data)
        out.append(Base(name, blob, table, data))
    return out


# -- building files ---------------------------------------------------------------------------------------

def assemble(table: Any, data: bytes, rnd: random.Random | None = None) -> bytes:
    """A safetensors file from a header (anything JSON-able) and data, checking nothing.

    With ``rnd``: sometimes compact, sometimes padded with spaces to 8 bytes as safetensors does.
    """
    header = json.dumps(table, separators=(",", ":") if rnd and rnd.random() < 0.5 else None).encode()
    if rnd is None or rnd.random() < 0.7:
        header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + data


def encode(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> tuple[dict[str, Any], bytes]:
    """A well-formed header table and data for these arrays (any NumPy dtype safetensors names)."""
    codes = {np.dtype(np.float16): "F16", np.dtype(np.float32): "F32", np.dtype(np.float64): "F64",
             np.dtype(np.int8): "I8", np.dtype(np.int16): "I16", np.dtype(np.int32): "I32",
             np.dtype(np.int64): "I64", np.dtype(np.uint8): "U8", np.dtype(np.uint16): "U16",
             np.dtype(np.uint32): "U32", np.dtype(np.uint64): "U64", np.dtype(np.bool_): "BOOL",
             np.dtype(np.complex64): "C64"}
    table: dict[str, Any] = {"__metadata__": metadata}
    chunks, offset = [], 0
    for name, value in tensors.items():
        raw = np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<"), copy=False).tobytes()
        table[name] = {"dtype": codes[value.dtype], "shape": list(value.shape),
                       "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    return table, b"".join(chunks)


def decode(base: Base) -> dict[str, np.ndarray]:
    """The tensors, as safetensors reads them, in the order of the file (safetensors' dict has none)."""
    tensors = safetensors_numpy.load(base.blob)
    return {name: tensors[name] for name in base.tensors()}


# -- hostile values ---------------------------------------------------------------------------------------

DTYPES: list[Any] = ["F16", "F32", "F64", "BF16", "I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "BOOL",
                     "C64", "F8_E4M3", "F8_E5M2", "F4", "X9", "", "f64", "float64", None, 64, ["F64"], {"F": 64}]
SAME_SIZE = {"F64": ["I64", "U64", "C64"], "F32": ["I32", "U32"], "F16": ["I16", "U16", "BF16"]}
HOSTILE: list[Any] = [
    10**9, 10**18, 2**63, 2**64, -1, 0, 1, 1.5, 1e9, 1e308, float("inf"), float("-inf"), float("nan"), 10**300,
    "3", "", "relu", "float64", "x" * 2000, None, True, False, [], {}, [1, 2], [10**9] * 3, [1] * 3000,
    {"kind": "Linear", "config": {"in_features": 10**9, "out_features": 10**9}}, [[[[[]]]]], {"a": {"b": {}}},
]
KINDS = ["LinearRegression", "Linear", "MLP", "Sequential", "ReLU", "Dropout", "GELU", "Transformer", "", "linear"]


def hostile_value(rnd: random.Random) -> Any:
    if rnd.random() < 0.1:
        return rnd.choice(KINDS)
    if rnd.random() < 0.1:
        return rnd.randint(-(2**70), 2**70)
    return json.loads(json.dumps(rnd.choice(HOSTILE)))  # a fresh copy: the tree is edited in place


def deep(levels: int, rnd: random.Random) -> str:
    """JSON text nesting ``levels`` arrays or objects."""
    opener, closer = rnd.choice([("[", "]"), ('{"a":', "}")])
    return opener * levels + "1" + closer * levels


def mutate_json(value: Any, rnd: random.Random) -> Any:
    """One random edit somewhere in a JSON tree: replace, delete, duplicate, retype or nest a node."""
    paths: list[tuple] = [()]
    stack: list[tuple[tuple, Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            paths.append((*path, key))
            stack.append(((*path, key), child))
    path = rnd.choice(paths)
    if not path:
        return hostile_value(rnd)
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    action = rnd.random()
    if action < 0.55:
        parent[key] = hostile_value(rnd)
    elif action < 0.7:
        del parent[key]
    elif action < 0.8 and isinstance(parent, list):
        parent.insert(key, json.loads(json.dumps(parent[key])))
    elif action < 0.9:
        parent[key] = [parent[key]] if rnd.random() < 0.5 else {"kind": rnd.choice(KINDS), "config": parent[key]}
    elif isinstance(parent, dict):
        parent[rnd.choice(["extra", "rng", "init", "names", "kind", "config", "dtype"])] = hostile_value(rnd)
    else:  # deep nesting: a marker that edit_config replaces by the text (parsing it here would recurse)
        parent[key] = f"__deep_{rnd.choice([10, 70, 5000])}__"
    return value


# -- the mutators -----------------------------------------------------------------------------------------
# Each takes (rnd, base, bases) and returns (file bytes, must_load): must_load is True for
# edits that keep the file valid, so a refusal of them is a failure too.

Mutator = Callable[[random.Random, Base, list[Base]], tuple[bytes, bool]]


def flip_bytes(rnd, base, bases):
    blob = bytearray(base.blob)
    n = base.header_length
    for _ in range(rnd.randint(1, 6)):
        where = rnd.random()
        if where < 0.15:
            i = rnd.randrange(8)
        elif where < 0.85 or not base.data:
            i = 8 + rnd.randrange(n)
        else:
            i = 8 + n + rnd.randrange(len(base.data))
        blob[i] ^= rnd.randrange(1, 256)
    return bytes(blob), False


def flip_data(rnd, base, bases):
    """Flips in the tensor data only: a valid file with other values (NaN and inf included)."""
    if not base.data:
        return base.blob, True
    blob = bytearray(base.blob)
    start = 8 + base.header_length
    for _ in range(rnd.randint(1, 8)):
        blob[start + rnd.randrange(len(base.data))] ^= rnd.randrange(1, 256)
    return bytes(blob), True


def truncate(rnd, base, bases):
    n = base.header_length
    cut = rnd.choice([rnd.randrange(len(base.blob)), rnd.randrange(9), 8 + n - 1, 8 + n, len(base.blob) - 1,
                      8 + rnd.randrange(n)])
    return base.blob[:max(0, min(cut, len(base.blob) - 1))], False


def extend(rnd, base, bases):
    tail = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 64)))
    return base.blob + tail, False


def insert_or_delete(rnd, base, bases):
    n = base.header_length
    i = 8 + rnd.randrange(n)
    k = rnd.randint(1, 16)
    if rnd.random() < 0.5:
        header = base.blob[8:i] + bytes(rnd.randrange(256) for _ in range(k)) + base.blob[i:8 + n]
    else:
        header = base.blob[8:i] + base.blob[i + k:8 + n]
    length = len(header) if rnd.random() < 0.5 else n
    return length.to_bytes(8, "little") + header + base.data, False


def header_length(rnd, base, bases):
    n, size = base.header_length, len(base.blob)
    value = rnd.choice([0, 1, 2, 7, n - 1, n + 1, n - rnd.randint(2, 64), n + rnd.randint(2, 64), size - 8, size - 7,
                        size, 2**31, 2**32, 2**63 - 1, 2**63, 2**64 - 1, rnd.randrange(2**64), rnd.randrange(1 << 24)])
    value = min(max(value, 0), 2**64 - 1)
    if value == n:
        value += 1
    return value.to_bytes(8, "little") + base.blob[8:], False


def splice(rnd, base, bases):
    other = rnd.choice(bases)
    if rnd.random() < 0.5:  # this header, another model's data
        return base.blob[:8 + base.header_length] + other.data, other.data == base.data
    cut = rnd.randrange(min(len(base.blob), len(other.blob)))
    return base.blob[:cut] + other.blob[cut:], base.blob == other.blob


def edit_dtype(rnd, base, bases):
    table = base.copy_table()
    names = base.tensors()
    if not names:
        return assemble(table, base.data, rnd), True
    name = rnd.choice(names)
    info = table[name]
    if rnd.random() < 0.5 and info["dtype"] in SAME_SIZE:  # relabelled: same bytes, another meaning
        info["dtype"] = rnd.choice(SAME_SIZE[info["dtype"]])
    else:
        info["dtype"] = rnd.choice(DTYPES)
    return assemble(table, base.data, rnd), False


def edit_shape(rnd, base, bases):
    table = base.copy_table()
    names = base.tensors()
    if not names:
        table["ghost"] = {"dtype": "F64", "shape": [rnd.choice([0, 1, 2**40])], "data_offsets": [0, 0]}
        return assemble(table, base.data, rnd), False
    info = table[rnd.choice(names)]
    shape = info["shape"]
    info["shape"] = rnd.choice([
        [-1], [-shape[0], *shape[1:]], [2**63], [2**64], [2**64 + 1], [2**32] * 3, [2**21] * 3, [0], [], [1] * 33,
        [1.0] * len(shape), ["1"], None, "3", [True] * len(shape), [shape], shape[::-1], [*shape, 1], [1, *shape],
        [shape[0] * 2, *shape[1:]], [10**30], [rnd.randint(0, 10**6) for _ in range(rnd.randint(0, 4))],
    ])
    return assemble(table, base.data, rnd), False


def edit_offsets(rnd, base, bases):
    table = base.copy_table()
    names = base.tensors()
    if not names:
        table["__metadata__"]["x"] = "1"
        table["ghost"] = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
        return assemble(table, base.data, rnd), False
    name = rnd.choice(names)
    begin, end = table[name]["data_offsets"]
    other = table[rnd.choice(names)]["data_offsets"]
    k = rnd.randint(1, 16)
    size = len(base.data)
    table[name]["data_offsets"] = rnd.choice([
        [end, begin], [begin + k, end + k], [begin - k, end - k], [begin, end + k], [begin + k, end], [0, size],
        [-1, end], [begin, 2**64], [begin, 2**64 + 8], [begin], [begin, end, end], None, [str(begin), str(end)],
        [float(begin), float(end)], list(other), [other[0], other[0] + (end - begin)], [size, size + end - begin],
    ])
    if table[name]["data_offsets"] == [begin, end]:
        table[name]["data_offsets"] = [begin, end + 1]
    return assemble(table, base.data, rnd), False


def edit_table(rnd, base, bases):
    """Names, duplicates, entry types, extra fields, nesting, encoding, whole-header types."""
    table = base.copy_table()
    names = base.tensors()
    choice = rnd.randrange(12)
    raw = json.dumps(table)
    if choice == 0 and names:  # rename a tensor
        name = rnd.choice(names)
        table[rnd.choice(["", name + ".", name.upper(), "0." + name, "\u00e9" + name, name * 50])] = table.pop(name)
    elif choice == 1 and names:  # drop a tensor (its bytes then belong to none)
        del table[rnd.choice(names)]
    elif choice == 2:  # a key given twice, at the top or inside __metadata__ or inside an entry
        if names and rnd.random() < 0.6:
            name = rnd.choice(names)
            raw = raw[:-1] + f", {json.dumps(name)}: {json.dumps(table[name])}}}"
        else:
            raw = raw.replace('"format": "chainrule"', '"format": "chainrule", "format": "chainrule"')
        return len(raw).to_bytes(8, "little") + raw.encode() + base.data, False
    elif choice == 3 and names:  # an entry that is not an object
        table[rnd.choice(names)] = rnd.choice([None, 1, "F64", [1, 2], []])
    elif choice == 4:  # the whole header is not an object
        return assemble(rnd.choice([[], [table], "header", 3, None, True]), base.data, rnd), False
    elif choice == 5:  # bytes that are not UTF-8, or a lone surrogate escape
        encoded = raw.encode()
        if rnd.random() < 0.5:
            i = rnd.randrange(len(encoded))
            encoded = encoded[:i] + rnd.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"]) + encoded[i:]
        else:
            encoded = raw.replace('"format"', '"\\ud800format"', 1).encode()
        return len(encoded).to_bytes(8, "little") + encoded + base.data, False
    elif choice == 6:  # deep nesting inside an entry or as a new top-level key
        nest = deep(rnd.choice([65, 200, 100_000]), rnd)
        raw = raw[:-1] + f', "nested": {nest}}}'
        return len(raw).to_bytes(8, "little") + raw.encode() + base.data, False
    elif choice == 7 and names:  # an extra field in an entry: ignored, as safetensors does
        table[rnd.choice(names)]["extra"] = rnd.choice([1, "x", [1, 2], {"a": None}])
        return assemble(table, base.data, rnd), True
    elif choice == 8:  # padding, reordering of keys: still the same file
        items = list(table.items())
        rnd.shuffle(items)
        header = (" " * rnd.randint(0, 16) + json.dumps(dict(items)) + " " * rnd.randint(0, 16)).encode()
        return len(header).to_bytes(8, "little") + header + base.data, True
    elif choice == 9:  # an extra tensor, with its bytes
        extra = rnd.choice([np.zeros(3), np.arange(4, dtype=np.int64), np.ones((2, 2), np.float32)])
        begin = len(base.data)
        table[rnd.choice(["extra", "0.weight", "weight", "bias"]) + "_x"] = {
            "dtype": {np.float64: "F64", np.int64: "I64", np.float32: "F32"}[extra.dtype.type],
            "shape": list(extra.shape), "data_offsets": [begin, begin + extra.nbytes]}
        return assemble(table, base.data + extra.tobytes(), rnd), False
    elif choice == 10:  # a header that is not JSON at all
        header = rnd.choice([b"{", b"{]", b"nul", b"{'a': 1}", b'{"a":}', b"", raw.encode()[:-1]])
        return len(header).to_bytes(8, "little") + header + base.data, False
    else:  # a missing field in an entry
        if names:
            del table[rnd.choice(names)][rnd.choice(["dtype", "shape", "data_offsets"])]
        else:
            table["ghost"] = {"dtype": "F64"}
    return assemble(table, base.data, rnd), False


def edit_metadata(rnd, base, bases):
    table = base.copy_table()
    meta = table["__metadata__"]
    choice = rnd.randrange(11)
    if choice == 0:
        meta.pop(rnd.choice(["format", "format_version", "kind", "config"]))
    elif choice == 1:
        meta[rnd.choice(["format", "format_version", "kind"])] = rnd.choice(
            ["", "chainrule ", "CHAINRULE", "0", "2", "1.0", "x" * 5000, "Transformer", "MLP", "Linear", "ReLU"])
    elif choice == 2:  # a value that is not a string
        meta[rnd.choice([*meta, "task", "new"])] = rnd.choice([1, 1.5, None, True, [], {}, ["a"], {"a": "b"}])
    elif choice == 3:
        table["__metadata__"] = rnd.choice([None, [], "chainrule", 1, [["format", "chainrule"]]])
        if table["__metadata__"] is None:
            return assemble(table, base.data, rnd), False  # null metadata: a file without chainrule's marks
    elif choice == 4:  # an extra entry that is not JSON
        meta[rnd.choice(["task", "classes", "feature_names", "extra"])] = rnd.choice(
            ["{", "[1,", "nope", "'single'", '{"a": 1} trailing', "\\", "1" * 5000, '{"a": 1, "a": 2}'])
    elif choice == 5:  # deeply nested JSON in an extra entry or the config
        meta[rnd.choice(["extra", "config", "task"])] = deep(rnd.choice([65, 1000, 200_000]), rnd)
    elif choice == 6:  # benign: more metadata, nested a little
        meta[rnd.choice(["notes", "history", "task"])] = json.dumps(
            rnd.choice([{"loss": [1.0, 0.5] * 500}, "text " * 2000, [[[[1]]]], None, float("nan")]))
        return assemble(table, base.data, rnd), True
    elif choice == 7:  # benign: other values of the user's metadata
        for key in [k for k in meta if k not in ("format", "format_version", "kind", "config")]:
            meta[key] = json.dumps(rnd.choice([[], {}, "x", 1e300, ["a" * 100] * 10]))
        return assemble(table, base.data, rnd), True
    elif choice == 8:  # the config replaced by something else
        meta["config"] = rnd.choice(["", "null", "[]", "3", '"config"', "{", "{}", '{"config": {}}',
                                     json.dumps(hostile_value(rnd))])
    elif choice == 9:  # the kind of another base with this config, or this kind with another config
        other = rnd.choice(bases)
        meta[rnd.choice(["kind", "config"])] = other.table["__metadata__"][rnd.choice(["kind", "config"])]
        return assemble(table, base.data, rnd), False
    else:  # a very long metadata value (benign: well under the limit)
        meta["notes"] = json.dumps("y" * rnd.choice([10_000, 300_000]))
        return assemble(table, base.data, rnd), True
    return assemble(table, base.data, rnd), False


def edit_config(rnd, base, bases):
    table = base.copy_table()
    config = json.loads(table["__metadata__"]["config"])
    for _ in range(rnd.randint(1, 3)):
        config = mutate_json(config, rnd)
    text = json.dumps(config, allow_nan=True)
    for levels in (10, 70, 5000):
        text = text.replace(f'"__deep_{levels}__"', deep(levels, rnd))
    table["__metadata__"]["config"] = text
    return assemble(table, base.data, rnd), False


def reencode(rnd, base, bases):
    """Well-formed files (consistent offsets) whose tensors do not fit, or fit, the config."""
    tensors = decode(base)
    meta = dict(base.table["__metadata__"])
    if not tensors:
        tensors = {"weight": np.zeros((1, 3))}
        table, data = encode(tensors, meta)
        return assemble(table, data, rnd), False
    names = list(tensors)
    choice = rnd.randrange(8)
    must_load = False
    name = rnd.choice(names)
    if choice == 0:  # every tensor in another float dtype: converted on load
        dtype = rnd.choice([np.float16, np.float32, np.float64])
        tensors = {k: v.astype(dtype) for k, v in tensors.items()}
        must_load = True
    elif choice == 1:  # one tensor in an integer, bool or complex dtype
        tensors[name] = tensors[name].astype(rnd.choice([np.int64, np.int32, np.uint8, np.bool_, np.complex64]))
    elif choice == 2:  # one tensor in another float dtype: mixed, unless it is the only one
        other = [d for d in (np.float16, np.float32, np.float64) if d != tensors[name].dtype]
        tensors[name] = tensors[name].astype(rnd.choice(other))
        must_load = len(names) == 1
    elif choice == 3:  # reshaped, transposed, cut or grown
        value = tensors[name]
        tensors[name] = rnd.choice([value.reshape(-1), value.T.copy() if value.ndim == 2 else value[None],
                                    value.reshape(-1)[:-1], np.concatenate([value.reshape(-1)] * 2), value[None]])
        must_load = tensors[name].shape == value.shape
    elif choice == 4:  # renamed or dropped
        value = tensors.pop(name)
        if rnd.random() < 0.5:
            tensors[rnd.choice(["w", name + "_", "module." + name, "0." + name])] = value
    elif choice == 5:  # other values, NaN and inf included: a valid file
        value = tensors[name]
        tensors[name] = np.asarray(
            np.random.default_rng(rnd.randrange(2**32)).choice([np.nan, np.inf, -np.inf, 0.0, 1e4, -7.5], value.shape),
            dtype=value.dtype)
        must_load = True
    elif choice == 6:  # the tensors of another base model under this metadata
        other = rnd.choice(bases)
        tensors = decode(other)
        must_load = other.table["__metadata__"]["config"] == meta["config"] and other.name == base.name
    else:  # tensors in another order in the file: a valid file
        items = list(tensors.items())
        rnd.shuffle(items)
        tensors = dict(items)
        must_load = True
    table, data = encode(tensors, meta)
    return assemble(table, data, rnd), must_load


def specific(rnd, base, bases):
    """The cases that once broke loading, on the LinearRegression file."""
    linreg = next(b for b in bases if b.name == "linreg")
    return rnd.choice(SPECIFIC)(linreg), False


def _with_config(base: Base, config: str) -> bytes:
    table = base.copy_table()
    table["__metadata__"]["config"] = config
    return assemble(table, base.data)


def _relabel(base: Base, dtype: str, shape: list[int] | None = None) -> bytes:
    table = base.copy_table()
    table["weight"]["dtype"] = dtype
    if shape is not None:
        table["weight"]["shape"] = shape
    return assemble(table, base.data)


SPECIFIC: list[Callable[[Base], bytes]] = [
    lambda b: _with_config(b, '{"n_features": 1000000000}'),  # 7.45 GiB from 1.3 KB, once
    lambda b: _with_config(b, '{"n_features": 1e9}'),
    lambda b: _with_config(b, '{"n_features": Infinity}'),  # an OverflowError traceback, once
    lambda b: _with_config(b, '{"n_features": NaN}'),
    lambda b: _with_config(b, '{"n_features": ' + "[" * 100_000 + "]" * 100_000 + "}"),  # RecursionError, once
    lambda b: _relabel(b, "C64"),  # a TypeError traceback, once
    lambda b: _relabel(b, "I64"),  # loaded silently and predicted 4.6e18, once
    lambda b: _relabel(b, "U8", [1, 24]),
    lambda b: _relabel(b, "BOOL", [1, 24]),
    lambda b: (2**63).to_bytes(8, "little") + b.blob[8:],
    lambda b: b.blob[:8 + b.header_length + 3],
    lambda b: b"",
]


MUTATORS: list[tuple[str, Mutator, int]] = [
    ("flip_bytes", flip_bytes, 14), ("flip_data", flip_data, 4), ("truncate", truncate, 6), ("extend", extend, 3),
    ("insert_or_delete", insert_or_delete, 5), ("header_length", header_length, 5), ("splice", splice, 4),
    ("edit_dtype", edit_dtype, 8), ("edit_shape", edit_shape, 8), ("edit_offsets", edit_offsets, 8),
    ("edit_table", edit_table, 10), ("edit_metadata", edit_metadata, 10), ("edit_config", edit_config, 14),
    ("reencode", reencode, 10), ("specific", specific, 2),
]


# -- running the cases ------------------------------------------------------------------------------------

def check_loaded(model: Any, blob: bytes) -> None:
    """A loaded model holds exactly the file's tensors, as safetensors decodes them, in eval mode."""
    expected = safetensors_numpy.load(blob)
    state = model.state_dict()
    assert set(state) == set(expected), (sorted(state), sorted(expected))
    for name, value in expected.items():
        assert state[name].dtype == value.dtype and state[name].shape == value.shape, name
        assert state[name].tobytes() == value.tobytes(), name
    assert not model.training


def run_cases(bases: list[Base], n_cases: int, seed: int, path) -> dict[str, Any]:
    """Generate and load ``n_cases`` files; returns the counts and the failures."""
    rnd = random.Random(seed)
    names = [name for name, _, _ in MUTATORS]
    weights = [w for _, _, w in MUTATORS]
    functions = {name: fn for name, fn, _ in MUTATORS}
    outcomes: Counter = Counter()
    by_mutator: dict[str, Counter] = {name: Counter() for name in names}
    failures: list[str] = []
    slowest = (0.0, "")
    biggest = (0, "")
    cases = [("specific", i) for i in range(len(SPECIFIC))]  # each specific case at least once
    cases += [(rnd.choices(names, weights)[0], None) for _ in range(n_cases - len(cases))]
    tracemalloc.start()
    try:
        for index, (mutator, which) in enumerate(cases):
            base = bases[index % len(bases)]
            case_rnd = random.Random(f"{seed}:{index}")
            if which is not None:
                blob, must_load = SPECIFIC[which](next(b for b in bases if b.name == "linreg")), False
            else:
                blob, must_load = functions[mutator](case_rnd, base, bases)
            path.unlink(missing_ok=True)  # a new file: rewriting one in place is slow on ext4 (auto_da_alloc)
            path.write_bytes(blob)
            label = f"case {index} ({mutator} of {base.name})"
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            start = time.perf_counter()
            model = None
            try:
                model = cr.load(path)
            except SerializationError as exc:
                outcome = "refused"
                if must_load:
                    failures.append(f"{label}: a valid file was refused: {exc}")
            except Exception as exc:  # noqa: BLE001 - the point of the test: nothing but SerializationError
                outcome = f"other: {type(exc).__name__}"
                failures.append(f"{label}: {type(exc).__name__}: {exc}")
            else:
                outcome = "loaded"
                try:
                    check_loaded(model, blob)
                except AssertionError as exc:
                    failures.append(f"{label}: loaded a model that is not the file's: {exc}")
            seconds = time.perf_counter() - start
            peak = tracemalloc.get_traced_memory()[1] - before
            del model
            for _ in range(3):  # a slow case is timed again: a busy machine can pause any one call
                if seconds <= MAX_SECONDS:
                    break
                again = time.perf_counter()
                with contextlib.suppress(Exception):  # the outcome was recorded above; only the time counts
                    cr.load(path)
                seconds = min(seconds, time.perf_counter() - again)
            slowest = max(slowest, (seconds, label))
            biggest = max(biggest, (peak, label))
            if seconds > MAX_SECONDS:
                failures.append(f"{label}: took {seconds:.3f} s")
            if peak > MAX_PEAK_BYTES:
                failures.append(f"{label}: peak memory {peak / 2**20:.1f} MiB")
            outcomes[outcome] += 1
            by_mutator[mutator][outcome] += 1
    finally:
        tracemalloc.stop()
    return {"outcomes": outcomes, "by_mutator": by_mutator, "failures": failures,
            "slowest": slowest, "biggest": biggest, "cases": len(cases)}


def report(result: dict[str, Any]) -> str:
    lines = [f"{result['cases']} hostile model files: " + ", ".join(
        f"{k} {v}" for k, v in sorted(result["outcomes"].items()))]
    for name, counts in result["by_mutator"].items():
        lines.append(f"  {name:17s} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    lines.append(f"  slowest {result['slowest'][0] * 1e3:.1f} ms ({result['slowest'][1]}), "
                 f"largest peak {result['biggest'][0] / 2**20:.2f} MiB ({result['biggest'][1]})")
    return "\n".join(lines)


def _assert_clean(result: dict[str, Any]) -> None:
    failures = result["failures"]
    assert not failures, f"{len(failures)} failures, e.g.:\n" + "\n".join(failures[:20]) + "\n" + report(result)


def test_a_quick_sample_of_hostile_files(bases, tmp_path):
    result = run_cases(bases, 400, SEED + 1, tmp_path / "case.safetensors")
    _assert_clean(result)
    assert result["outcomes"]["loaded"] > 0 and result["outcomes"]["refused"] > 0


@pytest.mark.slow
def test_ten_thousand_hostile_files(bases, tmp_path, record_property, capsys):
    result = run_cases(bases, N_CASES, SEED, tmp_path / "case.safetensors")
    text = report(result)
    record_property("fuzz_outcomes", dict(result["outcomes"]))
    with capsys.disabled():
        print("\n" + text)
    _assert_clean(result)
    assert result["cases"] >= 10_000
    assert set(result["outcomes"]) == {"loaded", "refused"}
    for name, counts in result["by_mutator"].items():  # every hostile generator produced refusals
        assert counts["refused"] > 0 or name == "flip_data", name
    for name in ("flip_data", "reencode", "edit_table", "edit_metadata"):  # and the valid edits loaded
        assert result["by_mutator"][name]["loaded"] > 0, name


def test_the_specific_cases_are_refused_cheaply(bases, tmp_path):
    linreg = next(b for b in bases if b.name == "linreg")
    path = tmp_path / "specific.safetensors"
    for make in SPECIFIC:
        path.write_bytes(make(linreg))
        tracemalloc.start()
        try:
            with pytest.raises(SerializationError):
                cr.load(path)
            assert tracemalloc.get_traced_memory()[1] < 8 * 2**20
        finally:
            tracemalloc.stop()
