"""The format of the prediction log, shared by the endpoint that writes it and the monitors
that read it. Pure: names and keys, no I/O.

Objects live under the log location (``Settings.monitoring_url``: a folder, or an S3 prefix
when the blobs are on S3) as Hive partitions, one Parquet file per flush::

    predictions/model=churn/date=2026-11-28/hour=14/part-<ms>-<pid>-<seq>.parquet
    feedback/model=churn/date=2026-11-28/hour=14/part-<ms>-<pid>-<seq>.parquet

A prediction row holds the input columns by name (``input.NAME`` when NAME is one of
:data:`META_COLUMNS`), ``prediction``, ``proba.<class>`` per class for classifiers,
``request_id``, ``row`` (its position in the request), ``timestamp`` (UTC, microseconds),
``model`` and ``model_version``. A feedback row holds ``request_id``, ``row`` (the row of the
request it labels; 0 when the label named none), ``label`` and ``timestamp``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

PREDICTIONS = "predictions"
FEEDBACK = "feedback"
KINDS = (PREDICTIONS, FEEDBACK)
META_COLUMNS = ("prediction", "request_id", "row", "timestamp", "model", "model_version")
PROBA_PREFIX = "proba."
HOUR_S = 3600


def input_column(name: str) -> str:
    """The log column of signature input ``name``."""
    return f"input.{name}" if name in META_COLUMNS or name.startswith(PROBA_PREFIX) else name


def hour_of(ts: float) -> str:
    """``2026-11-28T14``: the partition an event at ``ts`` (epoch seconds) is filed under."""
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%dT%H")


def partition(kind: str, model: str, hour: str) -> str:
    """The key prefix (a folder) of one hour of one model's log."""
    date, hh = hour.split("T")
    return f"{kind}/model={model}/date={date}/hour={hh}"


def hours(start: float, end: float) -> Iterator[str]:
    """Every hour partition that may hold an event in ``[start, end]``, oldest first."""
    t = int(start // HOUR_S) * HOUR_S
    while t <= end:
        yield hour_of(t)
        t += HOUR_S
