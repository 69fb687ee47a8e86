"""The generation rule of the contract suite itself."""

from __future__ import annotations

import pytest

from loopml import Client
from tests.contract.conftest import Backend, remote_covers


def test_remote_coverage_is_read_from_the_client_modules() -> None:
    assert remote_covers("runs.create_experiment")
    assert not remote_covers("runs.no_such_method")
    with pytest.raises(pytest.UsageError, match="unknown service"):
        remote_covers("nothing")


@pytest.mark.blobs
def test_a_blob_test_gets_its_blob_store(client: Client, backend: Backend) -> None:
    s3 = backend.name.endswith("-s3")
    assert client.settings.blobs_url.startswith("s3://") == s3


def test_a_method_that_only_refuses_is_not_served() -> None:
    assert remote_covers("pipelines.get_run")
    assert not remote_covers("pipelines.run")  # raises OperationalError: not over the wire yet
