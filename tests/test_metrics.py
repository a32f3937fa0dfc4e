"""Accuracy, the confusion matrix and friends, against scikit-learn's definitions."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.errors import ShapeError
from chainrule.train import fit
from chainrule.train.metrics import (
    ConfusionTracker,
    accuracy,
    accuracy_metric,
    confusion_matrix,
    format_confusion_matrix,
    per_class,
    predicted_classes,
    softmax,
)


def test_accuracy_from_labels_and_scores(rng):
    y = np.array([0, 1, 2, 2, 1])
    assert accuracy(y, [0, 2, 2, 2, 1]) == pytest.approx(0.8)
    scores = np.eye(3)[[0, 2, 2, 2, 1]] + 0.01 * rng.random((5, 3))
    assert accuracy(y, scores) == pytest.approx(0.8)
    assert accuracy_metric(scores, y) == pytest.approx(0.8)
    assert accuracy([], np.zeros((0, 3))) == 0.0
    assert predicted_classes(np.array([[0.3], [-0.2]])).tolist() == [1, 0]  # one logit: class 1 when > 0
    assert predicted_classes(np.array([0.7, -1.5])).tolist() == [1, 0]
    with pytest.raises(ShapeError, match="3 true labels but 2 predictions"):
        accuracy([0, 1, 1], [0, 1])


def test_confusion_matrix_matches_sklearn(rng):
    sk = pytest.importorskip("sklearn.metrics")
    y = rng.integers(0, 4, 200)
    p = np.where(rng.random(200) < 0.7, y, rng.integers(0, 4, 200))
    cm = confusion_matrix(y, p)
    np.testing.assert_array_equal(cm, sk.confusion_matrix(y, p))
    assert cm.sum() == 200 and np.trace(cm) == np.sum(y == p)
    assert confusion_matrix([0, 1], [0, 1], n_classes=3).shape == (3, 3)
    assert confusion_matrix([0], np.array([[0.1, 0.9, 0.0, 0.0]])).shape == (4, 4)  # width of the scores
    with pytest.raises(ShapeError, match=r"0\.\.1"):
        confusion_matrix([0, 2], [0, 1], n_classes=2)
    stats = per_class(cm)
    prec, rec, f1, _ = sk.precision_recall_fscore_support(y, p)
    np.testing.assert_allclose(stats["precision"], prec)
    np.testing.assert_allclose(stats["recall"], rec)
    np.testing.assert_allclose(stats["f1"], f1)


def test_per_class_without_predictions_is_zero():
    stats = per_class(np.array([[2, 0], [1, 0]]))
    assert stats["precision"].tolist() == [2 / 3, 0.0] and stats["recall"].tolist() == [1.0, 0.0]
    assert stats["f1"][1] == 0.0 and stats["support"].tolist() == [2, 1]


def test_format_confusion_matrix():
    text = format_confusion_matrix(np.array([[5, 1], [0, 4]]), ["cat", "dog"])
    lines = text.split("\n")
    assert lines[0].split() == ["true", "\\", "pred", "cat", "dog", "recall"]
    assert lines[1].split() == ["cat", "5", "1", "0.833"]
    assert lines[2].split() == ["dog", "0", "4", "1.000"]


def test_softmax_rows_sum_to_one():
    p = softmax(np.array([[1000.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_allclose(p, [[1.0, 0.0], [0.5, 0.5]])
    np.testing.assert_allclose(softmax(np.array([[0.0]])), [[0.5, 0.5]])


def test_confusion_tracker_records_every_epoch(rng):
    X = rng.standard_normal((60, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    model = nn.MLP(2, [4], 2, rng=0)
    tracker = ConfusionTracker(X, y, 2)
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5), (X, y), epochs=4,
                  batch_size=None, metrics={"accuracy": accuracy_metric}, callbacks=[tracker], progress=False)
    assert len(tracker.matrices) == 4 and all(m.sum() == 60 for m in tracker.matrices)
    final = tracker.matrices[-1]
    assert np.trace(final) / 60 == pytest.approx(history["train_accuracy"][-1])
