"""The issue's targets for the lecture's linear regression, with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import data, nn
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
