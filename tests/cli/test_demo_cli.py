"""``loopml demo`` end to end, twice in one home: the second run says what it really did."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tests.conftest import run_cli


def test_demo_runs_on_an_empty_home_then_reports_reuse_on_a_second_run(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env.update(LOOPML_HOME=str(tmp_path / "home"), COLUMNS="200")
    first = run_cli(env, "demo", "--json", cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    datasets = summary["datasets"]
    assert (datasets["v1"], datasets["v2"]) == ("demo-churn@1", "demo-churn@2")
    assert datasets["said"][0].startswith("dataset demo-churn: created version 1 (January export")
    assert datasets["said"][1].startswith("dataset demo-churn: created version 2 (February")
    assert "KiB" in datasets["said"][0]  # one size convention: binary units
    assert datasets["diff"]["tables"]
    assert summary["models"]["production"] in summary["models"]["versions"].values()
    production = summary["production"]
    assert production["burst"]["failed"] == 0 and production["feedback"] > 0
    pipeline = production["deployment"]["pipeline"]
    assert pipeline["second"]["steps"]["train"] == "cached"
    # the retrained model replaced production while requests kept coming, none failed
    swap = production["during_deployment"]
    assert swap["failed"] == 0
    deployed = production["deployment"]["deployed_version"]
    assert deployed is not None and swap["versions_seen"][-1] == deployed
    # the shifted traffic after it: drifted features, the accuracy drop, both alerts
    monitoring = summary["monitoring"]
    assert monitoring["rows"] == 600 and monitoring["dataset_drift"] is True
    assert {"tenure_months", "monthly_charges", "support_calls"} <= set(monitoring["drifted"])
    assert monitoring["accuracy"] < monitoring["registered_accuracy"] - 0.05
    assert monitoring["alerts"] == ["dataset_drift", "accuracy < registered - 0.05"]
    # the alerts fired the alert: trigger, a new dataset version the dataset: trigger (once
    # each: the alert trigger's cooldown folds the two alerts); a worker retrained on both
    triggered = summary["triggers"]
    assert triggered["dataset"] == "demo-churn@3" and triggered["fired"] == 2
    jobs = triggered["jobs"]
    assert sorted(j["trigger"] for j in jobs) == ["demo-retrain", "demo-retrain-on-alert"]
    assert all(j["status"] == "succeeded" and j["run_id"] for j in jobs)

    second = run_cli(env, "demo", cwd=tmp_path, timeout=300)
    assert second.returncode == 0, second.stderr
    out = second.stdout
    assert "dataset demo-churn: version 1 already has this content (reused)" in out
    assert "dataset demo-churn: version 2 already has this content (reused)" in out
    assert "created version" not in out
    assert "two candidates on demo-churn@1" in out
    assert f"production: already demo-churn@{deployed}" in out
    assert f"production: demo-churn@production stays at version {deployed}" in out
    # the new candidates got new numbers (4 is the triggered retrain of the first run),
    # printed from what the registry returned
    assert re.search(r"│ logreg +│ \w+ +│ 5 ", out) and re.search(r"│ forest +│ \w+ +│ 6 ", out)
    assert "KiB" in out and " bytes" not in out
    assert "monitor of demo-churn@production: already there" in out
    assert "ALERT dataset_drift" in out
    assert "trigger demo-retrain: already there" in out
    assert "trigger demo-retrain-on-alert: already there" in out
    assert "dataset demo-churn: version 3 already has this content (reused)" in out
    assert "worker: nothing to run" in out

    listed = json.loads(run_cli(env, "datasets", "list", "--json", cwd=tmp_path).stdout)
    assert [(d["name"], d["version_count"]) for d in listed] == [("demo-churn", 3)]
