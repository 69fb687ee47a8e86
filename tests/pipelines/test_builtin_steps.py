"""The standard training pipeline with the built-in steps: load a dataset version, register
the model, decide with deploy_if and move the alias with deploy."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.sdk import Client
from tests.pipelines import files

TRAINING = """
from loopml.pipelines import current_step, deploy, deploy_if, load_dataset, pipeline, register_model, step


@step
def train(df, C: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=200).fit(df[["x"]], df["y"])


@step
def evaluate(model, df):
    acc = float(model.score(df[["x"]], df["y"]))
    current_step().log_metric("accuracy", acc)
    return {"accuracy": acc}


@pipeline
def training(dataset: str = "points", C: float = 1.0, threshold: float = 0.5, alias: str = "production"):
    df = load_dataset(dataset)
    model = train(df, C=C)
    metrics = evaluate(model, df)
    version = register_model(model, name="points-model", metrics=metrics)
    deploy(deploy_if(version, metric="accuracy", threshold=threshold), alias=alias)


@pipeline
def challenger(dataset: str = "points", C: float = 1.0):
    df = load_dataset(dataset)
    model = train(df, C=C)
    version = register_model(model, name="points-model", metrics=evaluate(model, df))
    deploy(deploy_if(version, metric="accuracy", better_than="production"), alias="production")
"""


@pytest.fixture
def source(client: Client, tmp_path: Path) -> Path:
    import pandas as pd

    df = pd.DataFrame({"x": [float(i) for i in range(40)], "y": [int(i >= 20) for i in range(40)]})
    client.datasets.push("points", df)
    return files.write(tmp_path, "training.py", TRAINING)


def test_the_standard_pipeline_registers_and_deploys_with_lineage(
    client: Client, source: Path
) -> None:
    run = client.pipelines.run(f"{source}:training")
    assert run.status.value == "succeeded", run.error
    assert client.tracking.get_run(run.id).inputs == ("points@1",)
    assert run.step("load_dataset").datasets == ("points@1",)
    mv = client.models.show("points-model@production")
    assert mv.version == 1 and mv.run_id == run.id
    assert mv.datasets == ("points@1",)
    decision = run.step("deploy_if").decision
    assert decision is not None and decision["go"] is True
    assert "meets >= 0.5" in decision["reason"]


def test_a_condition_that_says_no_skips_deploy_and_records_why(
    client: Client, source: Path
) -> None:
    run = client.pipelines.run(f"{source}:training", {"threshold": 1.5})
    assert run.status.value == "succeeded"
    assert run.step("deploy").status.value == "skipped"
    assert "decided not to go on" in (run.step("deploy").error or "")
    decision = run.step("deploy_if").decision
    assert decision is not None and decision["go"] is False and "misses" in decision["reason"]
    assert client.models.list()[0].aliases == {}


def test_better_than_compares_with_the_alias_holder(client: Client, source: Path) -> None:
    client.pipelines.run(f"{source}:training")
    worse = client.pipelines.run(f"{source}:challenger", {"C": 1e-6})
    decision = worse.step("deploy_if").decision
    assert decision is not None and decision["go"] is False, decision
    assert "does not beat production (points-model@1)" in decision["reason"]
    assert client.models.show("points-model@production").version == 1


def test_a_new_dataset_version_invalidates_load_dataset(client: Client, source: Path) -> None:
    import pandas as pd

    client.pipelines.run(f"{source}:training")
    again = client.pipelines.run(f"{source}:training")
    assert {s.status.value for s in again.steps} == {"cached"}
    client.datasets.push("points", pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0, 0, 1, 1]}))
    third = client.pipelines.run(f"{source}:training")
    assert third.step("load_dataset").status.value == "succeeded"
    assert third.step("load_dataset").datasets == ("points@2",)
