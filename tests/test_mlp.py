"""Multi-layer networks: activations, Dropout, Sequential / MLP, classification losses, training targets."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data.classification import load_digits, make_moons
from chainrule.errors import ShapeError
from chainrule.train.classifier import train_classifier

TORCH_ACT = {
    "relu": lambda t: t.nn.ReLU(),
    "tanh": lambda t: t.nn.Tanh(),
    "sigmoid": lambda t: t.nn.Sigmoid(),
    "leaky_relu": lambda t: t.nn.LeakyReLU(),
    "softplus": lambda t: t.nn.Softplus(),
    "gelu": lambda t: t.nn.GELU(),
    "gelu_tanh": lambda t: t.nn.GELU(approximate="tanh"),
    "identity": lambda t: t.nn.Identity(),
}


def torch_twin(torch, model: nn.MLP):
    """The torch.nn.Sequential with the same layers, loaded from the chainrule model's state dict."""
    layers = []
    for m in model:
        if isinstance(m, nn.Linear):
            layers.append(torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None))
        elif isinstance(m, nn.Dropout):
            layers.append(torch.nn.Dropout(m.p))
        else:
            layers.append(TORCH_ACT[model.activation](torch))
    twin = torch.nn.Sequential(*layers).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    return twin


# -- activations ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TORCH_ACT))
def test_activation_modules_match_torch(torch, rng, name):
    x = np.concatenate([rng.standard_normal(200) * 5, [0.0, 25.0, -25.0, 19.9, 20.1]])
    up = rng.standard_normal(x.shape)
    xt = cr.tensor(x, requires_grad=True)
    y = nn.activation(name)(xt)
    y.backward(up)
    ref = torch.tensor(x, requires_grad=True)
    ry = TORCH_ACT[name](torch)(ref)
    ry.backward(torch.tensor(up))
    assert np.max(np.abs(y.data - ry.detach().numpy())) < 1e-12
    assert np.max(np.abs(xt.grad - ref.grad.numpy())) < 1e-12


def test_activation_by_name_and_errors():
    assert isinstance(nn.activation("ReLU"), nn.ReLU)
    assert isinstance(nn.activation("leaky-relu"), nn.LeakyReLU)
    assert nn.activation("gelu_tanh").approximate == "tanh"
    assert isinstance(nn.activation("linear"), nn.Identity)
    relu = nn.ReLU()
    assert nn.activation(relu) is relu
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        nn.activation("swish")
    assert nn.LeakyReLU(0.2).config() == {"negative_slope": 0.2}


def test_softplus_threshold_and_beta(torch, rng):
    x = rng.standard_normal(50) * 10
    for beta, threshold in ((2.0, 20.0), (1.0, None), (0.5, 5.0)):
        ours = nn.Softplus(beta, threshold)(cr.tensor(x)).data
        theirs = torch.nn.functional.softplus(torch.tensor(x), beta=beta,
                                              threshold=threshold if threshold is not None else 1e9).numpy()
        assert np.max(np.abs(ours - theirs)) < 1e-12


def test_gelu_function_and_float32(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    assert nn.gelu(x).dtype == np.float32
    assert nn.GELU("tanh")(cr.tensor(x)).dtype == np.float32


# -- Dropout --------------------------------------------------------------------------------------------


def test_dropout_only_in_training_and_seeded(rng):
    x = cr.tensor(np.ones((50, 40)), requires_grad=True)
    d = nn.Dropout(0.3, rng=5)
    y = d(x)
    kept = y.data != 0
    assert abs(1 - kept.mean() - 0.3) < 0.03
    np.testing.assert_allclose(y.data[kept], 1 / 0.7)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, kept / 0.7)
    np.testing.assert_array_equal(nn.Dropout(0.3, rng=5)(x).data, y.data)  # the same seed, the same mask
    assert not np.array_equal(d(x).data, y.data)  # the next draw differs
    d.eval()
    assert d(x) is x
    with pytest.raises(ValueError, match="p must be"):
        nn.Dropout(1.0)


# -- Sequential and MLP ------------------------------------------------------------------------------


def test_mlp_layers_and_names_match_torch_sequential():
    m = nn.MLP(4, [8, 6], 3, activation="tanh", rng=0)
    assert [type(x).__name__ for x in m] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert [(k, v.shape) for k, v in m.state_dict().items()] == [
        ("0.weight", (8, 4)), ("0.bias", (8,)), ("2.weight", (6, 8)), ("2.bias", (6,)),
        ("4.weight", (3, 6)), ("4.bias", (3,))]
    d = nn.MLP(4, [8, 6], 3, dropout=0.5, rng=0)
    assert [k for k in d.state_dict()] == ["0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"]
    assert m.num_parameters() == 8 * 4 + 8 + 6 * 8 + 6 + 3 * 6 + 3
    assert len(m) == 5 and isinstance(m[-1], nn.Linear) and isinstance(m[1:3], nn.Sequential)
    assert "4 → 8 → 6 → 3" in repr(m)
    assert nn.MLP(3, [], 2, rng=0).state_dict().keys() == {"0.weight", "0.bias"}
    with pytest.raises(ShapeError, match="positive"):
        nn.MLP(3, [0], 2)


def test_sequential_with_names_and_append():
    from collections import OrderedDict

    s = nn.Sequential(OrderedDict([("hidden", nn.Linear(3, 4, rng=0)), ("act", nn.ReLU()),
                                   ("out", nn.Linear(4, 2, rng=1))]))
    assert list(s.state_dict()) == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    s2 = nn.Sequential(nn.Linear(3, 4, rng=0)).append(nn.Tanh())
    assert len(s2) == 2 and s2(np.ones((2, 3))).shape == (2, 4)


def test_default_init_is_pytorch_kaiming_uniform_a_sqrt5():
    m = nn.MLP(400, [300], 10, rng=0)
    w, b = m[0].weight.data, m[0].bias.data
    bound = 1 / math.sqrt(400)  # gain √(2/(1+5)) · √(3/fan_in) = 1/√fan_in
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound  # U(−a, a) has std a/√3
    assert np.abs(b).max() <= bound
    assert np.array_equal(nn.MLP(400, [300], 10, rng=0)[0].weight.data, w)


def test_init_override_through_chainrule_nn_init():
    m = nn.MLP(200, [100], 5, init="kaiming_normal", rng=0)
    assert abs(m[0].weight.data.std() - math.sqrt(2 / 200)) < 0.05 * math.sqrt(2 / 200)
    assert np.all(m[0].bias.data == 0)
    x = nn.MLP(200, [100], 5, activation="tanh", init="xavier_uniform", rng=0)
    assert abs(x[0].weight.data.std() - 5 / 3 * math.sqrt(2 / 300)) < 0.05 * math.sqrt(2 / 300) * 5 / 3
    with pytest.raises(ValueError, match="unknown init"):
        nn.MLP(2, [2], 2, init="magic")


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "sigmoid", "leaky_relu", "softplus"])
def test_three_layer_mlp_loss_and_gradients_equal_torch(torch, rng, activation):
    """The target: a 3-layer MLP with cross-entropy, loss and every parameter gradient to 1e-10 (float64)."""
    model = nn.MLP(6, [9, 7], 4, activation=activation, rng=3)
    X = rng.standard_normal((20, 6)) * 2
    y = rng.integers(0, 4, 20)
    loss = nn.CrossEntropyLoss()(model(X), y)
    loss.backward()
    twin = torch_twin(torch, model)
    ref = torch.nn.CrossEntropyLoss()(twin(torch.tensor(X)), torch.tensor(y))
    ref.backward()
    assert abs(loss.item() - ref.item()) < 1e-10
    theirs = dict(twin.named_parameters())
    worst = max(float(np.max(np.abs(p.grad - theirs[n].grad.numpy()))) for n, p in model.named_parameters())
    assert worst < 1e-10
    assert len(theirs) == 6


def test_mlp_gradcheck_through_parameters(rng):
    model = nn.MLP(3, [4, 4], 3, activation="tanh", rng=0)
    X, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    params = list(model.parameters())

    def loss(*ps):
        return nn.CrossEntropyLoss(label_smoothing=0.1)(model(X), y)

    assert cr.gradcheck(loss, params, atol=1e-7, rtol=1e-6)


def test_float32_stays_float32_end_to_end(rng):
    model = nn.MLP(5, [8], 3, activation="gelu", dtype="float32", rng=0)
    X = rng.standard_normal((10, 5)).astype(np.float32)
    out = model(X)
    loss = nn.CrossEntropyLoss(label_smoothing=0.1)(out, rng.integers(0, 3, 10))
    assert out.dtype == np.float32 and loss.dtype == np.float32
    loss.backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    opt = optim.Adam(model.parameters(), lr=1e-2)
    opt.step()
    assert all(p.dtype == np.float32 for p in model.parameters())


# -- losses ------------------------------------------------------------------------------------------------


def test_cross_entropy_module_matches_torch(torch, rng):
    z = rng.standard_normal((6, 4))
    p = rng.random((6, 4))
    p /= p.sum(axis=1, keepdims=True)
    for target in (rng.integers(0, 4, 6), p):
        for kw in ({}, {"label_smoothing": 0.2}, {"reduction": "sum"}):
            zt = cr.tensor(z, requires_grad=True)
            nn.CrossEntropyLoss(**kw)(zt, target).backward()
            ref = torch.tensor(z, requires_grad=True)
            torch.nn.CrossEntropyLoss(**kw)(ref, torch.tensor(target)).backward()
            assert np.max(np.abs(zt.grad - ref.grad.numpy())) < 1e-12
    assert nn.CrossEntropyLoss(label_smoothing=0.1).config() == {
        "reduction": "mean", "label_smoothing": 0.1, "ignore_index": -100}


@pytest.mark.parametrize("pos_weight", [None, [2.0, 0.5, 1.0]])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_matches_torch(torch, rng, pos_weight, reduction):
    x = np.concatenate([rng.standard_normal((5, 3)) * 4, [[800.0, -800.0, 0.0]]])
    t = rng.random((6, 3))
    xt = cr.tensor(x, requires_grad=True)
    ours = nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=pos_weight)(xt, t)
    up = np.ones(()) if reduction != "none" else rng.standard_normal((6, 3))
    ours.backward(up)
    ref = torch.tensor(x, requires_grad=True)
    pw = None if pos_weight is None else torch.tensor(pos_weight)
    theirs = torch.nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=pw)(ref, torch.tensor(t))
    theirs.backward(torch.tensor(up))
    assert np.max(np.abs(ours.data - theirs.detach().numpy())) < 1e-12
    assert np.max(np.abs(xt.grad - ref.grad.numpy())) < 1e-12


def test_bce_gradcheck_and_shape_error(rng):
    t = rng.random(4)
    assert cr.gradcheck(lambda x: nn.BCEWithLogitsLoss()(x, t), [rng.standard_normal(4)])
    with pytest.raises(ShapeError, match="must match"):
        nn.BCEWithLogitsLoss()(np.zeros((4, 1)), np.zeros(4))


@pytest.mark.parametrize("delta", [1.0, 0.3])
def test_huber_matches_torch(torch, rng, delta):
    p, t = rng.standard_normal(30) * 2, rng.standard_normal(30)
    p[0], t[0] = 1.0 + delta, 1.0  # exactly at the kink
    pt = cr.tensor(p, requires_grad=True)
    nn.HuberLoss(delta=delta)(pt, t).backward()
    ref = torch.tensor(p, requires_grad=True)
    out = torch.nn.HuberLoss(delta=delta)(ref, torch.tensor(t))
    out.backward()
    assert abs(nn.HuberLoss(delta=delta)(p, t).item() - out.item()) < 1e-12
    assert np.max(np.abs(pt.grad - ref.grad.numpy())) < 1e-12
    with pytest.raises(ValueError, match="delta"):
        nn.HuberLoss(delta=0)


# -- training targets -------------------------------------------------------------------------------------


def test_two_moons_target():
    """Two moons, 1,000 points, noise 0.2: at least 0.96 test accuracy."""
    result = train_classifier(make_moons(1000, noise=0.2, rng=0), hidden=[32, 32], lr=1e-2, epochs=40,
                              batch_size=32, seed=0, test_size=0.25)
    assert result.n_test == 250
    assert result.test_accuracy >= 0.96
    assert len(result.history["test_accuracy"]) == len(result.history) == len(result.confusions)
    assert result.confusion.sum() == 250
    assert result.history.restored_best


@pytest.mark.slow
def test_digits_target():
    """Digits: MLP(64 → 64 → 10, relu), Adam, ≤ 50 epochs, stratified 25% hold-out: test accuracy ≥ 0.97.

    The held-out part is never used for choosing epochs (no keep-best on it).
    """
    result = train_classifier(load_digits(), hidden=[64], activation="relu", optimizer="adam", lr=3e-3,
                              epochs=30, batch_size=32, seed=0, test_size=0.25, label_smoothing=0.05,
                              restore_best=False, track_confusion=False)
    assert result.n_test == 450 and len(result.history) == 30
    assert result.test_accuracy >= 0.97
    assert result.train_accuracy >= 0.99


def test_same_seed_gives_bit_identical_weights():
    data = make_moons(300, noise=0.2, rng=1)
    a = train_classifier(data, hidden=[16, 16], dropout=0.1, epochs=5, seed=7, track_confusion=False)
    b = train_classifier(data, hidden=[16, 16], dropout=0.1, epochs=5, seed=7, track_confusion=False)
    c = train_classifier(data, hidden=[16, 16], dropout=0.1, epochs=5, seed=8, track_confusion=False)
    pa, pb, pc = (list(r.model.parameters()) for r in (a, b, c))
    assert all(np.array_equal(x.data, y.data) for x, y in zip(pa, pb))
    assert a.history.train_loss == b.history.train_loss
    assert not all(np.array_equal(x.data, y.data) for x, y in zip(pa, pc))


def test_early_stopping_validation_part_and_report():
    data = make_moons(400, noise=0.3, rng=2)
    r = train_classifier(data, hidden=[8], epochs=200, lr=0.05, tol=0.0, patience=3, val_size=0.2, seed=0,
                         track_confusion=False)
    assert r.history.stop_reason == "tolerance" and len(r.history) < 200
    assert r.n_val == 60 and r.n_train == 240 and r.n_test == 100
    assert r.history.best_epoch <= len(r.history) - 3
    text = r.report()
    assert "validation" in text and "confusion matrix (test" in text
    meta = r.metadata()
    assert meta["task"] == "classification" and meta["classes"] == ["0", "1"] and meta["n_val"] == 60
    assert r.predict(data.X[:5]).shape == (5,)
    np.testing.assert_allclose(r.predict_proba(data.X[:5]).sum(axis=1), 1.0)


def test_full_batch_gd_and_no_test_part():
    r = train_classifier(make_moons(200, rng=0), hidden=[8], optimizer="gd", epochs=20, test_size=0,
                         val_size=0, track_confusion=True)
    assert r.batch_size is None and r.n_test == 0 and math.isnan(r.test_accuracy)
    assert r.confusion.sum() == 200 and len(r.confusions) == 20
