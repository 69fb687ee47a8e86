"""Every tracking test starts with an empty active-run stack and leaves none behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.sdk import Client
from loopml.tracker import active
from loopml.tracker.tracker import Tracker


@pytest.fixture(autouse=True)
def empty_run_stack() -> Iterator[None]:
    token = active._stack.set(())
    yield
    active._stack.reset(token)


def another_tracker(client: Client, **options: float) -> Tracker:
    """A second client-side tracker over the same services, as another process has."""
    s = client.services
    return Tracker(s.runs, s.search, lambda: s.maintenance, **options)
