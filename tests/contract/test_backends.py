"""The generation rule of the contract suite itself."""

from __future__ import annotations

import pytest

from loopml.sdk import Client
from tests.contract.conftest import Backend, remote_covers


@pytest.mark.services("runs.create_experiment", "runs.get_experiment", "runs.list_experiments")
def test_experiments_round_trip_on_every_backend(client: Client, backend: Backend) -> None:
    runs = client.services.runs
    created = runs.create_experiment("churn")
    assert runs.get_experiment("churn") == created
    assert [e.name for e in runs.list_experiments()] == ["churn"]
    assert (client.settings.uri is not None) == backend.remote


def test_remote_coverage_is_read_from_the_client_modules() -> None:
    assert remote_covers("runs.create_experiment")
    assert not remote_covers("runs.no_such_method")
    with pytest.raises(pytest.UsageError, match="unknown service"):
        remote_covers("nothing")
