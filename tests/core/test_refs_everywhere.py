"""One reference parser: datasets, run inputs, models and deployments read ``NAME``,
``NAME@N``, ``NAME/N`` and ``NAME@ALIAS`` the same way and refuse the same things."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from loopml.core.errors import InvalidInput, InvalidName, LoopError, NotFound
from loopml.sdk import Client

# reference to 'x' (a dataset and a model, 2 versions each), expected version or error class
REFS: list[tuple[str, int | type[LoopError]]] = [
    ("x", 2),
    ("x@1", 1),
    ("x/1", 1),
    ("x@2", 2),
    ("x@9", NotFound),
    ("x@0", InvalidInput),
    ("x/y", InvalidInput),
    ("x@", InvalidInput),
    ("", InvalidInput),
    ("../x", InvalidInput),
    ("-x@1", InvalidName),
    ("x@bad name", InvalidName),
    ("nope@1", NotFound),
]


def _outcome(read: Callable[[str], Any], text: str) -> int | type[LoopError]:
    try:
        found = read(text)
    except LoopError as exc:
        return type(exc)
    return int(found.version) if hasattr(found, "version") else int(str(found).split("@")[1])


def test_every_reader_of_references_agrees(client: Client, tmp_path: Path) -> None:
    for n in (1, 2):
        data = tmp_path / f"v{n}.csv"
        data.write_text(f"a\n{n}\n")
        client.datasets.push("x", data)
    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
    for _ in (1, 2):
        client.models.register("x", model)
    with client.tracking.start_run(experiment="e") as run:
        for text, expected in REFS:
            readers: dict[str, Callable[[str], Any]] = {
                "datasets.show": client.datasets.show,
                "run.log_input": run.log_input,
                "models.show": client.models.show,
            }
            outcomes = {name: _outcome(read, text) for name, read in readers.items()}
            assert set(outcomes.values()) == {expected}, (text, outcomes)
        client.models.set_alias("x", "production", 1)
        assert client.models.show("x@production").version == 1
        with pytest.raises(NotFound, match="datasets have no aliases"):
            client.datasets.show("x@production")
        with pytest.raises(NotFound, match="datasets have no aliases"):
            run.log_input("x@production")
