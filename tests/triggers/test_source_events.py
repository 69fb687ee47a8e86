"""Schedule ticks and new commits are events too: each firing of a schedule or code trigger
appends one event to the outbox in the same transaction, so it is seen once."""

from __future__ import annotations

import subprocess
from pathlib import Path

from croniter import croniter

from loopml.api.events import CommitSeen, EventKind, ScheduleTicked
from loopml.api.triggers import TriggerSpec
from loopml.sdk import Client


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_a_fired_tick_is_appended_once_as_an_event(client: Client, pipeline_file: Path) -> None:
    triggers = client.services.triggers
    made = triggers.add(TriggerSpec("nightly", "schedule:*/5 * * * *", f"{pipeline_file}:training"))
    tick = croniter("*/5 * * * *", made.created_at).get_next(float)
    assert triggers.poll(now=tick + 1) == 1
    assert triggers.poll(now=tick + 2) == 0
    events = client.services.events.read_after(0, kinds=[EventKind.SCHEDULE_TICKED])
    assert [e.payload for e in events] == [
        ScheduleTicked("nightly", tick, triggers.firings("nightly")[0].event["time"])
    ]
    assert events[0].subject == "nightly"


def test_a_new_commit_is_appended_once_as_an_event(
    client: Client, tmp_path: Path, pipeline_file: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    (repo / "train.py").write_text("print(1)\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "one")
    triggers = client.services.triggers
    triggers.add(TriggerSpec("on-code", f"code:{repo}@main", f"{pipeline_file}:training"))
    triggers.poll()  # the first look records where the branch is
    (repo / "train.py").write_text("print(2)\n")
    _git(repo, "commit", "-q", "-am", "two")
    head = _git(repo, "rev-parse", "HEAD")
    assert triggers.poll() == 1
    assert triggers.poll() == 0
    events = client.services.events.read_after(0, kinds=[EventKind.COMMIT_SEEN])
    assert [e.payload for e in events] == [CommitSeen("on-code", str(repo), "main", head)]
