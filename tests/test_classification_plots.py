"""Classifier plots: curves, confusion matrix, decision boundary, written as real images."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import make_moons
from chainrule.errors import ShapeError
from chainrule.train.classifier import train_classifier

pytest.importorskip("matplotlib")
from chainrule.train.plots_classification import (  # noqa: E402
    plot_confusion_matrix,
    plot_curves,
    plot_decision_boundary,
)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result():
    return train_classifier(make_moons(200, noise=0.2, rng=0), hidden=[8], lr=0.05, epochs=6, seed=0)


def _png(path):
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 5000
    return data


def test_curves(result, tmp_path):
    plot_curves(result.history, tmp_path / "c.png", title="moons")
    _png(tmp_path / "c.png")
    assert plot_curves(result.history, tmp_path / "c.svg").endswith("c.svg")
    assert b"<svg" in (tmp_path / "c.svg").read_bytes()[:500]


def test_confusion_matrix_plot(result, tmp_path):
    plot_confusion_matrix(result.confusion, tmp_path / "cm.png", labels=["a", "b"])
    plot_confusion_matrix(result.confusion, tmp_path / "cmn.png", normalize=True)
    _png(tmp_path / "cm.png")
    _png(tmp_path / "cmn.png")
    with pytest.raises(ShapeError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)), tmp_path / "x.png")


def test_decision_boundary(result, tmp_path):
    data = make_moons(200, noise=0.2, rng=0)
    calls = []

    def proba(points):
        calls.append(points.shape)
        return result.predict_proba(points)

    plot_decision_boundary(proba, data.X, data.Y, tmp_path / "b.png", classes=["top", "bottom"], resolution=60)
    _png(tmp_path / "b.png")
    assert calls == [(3600, 2)]
    with pytest.raises(ShapeError, match=r"\(n, 2\)"):
        plot_decision_boundary(proba, np.zeros((5, 3)), np.zeros(5), tmp_path / "bad.png")


def test_every_plot_names_the_extra_without_matplotlib(result, tmp_path, hide_package):
    from chainrule.errors import MissingDependencyError

    hide_package("matplotlib")
    data = make_moons(20, noise=0.2, rng=0)
    for draw in (lambda: plot_curves(result.history, tmp_path / "c.png"),
                 lambda: plot_confusion_matrix(result.confusion, tmp_path / "cm.png"),
                 lambda: plot_decision_boundary(result.predict_proba, data.X, data.Y, tmp_path / "b.png",
                                                resolution=10)):
        with pytest.raises(MissingDependencyError, match=r"pip install 'chainrule\[plot\]'"):
            draw()
