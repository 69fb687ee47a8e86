"""Steps with effects (``@step(effects=True)``, the built-in ``deploy_if`` and ``deploy``) run
in every run: never from the step cache, never reused by a resume. Pure steps stay cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loopml import Client
from tests.pipelines import files

pytestmark = pytest.mark.services(
    "pipelines", "datasets", "models", "deployments", "runs", "search", "maintenance"
)

# Each effect appends a line to the file named by the `log` parameter, so the test counts
# what really ran, whatever the run records say.
EFFECTS = """
from pathlib import Path

from loopml.pipelines import pipeline, step


@step
def make(n: int):
    return list(range(n))


def notify_log(xs, log: str):
    with Path(log).open("a") as f:
        f.write(f"notified {sum(xs)}\\n")
    return len(Path(log).read_text().splitlines())


notify = step(effects=True, name="notify")(notify_log)
notify_even_if_cache_asked = step(effects=True, cache=True, name="notify2")(notify_log)


@step
def pure_twin(xs, log: str):
    return len(xs)


notify_by_option = pure_twin.with_options(name="notify3", effects=True)


@step
def after(count, fail_flag: str = ""):
    if fail_flag and Path(fail_flag).exists():
        raise RuntimeError("asked to fail")
    return count


@pipeline
def decorated(log: str, n: int = 3, fail_flag: str = ""):
    after(notify(make(n), log), fail_flag)


@pipeline
def cache_asked(log: str, n: int = 3, fail_flag: str = ""):
    after(notify_even_if_cache_asked(make(n), log), fail_flag)


@pipeline
def by_option(log: str, n: int = 3, fail_flag: str = ""):
    after(notify_by_option(make(n), log), fail_flag)
"""

OTHER_VARIANTS = [("cache_asked", "notify2", True), ("by_option", "notify3", False)]


def test_a_step_with_effects_runs_every_time_while_pure_steps_stay_cached(
    client: Client, tmp_path: Path
) -> None:
    check_effect_runs_every_time(client, tmp_path, "decorated", "notify", True)


@pytest.mark.local_only(
    "the coordinator decides which steps have effects in the caller's process in both modes; "
    "the decorated case covers the wire"
)
@pytest.mark.parametrize(("pipeline", "effect", "writes"), OTHER_VARIANTS)
def test_every_way_of_declaring_effects_runs_the_step_every_time(
    client: Client, tmp_path: Path, pipeline: str, effect: str, writes: bool
) -> None:
    check_effect_runs_every_time(client, tmp_path, pipeline, effect, writes)


def check_effect_runs_every_time(
    client: Client, tmp_path: Path, pipeline: str, effect: str, writes: bool
) -> None:
    source = files.write(tmp_path, "effects.py", EFFECTS)
    log = tmp_path / "effects.log"
    for i in range(3):
        run = client.pipelines.run(f"{source}:{pipeline}", {"log": str(log)})
        assert run.status.value == "succeeded", run.error
        assert run.step("make").status.value == ("succeeded" if i == 0 else "cached")
        assert run.step(effect).status.value == "succeeded"
        assert run.step(effect).cached_from is None
    lines = log.read_text().splitlines() if log.exists() else []
    assert lines == (["notified 3"] * 3 if writes else [])


def test_a_resumed_run_runs_its_steps_with_effects_again(client: Client, tmp_path: Path) -> None:
    source = files.write(tmp_path, "effects.py", EFFECTS)
    log, flag = tmp_path / "effects.log", tmp_path / "fail"
    flag.touch()
    params = {"log": str(log), "fail_flag": str(flag)}
    failed = client.pipelines.run(f"{source}:decorated", params)
    assert failed.status.value == "failed"
    assert failed.step("notify").status.value == "succeeded"
    flag.unlink()
    resumed = client.pipelines.resume(failed.id)
    assert resumed.status.value == "succeeded", resumed.error
    assert resumed.step("make").status.value == "cached"
    assert resumed.step("notify").status.value == "succeeded"
    assert log.read_text().splitlines() == ["notified 3", "notified 3"]


TRAINING = """
from loopml.pipelines import deploy, deploy_if, load_dataset, pipeline, register_model, step


@step
def train(df, C: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=200).fit(df[["x"]], df["y"])


@step
def evaluate(model, df):
    return {"accuracy": float(model.score(df[["x"]], df["y"]))}


@pipeline
def training(C: float = 1.0, threshold: float = 0.5):
    df = load_dataset("points")
    model = train(df, C=C)
    version = register_model(model, name="points-model", metrics=evaluate(model, df))
    deploy(deploy_if(version, metric="accuracy", threshold=threshold), alias="production")
"""


@pytest.fixture
def training(client: Client, tmp_path: Path) -> Path:
    import pandas as pd

    df = pd.DataFrame({"x": [float(i) for i in range(40)], "y": [int(i >= 20) for i in range(40)]})
    client.datasets.push("points", df)
    return files.write(tmp_path, "training.py", TRAINING)


def test_a_rerun_after_a_rollback_deploys_again(client: Client, training: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    old = LogisticRegression().fit(x, [0, 0, 1, 1])
    client.models.register("points-model", old, input_example=x[:2], metrics={"accuracy": 0.6})
    client.models.set_alias("points-model", "production", 1)
    first = client.pipelines.run(f"{training}:training")
    assert first.status.value == "succeeded", first.error
    assert client.models.show("points-model@production").version == 2
    client.deployments.rollback("points-model")
    assert client.models.show("points-model@production").version == 1
    again = client.pipelines.run(f"{training}:training")
    assert again.status.value == "succeeded", again.error
    for name in ("load_dataset", "train", "evaluate", "register_model"):
        assert again.step(name).status.value == "cached", name
    assert client.pipelines.load_output(again.id, "register_model") == "points-model@2"
    assert again.step("deploy_if").status.value == "succeeded"
    assert again.step("deploy").status.value == "succeeded"
    assert client.models.show("points-model@production").version == 2
    record = client.deployments.history("points-model")[0]
    assert (record.action.value, record.version, record.previous_version) == ("deploy", 2, 1)


GATED = """
from loopml.pipelines import deploy, deploy_if, pipeline


@pipeline
def challenger(version: str):
    deploy(deploy_if(version, metric="accuracy", better_than="production"))
"""


def test_the_gate_is_judged_against_the_alias_holder_of_the_moment(
    client: Client, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]])
    model = LogisticRegression().fit(x, [0, 1, 1, 0])
    for accuracy in (0.80, 0.90, 0.85):
        client.models.register("m", model, input_example=x[:2], metrics={"accuracy": accuracy})
    source = files.write(tmp_path, "gated.py", GATED)

    def challenge(holder: int, go: bool) -> None:
        run = client.pipelines.run(f"{source}:challenger", {"version": "m@3"})
        decision = run.step("deploy_if").decision
        assert run.step("deploy_if").status.value == "succeeded"
        assert decision is not None and decision["go"] is go, decision
        assert f"production (m@{holder}: " in decision["reason"]
        assert run.step("deploy").status.value == ("succeeded" if go else "skipped")
        assert client.models.show("m@production").version == (3 if go else holder)

    client.models.set_alias("m", "production", 1)
    challenge(holder=1, go=True)
    client.deployments.rollback("m")
    challenge(holder=1, go=True)
    client.models.set_alias("m", "production", 2)
    challenge(holder=2, go=False)
    client.models.set_alias("m", "production", 1)
    challenge(holder=1, go=True)
