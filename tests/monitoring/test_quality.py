"""Realized quality from labels agrees with scikit-learn's metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from loopml.api.monitoring import Task
from loopml.core.errors import InvalidInput
from loopml.monitoring.quality import realized


def test_binary_classification_matches_sklearn_with_the_last_class_positive() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    scores = np.clip(y * 0.4 + rng.uniform(0, 0.6, 400), 0, 1)
    scores[:50] = np.round(scores[:50], 1)  # ties
    pred = (scores > 0.5).astype(int)
    q = realized(pred, y, task="classification", scores=scores)
    assert q.task is Task.CLASSIFICATION and q.positive == "1"
    want = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "roc_auc": skm.roc_auc_score(y, scores),
    }
    assert q.metrics == pytest.approx(want, abs=1e-9)
    # The same with both probability columns, and labels posted back as text.
    both = np.column_stack([1 - scores, scores])
    q2 = realized(pred, [str(v) for v in y], task="classification", scores=both)
    assert q2.metrics == pytest.approx(want, abs=1e-9)


def test_multiclass_uses_macro_averages_over_the_classes() -> None:
    rng = np.random.default_rng(1)
    classes = ["ant", "bee", "cat", "dog"]
    y = rng.choice(classes, 500)
    probs = rng.dirichlet(np.ones(4), 500)
    probs[np.arange(500), [classes.index(c) for c in y]] += 0.5
    probs /= probs.sum(axis=1, keepdims=True)
    pred = np.array(classes)[probs.argmax(axis=1)]
    pred[:40] = "dog"
    q = realized(pred, y, task=Task.CLASSIFICATION, scores=probs, classes=classes)
    want = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, average="macro", labels=classes, zero_division=0),
        "recall": skm.recall_score(y, pred, average="macro", labels=classes, zero_division=0),
        "f1": skm.f1_score(y, pred, average="macro", labels=classes, zero_division=0),
        "roc_auc": skm.roc_auc_score(y, probs, multi_class="ovr", labels=classes),
    }
    assert q.positive is None
    assert q.metrics == pytest.approx(want, abs=1e-9)


def test_rows_without_labels_count_in_coverage_only() -> None:
    pred = np.array([1, 0, 1, 1, 0, 1])
    labels = [1, None, 0, float("nan"), 0, 1]
    q = realized(pred, labels, task="classification", unknown_labels=3)
    assert (q.rows, q.labelled_rows, q.unknown_labels) == (6, 4, 3)
    assert q.coverage == pytest.approx(4 / 6)
    assert q.metrics["accuracy"] == pytest.approx(0.75)
    none = realized(pred, [None] * 6, task="classification")
    assert none.metrics == {} and none.note == "no labelled rows" and none.coverage == 0.0


def test_auc_is_left_out_when_the_labels_hold_one_class() -> None:
    q = realized(
        [1, 1, 0], [1, 1, 1], task="classification", scores=[0.9, 0.8, 0.2], classes=[0, 1]
    )
    assert "roc_auc" not in q.metrics and "single class" in q.note


def test_regression_matches_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(10, 3, 300)
    pred = y + rng.normal(0.5, 1, 300)
    labels = y.copy()
    labels[::10] = np.nan
    q = realized(pred, labels, task="regression")
    keep = ~np.isnan(labels)
    want = {
        "mae": skm.mean_absolute_error(y[keep], pred[keep]),
        "rmse": np.sqrt(skm.mean_squared_error(y[keep], pred[keep])),
        "r2": skm.r2_score(y[keep], pred[keep]),
    }
    assert q.metrics == pytest.approx(want, abs=1e-9) and q.labelled_rows == 270
    assert realized([2.0, 2.0], [2.0, 2.0], task="regression").metrics["r2"] == 1.0


def test_bad_input_is_invalid_input_with_the_fix() -> None:
    with pytest.raises(InvalidInput, match="3 predictions but 2 labels"):
        realized([1, 0, 1], [1, 0], task="classification")
    with pytest.raises(InvalidInput, match="unknown task"):
        realized([1], [1], task="ranking")
    with pytest.raises(InvalidInput, match=r"not among the classes"):
        realized([1, 2], [1, 1], task="classification", classes=[0, 1])
    with pytest.raises(InvalidInput, match=r"scores have shape"):
        realized([1, 0], [1, 0], task="classification", scores=[[0.1, 0.2, 0.7]] * 2)
