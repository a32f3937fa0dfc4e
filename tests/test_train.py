"""chainrule.fit: history, reproducibility, early stopping, metrics, restore_best, progress, plots."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import data, nn, optim
from chainrule.train import History, evaluate_loss, predict
from chainrule.train.progress import QuietProgress, progress_bar, want_progress


def _problem(seed=0, n=200):
    ds = data.make_linear(n_samples=n, n_features=3, noise=0.3, rng=seed)
    return data.train_test_split(ds, test_size=0.25, rng=seed)


def _model(seed=0):
    return nn.LinearRegression(3, rng=seed)


def test_fit_records_a_history_per_epoch():
    tr, te = _problem()
    model = _model()
    h = cr.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), tr, test_data=te, epochs=30,
               batch_size=16, seed=0, progress=False)
    assert isinstance(h, History) and len(h) == 30 and h.epoch == list(range(1, 31))
    for col in ("train_loss", "test_loss", "grad_norm", "lr", "seconds"):
        assert len(h[col]) == 30
    assert h.train_loss[-1] < h.train_loss[0] / 5 and h.test_loss[-1] < h.test_loss[0]
    assert h.train_loss[-1] == pytest.approx(0.3**2, rel=0.1)  # down to the noise level
    assert h.lr == [0.05] * 30 and h.stop_reason == "epochs" and h.monitor == "test"
    assert h.samples_seen == 30 * len(tr) and h.samples_per_second > 0
    assert np.all(np.diff(h.seconds) >= 0) and h.has_test
    final_test, _ = evaluate_loss(model, nn.MSELoss(), te)
    assert h.test_loss[-1] == pytest.approx(final_test)
    assert "train_loss" in h.table() and h.to_dict()["stop_reason"] == "epochs"
    with pytest.raises(KeyError, match="columns"):
        h["accuracy"]


def test_running_train_loss_equals_exact_loss_for_full_batch_sum():
    tr, _ = _problem()
    model = _model()
    loss_fn = nn.SumSquaredError()
    start, _ = evaluate_loss(model, loss_fn, tr)
    h = cr.fit(model, loss_fn, optim.SGD(model.parameters(), lr=1e-3), tr, epochs=2, progress=False)
    assert h.train_loss[0] == pytest.approx(start, rel=1e-12)  # the loss at the parameters before the step
    model2 = _model()
    h2 = cr.fit(model2, loss_fn, optim.SGD(model2.parameters(), lr=1e-3), tr, epochs=2, eval_train=True,
                progress=False)
    assert h2.train_loss[0] == pytest.approx(h.train_loss[1], rel=1e-12)  # the loss after the step


def test_grad_norm_is_the_full_gradient_norm_for_gd():
    tr, _ = _problem()
    model = _model()
    loss_fn = nn.SumSquaredError()
    A = np.c_[tr.X, np.ones(len(tr))]
    expected = np.linalg.norm(2 * A.T @ (A @ model.theta - tr.Y))
    h = cr.fit(model, loss_fn, optim.SGD(model.parameters(), lr=1e-4), tr, epochs=1, progress=False)
    assert h.grad_norm[0] == pytest.approx(expected, rel=1e-12)


def test_fit_is_reproducible_from_a_seed():
    tr, te = _problem()
    runs = []
    for seed in (3, 3, 4):
        model = _model()
        h = cr.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05, momentum=0.5), tr, test_data=te,
                   epochs=5, batch_size=10, seed=seed, progress=False)
        runs.append((h.train_loss, model.theta))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][0] != runs[2][0]


def test_early_stopping_on_tolerance():
    tr, _ = _problem()
    model = _model()
    lr = cr.train.auto_lr(tr.X)
    h = cr.fit(model, nn.SumSquaredError(), optim.SGD(model.parameters(), lr=lr), tr, epochs=10_000, tol=1e-10,
               patience=3, progress=False)
    assert h.stop_reason == "tolerance" and 3 < len(h) < 10_000
    last = h.train_loss[-4:]
    assert all(abs(a - b) <= 1e-10 * abs(a) for a, b in zip(last, last[1:]))


def test_target_gap_and_callbacks_stop_training():
    tr, _ = _problem()
    model = _model()
    best = nn.LinearRegression.closed_form(tr.X, tr.Y)
    optimum, _ = evaluate_loss(best, nn.SumSquaredError(), tr)
    h = cr.fit(model, nn.SumSquaredError(), optim.SGD(model.parameters(), lr=cr.train.auto_lr(tr.X)), tr,
               epochs=10_000, optimum=optimum, target_gap=1e-8, progress=False)
    assert h.stop_reason == "target" and h.gap[-1] <= 1e-8 and h.gap[0] > 1
    # full batch: the target is checked before stepping, so the final parameters are the recorded ones
    assert math.isnan(h.grad_norm[-1]) and h.gap[-2] > 1e-8
    assert evaluate_loss(model, nn.SumSquaredError(), tr)[0] == pytest.approx(h.train_loss[-1], rel=1e-14)
    seen = []
    h = cr.fit(_model(), nn.MSELoss(), optim.SGD(_model().parameters(), lr=0.01), tr, epochs=50, progress=False,
               callbacks=[lambda epoch, hist, m: seen.append(epoch) or epoch == 4])
    assert h.stop_reason == "callback" and len(h) == 4 and seen == [1, 2, 3, 4]


def test_the_target_gap_is_reached_on_data_fitted_exactly():
    # the optimum is 0 (or rounding noise): the gap is measured against the first loss instead
    X = np.random.default_rng(0).standard_normal((40, 2))
    Y = X @ np.array([1.5, -2.0]) + 0.5
    model = nn.LinearRegression(2, rng=0)
    h = cr.fit(model, nn.SumSquaredError(), optim.SGD(model.parameters(), lr=cr.train.auto_lr(X)), (X, Y),
               epochs=100_000, optimum=0.0, target_gap=1e-6, progress=False)
    assert h.stop_reason == "target" and len(h) < 100_000
    assert h.train_loss[-1] <= 1e-6 * 1e-12 * h.train_loss[0] and h.gap[0] > 1e6


def test_metrics_are_recorded_for_train_and_test():
    tr, te = _problem()
    model = _model()

    def mae(pred, target):
        assert isinstance(pred, np.ndarray)
        return float(np.mean(np.abs(pred - target)))

    h = cr.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), tr, test_data=te, epochs=4,
               batch_size=32, metrics={"mae": mae}, progress=False)
    assert set(h.metrics) == {"train_mae", "test_mae"} and len(h["test_mae"]) == 4
    assert h["test_mae"][-1] == pytest.approx(mae(predict(model, te.X), te.Y))
    assert h["train_mae"][-1] == pytest.approx(mae(predict(model, tr.X), tr.Y))
    assert "train_mae" in h.columns()


def test_restore_best_puts_back_the_best_validation_parameters():
    tr, te = _problem()
    model = _model()
    snapshots = {}

    def remember(epoch, hist, m):
        snapshots[epoch] = m.theta.copy()

    # a learning rate so large that the loss grows after a good first step
    sched_lr = [0.05, 0.05, 0.05, 3.0, 3.0, 3.0]
    opt = optim.SGD(model.parameters(), lr=0.05)

    def bump(epoch, hist, m):
        remember(epoch, hist, m)
        opt.param_groups[0]["lr"] = sched_lr[min(epoch, len(sched_lr) - 1)]

    h = cr.fit(model, nn.MSELoss(), opt, tr, test_data=te, epochs=6, restore_best=True, callbacks=[bump],
               progress=False)
    assert h.best_epoch == int(np.argmin(h.test_loss)) + 1 and h.best_epoch < 6
    assert h.restored_best
    np.testing.assert_array_equal(model.theta, snapshots[h.best_epoch])


def test_divergence_is_reported_not_hidden():
    tr, _ = _problem()
    model = _model()
    with np.errstate(all="ignore"):
        h = cr.fit(model, nn.SumSquaredError(), optim.SGD(model.parameters(), lr=10.0), tr, epochs=500,
                   progress=False)
    assert h.stop_reason == "diverged" and len(h) < 500 and not math.isfinite(h.train_loss[-1])


def test_scheduler_changes_the_recorded_lr():
    tr, _ = _problem()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    h = cr.fit(model, nn.MSELoss(), opt, tr, epochs=4, scheduler=optim.StepLR(opt, 2, 0.5), progress=False)
    assert h.lr == [0.1, 0.1, 0.05, 0.05]


def test_fit_accepts_a_loader_and_tuples():
    tr, _ = _problem()
    model = _model()
    loader = data.DataLoader(tr, batch_size=50, shuffle=True, rng=1)
    h = cr.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), loader, epochs=2, progress=False)
    assert h.samples_seen == 2 * len(tr)
    h = cr.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), (tr.X, tr.Y), epochs=1,
               progress=False)
    assert len(h) == 1 and math.isnan(h.test_loss[0]) and not h.has_test
    with pytest.raises(ValueError, match="monitor"):
        cr.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), tr, monitor="test", progress=False)


def test_fit_keeps_dropout_style_modes():
    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.LinearRegression(3, rng=0)
            self.modes = []

        def forward(self, x):
            self.modes.append(self.training)
            return self.inner(x)

    tr, te = _problem()
    m = Recorder()
    cr.fit(m, nn.MSELoss(), optim.SGD(m.parameters(), lr=0.01), tr, test_data=te, epochs=2, progress=False)
    assert m.modes == [True, False, True, False] and m.training


def test_progress_is_quiet_off_a_terminal(capsys):
    assert want_progress(None) is False  # pytest captures stdout: not a TTY
    assert isinstance(progress_bar(10, None), QuietProgress)
    tr, _ = _problem()
    model = _model()
    cr.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), tr, epochs=3)
    assert capsys.readouterr().out == ""


def test_progress_bar_forced_on_uses_rich():
    tr, _ = _problem()
    model = _model()
    bar = progress_bar(3, True)
    assert type(bar).__name__ == "RichProgress"
    h = cr.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), tr, epochs=3, progress=True)
    assert len(h) == 3


def test_plots_write_images(tmp_path):
    pytest.importorskip("matplotlib")
    from chainrule.train import plots

    tr, te = _problem()
    model = _model()
    h = cr.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), tr, test_data=te, epochs=10,
               progress=False)
    out = plots.plot_history(h, tmp_path / "loss.png", optimum=0.09)
    assert open(out, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    ds = data.make_linear(50, 1, rng=0)
    one = nn.LinearRegression.closed_form(ds.X, ds.Y)
    plots.plot_fit_line(ds.X, ds.Y, lambda x: predict(one, x), tmp_path / "line.svg")
    assert (tmp_path / "line.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(cr.ChainruleError, match="one feature"):
        plots.plot_fit_line(tr.X, tr.Y, lambda x: x, tmp_path / "x.png")


def test_plot_files_are_checked_and_written_atomically(tmp_path):
    pytest.importorskip("matplotlib")
    import os
    import stat as stat_module
    import warnings

    from chainrule.train import plots

    tr, _ = _problem()
    model = _model()
    h = cr.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), tr, epochs=3, progress=False)
    assert plots.plot_format("a/b.PDF") == "pdf" and plots.plot_format("loss") == "png"
    with pytest.raises(cr.ChainruleError, match=r"\.xyz is not an image type"):
        plots.plot_format("loss.xyz")
    target = tmp_path / "loss.png"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    (tmp_path / "link.png").symlink_to("loss.png")
    plots.plot_history(h, tmp_path / "link.png")  # through the link; the format given, not guessed from .tmp
    assert target.read_bytes()[:4] == b"\x89PNG" and (tmp_path / "link.png").is_symlink()
    assert stat_module.S_IMODE(os.stat(target).st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "loss.png"]
    with pytest.raises(cr.ChainruleError, match="does not exist"):
        plots.plot_history(h, tmp_path / "missing" / "x.png")
    zero = History(epoch=[1, 2], train_loss=[0.0, 0.0], test_loss=[math.nan, math.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a loss of 0 (a perfect fit) stays on a linear axis
        plots.plot_history(zero, tmp_path / "zero.svg", optimum=0.0)


def test_a_diverged_history_plots_without_warnings(tmp_path):
    pytest.importorskip("matplotlib")
    import warnings

    from chainrule.train import plots

    diverged = History(epoch=[1, 2, 3], train_loss=[1.0, 1e300, math.inf], test_loss=[2.0, 1e290, math.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.plot_history(diverged, tmp_path / "d.png", optimum=0.5)
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
