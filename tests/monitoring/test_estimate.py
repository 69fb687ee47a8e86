"""Confidence-based performance estimation: close to the realized accuracy under covariate
shift, and marked unreliable when the reference cannot support it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from loopml.core.errors import InvalidInput
from loopml.monitoring.estimate import estimate
from loopml.monitoring.quality import realized


def _world(seed: int):
    """Labels drawn from a fixed logistic relation to the features (make_classification-like
    informative features), so moving the features is a pure covariate shift."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1.5, 5)

    def sample(n: int, scale: float = 1.0, shift: float = 0.0):
        x = rng.normal(0, 1, (n, 5)) * scale + shift
        y = (rng.random(n) < 1 / (1 + np.exp(-(x @ w + 0.3)))).astype(int)
        return x, y

    return sample


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimate_tracks_realized_accuracy_under_covariate_shift(seed: int) -> None:
    sample = _world(seed)
    model = LogisticRegression().fit(*sample(2000))
    x_ref, y_ref = sample(2000)
    # Current traffic crowds towards the decision boundary: accuracy drops.
    x_cur, y_cur = sample(3000, scale=0.3, shift=0.2)
    est = estimate(model.predict_proba(x_ref), y_ref, model.predict_proba(x_cur), [0, 1])
    real = realized(
        model.predict(x_cur), y_cur, task="classification", scores=model.predict_proba(x_cur)
    )
    ref_accuracy = realized(model.predict(x_ref), y_ref, task="classification").metrics["accuracy"]
    assert real.metrics["accuracy"] < ref_accuracy - 0.05  # the shift did hurt
    assert est.reliable and est.note == "" and est.calibration_error < 0.1
    assert est.metrics["accuracy"] == pytest.approx(real.metrics["accuracy"], abs=0.05)
    assert est.metrics["f1"] == pytest.approx(real.metrics["f1"], abs=0.08)
    assert est.metrics["roc_auc"] == pytest.approx(real.metrics["roc_auc"], abs=0.05)
    assert (est.rows, est.reference_rows) == (3000, 2000)


def test_multiclass_estimate_is_close_without_shift() -> None:
    rng = np.random.default_rng(5)
    centers = rng.normal(0, 2, (3, 4))
    y = rng.integers(0, 3, 4000)
    x = centers[y] + rng.normal(0, 1.5, (4000, 4))
    model = LogisticRegression().fit(x[:1000], y[:1000])
    est = estimate(
        model.predict_proba(x[1000:2500]), y[1000:2500], model.predict_proba(x[2500:]), [0, 1, 2]
    )
    real = realized(model.predict(x[2500:]), y[2500:], task="classification")
    assert est.reliable
    assert est.metrics["accuracy"] == pytest.approx(real.metrics["accuracy"], abs=0.05)


def test_too_little_or_uninformative_reference_makes_the_estimate_unreliable() -> None:
    sample = _world(3)
    model = LogisticRegression().fit(*sample(500))
    x_ref, y_ref = sample(60)
    x_cur, _ = sample(200)
    est = estimate(model.predict_proba(x_ref), y_ref, model.predict_proba(x_cur), [0, 1])
    assert not est.reliable and "too few labelled reference rows: 60, need 100" in est.note
    # Scores unrelated to the labels: calibration cannot be learnt from 150 rows.
    rng = np.random.default_rng(4)
    noise = estimate(rng.random(150), rng.integers(0, 2, 150), rng.random(100), [0, 1])
    assert not noise.reliable and "too poorly calibrated" in noise.note
    assert noise.calibration_error is not None and noise.calibration_error > 0.1


def test_estimate_bad_input() -> None:
    with pytest.raises(InvalidInput, match="one column per class"):
        estimate(np.ones((200, 3)) / 3, [0] * 200, np.ones((5, 2)) / 2, [0, 1])
    with pytest.raises(InvalidInput, match="not among the classes"):
        estimate([0.5] * 3, ["x", "y", "z"], [0.5], ["no", "yes"])
    empty = estimate([0.2] * 150 + [0.9] * 150, [0] * 150 + [1] * 150, np.empty(0), [0, 1])
    assert not empty.reliable and empty.metrics == {} and "no current rows" in empty.note
