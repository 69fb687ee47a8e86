"""The standard training pipeline with the built-in steps: load a dataset version, register
the model, decide with deploy_if and deploy with deploy. deploy_if and deploy go through the
deployment service, so their gates, records and rollbacks are those of ``loopml deploy``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loopml import Client
from loopml.api.deployments import DeploymentStatus
from tests.pipelines import files

pytestmark = pytest.mark.services(
    "pipelines", "datasets", "models", "deployments", "runs", "search", "maintenance"
)

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

GATED = """
from loopml.pipelines import deploy, deploy_if, pipeline


@pipeline
def by_threshold(version: str, metric: str, threshold: float, mode: str = "max"):
    deploy(deploy_if(version, metric=metric, threshold=threshold, mode=mode))


@pipeline
def by_alias(version: str, metric: str, better_than: str = "production", mode: str = "max"):
    deploy(deploy_if(version, metric=metric, better_than=better_than, mode=mode))


@pipeline
def both(version: str):
    deploy(deploy_if(version, metric="accuracy", threshold=0.5, better_than="production"))


@pipeline
def odd_metric(version: str):
    deploy(deploy_if(version, metric="val loss", threshold=0.5))
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
    assert decision["reason"].startswith("accuracy ") and ">= 0.5: passes" in decision["reason"]


@pytest.mark.services("events")
def test_a_pipeline_deploy_is_recorded_in_deployment_history(client: Client, source: Path) -> None:
    run = client.pipelines.run(f"{source}:training")
    assert run.status.value == "succeeded", run.error
    (record,) = client.deployments.history("points-model")
    assert record.status is DeploymentStatus.DEPLOYED and record.action.value == "deploy"
    assert (record.alias, record.version, record.previous_version) == ("production", 1, None)
    assert record.selector == "version:1"
    assert client.pipelines.load_output(run.id, "deploy") == record.to_dict()
    kinds = [e.kind.value for e in client.services.events.read_after(0, limit=1000)]
    assert kinds.count("deployment.recorded") == 1


def test_a_pipeline_deploy_can_be_rolled_back(client: Client, source: Path) -> None:
    client.pipelines.run(f"{source}:training")
    second = client.pipelines.run(f"{source}:training", {"C": 2.0})
    assert second.status.value == "succeeded", second.error
    assert client.models.show("points-model@production").version == 2
    assert client.deployments.history("points-model")[0].previous_version == 1
    back = client.deployments.rollback("points-model")
    assert (back.action.value, back.version, back.previous_version) == ("rollback", 1, 2)
    assert client.models.show("points-model@production").version == 1


def test_a_condition_that_says_no_skips_deploy_and_records_the_gate_reason(
    client: Client, source: Path
) -> None:
    run = client.pipelines.run(f"{source}:training", {"threshold": 1.5})
    assert run.status.value == "succeeded"
    assert run.step("deploy").status.value == "skipped"
    assert "decided not to go on" in (run.step("deploy").error or "")
    decision = run.step("deploy_if").decision
    _, gate = client.deployments.check("points-model", version=1, gate="accuracy >= 1.5")
    assert decision == {"go": False, "reason": gate.reason}
    assert decision["reason"].endswith(">= 1.5: fails")
    assert client.models.list()[0].aliases == {}
    assert client.deployments.history("points-model") == []


def test_better_than_compares_with_the_alias_holder(client: Client, source: Path) -> None:
    client.pipelines.run(f"{source}:training")
    worse = client.pipelines.run(f"{source}:challenger", {"C": 1e-6})
    decision = worse.step("deploy_if").decision
    assert decision is not None and decision["go"] is False, decision
    assert "> production (points-model@1: " in decision["reason"]
    assert decision["reason"].endswith(": fails")
    assert client.models.show("points-model@production").version == 1
    assert len(client.deployments.history("points-model")) == 1


@pytest.fixture
def registry(client: Client, tmp_path: Path) -> tuple[Client, Path]:
    """Model m: versions 1-3 with accuracy 0.80, 0.90, 0.85 and rmse 3, 2, 1; version 4 has
    only rmse 0.5; no aliases. Returns the client and the GATED pipelines' file."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]])
    model = LogisticRegression().fit(x, [0, 1, 1, 0])
    metrics: list[dict[str, float]] = [
        {"accuracy": 0.80, "rmse": 3.0},
        {"accuracy": 0.90, "rmse": 2.0},
        {"accuracy": 0.85, "rmse": 1.0},
        {"rmse": 0.5},
    ]
    for m in metrics:
        client.models.register("m", model, input_example=x[:2], metrics=m)
    return client, files.write(tmp_path, "gated.py", GATED)


GATE_CASES = ("pipeline", "params", "production", "gate", "go")


@pytest.mark.parametrize(
    GATE_CASES,
    [
        ("by_threshold", {"version": "m@2", "metric": "accuracy", "threshold": 0.9}, None,
         "accuracy >= 0.9", True),
        ("by_alias", {"version": "m@3", "metric": "accuracy"}, 2, "accuracy > production",
         False),
    ],
)  # fmt: skip
def test_deploy_if_asks_the_deployment_gate_in_both_modes(
    registry: tuple[Client, Path],
    pipeline: str,
    params: dict[str, Any],
    production: int | None,
    gate: str,
    go: bool,
) -> None:
    check_deploy_if_asks_the_gate(registry, pipeline, params, production, gate, go)


@pytest.mark.local_only(
    "the gate is judged by the same deployment service in both modes; the two cases above "
    "cover the wire"
)
@pytest.mark.parametrize(
    GATE_CASES,
    [
        ("by_threshold", {"version": "m@3", "metric": "accuracy", "threshold": 0.9}, None,
         "accuracy >= 0.9", False),
        ("by_threshold", {"version": "m@3", "metric": "rmse", "threshold": 1.0, "mode": "min"},
         None, "rmse <= 1.0", True),
        ("by_threshold", {"version": "m@2", "metric": "rmse", "threshold": 1.5, "mode": "min"},
         None, "rmse <= 1.5", False),
        ("by_alias", {"version": "m@3", "metric": "accuracy"}, 1, "accuracy > production", True),
        ("by_alias", {"version": "m@3", "metric": "rmse", "mode": "min"}, 2,
         "rmse < production", True),
        ("by_alias", {"version": "m@1", "metric": "rmse", "mode": "min"}, 2,
         "rmse < production", False),
        ("by_alias", {"version": "m@1", "metric": "accuracy"}, None, "accuracy > production",
         True),
    ],
)  # fmt: skip
def test_deploy_if_asks_the_deployment_gate_for_every_kind_of_gate(
    registry: tuple[Client, Path],
    pipeline: str,
    params: dict[str, Any],
    production: int | None,
    gate: str,
    go: bool,
) -> None:
    check_deploy_if_asks_the_gate(registry, pipeline, params, production, gate, go)


def check_deploy_if_asks_the_gate(
    registry: tuple[Client, Path],
    pipeline: str,
    params: dict[str, Any],
    production: int | None,
    gate: str,
    go: bool,
) -> None:
    client, source = registry
    if production is not None:
        client.models.set_alias("m", "production", production)
    number = int(params["version"].split("@")[1])
    _, expected = client.deployments.check("m", version=number, gate=gate)
    assert expected.passed is go
    run = client.pipelines.run(f"{source}:{pipeline}", params)
    assert run.status.value == "succeeded", run.error
    assert run.step("deploy_if").decision == {"go": go, "reason": expected.reason}
    assert run.step("deploy").status.value == ("succeeded" if go else "skipped")
    assert client.models.list()[0].aliases.get("production") == (number if go else production)
    history = client.deployments.history("m")
    assert [(d.version, d.status) for d in history] == (
        [(number, DeploymentStatus.DEPLOYED)] if go else []
    )


def test_deploy_if_refuses_when_the_alias_holder_lacks_the_metric(
    registry: tuple[Client, Path],
) -> None:
    client, source = registry
    client.models.set_alias("m", "production", 4)
    run = client.pipelines.run(f"{source}:by_alias", {"version": "m@2", "metric": "accuracy"})
    assert run.status.value == "succeeded", run.error
    decision = run.step("deploy_if").decision
    assert decision == {
        "go": False,
        "reason": "production (m@4) records no metric 'accuracy' to compare with",
    }
    assert run.step("deploy").status.value == "skipped"
    assert client.models.show("m@production").version == 4


def test_deploy_if_refuses_a_version_without_the_metric(registry: tuple[Client, Path]) -> None:
    client, source = registry
    run = client.pipelines.run(
        f"{source}:by_threshold", {"version": "m@4", "metric": "accuracy", "threshold": 0.5}
    )
    assert run.status.value == "succeeded", run.error
    decision = run.step("deploy_if").decision
    assert decision == {"go": False, "reason": "m@4 records no metric 'accuracy' (it has: rmse)"}
    assert client.deployments.history("m") == []


@pytest.mark.parametrize(
    ("pipeline", "match"),
    [("both", "exactly one of threshold"), ("odd_metric", "cannot gate on metric 'val loss'")],
)
def test_deploy_if_rejects_arguments_it_cannot_turn_into_a_gate(
    registry: tuple[Client, Path], pipeline: str, match: str
) -> None:
    client, source = registry
    run = client.pipelines.run(f"{source}:{pipeline}", {"version": "m@2"})
    assert run.status.value == "failed"
    assert match in (run.step("deploy_if").error or "")
    assert run.step("deploy").status.value == "skipped"


def test_a_new_dataset_version_invalidates_load_dataset(client: Client, source: Path) -> None:
    import pandas as pd

    client.pipelines.run(f"{source}:training")
    again = client.pipelines.run(f"{source}:training")
    pure = {s.name: s.status.value for s in again.steps if s.name not in ("deploy_if", "deploy")}
    assert set(pure.values()) == {"cached"}
    client.datasets.push("points", pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0, 0, 1, 1]}))
    third = client.pipelines.run(f"{source}:training")
    assert third.step("load_dataset").status.value == "succeeded"
    assert third.step("load_dataset").datasets == ("points@2",)
