"""``loopml serve`` as clients use it: the three /predict forms, the v2 protocol, metadata,
metrics, feedback and the prediction log, over real HTTP to a real uvicorn process."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import httpx
import numpy as np
import pandas as pd

from loopml.serving.predlog import read_log
from tests.serving.conftest import Server, metric, wait_until

Cancer = tuple[pd.DataFrame, np.ndarray]


def _records(cancer: Cancer, n: int, start: int = 0) -> list[dict[str, Any]]:
    return cancer[0].iloc[start : start + n].to_dict(orient="records")


def test_the_three_predict_forms_agree_with_the_model(
    http: httpx.Client, cancer: Cancer, two_models: list[Any]
) -> None:
    x = cancer[0].head(7)
    expected = two_models[0][0].predict(x).tolist()
    bodies = [
        {"records": x.to_dict(orient="records")},
        {"instances": x.to_numpy().tolist()},
        {"columns": list(x.columns), "data": x.to_numpy().tolist()},
        {"columns": list(x.columns[::-1]), "data": x[x.columns[::-1]].to_numpy().tolist()},
        {"instances": x.to_dict(orient="records")},
    ]
    for body in bodies:
        res = http.post("/predict", json=body)
        assert res.status_code == 200, res.text
        out = res.json()
        assert out["predictions"] == expected
        assert out["model"] == "cancer" and out["version"] == 1
        assert out["request_id"] == res.headers["x-request-id"]


def test_a_client_request_id_is_kept(http: httpx.Client, cancer: Cancer) -> None:
    res = http.post(
        "/predict", json={"records": _records(cancer, 1)}, headers={"x-request-id": "abc-123"}
    )
    assert res.status_code == 200 and res.json()["request_id"] == "abc-123"
    assert http.get("/health").headers["x-request-id"]


def test_v2_protocol_health_metadata_and_infer(
    http: httpx.Client, cancer: Cancer, two_models: list[Any]
) -> None:
    assert http.get("/v2/health/ready").json()["ready"] is True
    assert http.get("/v2/health/live").status_code == 200
    assert http.get("/v2").json()["name"] == "loopml"
    meta = http.get("/v2/models/cancer").json()
    assert meta["name"] == "cancer" and meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]] == list(cancer[0].columns)
    assert http.get("/v2/models/cancer/ready").json()["ready"] is True
    x = cancer[0].head(3)
    expected = two_models[0][0].predict(x).tolist()
    tensor = {
        "name": "x",
        "shape": [3, 30],
        "datatype": "FP64",
        "data": x.to_numpy().ravel().tolist(),
    }
    res = http.post("/v2/models/cancer/infer", json={"id": "r1", "inputs": [tensor]})
    assert res.status_code == 200, res.text
    out = res.json()
    assert out["model_name"] == "cancer" and out["model_version"] == "1" and out["id"] == "r1"
    assert out["outputs"][0]["shape"] == [3] and out["outputs"][0]["data"] == expected
    assert out["request_id"]
    nested = {**tensor, "data": x.to_numpy().tolist()}
    assert (
        http.post("/v2/models/cancer/infer", json={"inputs": [nested]}).json()["outputs"][0]["data"]
        == expected
    )
    by_column = [
        {"name": c, "shape": [3], "datatype": "FP64", "data": x[c].tolist()} for c in x.columns
    ]
    res = http.post("/v2/models/cancer/versions/1/infer", json={"inputs": by_column})
    assert res.status_code == 200 and res.json()["outputs"][0]["data"] == expected


def test_metadata_health_ready(http: httpx.Client) -> None:
    meta = http.get("/metadata").json()
    assert meta["model"] == "cancer" and meta["version"] == 1
    assert meta["signature"]["inputs"]["type"] == "columns" and meta["loaded_at"] > 0
    assert meta["reference"] == "cancer@production"
    assert http.get("/health").json()["status"] == "ok"
    assert http.get("/ready").json() == {"ready": True, "model": "cancer", "version": 1}


def test_concurrent_requests_are_batched_and_answered_each_their_own(
    http: httpx.Client, server: Server, cancer: Cancer, two_models: list[Any]
) -> None:
    x = cancer[0]
    expected = two_models[0][0].predict(x).tolist()

    def one(i: int) -> tuple[int, list[int]]:
        n = 1 + i % 5
        res = http.post("/predict", json={"records": _records(cancer, n, i)})
        assert res.status_code == 200, res.text
        return i, res.json()["predictions"]

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        results = list(pool.map(one, range(300)))
    for i, predictions in results:
        assert predictions == expected[i : i + 1 + i % 5]
    metrics = http.get("/metrics").text
    singles = metric(metrics, "loopml_batch_rows_bucket", le="1.0")
    calls = metric(metrics, "loopml_batch_rows_count")
    requests = metric(metrics, "loopml_request_rows_count")
    assert singles is not None and calls is not None and requests is not None
    assert calls > singles, "some predict call held more than one row"
    assert calls < requests, "fewer predict calls than requests"


def test_metrics_are_prometheus_text_with_the_same_names(
    http: httpx.Client, cancer: Cancer
) -> None:
    http.post("/predict", json={"records": _records(cancer, 2)})
    http.post("/predict", json={"records": [{}]})
    res = http.get("/metrics")
    assert res.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = res.text
    assert metric(text, "loopml_requests_total", route="/predict", status="200")
    assert metric(text, "loopml_requests_total", route="/predict", status="422")
    assert metric(text, "loopml_request_duration_seconds_bucket", route="/predict", le="+Inf")
    assert metric(text, "loopml_model_version", model="cancer") == 1
    assert metric(text, "loopml_model_loaded_timestamp_seconds", model="cancer")
    assert metric(text, "loopml_prediction_log_dropped_total") == 0
    assert metric(text, "loopml_prediction_log_failed_rows_total") == 0
    for name in (
        "loopml_prediction_log_rows_total",
        "loopml_prediction_log_queued",
        "loopml_model_swaps_total",
        "loopml_model_swap_failures_total",
        "loopml_process_start_time_seconds",
    ):
        assert metric(text, name) is not None, name
    assert "_created" not in text


def test_predictions_and_feedback_reach_parquet_within_a_second(
    http: httpx.Client, server: Server, cancer: Cancer, two_models: list[Any]
) -> None:
    res = http.post(
        "/predict", json={"records": _records(cancer, 3, 10)}, headers={"x-request-id": "log-me"}
    )
    assert res.status_code == 200
    fb = http.post(
        "/feedback",
        json=[{"request_id": "log-me", "label": 1}, {"request_id": "log-me", "label": 0, "row": 2}],
    )
    assert fb.status_code == 200 and fb.json()["accepted"] == 2
    assert http.post("/feedback", json={"request_id": "log-me", "label": "yes"}).status_code == 200

    def logged() -> Any:
        table = read_log(server.log_dir, "predictions", "cancer")
        if table.num_rows == 0:
            return None
        rows = table.to_pandas()
        return (
            [rows[rows.request_id == "log-me"]]
            if (rows.request_id == "log-me").sum() == 3
            else None
        )

    [rows] = wait_until(logged, timeout=3.0, what="the logged prediction")
    assert rows["row"].tolist() == [0, 1, 2]
    assert rows["mean radius"].tolist() == cancer[0]["mean radius"].iloc[10:13].tolist()
    assert set(rows["model_version"]) == {1} and set(rows["model"]) == {"cancer"}
    assert rows["prediction"].tolist() == res.json()["predictions"]
    # a classifier logs its class probabilities beside the prediction, computed off the path
    expected = two_models[0][0].predict_proba(cancer[0].iloc[10:13])
    assert np.allclose(rows[["proba.0", "proba.1"]].to_numpy(), expected)
    feedback = wait_until(
        lambda: (t := read_log(server.log_dir, "feedback", "cancer")).num_rows >= 3 and t,
        timeout=3.0,
        what="the logged feedback",
    )
    assert "log-me" in feedback.column("request_id").to_pylist()
    mine = [
        (r, lab)
        for rid, r, lab in zip(
            *(feedback.column(c).to_pylist() for c in ("request_id", "row", "label")), strict=True
        )
        if rid == "log-me"
    ]
    # labels of mixed kinds in one flush are kept as text
    assert sorted((r, str(lab)) for r, lab in mine) == [(0, "1"), (0, "yes"), (2, "0")]
