"""Monitors through the monitoring service: a run compares the logged window with the
training data, joins feedback, judges rules, and stores the result with its alert events;
bad input is a clear error, and data that cannot be compared is said so.

The prediction log is written by playing the endpoint (tests/monitoring/conftest.py
``log_traffic``), next to the store: these tests are not marked for the remote backend, whose
log is the server's."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pytest

from loopml import Client, Conflict, InvalidInput, NotFound
from loopml.api.events import EventKind, MonitorAlert
from loopml.api.monitoring import DriftStatus
from tests.monitoring.conftest import FEATURES, log_traffic, make_data

RULES = ["dataset_drift", "drift:age", "drift:visits", "accuracy < registered - 0.05"]


def _alerts(client: Client) -> list[MonitorAlert]:
    events = client.services.events.read_after(0, kinds=[EventKind.MONITOR_ALERT], limit=100)
    return [e.payload for e in events if isinstance(e.payload, MonitorAlert)]


def test_shifted_traffic_drifts_loses_accuracy_and_alerts_with_the_result(
    client: Client, trained: tuple[Any, pd.DataFrame]
) -> None:
    spec = client.monitoring.add("churn@production", rules=RULES)
    assert spec.reference is None and spec.window_s == 3600
    shifted = make_data(400, seed=5, shift=1.0)
    log_traffic(client, shifted[FEATURES], labels=shifted["label"].tolist(), unknown_labels=3)
    result = client.monitoring.run("churn@production")

    assert result.status == "ok" and result.rows == 400 and result.versions == (1,)
    assert result.reference == "churn-data@1" and result.reference_rows == 600
    assert result.drift is not None
    assert set(result.drift.drifted_columns) == {"age", "income"}
    assert result.drift.dataset_drift is True
    assert result.drift.prediction is not None and result.drift.prediction.drifted
    q = result.quality
    assert q is not None and q.labelled_rows == 400 and q.coverage == 1.0
    assert q.unknown_labels == 3
    assert q.metrics["accuracy"] < result.registered["accuracy"] - 0.05
    assert "roc_auc" in q.metrics  # from the logged class probabilities
    # the estimate from probabilities, calibrated on the training data (label column: the one
    # column of the dataset that is not an input)
    est = result.estimate
    assert est is not None and est.rows == 400 and est.reference_rows == 600
    assert set(est.metrics) >= {"accuracy", "f1"}
    fired = {o.rule: o.fired for o in result.rules}
    assert fired == {
        "dataset_drift": True,
        "drift:age": True,
        "drift:visits": False,
        "accuracy < registered - 0.05": True,
    }
    # stored, and one event per fired rule, pointing at the stored result
    [stored] = client.monitoring.results("churn@production")
    assert stored == result
    alerts = _alerts(client)
    assert sorted(a.rule for a in alerts) == sorted(r for r, f in fired.items() if f)
    assert {a.result_id for a in alerts} == {result.id}
    assert {a.deployment for a in alerts} == {"churn@production"}


def test_same_distribution_does_not_drift_or_alert(
    client: Client, trained: tuple[Any, pd.DataFrame]
) -> None:
    client.monitoring.add(
        "churn@production", rules=["dataset_drift", "estimated.accuracy < registered - 0.1"]
    )
    same = make_data(300, seed=9)
    log_traffic(client, same[FEATURES])
    result = client.monitoring.run("churn@production")
    assert result.drift is not None and result.drift.dataset_drift is False
    # no labels yet: the estimate stands in, close to what the model scored on its training data
    est = result.estimate
    assert est is not None and est.reliable, est
    assert abs(est.metrics["accuracy"] - result.registered["accuracy"]) < 0.05
    assert [o.fired for o in result.rules] == [False, False]
    assert result.quality is not None and result.quality.labelled_rows == 0
    assert result.quality.coverage == 0.0 and "no labelled rows" in result.quality.note
    assert _alerts(client) == []


def test_a_window_without_traffic_is_said_so_and_decides_nothing(
    client: Client, trained: tuple[Any, pd.DataFrame]
) -> None:
    client.monitoring.add("churn@production", rules=["dataset_drift", "label_coverage < 0.5"])
    result = client.monitoring.run("churn@production", window="5m")
    assert result.status == "no_traffic" and result.rows == 0 and result.drift is None
    assert "no predictions of churn were logged" in result.note
    assert [o.fired for o in result.rules] == [None, None]
    assert "undecided" in result.rules[0].evidence
    assert _alerts(client) == []


def test_too_few_rows_is_not_enough_data_never_no_drift(
    client: Client, trained: tuple[Any, pd.DataFrame]
) -> None:
    client.monitoring.add("churn@production", rules=["dataset_drift"])
    log_traffic(client, make_data(8, seed=3, shift=3.0)[FEATURES])
    result = client.monitoring.run("churn@production")
    assert result.status == "not_enough_data" and result.drift is not None
    assert result.drift.dataset_drift is None
    assert {c.status for c in result.drift.columns} == {DriftStatus.NOT_ENOUGH_DATA}
    assert all(c.drifted is None and "8" in c.note for c in result.drift.columns)
    assert result.rules[0].fired is None


def test_bad_input_is_a_clear_error(client: Client, trained: tuple[Any, pd.DataFrame]) -> None:
    mon = client.monitoring
    with pytest.raises(NotFound, match="model 'nope' does not exist"):
        mon.add("nope@production")
    with pytest.raises(NotFound, match="has no monitor; add one with"):
        mon.run("churn@production")
    with pytest.raises(InvalidInput, match="cannot read rule"):
        mon.add("churn@production", rules=["accuracy <"])
    with pytest.raises(InvalidInput, match="no registered value"):
        mon.add("churn@production", rules=["label_coverage < registered"])
    with pytest.raises(InvalidInput, match="not a period"):
        mon.add("churn@production", window="soon")
    with pytest.raises(NotFound, match="no aliases"):
        mon.add("churn@production", reference="churn-data@latest")
    with pytest.raises(NotFound, match="churn-data"):
        mon.add("churn@production", reference="churn-data@9")
    client.models.register("bare", trained[0], input_example=trained[1][FEATURES].head(3))
    with pytest.raises(InvalidInput, match="no training dataset in its lineage"):
        mon.add("bare@1")
    assert mon.list() == []
    mon.add("churn@production", window="30m", every="1h")
    with pytest.raises(Conflict, match="has a monitor already"):
        mon.add("churn@production")
    with pytest.raises(InvalidInput, match="not both"):
        mon.run("churn@production", window="1h", since="2026-12-04T10:00")
    with pytest.raises(InvalidInput, match="ends before it starts"):
        mon.run("churn@production", since="2026-12-04T10:00", until="2026-12-04T09:00")
    [spec] = mon.list()
    assert spec.window_s == 1800 and spec.every_s == 3600
    assert mon.remove("churn@production") == 0 and mon.list() == []


def test_a_reference_that_no_longer_matches_the_signature_is_refused(
    client: Client, trained: tuple[Any, pd.DataFrame]
) -> None:
    client.datasets.push("other", pd.DataFrame({"colour": ["red"] * 50, "label": [1] * 50}))
    client.monitoring.add("churn@production", reference="other@1")
    log_traffic(client, make_data(50, seed=6)[FEATURES])
    with pytest.raises(InvalidInput, match="no longer matches the signature"):
        client.monitoring.run("churn@production")


def test_results_are_a_time_series_newest_first(
    client: Client, trained: tuple[Any, pd.DataFrame]
) -> None:
    from loopml.core.times import iso

    now = time.time()
    client.monitoring.add("churn@production", reference=f"traffic:{iso(now - 60)}/{iso(now + 600)}")
    log_traffic(client, make_data(60, seed=6)[FEATURES])
    for _ in range(3):
        client.monitoring.run("churn@production", window="10m")
    results = client.monitoring.results("churn@production", limit=2)
    assert [r.id for r in results] == sorted((r.id for r in results), reverse=True)
    assert len(results) == 2


def test_a_constant_column_is_compared_not_crashed_on(
    client: Client, trained: tuple[Any, pd.DataFrame]
) -> None:
    client.monitoring.add("churn@production")
    frame = make_data(120, seed=8)[FEATURES]
    frame["visits"] = 3.0  # one value in the whole window
    log_traffic(client, frame)
    result = client.monitoring.run("churn@production")
    assert result.drift is not None
    visits = next(c for c in result.drift.columns if c.column == "visits")
    assert visits.drifted is True and visits.statistic is not None


def test_a_regressor_is_judged_by_mae_rmse_and_r2_against_its_registered_rmse(
    client: Client,
) -> None:
    from sklearn.linear_model import LinearRegression

    data = make_data(400, seed=1)
    x, y = data[["age", "visits"]], data["income"]
    client.datasets.push("spend", pd.concat([x, y], axis=1))
    model = LinearRegression().fit(x, y)
    rmse = float(((model.predict(x) - y) ** 2).mean() ** 0.5)
    with client.tracking.start_run("monitoring") as run:
        run.log_input("spend@1")
    client.models.register(
        "spend", model, run=run.id, input_example=x.head(3), metrics={"rmse": rmse}
    )
    client.monitoring.add("spend@1", rules=["rmse > registered + 1", "r2 > 0.5"])
    current = make_data(200, seed=2)
    keys = log_traffic(
        client,
        current[["age", "visits"]],
        ref="spend@1",
        labels=(current["income"] + 20).tolist(),  # the world moved by 20
    )
    assert len(keys) == 200
    result = client.monitoring.run("spend@1")
    q = result.quality
    assert q is not None and q.task.value == "regression" and q.labelled_rows == 200
    assert set(q.metrics) == {"mae", "rmse", "r2"}
    assert q.metrics["rmse"] > rmse + 1
    assert result.estimate is None  # no probabilities for a regressor
    assert [o.fired for o in result.rules] == [True, False]
