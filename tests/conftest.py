"""Shared fixtures: a fresh loopml home per test over each database backend."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.core.settings import Settings, load_settings
from loopml.sdk import Client

pytest_plugins = [
    "tests.plugins.db",
    "tests.plugins.s3",
    "tests.plugins.ray",
    "tests.plugins.server",
    "tests.plugins.models",
    "tests.plugins.order",
]

LOOPML_BIN = str(Path(sys.executable).with_name("loopml"))

# Each test process starts one fork server for the pipeline workers of all its tests; with
# scikit-learn preloaded there, a test's fresh pool does not import it again in every worker.
os.environ["LOOPML_WORKER_PRELOAD"] = "numpy,pandas,pyarrow.parquet,sklearn.linear_model"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return load_settings(
        env={}, home=str(tmp_path / "home"), db=db_url, blobs=str(tmp_path / "blobs")
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    c = Client(settings)
    yield c
    c.close()


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """Environment for a ``loopml`` subprocess that uses the same stores as ``client``."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    e.update(
        LOOPML_HOME=str(settings.home),
        LOOPML_DB=settings.db_url,
        LOOPML_BLOBS=settings.blobs_url,
        COLUMNS="200",
    )
    return e


def run_cli(
    env: dict[str, str], *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``loopml`` command as a user would."""
    return subprocess.run(
        [LOOPML_BIN, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
