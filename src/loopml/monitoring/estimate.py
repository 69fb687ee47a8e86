"""Quality of a classifier estimated before the labels arrive, from its class probabilities
(confidence-based performance estimation).

1. On the reference (scores with labels), each class's probability is recalibrated with an
   isotonic regression of "the label is this class" on the model's score for it (one class for
   a binary model; for more, one-vs-rest, each row normalised to sum to 1).
2. On the current window, the model predicts the class with the highest raw score; the
   calibrated probability of each class is then the expected share of rows of that class.
   Expected accuracy is the mean calibrated probability of the predicted class; the expected
   confusion matrix sums the calibrated probabilities per predicted class, and precision,
   recall and F1 follow from it (binary: of the last class in ``classes``; more: macro);
   expected ROC AUC weights every pair of rows by the probability that one is a positive and
   the other a negative (one-vs-rest, macro, for more classes).

The estimate holds under covariate shift (the inputs move, the relation from inputs to labels
does not) and not under concept shift; only labels can show that.

**When the estimate is marked unreliable** (``reliable=False``, the note says which):
fewer than 100 labelled reference rows, a class with fewer than 10 of them, or an expected
calibration error above 0.1 after calibration, measured on the reference by cross-fitting (fit
on one half, measured on the other, both ways; 10 equal-size bins of confidence)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from loopml.api.monitoring import QualityEstimate
from loopml.core.errors import InvalidInput
from loopml.monitoring.quality import as_text

Floats = npt.NDArray[np.float64]
Labels = npt.NDArray[np.int64]

MIN_REFERENCE_ROWS = 100
MIN_CLASS_ROWS = 10
MAX_CALIBRATION_ERROR = 0.1
ECE_BINS = 10


def estimate(
    reference_scores: Any,
    reference_labels: Any,
    current_scores: Any,
    classes: Sequence[Any],
    *,
    seed: int = 0,
) -> QualityEstimate:
    """Estimated accuracy, F1 and ROC AUC of the current window from ``current_scores``
    (class probabilities, one column per class of ``classes``; for two classes also the
    positive class's probability alone), calibrated on the reference's scores and labels."""
    k = len(classes)
    if k < 2:
        raise InvalidInput(f"need at least two classes to estimate quality, got {list(classes)}")
    names = [str(c) for c in as_text(np.asarray(list(classes), dtype=object))]
    ref = _scores(reference_scores, k, "reference")
    cur = _scores(current_scores, k, "current")
    y = _labels(reference_labels, names, len(ref))
    keep = y >= 0
    ref, y = ref[keep], y[keep]
    n_ref, n_cur = len(y), len(cur)
    problems = []
    if n_ref < MIN_REFERENCE_ROWS:
        problems.append(f"too few labelled reference rows: {n_ref:,}, need {MIN_REFERENCE_ROWS}")
    per_class = np.bincount(y, minlength=k)
    if per_class.min() < MIN_CLASS_ROWS:
        worst = int(per_class.argmin())
        problems.append(
            f"class {names[worst]!r} has {int(per_class[worst])} labelled reference rows, "
            f"need {MIN_CLASS_ROWS}"
        )
    if per_class.min() == 0 or n_ref < 2 * ECE_BINS:
        return QualityEstimate({}, False, None, "; ".join(problems), n_cur, n_ref)
    ece = _cross_fitted_ece(ref, y, k, seed)
    if ece > MAX_CALIBRATION_ERROR:
        problems.append(
            f"the model is too poorly calibrated on the reference: expected calibration error "
            f"{ece:.3f} after calibration, above {MAX_CALIBRATION_ERROR}"
        )
    if n_cur == 0:
        problems.append("no current rows")
        return QualityEstimate({}, False, ece, "; ".join(problems), 0, n_ref)
    calibrate = _fit(ref, y, k)
    probs = calibrate(cur)
    metrics = expected_metrics(cur, probs)
    return QualityEstimate(metrics, not problems, ece, "; ".join(problems), n_cur, n_ref)


def _scores(scores: Any, k: int, side: str) -> Floats:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1 and k == 2:
        s = np.column_stack([1.0 - s, s])
    if s.ndim != 2 or s.shape[1] != k:
        raise InvalidInput(
            f"{side} scores have shape {s.shape}; expected one column per class ({k})"
            + (" or the positive class's probability alone" if k == 2 else "")
        )
    if not np.isfinite(s).all():
        raise InvalidInput(f"{side} scores hold missing or infinite values")
    return s


def _labels(labels: Any, names: list[str], n: int) -> Labels:
    """Class indices of the labels, -1 where a label is missing."""
    raw = np.asarray(labels, dtype=object)
    if len(raw) != n:
        raise InvalidInput(f"{n} reference score rows but {len(raw)} reference labels")
    missing = np.array([v is None or (isinstance(v, float) and v != v) for v in raw], bool)
    index = {c: i for i, c in enumerate(names)}
    out = np.full(n, -1, dtype=np.int64)
    if (~missing).any():
        text = as_text(raw[~missing])
        unknown = sorted({t for t in text.tolist() if t not in index})
        if unknown:
            raise InvalidInput(
                f"reference labels {unknown[:5]} are not among the classes {names[:10]}"
            )
        out[~missing] = [index[t] for t in text.tolist()]
    return out


def _fit(scores: Floats, y: Labels, k: int) -> Any:
    """A function from raw scores to calibrated class probabilities, fitted on (scores, y)."""
    from sklearn.isotonic import IsotonicRegression

    fitted = []
    for c in [1] if k == 2 else range(k):
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(scores[:, c], (y == c).astype(np.float64))
        fitted.append(iso)

    def calibrate(s: Floats) -> Floats:
        if k == 2:
            p = np.clip(np.asarray(fitted[0].predict(s[:, 1]), dtype=np.float64), 0.0, 1.0)
            return np.column_stack([1.0 - p, p])
        p = np.column_stack([iso.predict(s[:, c]) for c, iso in enumerate(fitted)])
        total = p.sum(axis=1, keepdims=True)
        uniform = np.full_like(p, 1.0 / k)
        return np.where(total > 0, p / np.where(total > 0, total, 1.0), uniform)

    return calibrate


def _cross_fitted_ece(scores: Floats, y: Labels, k: int, seed: int) -> float:
    """Expected calibration error after calibration, each half calibrated on the other."""
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(y)) % 2
    gaps, weights = [], []
    for f in (0, 1):
        train, test = fold != f, fold == f
        if len(np.unique(y[train])) < 2:
            return 1.0
        probs = _fit(scores[train], y[train], k)(scores[test])
        pred = scores[test].argmax(axis=1)
        conf = probs[np.arange(len(pred)), pred]
        correct = (pred == y[test]).astype(np.float64)
        order = np.argsort(conf, kind="stable")
        for chunk in np.array_split(order, ECE_BINS):
            if len(chunk):
                gaps.append(abs(float(correct[chunk].mean() - conf[chunk].mean())))
                weights.append(len(chunk))
    return float(np.average(gaps, weights=weights))


def expected_metrics(scores: Floats, probs: Floats) -> dict[str, float]:
    """Expected accuracy, F1 and ROC AUC of predictions ``argmax(scores)`` when row i is of
    class c with probability ``probs[i, c]``."""
    n, k = probs.shape
    pred = scores.argmax(axis=1)
    accuracy = float(probs[np.arange(n), pred].mean())
    # Expected confusion matrix: rows the (expected) true class, columns the predicted one.
    cm = np.zeros((k, k))
    for j in range(k):
        cm[:, j] = probs[pred == j].sum(axis=0)
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros(k), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(k), where=both > 0)
    metrics = {"accuracy": accuracy, "f1": float(f1[1] if k == 2 else f1.mean())}
    aucs = [_expected_auc(scores[:, c], probs[:, c]) for c in ([1] if k == 2 else range(k))]
    valid = [a for a in aucs if a is not None]
    if valid:
        metrics["roc_auc"] = float(np.mean(valid))
    return metrics


def _expected_auc(score: Floats, w: Floats) -> float | None:
    """E[pairs (positive above negative)] / E[pairs (positive, negative)], row i a positive
    with probability w[i] (ties count half; a row is never paired with itself)."""
    order = np.argsort(score, kind="stable")
    s, p = score[order], w[order]
    q = 1.0 - p
    # Negative weight strictly below each row and tied with it.
    starts = np.concatenate([[True], s[1:] != s[:-1]])
    group = np.cumsum(starts) - 1
    group_neg = np.bincount(group, weights=q)
    below = np.concatenate([[0.0], np.cumsum(group_neg)[:-1]])[group]
    tied = group_neg[group] - q  # others in the group
    pairs = float(p.sum() * q.sum() - np.sum(p * q))
    if pairs <= 0:
        return None
    return float(np.sum(p * (below + 0.5 * tied)) / pairs)
