"""chainrule.save / chainrule.load: safetensors files with metadata, a model registry, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import MissingDependencyError, SerializationError
from chainrule.serialization import MODEL_REGISTRY, build_module, module_spec, read_file, register_model


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
