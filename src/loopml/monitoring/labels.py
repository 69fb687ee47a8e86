"""Joining logged predictions with feedback labels by (request id, row), and the one way
labels, predictions and class names are compared (``1``, ``1.0`` and ``"1"`` are one class)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from loopml.api.predlog import PROBA_PREFIX

if TYPE_CHECKING:
    import pyarrow as pa


def canon(value: Any) -> str:
    """A class value as text: integral numbers without a fraction, booleans as True/False."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        return str(int(f)) if f.is_integer() else repr(f)
    text = str(value)
    try:
        f = float(text)
    except ValueError:
        return text
    return (
        str(int(f))
        if f.is_integer() and text.strip().lstrip("+-").replace(".", "").isdigit()
        else text
    )


def canon_all(values: Any) -> np.ndarray:
    """``canon`` of each value; None stays None (no label)."""
    return np.array([None if v is None else canon(v) for v in values], dtype=object)


@dataclass
class Joined:
    """Every prediction of a window with the label it got (None: none yet), row by row."""

    predictions: list[Any]
    labels: list[Any]
    scores: np.ndarray | None  # (rows, classes), from the proba columns
    classes: tuple[str, ...]  # canonical class names of the proba columns
    labelled: int
    unknown: int  # labels whose request id matched no logged prediction

    @property
    def rows(self) -> int:
        return len(self.predictions)


def proba_columns(table: pa.Table) -> list[str]:
    return [n for n in table.column_names if n.startswith(PROBA_PREFIX)]


def join(current: pa.Table, feedback: pa.Table, known_ids: set[str]) -> Joined:
    """Label each prediction of ``current`` with its feedback (the latest label of a
    (request id, row) wins; a label without a row addresses row 0); count the labels whose
    request id is not in ``known_ids``."""
    probas = proba_columns(current)
    classes = tuple(canon(n[len(PROBA_PREFIX) :]) for n in probas)
    latest: dict[tuple[str, int], tuple[Any, Any]] = {}
    unknown = 0
    if feedback.num_rows:
        fb_rows = (
            feedback.column("row").to_pylist()
            if "row" in feedback.column_names
            else [0] * feedback.num_rows
        )
        for rid, row, label, ts in zip(
            feedback.column("request_id").to_pylist(),
            fb_rows,
            feedback.column("label").to_pylist(),
            feedback.column("timestamp").to_pylist(),
            strict=True,
        ):
            if rid not in known_ids:
                unknown += 1
                continue
            key = (rid, 0 if row is None else int(row))
            if label is not None and (key not in latest or latest[key][0] <= ts):
                latest[key] = (ts, label)
    preds = current.column("prediction").to_pylist() if current.num_rows else []
    labels: list[Any] = [None] * len(preds)
    if latest:
        ids = current.column("request_id").to_pylist()
        positions = current.column("row").to_pylist()
        for i, key in enumerate(zip(ids, positions, strict=True)):
            found = latest.get((key[0], int(key[1])))
            if found is not None:
                labels[i] = found[1]
    scores = None
    if probas and preds:
        scores = np.column_stack(
            [current.column(n).to_numpy(zero_copy_only=False) for n in probas]
        ).astype(np.float64)
    labelled = sum(1 for v in labels if v is not None)
    return Joined(preds, labels, scores, classes, labelled, unknown)
