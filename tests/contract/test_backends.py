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
