"""SGD as a random variable: mean and variance of mini-batch gradients against theory."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import ChainruleError, data, nn
from chainrule.train import sgd_noise


@pytest.fixture(scope="module")
def diabetes_train():
    tr, _ = data.train_test_split(data.load_diabetes(), test_size=0.2, rng=0)
    return data.Standardizer().fit_transform(tr.X), tr.Y


@pytest.fixture(scope="module")
def result(diabetes_train):
    X, Y = diabetes_train
    model = nn.LinearRegression(10, rng=0)
    return sgd_noise(model, X, Y, batch_sizes=(1, 4, 16, 64, 256), samples=2000, rng=0,
                     loss_fn=nn.SumSquaredError())


def test_mean_within_three_standard_errors_at_every_batch_size(result):
    assert [r.batch_size for r in result.rows] == [1, 4, 16, 64, 256]
    for r in result.rows:
        assert r.mean_error <= 3 * r.standard_error, result.report()
        assert r.mean_ok


def test_variance_within_ten_percent_of_the_without_replacement_theory(result):
    for r in result.rows:
        assert abs(r.variance / r.theory - 1) <= 0.10, result.report()
        assert r.variance_se < 0.035 * r.theory  # the check is meaningful: 10% is several standard errors
    assert result.passed
    # at b = 256 of n = 353 the finite-population correction matters: with replacement would be 3.6x off
    last = result.rows[-1]
    assert last.with_replacement / last.theory > 3


def test_full_gradient_and_sigma2_are_exact(result, diabetes_train):
    X, Y = diabetes_train
    model = nn.LinearRegression(10, rng=0)
    A = np.c_[X, np.ones(len(X))]
    residual = A @ model.theta - Y
    full = 2 * A.T @ residual
    np.testing.assert_allclose(result.full_gradient, full, rtol=1e-10)
    n = len(X)
    U = n * 2 * residual[:, None] * A  # per-object contributions, mean = full gradient
    sigma2 = np.mean(np.sum((U - U.mean(0)) ** 2, axis=1))
    assert result.sigma2 == pytest.approx(sigma2, rel=1e-10)
    np.testing.assert_allclose(result.theory([1, n]), [sigma2, 0.0], atol=1e-6)


def test_mean_loss_gives_the_same_relative_picture(diabetes_train):
    X, Y = diabetes_train
    model = nn.LinearRegression(10, rng=1)
    r = sgd_noise(model, X[:100], Y[:100], batch_sizes=(5, 100), samples=300, rng=1)
    assert r.rows[1].variance == pytest.approx(0.0, abs=1e-18) and r.rows[1].ratio == 1.0
    assert r.rows[0].variance_ok and r.rows[0].mean_ok
    assert model.weight.grad is None  # gradients are put back as they were
    assert "without replacement" in r.report() and r.to_dict()["rows"][0]["batch_size"] == 5


def test_errors(diabetes_train):
    X, Y = diabetes_train
    model = nn.LinearRegression(10, rng=0)
    with pytest.raises(ChainruleError, match="batch sizes"):
        sgd_noise(model, X, Y, batch_sizes=(1, 1000))
    with pytest.raises(ChainruleError, match="samples"):
        sgd_noise(model, X, Y, samples=1)


def test_noise_plot(result, tmp_path):
    pytest.importorskip("matplotlib")
    from chainrule.train.plots import plot_sgd_noise

    path = plot_sgd_noise(result, tmp_path / "noise.png")
    assert open(path, "rb").read(4) == b"\x89PNG"


def test_arguments_are_checked_first(diabetes_train):
    X, Y = diabetes_train
    model = nn.LinearRegression(10, rng=0)
    for kwargs, text in [(dict(batch_sizes="1,2"), "batch_sizes must be"), (dict(batch_sizes=(0,)), "batch_sizes"),
                         (dict(batch_sizes=(2.5,)), "batch_size"), (dict(samples=2.5), "samples"),
                         (dict(rng=-1), "rng"), (dict(samples=10**7), "samples")]:
        with pytest.raises(ChainruleError, match=text):
            sgd_noise(model, X, Y, **kwargs)
    with pytest.raises(ChainruleError, match="model must be"):
        sgd_noise("model", X, Y)


def test_a_perfect_fit_has_no_noise_and_plots_without_a_log_scale(tmp_path):
    pytest.importorskip("matplotlib")
    import warnings

    from chainrule.train.plots import plot_sgd_noise

    X = np.random.default_rng(0).standard_normal((20, 2))
    model = nn.LinearRegression.closed_form(X, X @ [1.0, 2.0] + 1)
    r = sgd_noise(model, X, X @ [1.0, 2.0] + 1, batch_sizes=(1, 5), samples=10)
    assert r.sigma2 < 1e-20
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_sgd_noise(r, tmp_path / "flat.png")
