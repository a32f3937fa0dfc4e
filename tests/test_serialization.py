"""chainrule.save / chainrule.load: safetensors files with metadata, a model registry, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import MissingDependencyError, SerializationError
from chainrule.serialization import (
    MODEL_REGISTRY,
    build_module,
    module_spec,
    read_file,
    read_metadata,
    register_model,
)


def test_round_trip_with_metadata(tmp_path):
    model = nn.LinearRegression(3, rng=0)
    meta = {"feature_names": ["a", "b", "c"], "standardizer": {"mean": [1.0, 2, 3], "scale": [1.0, 1, 2]},
            "task": "regression", "labels": {"0": "no", "1": "yes"}, "array": np.arange(2)}
    path = tmp_path / "m.safetensors"
    cr.save(model, path, metadata=meta)
    ckpt = cr.load(path, with_metadata=True)
    loaded, metadata = ckpt
    assert isinstance(loaded, nn.LinearRegression) and ckpt.kind == "LinearRegression"
    np.testing.assert_array_equal(loaded.theta, model.theta)
    assert not loaded.training
    assert metadata["feature_names"] == ["a", "b", "c"] and metadata["standardizer"]["scale"] == [1.0, 1, 2]
    assert metadata["labels"] == {"0": "no", "1": "yes"} and metadata["array"] == [0, 1]
    assert ckpt.task == "regression" and ckpt.config == model.config()
    tensors, raw = read_file(path)
    assert set(tensors) == {"weight", "bias"} and raw["format"] == "chainrule"
    assert json.loads(raw["config"]) == {"n_features": 3, "bias": True, "dtype": "float64", "init_std": 1.0}


def test_linear_float32_and_no_bias(tmp_path):
    model = nn.Linear(4, 2, bias=False, dtype=np.float32, rng=1)
    cr.save(model, tmp_path / "l.safetensors")
    loaded, meta = cr.load(tmp_path / "l.safetensors", with_metadata=True)
    assert meta == {} and loaded.bias is None and loaded.weight.dtype == np.float32
    np.testing.assert_array_equal(loaded.weight.data, model.weight.data)
    x = np.ones((3, 4), np.float32)
    np.testing.assert_array_equal(loaded(x).data, model(x).data)


@pytest.mark.oracle
def test_pytorch_reads_the_same_tensors(torch, tmp_path):
    from safetensors.torch import load_file

    model = nn.Linear(5, 3, rng=2)
    cr.save(model, tmp_path / "lin.safetensors")
    layer = torch.nn.Linear(5, 3, dtype=torch.float64)
    layer.load_state_dict(load_file(tmp_path / "lin.safetensors"))
    x = np.random.default_rng(0).standard_normal((2, 5))
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), model(x).data, rtol=1e-14)


def test_damaged_truncated_and_foreign_files(tmp_path):
    good = tmp_path / "good.safetensors"
    cr.save(nn.LinearRegression(2, rng=0), good)
    blob = good.read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(blob[: len(blob) - 5])
    (tmp_path / "junk.safetensors").write_bytes(b"this is not a model at all")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    for name in ("trunc", "junk", "empty"):
        with pytest.raises(SerializationError, match="not a readable safetensors file"):
            cr.load(tmp_path / f"{name}.safetensors")
    from safetensors.numpy import save_file

    save_file({"embeddings": np.zeros((2, 2))}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(SerializationError, match="not written by chainrule.*embeddings \\(2, 2\\)"):
        cr.load(tmp_path / "foreign.safetensors")
    with pytest.raises(SerializationError, match="no such file"):
        cr.load(tmp_path / "missing.safetensors")


def test_mismatched_or_unknown_contents(tmp_path):
    from safetensors.numpy import save_file

    base = {"format": "chainrule", "format_version": "1", "kind": "LinearRegression",
            "config": json.dumps({"n_features": 3})}
    save_file({"weight": np.zeros((1, 2)), "bias": np.zeros(1)}, str(tmp_path / "shape.safetensors"), base)
    with pytest.raises(SerializationError, match="does not fit.*weight"):
        cr.load(tmp_path / "shape.safetensors")
    save_file({"w": np.zeros(1)}, str(tmp_path / "kind.safetensors"), {**base, "kind": "Transformer"})
    with pytest.raises(SerializationError, match="unknown model kind 'Transformer'.*LinearRegression"):
        cr.load(tmp_path / "kind.safetensors")
    save_file({"w": np.zeros(1)}, str(tmp_path / "ver.safetensors"), {**base, "format_version": "99"})
    with pytest.raises(SerializationError, match="version"):
        cr.load(tmp_path / "ver.safetensors")
    save_file({"w": np.zeros(1)}, str(tmp_path / "cfg.safetensors"), {**base, "config": "{not json"})
    with pytest.raises(SerializationError, match="not JSON"):
        cr.load(tmp_path / "cfg.safetensors")
    save_file({"w": np.zeros(1)}, str(tmp_path / "args.safetensors"), {**base, "config": '{"size": 3}'})
    with pytest.raises(SerializationError, match="cannot rebuild"):
        cr.load(tmp_path / "args.safetensors")


def test_save_refuses_what_it_cannot_rebuild(tmp_path):
    class Unregistered(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.zeros(1))

    with pytest.raises(SerializationError, match="not a registered model kind"):
        cr.save(Unregistered(), tmp_path / "u.safetensors")
    model = nn.LinearRegression(2, rng=0)
    with pytest.raises(SerializationError, match="reserved"):
        cr.save(model, tmp_path / "r.safetensors", metadata={"kind": "x"})
    with pytest.raises(SerializationError, match="JSON"):
        cr.save(model, tmp_path / "j.safetensors", metadata={"f": object()})
    with pytest.raises(SerializationError, match="cannot write"):
        cr.save(model, tmp_path / "no" / "dir" / "m.safetensors")


def test_registering_a_container_kind(tmp_path):
    @register_model(name="TestStack")
    class Stack(nn.Module):
        def __init__(self, layers):
            super().__init__()
            self.layers = nn.ModuleList(layers)

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

        def config(self):
            return {"layers": [module_spec(m) for m in self.layers]}

        @classmethod
        def from_config(cls, config):
            return cls([build_module(spec) for spec in config["layers"]])

    try:
        model = Stack([nn.Linear(3, 4, rng=0), nn.Linear(4, 2, rng=1)])
        cr.save(model, tmp_path / "stack.safetensors", metadata={"task": "classification"})
        loaded = cr.load(tmp_path / "stack.safetensors")
        assert isinstance(loaded, Stack)
        assert [n for n, _ in loaded.named_parameters()] == [
            "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
        x = np.ones((2, 3))
        np.testing.assert_array_equal(loaded(x).data, model(x).data)
    finally:
        MODEL_REGISTRY.pop("TestStack", None)
    with pytest.raises(TypeError, match="not a chainrule Module"):
        register_model(int)


def test_missing_safetensors_names_the_extra(hide_package, tmp_path):
    hide_package("safetensors")
    with pytest.raises(MissingDependencyError, match=r"pip install 'chainrule\[io\]'"):
        cr.save(nn.LinearRegression(2, rng=0), tmp_path / "x.safetensors")


def test_load_returns_the_model_with_its_metadata_and_the_old_form_warns(tmp_path):
    model = nn.LinearRegression(2, rng=0)
    path = tmp_path / "m.safetensors"
    cr.save(model, path, metadata={"task": "regression", "feature_names": ["a", "b"]})
    loaded = cr.load(path)
    assert isinstance(loaded, nn.LinearRegression) and not loaded.training
    np.testing.assert_array_equal(loaded.theta, model.theta)
    assert loaded.metadata == {"task": "regression", "feature_names": ["a", "b"]}
    same, metadata = cr.load(path, with_metadata=True)
    assert metadata == loaded.metadata and isinstance(same, nn.LinearRegression)
    with pytest.warns(DeprecationWarning, match="with_metadata=True"):
        assert loaded.model is loaded
    with pytest.warns(DeprecationWarning):
        assert loaded.task == "regression" and loaded.kind == "LinearRegression"
    with pytest.raises(AttributeError):
        model.kind  # noqa: B018 - a model that was not loaded has no such attribute
    cr.save(loaded, tmp_path / "again.safetensors")  # saving a loaded model keeps its metadata
    assert cr.load(tmp_path / "again.safetensors").metadata == loaded.metadata


# -- hostile files: everything is checked before anything is built ---------------------------------------

def _parts(path):
    """A saved file taken apart: (header table, data bytes)."""
    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def _assemble(table, data, raw_header=None):
    """A safetensors file from a header table (or raw header bytes) and data, checking nothing."""
    header = raw_header if raw_header is not None else json.dumps(table).encode()
    return len(header).to_bytes(8, "little") + header + data


@pytest.fixture
def saved(tmp_path):
    """A saved LinearRegression(3) with metadata, taken apart; ``write(table, data)`` writes a variant."""
    model = nn.LinearRegression(3, rng=0)
    good = tmp_path / "good.safetensors"
    cr.save(model, good, metadata={"task": "regression", "feature_names": ["a", "b", "c"]})
    table, data = _parts(good)

    class Saved:
        pass

    s = Saved()
    s.model, s.path, s.table, s.data = model, good, table, data

    def write(table=None, data=None, raw_header=None, name="hostile.safetensors"):
        path = tmp_path / name
        path.write_bytes(_assemble(table if table is not None else s.table,
                                   data if data is not None else s.data, raw_header))
        return path

    def with_meta(**entries):
        t = json.loads(json.dumps(s.table))
        t["__metadata__"].update(entries)
        return write(t)

    s.write, s.with_meta = write, with_meta
    return s


def _refused(path, *patterns, peak_mb=8.0):
    """Load ``path`` expecting one SerializationError matching every pattern, cheaply."""
    import time
    import tracemalloc

    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SerializationError) as info:
            cr.load(path)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < peak_mb, f"loading took {peak:.1f} MiB"
    for pattern in patterns:
        assert pattern in str(info.value), (pattern, str(info.value))
    return str(info.value)


@pytest.mark.parametrize("config, message", [
    ('{"n_features": 1000000000}', "has shape (1, 3) but the model's parameter has shape (1, 1000000000)"),
    ('{"n_features": 1e9}', "a shape holds integers"),
    ('{"n_features": Infinity}', "cannot convert float infinity to integer"),
    ('{"n_features": NaN}', "cannot rebuild a LinearRegression"),
    ('{"n_features": -3}', "must be positive"),
    ('{"n_features": "3"}', "cannot rebuild a LinearRegression"),
    ('{"n_features": ' + "9" * 5000 + "}", "not JSON"),
    ('{"n_features": 3, "dtype": "int64"}', "floating point"),
    ('{"n_features": 3, "dtype": "complex128"}', "floating point"),
    ('{"n_features": 3, "dtype": "no such dtype"}', "cannot rebuild a LinearRegression"),
    ('{"n_features": 3, "n_features": 4}', "appears twice"),
    ("[3]", "must be a JSON object"),
    ('{"n_features": 3, "bias": false}', "unexpected tensors ['bias']"),
])
def test_a_hostile_config_is_refused_before_anything_is_built(saved, config, message):
    # n_features 10**9 in a 1 KB file used to allocate 7.45 GiB; Infinity gave an OverflowError traceback
    _refused(saved.with_meta(config=config), message)


def test_weights_must_be_float16_32_or_64(saved):
    for code, shape, sort in [("I64", [1, 3], "integer"), ("U64", [1, 3], "integer"), ("C64", [1, 3], "complex"),
                              ("I32", [1, 6], None), ("BOOL", [1, 24], None)]:
        table = json.loads(json.dumps(saved.table))
        table["weight"].update(dtype=code, shape=shape)  # same bytes, relabelled
        if sort is None:  # a shape that fits the bytes, not the model: the dtype is named first
            _refused(saved.write(table), f"({code})", "floating point")
        else:  # F64 relabelled as I64 used to load silently and predict 4.6e18
            _refused(saved.write(table), f"holds {sort} values ({code})")
    table = json.loads(json.dumps(saved.table))
    table["weight"]["dtype"] = "BF16"
    table["weight"]["shape"] = [1, 12]
    _refused(saved.write(table), "BF16", "cannot hold")


def test_one_float_dtype_per_model_and_conversion(saved, tmp_path):
    from safetensors.numpy import save_file

    tensors, meta = read_file(saved.path)
    save_file({k: v.astype(np.float32) for k, v in tensors.items()}, str(tmp_path / "f32.safetensors"), meta)
    loaded = cr.load(tmp_path / "f32.safetensors")  # a float64 config with float32 tensors: converted
    assert loaded.dtype == np.float32 and loaded.config()["dtype"] == "float32"
    np.testing.assert_array_equal(loaded.theta, saved.model.theta.astype(np.float32))
    save_file({"weight": tensors["weight"].astype(np.float16), "bias": tensors["bias"]},
              str(tmp_path / "mixed.safetensors"), meta)
    _refused(tmp_path / "mixed.safetensors", "mix float dtypes (F16, F64)")


def test_deeply_nested_json_is_refused_before_parsing(saved):
    deep = "[" * 100_000 + "]" * 100_000
    _refused(saved.with_meta(config='{"n_features": ' + deep + "}"), "'config' nests JSON more than 64 levels")
    _refused(saved.with_meta(task=deep), "'task' nests JSON more than 64 levels")
    table = json.loads(json.dumps(saved.table))
    raw = json.dumps(table)[:-1] + ', "junk": {"dtype": "F64", "shape": ' + deep + "}}"
    _refused(saved.write(raw_header=raw.encode()), "header nests JSON more than 64 levels")
    ok = {"n_features": 3}
    for _ in range(10):  # 10 levels of harmless nesting in an extra entry are fine
        ok = {"x": [ok]}
    loaded = cr.load(saved.with_meta(extra=json.dumps(ok)))
    assert loaded.metadata["extra"] == ok


@pytest.mark.parametrize("edit, message", [
    (lambda b, n: (2**63).to_bytes(8, "little") + b[8:], "header length says 9223372036854775808 bytes"),
    (lambda b, n: (2**64 - 1).to_bytes(8, "little") + b[8:], "header length says 18446744073709551615"),
    (lambda b, n: (n + 1000).to_bytes(8, "little") + b[8:], "bytes follow"),
    (lambda b, n: (0).to_bytes(8, "little") + b[8:], "not JSON"),
    (lambda b, n: (n - 20).to_bytes(8, "little") + b[8:], "not JSON"),
    (lambda b, n: b[:8 + n] + b[8 + n + 1:], "truncated"),
    (lambda b, n: b[:8 + n // 2], "bytes follow"),
    (lambda b, n: b[:5], "fewer than the 8"),
    (lambda b, n: b"", "the file is empty"),
    (lambda b, n: b + b"\0" * 8, "8 bytes after the last tensor belong to no tensor"),
    (lambda b, n: b[:8] + b"\xff" + b[9:], "not UTF-8"),
])
def test_hand_made_bad_bytes(saved, tmp_path, edit, message):
    blob = saved.path.read_bytes()
    path = tmp_path / "edited.safetensors"
    path.write_bytes(edit(blob, int.from_bytes(blob[:8], "little")))
    _refused(path, "not a readable safetensors file", message)


def _edited(table, edit):
    table = json.loads(json.dumps(table))
    edit(table)
    return table


@pytest.mark.parametrize("edit, message", [
    (lambda t: t["weight"].update(shape=[-1, 3]), "integers in [0, 2**64)"),
    (lambda t: t["weight"].update(shape=[1.0, 3]), "integers in [0, 2**64)"),
    (lambda t: t["weight"].update(shape=[True, 3]), "integers in [0, 2**64)"),
    (lambda t: t["weight"].update(shape=[2**64, 3]), "integers in [0, 2**64)"),
    (lambda t: t["weight"].update(shape=[2**32, 2**32, 2**32]), "bytes, but its data_offsets"),
    (lambda t: t["weight"].update(shape=[1] * 40), "at most 32"),
    (lambda t: t["weight"].update(shape="1,3"), "a shape is a list"),
    (lambda t: t["weight"].update(dtype="X9"), "unknown dtype 'X9'"),
    (lambda t: t["weight"].update(dtype=8), "unknown dtype 8"),
    (lambda t: t["weight"].pop("dtype"), "has no dtype"),
    (lambda t: t["weight"].update(data_offsets=[4, 28]), "tensors 'bias' and 'weight' overlap"),
    (lambda t: t["weight"].update(data_offsets=[16, 40]), "bytes before tensor 'weight' belong to no tensor"),
    (lambda t: t["weight"].update(data_offsets=[32, 8]), "0 <= begin <= end"),
    (lambda t: t["weight"].update(data_offsets=[8, 2**70]), "0 <= begin <= end < 2**64"),
    (lambda t: t["weight"].update(data_offsets=[8, 32, 40]), "expected [begin, end]"),
    (lambda t: t["weight"].update(data_offsets=[8, 24]), "24 bytes, but its data_offsets [8, 24] span 16"),
    (lambda t: t.update(weight=[1, 2]), "described by a JSON array"),
    (lambda t: t.update(__metadata__=["format"]), "__metadata__ is a JSON array"),
    (lambda t: t["__metadata__"].update(format=1), "metadata 'format' is a JSON number"),
    (lambda t: t["__metadata__"].update(task=None), "metadata 'task' is a JSON null"),
])
def test_hand_made_bad_headers(saved, edit, message):
    _refused(saved.write(_edited(saved.table, edit)), message)


def test_header_that_is_not_an_object_or_names_a_tensor_twice(saved):
    _refused(saved.write(raw_header=b"[1, 2, 3]"), "header is a JSON array, not an object")
    _refused(saved.write(raw_header=b'"weight"'), "header is a JSON string")
    raw = json.dumps(saved.table)
    twice = raw[:-1] + ', "bias": ' + json.dumps(saved.table["bias"]) + "}"
    _refused(saved.write(raw_header=twice.encode()), "the key 'bias' appears twice")
    lone = raw.replace('"weight"', '"w\\ud800"')
    _refused(saved.write(raw_header=lone.encode()), "invalid Unicode escape")
    padded = saved.write(raw_header=b"  " + raw.encode() + b"    ")  # padding spaces, as safetensors writes
    np.testing.assert_array_equal(cr.load(padded).theta, saved.model.theta)
    reordered = {"weight": {**saved.table["weight"], "data_offsets": [0, 24]},
                 "bias": {**saved.table["bias"], "data_offsets": [24, 32]}, "__metadata__": saved.table["__metadata__"]}
    lo, hi = saved.table["bias"]["data_offsets"]
    data = saved.data[hi:] + saved.data[lo:hi]  # tensors stored in another order: still the same model
    np.testing.assert_array_equal(cr.load(saved.write(reordered, data)).theta, saved.model.theta)


def test_metadata_problems_name_the_key(saved):
    _refused(saved.with_meta(kind="Transformer"), "unknown model kind 'Transformer'")
    _refused(saved.with_meta(kind="MLP"), "cannot rebuild a MLP", "n_features")
    _refused(saved.with_meta(kind="x" * 10_000), "unknown model kind 'xxxx")
    _refused(saved.with_meta(format_version="2"), "format version '2'")
    _refused(saved.with_meta(feature_names="[not json"), "'feature_names' is not JSON")
    _refused(saved.with_meta(standardizer='{"mean": 1, "mean": 2}'), "in 'standardizer' the key 'mean' appears twice")
    table = _edited(saved.table, lambda t: t["__metadata__"].pop("format"))
    _refused(saved.write(table), "not written by chainrule", "bias (1,), weight (1, 3)")
    table = _edited(saved.table, lambda t: t.pop("__metadata__"))
    _refused(saved.write(table), "not written by chainrule")


def test_a_header_larger_than_the_limit_is_not_read(saved, monkeypatch):
    from chainrule import serialization

    path = saved.with_meta(notes=json.dumps("x" * 5000))
    monkeypatch.setattr(serialization, "MAX_HEADER_BYTES", 4096)
    _refused(path, "headers of at most 4096 bytes")
    with pytest.raises(SerializationError, match="more than the 4096 bytes chainrule reads back"):
        cr.save(saved.model, path.parent / "big.safetensors", metadata={"notes": "x" * 5000})


def test_configs_that_ask_for_too_much_work(saved):
    _refused(saved.with_meta(kind="MLP", config=json.dumps({"in_features": 3, "hidden": [1] * 200_000})),
             "asks for more than 72 parameter arrays, but the file holds 2 tensors", peak_mb=64)
    layers = [{"kind": "ReLU", "config": {}}] * 20_000
    _refused(saved.with_meta(kind="Sequential", config=json.dumps({"layers": layers})),
             "more than 1000 modules", peak_mb=64)
    spec = {"kind": "ReLU", "config": {}}
    for _ in range(30):  # containers nested 30 deep: 120 levels of JSON
        spec = {"kind": "Sequential", "config": {"layers": [spec]}}
    _refused(saved.with_meta(kind="Sequential", config=json.dumps(spec["config"])), "nests JSON more than 64")


def test_paths_that_are_not_files(tmp_path):
    import os

    _refused(tmp_path, "is a folder, not a model file")
    if os.path.exists("/dev/zero"):
        _refused("/dev/zero", "not a regular file")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")  # opening a pipe must not block
        _refused(tmp_path / "fifo", "not a regular file")
    _refused(tmp_path / "missing.safetensors", "no such file")
    with pytest.raises(SerializationError, match="is a folder"):
        read_file(tmp_path)


def test_read_metadata_reads_the_header_alone(saved):
    meta = read_metadata(saved.path)
    assert meta["format"] == "chainrule" and meta["kind"] == "LinearRegression"
    assert json.loads(meta["feature_names"]) == ["a", "b", "c"]
    with pytest.raises(SerializationError, match="truncated"):
        read_metadata(saved.write(data=saved.data[:-1]))


def test_save_refuses_metadata_that_load_would_refuse(tmp_path):
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(SerializationError, match="'notes' nests 101 levels"):
        cr.save(nn.LinearRegression(2, rng=0), tmp_path / "m.safetensors", metadata={"notes": deep})
    assert not (tmp_path / "m.safetensors").exists()


def test_the_json_depth_scan_agrees_with_a_parser():
    from hypothesis import given
    from hypothesis import strategies as hs

    from chainrule.serialization import MAX_JSON_DEPTH, _json_depth

    def depth(value):
        if isinstance(value, list):
            return 1 + max((depth(v) for v in value), default=0)
        if isinstance(value, dict):
            return 1 + max((depth(v) for v in value.values()), default=0)
        return 0

    tricky = hs.text(alphabet='[]{}"\\, ab\u00e9', max_size=8)
    leaves = hs.none() | hs.integers() | tricky

    @given(hs.integers(MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH + 3), hs.lists(tricky | leaves, max_size=4), tricky)
    def check(levels, siblings, key):
        value = "leaf"
        for i in range(levels):
            value = [*siblings, value] if i % 2 else {key: value, **{f"k{j}": s for j, s in enumerate(siblings)}}
        text = json.dumps(value, ensure_ascii=bool(levels % 3))
        assert (_json_depth(text) > MAX_JSON_DEPTH) == (depth(value) > MAX_JSON_DEPTH)

    check()


def test_the_skeleton_costs_no_memory():
    import tracemalloc

    tracemalloc.start()
    try:
        with nn.init.skeleton() as made:
            model = nn.MLP(10**6, [10**6, 10**5], 10**4, dropout=0.1, init="kaiming_normal", rng=0)
            regression = nn.LinearRegression(10**9)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20 and made.count == 2 * 3 + 2 * 3 + 2
    assert [tuple(p.shape) for p in model.parameters()] == [(10**6, 10**6), (10**6,), (10**5, 10**6), (10**5,),
                                                            (10**4, 10**5), (10**4,)]
    assert regression.weight.shape == (1, 10**9) and regression.weight.data.strides == (0, 0)
    assert nn.Linear(2, 2, rng=0).weight.data.strides != (0, 0)  # outside the block: real arrays
    with pytest.raises(Exception, match="more than 3 parameter arrays"), nn.init.skeleton(max_arrays=3):
        nn.MLP(2, [2], 2)
    with pytest.raises(TypeError, match="holds integers"), nn.init.skeleton():
        nn.LinearRegression(2.5)


# -- saving: atomically, through write_atomically --------------------------------------------------------

def test_a_failed_save_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    import safetensors.numpy

    path = tmp_path / "m.safetensors"
    old = nn.LinearRegression(3, rng=0)
    cr.save(old, path)
    before = path.read_bytes()

    def half_then_fail(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(before[: len(before) // 2])
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(safetensors.numpy, "save_file", half_then_fail)
    with pytest.raises(SerializationError, match="disk full"):
        cr.save(nn.LinearRegression(3, rng=1), path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
    with pytest.raises(SerializationError, match="is a folder"):
        cr.save(old, tmp_path)


@pytest.mark.skipif(__import__("os").name == "nt", reason="POSIX permissions and symbolic links")
def test_save_keeps_permissions_and_writes_through_a_link(tmp_path):
    import os
    import stat

    target = tmp_path / "real.safetensors"
    umask = os.umask(0o022)
    try:
        cr.save(nn.LinearRegression(2, rng=0), target)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # as open() makes files (safetensors alone: 0600)
    os.chmod(target, 0o640)
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    new = nn.LinearRegression(2, rng=5)
    cr.save(new, link)
    assert link.is_symlink() and stat.S_IMODE(target.stat().st_mode) == 0o640
    np.testing.assert_array_equal(cr.load(target).theta, new.theta)


_SAVE_FOREVER = """
import sys
import chainrule as cr
from chainrule import nn
path, n = sys.argv[1], int(sys.argv[2])
models = [nn.LinearRegression(n, rng=0), nn.LinearRegression(n, rng=1)]
i = 0
while True:
    cr.save(models[i % 2], path, metadata={"round": i})
    i += 1
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGKILL"), reason="needs POSIX signals")
def test_a_save_killed_midway_leaves_the_previous_file_whole(tmp_path, capsys):
    """A process saving a 32 MB model again and again is killed (SIGKILL) in the middle of a save:
    the file it was replacing must still load, whole and equal to one complete save."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    n = 4_000_000  # 32 MB of float64 weights
    path = tmp_path / "big.safetensors"
    expected = [nn.LinearRegression(n, rng=0).weight.data, nn.LinearRegression(n, rng=1).weight.data]
    cr.save(nn.LinearRegression(n, rng=1), path, metadata={"round": -1})
    chance = random.Random(20240611)
    mid_save, kills = 0, []
    for attempt in range(5):
        before = set(tmp_path.iterdir())
        child = subprocess.Popen([sys.executable, "-c", _SAVE_FOREVER, str(path), str(n)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not [p for p in set(tmp_path.iterdir()) - before if p.name.endswith(".tmp")]:
                assert child.poll() is None, child.stderr.read().decode()
                assert time.monotonic() < deadline, "the child never started a save"
                time.sleep(0.0005)
            for _ in range(attempt):  # later attempts: let a few saves complete first
                time.sleep(chance.uniform(0.05, 0.3))
            delay = chance.uniform(0.0, 0.02)
            time.sleep(delay)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
            child.stderr.close()
        leftovers = [p for p in set(tmp_path.iterdir()) - before if p.name.startswith(".")]
        mid_save += bool(leftovers)  # a hidden temporary file left behind: killed in the middle of a save
        loaded = cr.load(path)  # whole: every check of load passes
        rnd = loaded.metadata["round"]
        np.testing.assert_array_equal(loaded.weight.data, expected[rnd % 2])  # tensors and metadata of one save
        kills.append(f"kill {attempt + 1} (+{delay * 1e3:.0f} ms): {'mid-save' if leftovers else 'between saves'}, "
                     f"file intact from save round {rnd}")
        # nothing but hidden temporary files (chainrule's ".big.safetensors.*.tmp", safetensors' ".tmp*")
        assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["big.safetensors"]
    with capsys.disabled():
        print("\n" + "\n".join(kills))
    assert mid_save >= 1, "no kill landed in the middle of a save"
