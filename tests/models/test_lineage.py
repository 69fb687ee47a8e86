"""``run=`` against a stand-in tracking service and rows written directly: a version takes
its metrics, params and training datasets from the run (the same through the real services is
in tests/contract/test_lineage.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from loopml.core.errors import InvalidInput, NotFound
from loopml.meta.engine import MetaStore
from loopml.meta.tables import experiments, model_versions, models, runs
from loopml.models import ModelService
from loopml.sdk import Client
from tests.models.conftest import count_rows, event_rows


@dataclass(frozen=True)
class FakeRun:
    id: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()


class FakeTracking:
    """An in-memory stand-in for the tracking service's ``get_run``."""

    def __init__(self, *found: FakeRun) -> None:
        self.runs = {r.id: r for r in found}

    def get_run(self, run_id: str) -> FakeRun:
        if run_id not in self.runs:
            raise NotFound(f"run {run_id!r} does not exist")
        return self.runs[run_id]


def _insert_run(meta: MetaStore, run_id: str) -> None:
    now = time.time()
    with meta.write() as conn:
        eid = conn.execute(
            experiments.insert().values(name="exp", created_at=now, created_by="t")
        ).inserted_primary_key[0]
        conn.execute(
            runs.insert().values(
                id=run_id,
                experiment_id=eid,
                name="r",
                status="finished",
                start_time=now,
                created_by="t",
                code={},
                environment={},
            )
        )


RUN = FakeRun(
    "a" * 32,
    params={"C": "0.5", "solver": "lbfgs"},
    metrics={"auc": 0.93, "loss": 0.2},
    inputs=("churn@3", "holidays@1"),
)


def test_metrics_params_and_datasets_default_to_the_runs(client: Client, array_clf: Any) -> None:
    _insert_run(client.stores.meta, RUN.id)
    svc = ModelService(client.stores, tracking=FakeTracking(RUN))
    v = svc.register("m", array_clf, run=RUN.id)
    shown = svc.show("m@1")
    assert shown == v
    assert shown.run_id == RUN.id
    assert shown.metrics == {"auc": 0.93, "loss": 0.2}
    assert shown.params == {"C": "0.5", "solver": "lbfgs"}
    assert shown.datasets == ("churn@3", "holidays@1")
    assert event_rows(client.stores.meta, "model.version_created")[0].payload["run_id"] == RUN.id


def test_given_metrics_and_params_win_over_the_runs(client: Client, array_clf: Any) -> None:
    _insert_run(client.stores.meta, RUN.id)
    svc = ModelService(client.stores, tracking=FakeTracking(RUN))
    v = svc.register("m", array_clf, run=RUN, metrics={"acc": 0.8}, params={"C": 2})
    assert (v.metrics, v.params, v.datasets) == ({"acc": 0.8}, {"C": 2}, ("churn@3", "holidays@1"))


def test_unknown_run_registers_nothing(client: Client, array_clf: Any) -> None:
    svc = ModelService(client.stores, tracking=FakeTracking())
    with pytest.raises(NotFound, match="does not exist"):
        svc.register("m", array_clf, run="b" * 32)
    assert count_rows(client.stores.meta, model_versions) == 0


def test_a_run_missing_from_the_database_fails_inside_the_transaction_and_leaves_nothing(
    client: Client, array_clf: Any
) -> None:
    # The tracking side knows the run but the database does not: the version insert fails on
    # the foreign key, after the files were stored and the model row was created.
    svc = ModelService(client.stores, tracking=FakeTracking(RUN))
    with pytest.raises(NotFound, match=f"run '{RUN.id}' does not exist"):
        svc.register("m", array_clf, run=RUN.id)
    meta = client.stores.meta
    assert count_rows(meta, models) == 0
    assert count_rows(meta, model_versions) == 0
    assert event_rows(meta, "model.version_created") == []


def test_run_without_tracking_says_how_to_connect_it(client: Client, array_clf: Any) -> None:
    with pytest.raises(InvalidInput, match="run= needs experiment tracking"):
        ModelService(client.stores).register("m", array_clf, run="c" * 32)


def test_bad_metrics_from_a_run_are_refused(client: Client, array_clf: Any) -> None:
    bad = FakeRun("d" * 32, metrics={"auc": float("nan")})
    svc = ModelService(client.stores, tracking=FakeTracking(bad))
    with pytest.raises(InvalidInput, match="metric 'auc' must be a finite number"):
        svc.register("m", array_clf, run=bad.id)
