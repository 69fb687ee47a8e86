"""The hot swap follows the typed events through an EventReader and its own cursor: which
events move the served reference, and which do not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from loopml.api.events import (
    Event,
    EventKind,
    ModelAliasChanged,
    ModelAliasDeleted,
    ModelVersionCreated,
    Payload,
    RunStarted,
)
from loopml.core.refs import parse_ref
from loopml.serving.swap import AliasWatcher, ModelHolder


class ListReader:
    """An in-memory EventReader over a list of payloads (ids 1, 2, …)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.cursors: list[int] = []

    def add(self, *payloads: Payload) -> None:
        for p in payloads:
            self.events.append(Event(len(self.events) + 1, p.kind, p.subject, p, 0.0))

    def read_after(
        self,
        cursor: int,
        kinds: Iterable[EventKind | str] | None = None,
        limit: int = 100,
        wait: float = 0.0,
    ) -> list[Event]:
        self.cursors.append(cursor)
        wanted = set(EventKind) if kinds is None else {EventKind(k) for k in kinds}
        return [e for e in self.events if e.id > cursor and e.kind in wanted][:limit]

    def latest_cursor(self) -> int:
        return len(self.events)


@dataclass
class Served:
    version: int


@dataclass
class Counters:
    swaps: int = 0
    swap_failures: int = 0


def _watcher(reader: ListReader, ref: str, target: list[int]) -> AliasWatcher:
    counters: Any = Counters()
    holder = ModelHolder(Served(1))  # type: ignore[arg-type]
    return AliasWatcher(
        reader,
        parse_ref(ref, "model reference"),
        holder,
        resolve=lambda: target[0],
        load=lambda v: Served(v),  # type: ignore[arg-type,return-value]
        metrics=counters,
        after_id=reader.latest_cursor(),
    )


@pytest.mark.parametrize(
    ("ref", "payload", "swaps"),
    [
        ("churn@production", ModelAliasChanged("churn", "production", 2, 1), True),
        ("churn@production", ModelAliasChanged("churn", "staging", 2, 1), False),
        ("churn@production", ModelAliasChanged("other", "production", 2, 1), False),
        ("churn@production", ModelAliasDeleted("churn", "production", 1), False),
        ("churn@production", ModelVersionCreated("churn", 2, "sklearn", None, {}), False),
        ("churn", ModelVersionCreated("churn", 2, "sklearn", None, {}), True),
        ("churn", ModelVersionCreated("other", 2, "sklearn", None, {}), False),
        ("churn", ModelAliasChanged("churn", "production", 2, 1), False),
    ],
)
def test_only_a_move_of_the_served_reference_swaps(ref: str, payload: Payload, swaps: bool) -> None:
    reader = ListReader()
    reader.add(RunStarted("r" * 32, "e", "n"))  # before the endpoint started: never read
    watcher = _watcher(reader, ref, target=[2])
    reader.add(RunStarted("s" * 32, "e", "n"), payload)
    assert asyncio.run(watcher.check()) is swaps
    assert watcher.holder.current.version == (2 if swaps else 1)
    assert watcher.last_id == 3  # past the event, whether it moved the reference or not
    assert reader.cursors[0] == 1  # it started from the cursor it was given


def test_the_cursor_moves_on_so_an_event_is_handled_once() -> None:
    reader = ListReader()
    target = [2]
    watcher = _watcher(reader, "churn@production", target)
    reader.add(ModelAliasChanged("churn", "production", 2, 1))
    assert asyncio.run(watcher.check()) is True
    assert asyncio.run(watcher.check()) is False  # nothing new
    assert reader.cursors[-1] == 1
    target[0] = 3
    reader.add(ModelAliasChanged("churn", "production", 3, 2))
    assert asyncio.run(watcher.check()) is True
    assert watcher.holder.current.version == 3
