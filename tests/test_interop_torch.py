"""Models PyTorch can load: ``chainrule.save`` writes the tensor names and layouts of ``torch.nn.Sequential``.

``torch_model.load_state_dict(safetensors.torch.load_file(path))`` must work, and both
models must then give the same outputs (float64, 1e-12); and the other way round.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

safetensors = pytest.importorskip("safetensors")


def torch_sequential(torch, sizes, activation, dropout=0.0):
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "gelu": torch.nn.GELU, "sigmoid": torch.nn.Sigmoid}
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act[activation]())
            if dropout:
                layers.append(torch.nn.Dropout(dropout))
    return torch.nn.Sequential(*layers).double()


@pytest.mark.parametrize("activation,dropout", [("relu", 0.0), ("tanh", 0.0), ("gelu", 0.2), ("sigmoid", 0.0)])
def test_torch_loads_a_saved_mlp_and_agrees(torch, tmp_path, rng, activation, dropout):
    from safetensors.torch import load_file

    model = nn.MLP(7, [16, 12], 5, activation=activation, dropout=dropout, rng=1)
    path = tmp_path / "mlp.safetensors"
    cr.save(model, path, metadata={"task": "classification", "classes": list("abcde")})
    twin = torch_sequential(torch, [7, 16, 12, 5], activation, dropout)
    result = twin.load_state_dict(load_file(str(path)))
    assert not result.missing_keys and not result.unexpected_keys
    twin.eval()
    model.eval()
    X = rng.standard_normal((50, 7)) * 3
    ours = model(X).data
    with torch.no_grad():
        theirs = twin(torch.tensor(X)).numpy()
    assert np.max(np.abs(ours - theirs)) <= 1e-12
    # the file's tensors are exactly PyTorch's names, shapes and dtype
    tensors = load_file(str(path))
    assert {k: tuple(v.shape) for k, v in tensors.items()} == {
        k: tuple(v.shape) for k, v in twin.state_dict().items()}
    assert all(v.dtype == torch.float64 for v in tensors.values())


def test_chainrule_loads_what_torch_saved(torch, tmp_path, rng):
    from safetensors.numpy import load_file as load_numpy
    from safetensors.torch import save_file

    twin = torch_sequential(torch, [4, 10, 3], "tanh")
    path = tmp_path / "from_torch.safetensors"
    save_file({k: v.contiguous() for k, v in twin.state_dict().items()}, str(path))
    model = nn.MLP(4, [10], 3, activation="tanh", rng=0)
    model.load_state_dict(load_numpy(str(path)))
    X = rng.standard_normal((20, 4))
    with torch.no_grad():
        theirs = twin(torch.tensor(X)).numpy()
    assert np.max(np.abs(model(X).data - theirs)) <= 1e-12


def test_round_trip_through_chainrule_load(tmp_path, rng):
    model = nn.MLP(3, [5, 5], 2, activation="gelu", dropout=0.1, rng=2)
    path = tmp_path / "m.safetensors"
    cr.save(model, path, metadata={"classes": ["no", "yes"]})
    checkpoint = cr.load(path, with_metadata=True)
    loaded = checkpoint.model
    assert isinstance(loaded, nn.MLP) and checkpoint.kind == "MLP"
    assert loaded.config() == model.config() and checkpoint.metadata["classes"] == ["no", "yes"]
    assert not loaded.training
    model.eval()
    X = rng.standard_normal((8, 3))
    np.testing.assert_array_equal(loaded(X).data, model(X).data)


def test_a_hand_built_sequential_round_trips(tmp_path, rng):
    seq = nn.Sequential(nn.Linear(3, 4, rng=0), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(4, 2, rng=1),
                        nn.Softplus(beta=2.0), nn.Identity())
    path = tmp_path / "seq.safetensors"
    cr.save(seq, path)
    loaded = cr.load(path)
    assert [type(m).__name__ for m in loaded] == ["Linear", "LeakyReLU", "Dropout", "Linear", "Softplus", "Identity"]
    assert loaded[1].negative_slope == 0.2 and loaded[2].p == 0.3 and loaded[4].beta == 2.0
    seq.eval()
    X = rng.standard_normal((6, 3))
    np.testing.assert_array_equal(loaded(X).data, seq(X).data)


def test_float32_model_saves_float32(torch, tmp_path):
    from safetensors.torch import load_file

    model = nn.MLP(3, [4], 2, dtype="float32", rng=0)
    path = tmp_path / "f32.safetensors"
    cr.save(model, path)
    assert all(v.dtype == torch.float32 for v in load_file(str(path)).values())
    loaded = cr.load(path)
    assert loaded.dtype == np.float32
