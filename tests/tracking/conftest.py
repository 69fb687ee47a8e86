"""Every tracking test starts with an empty active-run stack and leaves none behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.tracking import active


@pytest.fixture(autouse=True)
def empty_run_stack() -> Iterator[None]:
    token = active._stack.set(())
    yield
    active._stack.reset(token)
