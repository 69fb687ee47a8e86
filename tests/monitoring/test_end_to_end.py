"""The loop through a live endpoint: ``loopml serve`` (a real uvicorn process) gets shifted
traffic and feedback, ``loopml monitor run`` finds the drift and the accuracy drop, and the
alert events are readable by any consumer of the outbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loopml.api.events import EventKind
from loopml.core.settings import Settings, load_settings
from loopml.sdk import Client
from loopml.serving.predlog import read_log
from tests.conftest import run_cli
from tests.monitoring.conftest import FEATURES, make_data, train
from tests.serving.conftest import Server, env_for, start_server, wait_until


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Server]]:
    root = tmp_path_factory.mktemp("monitor-e2e")
    settings = load_settings(
        env={},
        home=str(root / "home"),
        db=f"sqlite:///{root / 'meta' / 'loopml.db'}",
        blobs=str(root / "blobs"),
    )
    client = Client(settings)
    try:
        train(client)
    finally:
        client.close()
    server = start_server(settings, "churn@production", "--max-latency-ms", "1")
    try:
        yield settings, server
    finally:
        server.stop()


def test_traffic_and_feedback_through_the_endpoint_raise_alerts(
    live: tuple[Settings, Server], tmp_path: Path
) -> None:
    settings, server = live
    env = env_for(settings)
    shifted = make_data(240, seed=11, shift=1.0)
    labels = []
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for i in range(0, len(shifted), 6):
            part = shifted.iloc[i : i + 6]
            res = http.post("/predict", json={"records": part[FEATURES].to_dict("records")})
            assert res.status_code == 200, res.text
            rid = res.json()["request_id"]
            labels += [
                {"request_id": rid, "row": j, "label": int(y)} for j, y in enumerate(part["label"])
            ]
        labels.append({"request_id": "never-sent", "label": 1})
        assert http.post("/feedback", json=labels).json()["accepted"] == len(labels)
    wait_until(
        lambda: (
            read_log(server.log_dir, "feedback", "churn").num_rows == len(labels)
            and read_log(server.log_dir, "predictions", "churn").num_rows == 240
        ),
        what="the endpoint's log",
    )
    added = run_cli(
        env,
        "monitor",
        "add",
        "churn@production",
        "--rule",
        "dataset_drift",
        "--rule",
        "accuracy < registered - 0.05",
        "--rule",
        "label_coverage < 0.5",
        "--column",
        "visits:test=ks,threshold=0.001",
    )
    assert added.returncode == 0, added.stderr
    res = run_cli(env, "monitor", "run", "churn@production", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["rows"] == 240 and out["status"] == "ok"
    assert sorted(out["drift"]["columns"][i]["column"] for i in range(3)) == sorted(FEATURES)
    drifted = {c["column"] for c in out["drift"]["columns"] if c["drifted"]}
    assert drifted == {"age", "income"}
    assert out["quality"]["labelled_rows"] == 240 and out["quality"]["unknown_labels"] == 1
    assert out["alerts"] == ["dataset_drift", "accuracy < registered - 0.05"]

    people = run_cli(env, "monitor", "run", "churn@production")
    assert people.returncode == 0, people.stderr
    for text in ("feature", "statistic", "threshold", "drifted", "dataset drift: yes", "ALERT"):
        assert text in people.stdout

    client = Client(settings)
    try:
        events = client.services.events.read_after(0, kinds=[EventKind.MONITOR_ALERT])
    finally:
        client.close()
    assert len(events) == 4  # two runs, two fired rules each
    assert {e.subject for e in events} == {"churn@production"}
    assert "age" in events[0].payload.evidence  # type: ignore[union-attr]

    report = run_cli(env, "monitor", "report", "churn@production", "--json")
    assert [r["id"] for r in json.loads(report.stdout)] == [2, 1]
    visits = next(c for c in out["drift"]["columns"] if c["column"] == "visits")
    assert visits["test"] == "ks" and visits["threshold"] == 0.001
    listed = run_cli(env, "monitor", "list")
    assert "churn@production" in listed.stdout and "dataset_drift" in listed.stdout
    page = tmp_path / "report.html"
    html = run_cli(env, "monitor", "report", "churn@production", "--html", str(page))
    assert html.returncode == 0, html.stderr
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html") or text.lower().startswith("<!doctype html")
    assert "income" in text and "age" in text
    shown = run_cli(env, "monitor", "show", "churn@production", "--json")
    assert json.loads(shown.stdout)["latest"]["id"] == 2


def test_cli_errors_exit_1_without_a_traceback(live: tuple[Settings, Server]) -> None:
    env = env_for(live[0])
    for args, message in [
        (("monitor", "run", "nope@production"), "has no monitor"),
        (("monitor", "add", "nope@production"), "model 'nope' does not exist"),
        (("monitor", "add", "churn@staging", "--rule", "accuracy <"), "cannot read rule"),
        (("monitor", "show", "churn@staging"), "has no monitor"),
        (("monitor", "add", "churn@production", "--window", "soon"), "not a period"),
        (("monitor", "add", "churn@production", "--column", "age:test=t"), "column option"),
    ]:
        res = run_cli(env, *args)
        assert res.returncode == 1, (args, res.stdout)
        assert res.stderr.startswith("error: ") and message in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
