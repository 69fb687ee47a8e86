"""Experiments through the runs service alone (no client-side tracker), so the test runs on
the remote backend as soon as these three calls are served."""

from __future__ import annotations

import pytest

from loopml import Client, Conflict, NotFound


@pytest.mark.services("runs.create_experiment", "runs.get_experiment", "runs.list_experiments")
def test_experiments_through_the_runs_service(client: Client) -> None:
    runs = client.services.runs
    with pytest.raises(NotFound, match="created by its first run"):
        runs.get_experiment("churn")
    created = runs.create_experiment("churn")
    assert runs.get_experiment("churn") == created
    with pytest.raises(Conflict):
        runs.create_experiment("churn")
    assert [e.name for e in runs.list_experiments()] == ["churn"]
