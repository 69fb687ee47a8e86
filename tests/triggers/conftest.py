"""Trigger test helpers: a trivially cheap pipeline file, datasets to watch, events appended
straight to the outbox (as the writers append them)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from loopml.api.events import DatasetVersionCreated
from loopml.meta.events import append_event
from loopml.sdk import Client

CHEAP = """
from loopml.pipelines import pipeline, step


@step
def echo(dataset: str) -> str:
    if dataset.startswith("fail"):
        raise ValueError(f"cannot train on {dataset}")
    return dataset


@pipeline
def training(dataset: str = "none"):
    echo(dataset)
"""


@pytest.fixture
def pipeline_file(tmp_path: Path) -> Path:
    path = tmp_path / "cheap.py"
    path.write_text(textwrap.dedent(CHEAP))
    return path


def make_datasets(client: Client, tmp_path: Path, names: list[str]) -> None:
    for name in names:
        src = tmp_path / f"{name}.csv"
        src.write_text(f"a,b\n1,{name}\n")
        client.datasets.push(name, src)


def append_dataset_events(client: Client, events: list[tuple[str, int]]) -> None:
    """New-version events for (dataset, version) pairs, in one transaction."""
    with client.stores.meta.write() as conn:
        for name, version in events:
            append_event(conn, DatasetVersionCreated(name, version, f"digest-{version}"))
