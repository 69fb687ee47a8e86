"""Typed events: every kind has one payload type, and payloads survive the stored JSON."""

from __future__ import annotations

import dataclasses
import json

import pytest

from loopml.api.events import (
    PAYLOAD_TYPES,
    CommitSeen,
    DatasetVersionCreated,
    DeploymentRecorded,
    Event,
    EventKind,
    ModelAliasChanged,
    ModelAliasDeleted,
    ModelVersionCreated,
    MonitorAlert,
    Payload,
    RunFailed,
    RunFinished,
    RunKilled,
    RunLost,
    RunStarted,
    ScheduleTicked,
    decode_payload,
    encode_payload,
    kinds_of,
    run_ended,
)
from loopml.core.errors import InvalidInput

# Several payloads per kind: None, empty and unusual values included.
SAMPLES: list[Payload] = [
    DatasetVersionCreated("churn", 1, "ab" * 32),
    DatasetVersionCreated("a.b-c_d", 987654, "00" * 32),
    ModelVersionCreated("churn", 3, "sklearn", "f" * 32, {"auc": 0.91, "loss": 1e-300}),
    ModelVersionCreated("m", 1, "python", None, {}),
    ModelAliasChanged("churn", "production", 4, 3),
    ModelAliasChanged("churn", "staging", 1, None),
    ModelAliasDeleted("churn", "staging", 2),
    RunStarted("a" * 32, "default", "run-1"),
    RunFinished("b" * 32, "exp", "näme with spaces"),
    RunFailed("c" * 32, "exp", "r"),
    RunKilled("d" * 32, "exp", "r"),
    RunLost("e" * 32, "exp", "r", "lost: its process (pid 7 on h) is gone"),
    DeploymentRecorded(1, "churn", "production", "deploy", 4, 3, "deployed"),
    DeploymentRecorded(2**40, "churn", "production", "rollback", 3, None, "refused"),
    MonitorAlert(
        "churn@production", "churn", 1, 2, "dataset_drift", "3 of 4 features drifted", 1.0, 2.5
    ),
    ScheduleTicked("nightly", 1_767_225_600.0, "2026-01-01T00:00:00+00:00"),
    CommitSeen("on-code", "/repo", "HEAD", "a" * 40),
]


def test_every_kind_has_one_payload_type_and_a_sample() -> None:
    assert set(PAYLOAD_TYPES) == set(EventKind)
    assert {type(p).kind for p in SAMPLES} == set(EventKind)
    for kind, cls in PAYLOAD_TYPES.items():
        assert cls.kind is kind


@pytest.mark.parametrize("payload", SAMPLES, ids=lambda p: f"{p.kind}")
def test_every_payload_round_trips_through_the_stored_json(payload: Payload) -> None:
    stored = json.loads(json.dumps(encode_payload(payload)))
    assert decode_payload(payload.kind.value, stored) == payload
    event = Event(7, payload.kind, payload.subject, payload, 1700000000.125)
    assert Event.from_dict(json.loads(json.dumps(event.to_dict()))) == event


def test_a_payload_is_frozen_and_stores_only_its_fields() -> None:
    p = ModelAliasChanged("churn", "production", 4, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.version = 5  # type: ignore[misc]
    assert encode_payload(p) == {
        "model": "churn",
        "alias": "production",
        "version": 4,
        "previous_version": 3,
    }
    assert p.subject == "churn@production"


def test_subjects_name_what_changed() -> None:
    assert DatasetVersionCreated("d", 2, "x").subject == "d@2"
    assert ModelVersionCreated("m", 5, "onnx", None, {}).subject == "m@5"
    assert RunLost("r" * 32, "e", "n", "why").subject == "r" * 32
    assert DeploymentRecorded(1, "m", "prod", "deploy", 2, None, "deployed").subject == "m@prod"


@pytest.mark.parametrize(
    ("status", "cls"), [("finished", RunFinished), ("failed", RunFailed), ("killed", RunKilled)]
)
def test_run_ended_picks_the_payload_of_the_status(status: str, cls: type) -> None:
    assert run_ended(status, "r", "e", "n") == cls("r", "e", "n")


@pytest.mark.parametrize("status", ["lost", "running", "done", ""])
def test_run_ended_refuses_a_status_an_owner_cannot_end_with(status: str) -> None:
    with pytest.raises(InvalidInput, match="finished, failed, killed"):
        run_ended(status, "r", "e", "n")


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("model.renamed", {}, "unknown event kind 'model.renamed'"),
        ("", {}, "unknown event kind ''"),
        ("run.lost", {"run_id": "r", "experiment": "e", "name": "n"}, "needs reason"),
        ("dataset.version_created", {"dataset": "d"}, "needs version, content_digest"),
    ],
)
def test_decoding_a_bad_stored_event_says_what_is_wrong(
    kind: str, data: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        decode_payload(kind, data)


def test_kinds_are_checked_and_none_means_every_kind() -> None:
    assert kinds_of(None) == tuple(EventKind)
    assert kinds_of(["run.lost", EventKind.RUN_STARTED]) == (
        EventKind.RUN_LOST,
        EventKind.RUN_STARTED,
    )
    assert kinds_of("run.lost") == (EventKind.RUN_LOST,)
    for bad in (["run.*"], ["Run.Lost"], ["alert"]):
        with pytest.raises(InvalidInput, match="unknown event kind"):
            kinds_of(bad)
