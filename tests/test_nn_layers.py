"""The layers of issue 20 built on the blocks: LayerNorm, BatchNorm1d/2d, Embedding, Flatten, against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

rng = np.random.default_rng(0)


def _torch_state(module, torch):
    return {k: torch.tensor(v) for k, v in module.state_dict().items()}


@pytest.mark.oracle
@pytest.mark.parametrize("shape, normalized", [((4, 6), 6), ((2, 3, 4), (3, 4))])
def test_layer_norm_matches_torch(shape, normalized, torch):
    ours = nn.LayerNorm(normalized)
    ours.weight.data[...] = rng.standard_normal(ours.weight.shape)
    ours.bias.data[...] = rng.standard_normal(ours.bias.shape)
    theirs = torch.nn.LayerNorm(normalized, dtype=torch.float64)
    theirs.load_state_dict(_torch_state(ours, torch))  # the same keys and shapes: loadable by PyTorch
    x = rng.standard_normal(shape)
    t, tt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = ours(t), theirs(tt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    u = rng.standard_normal(shape)
    y.backward(u)
    yt.backward(torch.tensor(u))
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert cr.gradcheck(lambda a: nn.LayerNorm(normalized)(a), [x])


@pytest.mark.oracle
@pytest.mark.parametrize("cls, shape", [("BatchNorm1d", (8, 3)), ("BatchNorm1d", (5, 3, 4)),
                                        ("BatchNorm2d", (4, 3, 2, 5))])
def test_batch_norm_matches_torch_in_training_and_evaluation(cls, shape, torch):
    ours = getattr(nn, cls)(3, momentum=0.2)
    theirs = getattr(torch.nn, cls)(3, momentum=0.2, dtype=torch.float64)
    ours.weight.data[...] = rng.standard_normal(3)
    theirs.load_state_dict(_torch_state(ours, torch))
    for step in range(3):
        x = rng.standard_normal(shape) * (step + 1) + step
        t, tt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, yt = ours(t), theirs(tt)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
        (y * cr.tensor(np.arange(y.size).reshape(y.shape) % 5)).sum().backward()
        (yt * torch.tensor(np.arange(y.size).reshape(y.shape) % 5)).sum().backward()
        np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-9, atol=1e-12)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-12, err_msg=key)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(ours(x).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.oracle
def test_embedding_matches_torch_and_sums_repeated_rows(torch):
    ours = nn.Embedding(6, 3, padding_idx=2, rng=0)
    theirs = torch.nn.Embedding(6, 3, padding_idx=2, dtype=torch.float64)
    theirs.load_state_dict(_torch_state(ours, torch))
    idx = np.array([[0, 2, 5], [5, 5, 1]])
    y, yt = ours(idx), theirs(torch.tensor(idx))
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    u = rng.standard_normal(y.shape)
    y.backward(u)
    yt.backward(torch.tensor(u))
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12)
    assert np.all(ours.weight.grad[2] == 0)
    with pytest.raises(cr.ShapeError, match="outside the table"):
        ours(np.array([6]))


def test_flatten_and_saving_the_layers(tmp_path):
    x = rng.standard_normal((2, 3, 4))
    assert nn.Flatten()(x).shape == (2, 12) and nn.Flatten(0, 1)(x).shape == (6, 4)
    model = nn.Sequential(nn.Flatten(), nn.LayerNorm(12), nn.Linear(12, 4, rng=0), nn.BatchNorm1d(4))
    model(x)
    cr.save(model, tmp_path / "m.safetensors")
    again = cr.load(tmp_path / "m.safetensors")
    again.eval()
    model.eval()
    np.testing.assert_allclose(again(x).numpy(), model(x).numpy())


def test_layers_are_twice_differentiable():
    x = rng.standard_normal((4, 3))
    assert cr.gradgradcheck(lambda a: nn.LayerNorm(3)(a), [x])
    assert cr.gradgradcheck(lambda a: nn.BatchNorm1d(3)(a), [x])


@pytest.mark.oracle
@pytest.mark.parametrize("options", [
    {}, {"stride": 2}, {"padding": 1}, {"dilation": 2}, {"groups": 2}, {"stride": (2, 1), "padding": (1, 2)},
    {"bias": False},
])
def test_conv2d_matches_torch(options, torch):
    ours = nn.Conv2d(4, 6, 3, rng=1, **options)
    theirs = torch.nn.Conv2d(4, 6, 3, dtype=torch.float64, **options)
    theirs.load_state_dict(_torch_state(ours, torch))
    x = rng.standard_normal((2, 4, 7, 6))
    t, tt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = ours(t), theirs(tt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    u = rng.standard_normal(y.shape)
    y.backward(u)
    yt.backward(torch.tensor(u))
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.oracle
def test_conv1d_and_pools_match_torch(torch):
    ours = nn.Conv1d(3, 4, 3, stride=2, padding=1, rng=2)
    theirs = torch.nn.Conv1d(3, 4, 3, stride=2, padding=1, dtype=torch.float64)
    theirs.load_state_dict(_torch_state(ours, torch))
    x = rng.standard_normal((2, 3, 9))
    np.testing.assert_allclose(ours(x).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
    img = rng.standard_normal((2, 3, 6, 5))
    for ours_pool, theirs_pool in [(nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
                                   (nn.MaxPool2d(3, stride=1, padding=1), torch.nn.MaxPool2d(3, stride=1, padding=1)),
                                   (nn.AvgPool2d(2, padding=1), torch.nn.AvgPool2d(2, padding=1))]:
        t, tt = cr.tensor(img, requires_grad=True), torch.tensor(img, requires_grad=True)
        y, yt = ours_pool(t), theirs_pool(tt)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12)
        y.sum().backward()
        yt.sum().backward()
        np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-12)


def test_conv_is_twice_differentiable_and_saves(tmp_path):
    x = rng.standard_normal((1, 2, 4, 4))
    conv = nn.Conv2d(2, 2, 2, stride=1, padding=1, groups=2, rng=0)
    assert cr.gradgradcheck(lambda a: (conv(a) ** 2).sum(), [x])
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(12, 2, rng=0))
    assert model(x).shape == (1, 2)
    cr.save(model, tmp_path / "cnn.safetensors")
    np.testing.assert_allclose(cr.load(tmp_path / "cnn.safetensors")(x).numpy(), model(x).numpy())
    with pytest.raises(cr.ShapeError, match="smaller than the kernel"):
        nn.Conv2d(2, 2, 5)(x)


# -- the layers on hypothesis shapes: values and gradients as PyTorch's, gradcheck in float64 ----------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

sweep = settings(max_examples=25, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@st.composite
def conv_geometry(draw):
    """A Conv2d and an input it fits: batch 0 to 2, channels divisible by groups, any stride, padding and
    dilation (size-1 sides included)."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 1)))
    size = tuple(max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 3))
                 for k, d, p in zip(kernel, dilation, padding))
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
               "bias": draw(st.booleans())}
    return (draw(st.integers(0, 2)), c_in, *size), c_out, kernel, options


def _compare(ours, theirs, x, torch, rtol=1e-9):
    """Forward values, the input's gradient and every parameter's gradient, ours against PyTorch's."""
    t, tt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = ours(t), theirs(tt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=rtol, atol=1e-12)
    u = np.random.default_rng(x.size).standard_normal(y.shape)
    y.backward(u)
    yt.backward(torch.tensor(u))
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=rtol, atol=1e-12)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, theirs_params[name].grad.numpy(), rtol=rtol, atol=1e-12, err_msg=name)


@pytest.mark.oracle
@sweep
@given(geometry=conv_geometry())
def test_conv2d_on_any_geometry_matches_torch_and_gradchecks(geometry, torch):
    shape, c_out, kernel, options = geometry
    ours = nn.Conv2d(shape[1], c_out, kernel, rng=0, **options)
    theirs = torch.nn.Conv2d(shape[1], c_out, kernel, dtype=torch.float64, **options)
    theirs.load_state_dict(_torch_state(ours, torch))
    x = np.random.default_rng(1).standard_normal(shape)
    _compare(ours, theirs, x, torch)
    if shape[0]:
        assert cr.gradcheck(lambda a: (ours(a) ** 2).sum(), [x[:1]])


@pytest.mark.oracle
@sweep
@given(kind=st.sampled_from(["max", "avg"]), kernel=st.integers(1, 3), stride=st.integers(1, 3),
       padding=st.integers(0, 1), batch=st.integers(0, 2), h=st.integers(3, 6), w=st.integers(3, 6))
def test_pools_on_any_geometry_match_torch(kind, kernel, stride, padding, batch, h, w, torch):
    padding = min(padding, kernel // 2)
    ours = (nn.MaxPool2d if kind == "max" else nn.AvgPool2d)(kernel, stride=stride, padding=padding)
    theirs = (torch.nn.MaxPool2d if kind == "max" else torch.nn.AvgPool2d)(kernel, stride=stride, padding=padding)
    x = np.random.default_rng(2).standard_normal((batch, 2, h, w))  # distinct values: no tied maxima
    _compare(ours, theirs, x, torch, rtol=1e-12)
    if batch:
        assert cr.gradcheck(lambda a: (ours(a) ** 2).sum(), [x[:1]])


@pytest.mark.oracle
@sweep
@given(batch=st.integers(0, 2), c_in=st.integers(1, 3), c_out=st.integers(1, 3), kernel=st.integers(1, 3),
       stride=st.integers(1, 2), padding=st.integers(0, 2), dilation=st.integers(1, 2), extra=st.integers(0, 3))
def test_conv1d_on_any_geometry_matches_torch_and_gradchecks(batch, c_in, c_out, kernel, stride, padding,
                                                             dilation, extra, torch):
    length = max(1, dilation * (kernel - 1) + 1 - 2 * padding) + extra
    ours = nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation, rng=0)
    theirs = torch.nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation,
                             dtype=torch.float64)
    theirs.load_state_dict(_torch_state(ours, torch))
    x = np.random.default_rng(6).standard_normal((batch, c_in, length))
    _compare(ours, theirs, x, torch)
    if batch:
        assert cr.gradcheck(lambda a: (ours(a) ** 2).sum(), [x[:1]])


@pytest.mark.oracle
@sweep
@given(rows=st.integers(1, 6), dim=st.integers(1, 4), index_shape=st.sampled_from([(0,), (5,), (2, 3), (1, 1)]),
       padding=st.booleans())
def test_embedding_on_any_indices_matches_torch(rows, dim, index_shape, padding, torch):
    ours = nn.Embedding(rows, dim, padding_idx=0 if padding else None, rng=0)
    theirs = torch.nn.Embedding(rows, dim, padding_idx=0 if padding else None, dtype=torch.float64)
    theirs.load_state_dict(_torch_state(ours, torch))
    index = np.random.default_rng(7).integers(0, rows, index_shape)  # repeats: their gradients summed
    y, yt = ours(index), theirs(torch.tensor(index))
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    u = np.random.default_rng(8).standard_normal(y.shape)
    y.backward(u)
    yt.backward(torch.tensor(u))
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.oracle
@sweep
@given(shape=st.sampled_from([(1, 3), (4, 1), (3, 2, 5), (2, 1, 1), (0, 4)]), affine=st.booleans())
def test_layer_norm_on_any_shape_matches_torch(shape, affine, torch):
    ours = nn.LayerNorm(shape[-1], elementwise_affine=affine)
    theirs = torch.nn.LayerNorm(shape[-1], elementwise_affine=affine, dtype=torch.float64)
    x = np.random.default_rng(3).standard_normal(shape) * 3 + 1
    _compare(ours, theirs, x, torch)
    if x.size:
        assert cr.gradcheck(lambda a: (ours(a) ** 2 * np.arange(a.shape[-1])).sum(), [x])


@pytest.mark.oracle
@sweep
@given(spatial=st.booleans(), batch=st.integers(2, 4), channels=st.integers(1, 3), side=st.integers(1, 3),
       training=st.booleans())
def test_batch_norm_on_any_shape_matches_torch(spatial, batch, channels, side, training, torch):
    shape = (batch, channels, side, side) if spatial else (batch, channels)
    ours = (nn.BatchNorm2d if spatial else nn.BatchNorm1d)(channels)
    theirs = (torch.nn.BatchNorm2d if spatial else torch.nn.BatchNorm1d)(channels, dtype=torch.float64)
    if not training:
        ours.eval()
        theirs.eval()
    x = np.random.default_rng(4).standard_normal(shape) * 2 - 1
    _compare(ours, theirs, x, torch)
    np.testing.assert_allclose(ours.running_mean.numpy() if hasattr(ours.running_mean, "numpy")
                               else ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    weights = np.arange(x.size).reshape(x.shape)  # a loss that is not a function of the sum alone
    assert cr.gradcheck(lambda a: (ours(a) * weights).sum() + (ours(a) ** 2).sum(), [x])


# -- ConvNet: the classifier of chainrule train cnn ----------------------------------------------------------


@pytest.mark.oracle
def test_convnet_is_pytorchs_sequential_and_reads_rows_of_pixels(torch, tmp_path):
    model = nn.ConvNet((1, 8, 8), [4, 6], 3, hidden=[5], rng=0)
    theirs = torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 8, 8)), torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(24, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)).double()
    theirs.load_state_dict(_torch_state(model, torch))  # strict: the same keys and shapes
    x = np.random.default_rng(5).standard_normal((7, 64))
    _compare(model, theirs, x, torch)
    cr.save(model, tmp_path / "convnet.safetensors")
    again = cr.load(tmp_path / "convnet.safetensors")
    assert isinstance(again, nn.ConvNet) and again.config() == model.config()
    np.testing.assert_array_equal(again(x).numpy(), model(x).numpy())


def test_convnet_and_unflatten_refuse_bad_sizes():
    with pytest.raises(cr.errors.ConfigError, match="kernel_size must be odd"):
        nn.ConvNet((1, 8, 8), [4], 3, kernel_size=2)
    with pytest.raises(cr.ShapeError, match="image_shape must be"):
        nn.ConvNet((8, 8), [4], 3)
    with pytest.raises(cr.ShapeError, match="one convolution or more"):
        nn.ConvNet((1, 8, 8), [], 3)
    with pytest.raises(cr.ShapeError, match="has 10 elements, cannot be"):
        nn.Unflatten(1, (1, 3, 3))(np.zeros((2, 10)))
    assert nn.Unflatten(-1, (2, 5))(np.zeros((3, 10))).shape == (3, 2, 5)
    # a 1×1 image is never pooled; a 3×3 one is pooled once, to 1×1
    assert nn.ConvNet((2, 1, 1), [3, 3], 4, rng=0)(np.zeros((2, 2))).shape == (2, 4)
    assert nn.ConvNet((1, 3, 3), [2, 2], 4, rng=0)[-1].in_features == 2
