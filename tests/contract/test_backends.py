"""The generation rule of the contract suite itself."""

from __future__ import annotations

import pytest

from loopml import Client
from loopml.core.errors import OperationalError
from tests.contract.conftest import Backend, _served, remote_covers


def test_remote_coverage_is_read_from_the_client_modules() -> None:
    assert remote_covers("runs.create_experiment")
    assert not remote_covers("runs.no_such_method")
    with pytest.raises(pytest.UsageError, match="unknown service"):
        remote_covers("nothing")


@pytest.mark.blobs
def test_a_blob_test_gets_its_blob_store(client: Client, backend: Backend) -> None:
    s3 = backend.name.endswith("-s3")
    assert client.settings.blobs_url.startswith("s3://") == s3


class _HalfRemote:
    def get_run(self, run_id: str) -> str:
        return run_id

    def run(self, path: str) -> None:
        raise OperationalError(f"{path}: not carried over the wire yet")


def test_a_method_that_only_refuses_is_not_served() -> None:
    assert remote_covers("pipelines.get_run")
    assert remote_covers("pipelines.run")
    assert _served(_HalfRemote) == {"get_run"}
