"""Realized quality of a model on the rows of a window that have ground-truth labels.

Classification: accuracy; precision, recall and F1 of the positive class for two classes (the
positive class is the last of ``classes``, i.e. the larger label when they are sorted: ``1``
of ``0/1``, ``"yes"`` of ``"no"/"yes"``), macro averages over ``classes`` for more (a class never
predicted has precision 0, as in scikit-learn with ``zero_division=0``); ROC AUC when ``scores``
are given (binary: of the positive class; more classes: one-vs-rest, macro averaged), left out
when the labels hold a single class. Regression: MAE, RMSE and R² (1.0 for a perfect fit of
constant labels, 0.0 for an imperfect one, as scikit-learn's ``r2_score``).

Labels that are missing (None, NaN) mark rows without feedback: they count in ``rows`` but not
in ``labelled_rows``. Class labels are compared as text (``1``, ``1.0`` and ``"1"`` are one
class), since logged predictions and posted feedback may not share a type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from loopml.api.monitoring import QualityMetrics, Task
from loopml.core.errors import InvalidInput

Floats = npt.NDArray[np.float64]


def realized(
    predictions: Any,
    labels: Any,
    *,
    task: Task | str,
    scores: Any = None,
    classes: Sequence[Any] | None = None,
    unknown_labels: int = 0,
) -> QualityMetrics:
    """Quality of ``predictions`` against ``labels`` (aligned row by row; a missing label is
    a row without feedback). ``scores``: class probabilities, one column per class of
    ``classes`` (or, for two classes, the positive class's probability as one column)."""
    try:
        task = Task(task)
    except ValueError:
        raise InvalidInput(f"unknown task {task!r}: use 'classification' or 'regression'") from None
    pred = _values(predictions)
    lab = _values(labels)
    if len(pred) != len(lab):
        raise InvalidInput(
            f"{len(pred)} predictions but {len(lab)} labels: pass one label (or a missing "
            "value) per prediction"
        )
    rows = len(pred)
    if task is Task.REGRESSION:
        return _regression(pred, lab, rows, unknown_labels)
    return _classification(pred, lab, rows, scores, classes, unknown_labels)


def _values(x: Any) -> npt.NDArray[Any]:
    if hasattr(x, "to_numpy") and not isinstance(x, np.ndarray):
        try:
            return np.asarray(x.to_numpy(zero_copy_only=False))
        except TypeError:
            return np.asarray(x.to_numpy())
    return np.asarray(x)


def _missing(x: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    if x.dtype.kind == "f":
        out: npt.NDArray[np.bool_] = np.isnan(x)
        return out
    if x.dtype.kind == "O":
        return np.array([v is None or (isinstance(v, float) and v != v) for v in x], dtype=bool)
    return np.zeros(len(x), dtype=bool)


def as_text(x: npt.NDArray[Any]) -> npt.NDArray[np.str_]:
    """Class labels as text: whole numbers without a decimal point (``1.0`` -> ``"1"``)."""
    if x.dtype.kind in "iub":
        return x.astype(np.int64).astype(str) if x.dtype.kind != "b" else x.astype(str)
    if x.dtype.kind == "f":
        if np.all(x == np.round(x)):
            return x.astype(np.int64).astype(str)
        return x.astype(str)
    out = []
    for v in x:
        if isinstance(v, float) and v == round(v):
            v = int(v)
        out.append(str(v))
    return np.array(out, dtype=str)


def _regression(
    pred: npt.NDArray[Any], lab: npt.NDArray[Any], rows: int, unknown: int
) -> QualityMetrics:
    try:
        y = np.asarray(lab, dtype=np.float64)
        p = np.asarray(pred, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(
            "regression labels and predictions must be numbers; got "
            f"{lab.dtype} labels and {pred.dtype} predictions"
        ) from None
    keep = ~np.isnan(y)
    labelled = int(keep.sum())
    metrics: dict[str, float] = {}
    note = ""
    if labelled:
        y, p = y[keep], p[keep]
        err = p - y
        ss_res = float(np.sum(err**2))
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        metrics = {
            "mae": float(np.mean(np.abs(err))),
            "rmse": float(np.sqrt(ss_res / labelled)),
            "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0),
        }
    else:
        note = "no labelled rows"
    return QualityMetrics(
        Task.REGRESSION, metrics, rows, labelled, labelled / rows if rows else 0.0, unknown,
        note=note,
    )  # fmt: skip


def _classification(
    pred: npt.NDArray[Any],
    lab: npt.NDArray[Any],
    rows: int,
    scores: Any,
    classes: Sequence[Any] | None,
    unknown: int,
) -> QualityMetrics:
    keep = ~_missing(lab)
    labelled = int(keep.sum())
    coverage = labelled / rows if rows else 0.0
    if not labelled:
        return QualityMetrics(
            Task.CLASSIFICATION, {}, rows, 0, coverage, unknown, note="no labelled rows"
        )
    y = as_text(lab[keep])
    p = as_text(pred[keep])
    if classes is not None:
        names = [str(c) for c in as_text(np.asarray(list(classes), dtype=object))]
    else:
        names = sorted(set(y.tolist()) | set(p.tolist()), key=_label_order)
    index = {c: i for i, c in enumerate(names)}
    strange = sorted({c for c in (*y.tolist(), *p.tolist()) if c not in index})
    if strange:
        raise InvalidInput(
            f"labels or predictions {strange[:5]} are not among the classes {names[:10]}; "
            "pass every class the model knows as classes"
        )
    k = len(names)
    yi = np.array([index[c] for c in y.tolist()], dtype=np.int64)
    pi = np.array([index[c] for c in p.tolist()], dtype=np.int64)
    cm = np.bincount(yi * k + pi, minlength=k * k).reshape(k, k)  # rows: true, columns: pred
    metrics = {"accuracy": float(np.trace(cm) / labelled)}
    positive = names[-1] if k == 2 else None
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    actual = cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros(k), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(k), where=both > 0)
    if k == 2:
        metrics.update(precision=precision[1], recall=recall[1], f1=f1[1])
    else:
        metrics.update(precision=precision.mean(), recall=recall.mean(), f1=f1.mean())
    note = ""
    if scores is not None:
        s = np.asarray(scores, dtype=np.float64)
        if s.ndim == 1:
            s = s[:, None]
        if s.shape[0] != rows or s.shape[1] not in ({1, 2} if k == 2 else {k}):
            raise InvalidInput(
                f"scores have shape {s.shape}; expected one row per prediction ({rows}) and "
                f"one column per class ({k})" + (" or one for the positive class" if k == 2 else "")
            )
        s = s[keep]
        auc = roc_auc(yi, s, k)
        if auc is None:
            note = "ROC AUC left out: the labels hold a single class"
        else:
            metrics["roc_auc"] = auc
    return QualityMetrics(
        Task.CLASSIFICATION, {m: float(v) for m, v in metrics.items()}, rows, labelled,
        coverage, unknown, positive=positive, note=note,
    )  # fmt: skip


def _label_order(label: str) -> tuple[int, float, str]:
    """Numbers in numeric order before text in text order."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def roc_auc(y: npt.NDArray[np.int64], scores: Floats, k: int) -> float | None:
    """ROC AUC of class indices ``y`` against ``scores`` (binary: the last column is the
    positive class's score; more classes: one-vs-rest, macro average over the classes present
    in ``y``). None when ``y`` holds a single class."""
    if k == 2:
        return binary_auc(y == 1, scores[:, -1])
    if len(np.unique(y)) < 2:
        return None
    aucs = [binary_auc(y == c, scores[:, c]) for c in range(k)]
    valid = [a for a in aucs if a is not None]
    return float(np.mean(valid)) if valid else None


def binary_auc(positive: npt.NDArray[np.bool_], score: Floats) -> float | None:
    """The probability that a random positive scores above a random negative (ties count
    half): the Mann-Whitney form of the area under the ROC curve."""
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
