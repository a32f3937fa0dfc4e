"""The issue's targets for the lecture's linear regression, with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import data, nn
from chainrule.errors import ConfigError, DataError
from chainrule.train import auto_lr, train_linreg


@pytest.fixture(scope="module")
def diabetes_gd():
    return train_linreg(data.load_diabetes(), optimizer="gd", lr="auto", epochs=5000, seed=0)


def test_diabetes_full_batch_gd_reaches_the_closed_form(diabetes_gd):
    r = diabetes_gd
    assert r.n_train == 353 and r.n_test == 89 and r.standardizer is not None
    assert r.loss_gap <= 1e-6  # loss within 1e-6 relative of the closed-form optimum
    assert r.theta_error <= 1e-4  # θ within 1e-4 relative of least squares
    assert r.optimum_loss == pytest.approx(1004541.6, rel=1e-7)
    assert r.train_loss >= r.optimum_loss * (1 - 1e-12)  # nothing beats least squares
    # the history is monotone: lr = 1/λmax makes every step a descent step
    assert np.all(np.diff(r.history.train_loss) <= 1e-9 * r.history.train_loss[0])
    assert r.history.gap[0] > 1 and r.history.gap[-1] <= 1e-6


def test_diabetes_closed_form_is_least_squares_on_standardised_training_data(diabetes_gd):
    r = diabetes_gd
    tr, _ = data.train_test_split(data.load_diabetes(), test_size=0.2, rng=0)
    Z = (tr.X - tr.X.mean(0)) / tr.X.std(0)
    expected = np.linalg.lstsq(np.c_[Z, np.ones(len(Z))], tr.Y, rcond=None)[0]
    np.testing.assert_allclose(r.closed_form.theta, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(r.standardizer.mean, tr.X.mean(0))


def test_report_states_the_gap_and_theta(diabetes_gd):
    text = diabetes_gd.report()
    assert "gap to the closed form: loss" in text and "θ" in text and "(intercept)" in text
    assert "353 training and 89 test objects" in text and "bmi" in text
    meta = diabetes_gd.metadata()
    assert meta["task"] == "regression" and meta["feature_names"][2] == "bmi"
    assert len(meta["standardizer"]["mean"]) == 10 and meta["train"]["loss_gap"] <= 1e-6
    raw = data.load_diabetes().X[:3]
    expected = diabetes_gd.closed_form(diabetes_gd.standardizer.transform(raw)).data
    np.testing.assert_allclose(diabetes_gd.predict(raw), expected, rtol=1e-4)


def test_auto_lr_is_one_over_the_largest_hessian_eigenvalue():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)) * [1.0, 3.0, 0.1]
    A = np.c_[X, np.ones(40)]
    lam = np.linalg.eigvalsh(2 * A.T @ A)[-1]
    assert auto_lr(X) == pytest.approx(1 / lam)
    assert auto_lr(X, reduction="mean") == pytest.approx(40 / lam)
    single = auto_lr(X, batch_size=1)
    assert single == pytest.approx(1 / (2 * np.max(np.sum(A * A, axis=1))))


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
def test_stochastic_optimizers_with_a_cosine_schedule_get_close(optimizer):
    ds = data.make_linear(n_samples=400, n_features=4, noise=0.5, rng=1)
    r = train_linreg(ds, optimizer=optimizer, epochs=100, batch_size=20, seed=1, schedule="cosine")
    assert r.history.stop_reason == "epochs"
    assert 0 <= r.loss_gap <= 1e-5, r.report()


def test_constant_step_sgd_stalls_at_a_noise_floor():
    """The lecture's first point: the mini-batch gradient shivers, so a constant step never settles."""
    ds = data.make_linear(n_samples=400, n_features=4, noise=0.5, rng=1)
    sgd = train_linreg(ds, optimizer="sgd", epochs=100, batch_size=20, seed=1)
    gd = train_linreg(ds, optimizer="gd", epochs=300, seed=1)
    assert sgd.loss_gap > 1e-5 > 1e-9 > gd.loss_gap


def test_synthetic_recovers_the_true_theta():
    ds = data.make_linear(n_samples=2000, n_features=3, noise=0.1, bias=1.5, rng=2)
    r = train_linreg(ds, optimizer="gd", epochs=300, seed=2, standardize=False, test_size=0.25)
    np.testing.assert_allclose(r.model.theta[:3], ds.info["true_weight"], atol=0.01)
    assert r.model.theta[3] == pytest.approx(1.5, abs=0.01)
    assert r.train_loss / r.n_train == pytest.approx(0.01, rel=0.1)  # the noise variance


def test_mse_loss_and_float32():
    ds = data.make_linear(n_samples=300, n_features=2, noise=0.2, rng=3)
    r = train_linreg(ds, loss="mse", epochs=200, seed=3, dtype=np.float32)
    assert r.model.dtype == np.float32 and r.loss_name == "MSE"
    assert r.loss_gap <= 1e-5
    assert isinstance(r.model, nn.LinearRegression)


# -- arguments checked before any work; data that cannot be trained on ----------------------------------


def _small():
    return data.make_linear(30, 2, rng=0)


@pytest.mark.parametrize("kwargs, text", [
    (dict(lr=float("nan")), "lr must be"), (dict(lr=1e308), "lr must be"), (dict(lr="fast"), "lr must be"),
    (dict(momentum=1.5), "momentum must be"), (dict(momentum=-1), "momentum"), (dict(weight_decay=1e999), "weight"),
    (dict(tol=float("nan")), "tol must be"), (dict(epochs=0), "epochs"), (dict(epochs=2.5), "epochs"),
    (dict(seed=-1), "seed"), (dict(test_size=1.0), "test_size"), (dict(optimizer="lbfgs"), "optimizer"),
    (dict(optimizer="sgd", batch_size=0), "batch_size"), (dict(loss="mae"), "loss"), (dict(schedule="x"), "schedule"),
    (dict(patience=0), "patience"), (dict(target_gap=-1), "target_gap"), (dict(standardize="yes"), "standardize"),
    (dict(dtype="int32"), "dtype"), (dict(optimizer="nesterov", momentum=0), "needs momentum > 0"),
])
def test_train_linreg_names_the_argument_at_fault(kwargs, text):
    with pytest.raises(ConfigError, match=f"train_linreg: .*{text}"):
        train_linreg(_small(), **{"epochs": 1, **kwargs})


def test_train_linreg_refuses_data_it_cannot_train_on():
    with pytest.raises(ConfigError, match="data must be an ArrayDataset"):
        train_linreg("diabetes", epochs=1)
    X = np.array([[1.0, 2.0], [3.0, 1e308], [5.0, 6.0]])
    bad = data.ArrayDataset(X, np.arange(3.0), feature_names=["a", "b"])
    with pytest.raises(DataError, match="column 'b' holds 1e\\+308"):
        train_linreg(bad, epochs=1)
    huge_y = data.ArrayDataset(X[:, :1], np.array([1.0, 1e200, 2.0]), target_name="price")
    with pytest.raises(DataError, match="column 'price'"):
        train_linreg(huge_y, epochs=1)
    assert train_linreg((X[:, :1], np.arange(3.0)), epochs=1, test_size=0).n_train == 3  # a tuple works


@pytest.mark.parametrize("Y", [np.array([2.0, 4.0]), np.zeros(2), np.array([5.0, 5.0])])
def test_a_perfect_fit_reports_a_zero_gap(Y):
    ds = data.ArrayDataset(np.array([[1.0], [2.0]]), Y)
    for test_size in (0, 0.5):
        result = train_linreg(ds, epochs=500, test_size=test_size)
        assert result.loss_gap == 0.0 and np.isfinite(result.theta_error)
        assert "gap to the closed form: loss 0.000e+00 relative" in result.report()


def test_exact_linear_target_on_many_rows_reports_a_zero_gap():
    X = np.random.default_rng(0).standard_normal((50, 3))
    result = train_linreg(data.ArrayDataset(X, X @ [1.0, -2.0, 0.5] + 3), epochs=5000)
    assert result.loss_gap == 0.0 and result.theta_error < 1e-6


def test_auto_lr_uses_the_smaller_gram_matrix_for_wide_data():
    X = np.random.default_rng(1).standard_normal((20, 5000))
    A = np.c_[X, np.ones(20)]
    assert auto_lr(X) == pytest.approx(1 / (2 * np.linalg.eigvalsh(A @ A.T)[-1]))
    assert auto_lr(np.zeros((4, 2)), bias=False) == 1.0  # all-zero data: nothing to bound
    with pytest.raises(ConfigError, match="auto_lr"):
        auto_lr(np.array(["a"]))
