"""Test order: the few tests that take longest (30-75 s each) start first, so that with several
pytest processes none of them is left running alone at the end of the suite. The sort is
stable: every other test keeps its place."""

from __future__ import annotations

import pytest

SLOW_FIRST = (
    "tests/server/test_schemathesis.py",
    "tests/cli/test_demo_cli.py",
    "tests/monitoring/test_end_to_end.py",
    "tests/triggers/test_processes.py",
    "tests/models/test_concurrency.py",
)


def _rank(item: pytest.Item) -> int:
    for i, prefix in enumerate(SLOW_FIRST):
        if item.nodeid.startswith(prefix):
            return i
    return len(SLOW_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)
