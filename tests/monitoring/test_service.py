"""Monitors over prediction logs written or damaged on disk (a half-written file, missing
columns, a late label through the endpoint's logger); the rest of the monitoring service's
behaviour is in tests/contract/test_monitors.py."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from loopml.api.monitoring import DriftStatus
from loopml.sdk import Client
from tests.monitoring.conftest import FEATURES, log_traffic, make_data


def test_a_half_written_log_file_is_skipped_and_counted(
    client: Client, trained: tuple[Any, pd.DataFrame]
) -> None:
    from loopml.api.predlog import hour_of, partition

    client.monitoring.add("churn@production")
    log_traffic(client, make_data(100, seed=4)[FEATURES])
    folder = (
        client.settings.home
        / "monitoring"
        / partition("predictions", "churn", hour_of(time.time()))
    )
    (folder / "part-0-1-000001.parquet").write_bytes(b"PAR1\x00\x01truncated")
    result = client.monitoring.run("churn@production")
    assert result.skipped_files == 1 and result.rows == 100
    assert "1 unreadable log file(s) skipped" in result.note


def _write_log(client: Client, columns: dict[str, Any]) -> None:
    """One log file as an endpoint (an older one, or one fed odd data) would have written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from loopml.api.predlog import hour_of, partition

    now = pd.Timestamp.now(tz="UTC")
    n = len(next(iter(columns.values())))
    table = pa.table(
        {
            **columns,
            "prediction": [1] * n,
            "request_id": [f"x{i}" for i in range(n)],
            "row": pa.array([0] * n, pa.int32()),
            "timestamp": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
            "model": ["churn"] * n,
            "model_version": pa.array([1] * n, pa.int32()),
        }
    )
    hour = partition("predictions", "churn", hour_of(now.timestamp()))
    folder = client.settings.home / "monitoring" / hour
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-1-1-000001.parquet")


def test_a_column_missing_from_the_log_is_reported_not_compared(
    client: Client, trained: tuple[Any, pd.DataFrame]
) -> None:
    client.monitoring.add("churn@production")
    frame = make_data(200, seed=2)
    _write_log(client, {"age": frame["age"], "income": frame["income"]})  # no visits
    result = client.monitoring.run("churn@production")
    assert result.drift is not None
    visits = next(c for c in result.drift.columns if c.column == "visits")
    assert visits.drifted is None and visits.status == DriftStatus.MISSING_COLUMN
    assert "the log lacks visits" in result.note
    assert result.drift.dataset_drift is False  # age and income compared


def test_an_all_missing_column_is_said_so_never_no_drift(
    client: Client, trained: tuple[Any, pd.DataFrame]
) -> None:
    client.monitoring.add("churn@production")
    frame = make_data(200, seed=2)
    nan = [float("nan")] * 200
    _write_log(client, {"age": frame["age"], "income": frame["income"], "visits": nan})
    result = client.monitoring.run("churn@production")
    assert result.drift is not None
    visits = next(c for c in result.drift.columns if c.column == "visits")
    assert visits.drifted is None and visits.status == DriftStatus.ALL_MISSING
    q = next(c for c in result.drift.quality if c.column == "visits")
    assert q.missing_share_current == 1.0


def test_a_late_label_for_the_window_before_is_not_unknown(
    client: Client, trained: tuple[Any, pd.DataFrame]
) -> None:
    from loopml.serving.predlog import PredictionLogger

    client.monitoring.add("churn@production")
    before = log_traffic(client, make_data(40, seed=1)[FEATURES], prefix="a")
    boundary = time.time()
    log_traffic(client, make_data(60, seed=2)[FEATURES], prefix="b")
    logger = PredictionLogger(client.settings.monitoring_url, "churn", flush_s=60)
    logger.start()
    logger.log_feedback([(rid, 1, row) for rid, row in before] + [("stranger", 0, 0)])
    logger.close()
    result = client.monitoring.run("churn@production", since=boundary)
    q = result.quality
    assert result.rows == 60 and q is not None
    assert q.labelled_rows == 0 and q.unknown_labels == 1
