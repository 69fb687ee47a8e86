"""Deploys and rollbacks of one alias run one at a time across processes, and a deploy or
rollback interrupted between recording and moving the alias is settled afterwards; on every
database. Child processes are spawned, so they share nothing with the test but the stores."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from loopml.api import codec
from loopml.core.errors import Conflict, NotFound
from loopml.core.settings import Settings, load_settings
from loopml.deployments import Action, Deployment, DeploymentStatus, GateResult
from loopml.deployments import repository as repo
from loopml.deployments.lock import alias_lock
from loopml.meta.tables import events
from loopml.sdk import Client

SPAWN = multiprocessing.get_context("spawn")
# Not monotonic, so the gate below passes some deploys and refuses others depending on the
# version each one finds on the alias.
ACCURACY = {1: 0.70, 2: 0.83, 3: 0.76, 4: 0.91, 5: 0.62, 6: 0.87, 7: 0.95, 8: 0.68}
GATE = "accuracy >= current - 0.1"
MOVED = (DeploymentStatus.DEPLOYED, DeploymentStatus.ROLLED_BACK)
Where = tuple[str, str, str]


@pytest.fixture
def registry(client: Client) -> Client:
    """Model m: versions 1-8 with the accuracies of ACCURACY; no aliases."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]])
    model = LogisticRegression().fit(x, [0, 1, 1, 0])
    for version in sorted(ACCURACY):
        mv = client.models.register(
            "m", model, input_example=x[:2], metrics={"accuracy": ACCURACY[version]}
        )
        assert mv.version == version
    return client


def _where(settings: Settings) -> Where:
    return str(settings.home), settings.db_url, settings.blobs_url


def _open(where: Where) -> Client:
    home, db, blobs = where
    return Client(load_settings(env={}, home=home, db=db, blobs=blobs))


def _deploy_worker(where: Where, plan: list[int | str], start: Any, out: Any) -> None:
    """Run ``plan`` (versions to deploy behind GATE, or "rollback") once every worker is at
    the start line; put the ids of the records made (None for a refused rollback)."""
    try:
        client = _open(where)
        try:
            client.deployments.history("m")  # open the stores and import before the race
            start.wait(timeout=120)
            ids: list[int | None] = []
            for step in plan:
                if step == "rollback":
                    try:
                        ids.append(client.deployments.rollback("m").id)
                    except (Conflict, NotFound):
                        ids.append(None)
                else:
                    assert isinstance(step, int)
                    ids.append(client.deployments.deploy("m", version=step, gate=GATE).id)
        finally:
            client.close()
        out.put(ids)
    except BaseException as exc:
        out.put(f"{type(exc).__name__}: {exc}")
        raise


def _event_kinds(client: Client) -> list[str]:
    with client.stores.meta.read() as conn:
        return list(conn.execute(sa.select(events.c.kind).order_by(events.c.id)).scalars())


def test_concurrent_deploys_and_rollbacks_of_one_alias_form_one_chain(registry: Client) -> None:
    plans: list[list[int | str]] = [[p + 1, p + 5, "rollback"] for p in range(4)]
    start = SPAWN.Barrier(len(plans))
    out = SPAWN.Queue()
    workers = [
        SPAWN.Process(target=_deploy_worker, args=(_where(registry.settings), plan, start, out))
        for plan in plans
    ]
    for w in workers:
        w.start()
    try:
        results = [out.get(timeout=180) for _ in workers]
    finally:
        for w in workers:
            w.join(timeout=60)
    assert all(isinstance(r, list) for r in results), results
    made = {i for r in results for i in r if i is not None}

    records = sorted(registry.deployments.history("m", to="production"), key=lambda d: d.id)
    by_id = {d.id: d for d in records}
    # Every attempt is recorded once, and nothing is left pending.
    assert set(by_id) == made
    assert sum(d.action is Action.DEPLOY for d in records) == 8
    assert not [d for d in records if d.status is DeploymentStatus.PENDING]
    # One chain: each record starts from the version the one before it left on the alias,
    # and each gate judged that version.
    current: int | None = None
    for d in records:
        assert d.previous_version == current, (d, records)
        if d.action is Action.DEPLOY:
            passes = current is None or ACCURACY[d.version] >= ACCURACY[current] + -0.1
            assert d.gate_result is not None and d.gate_result.passed == passes, d
            if d.version == current:
                assert d.status is DeploymentStatus.UNCHANGED
            elif passes:
                assert d.status in MOVED, d
            else:
                assert d.status is DeploymentStatus.REFUSED, d
        else:
            undone = by_id[int(d.selector.removeprefix("rollback:"))]
            assert d.status is DeploymentStatus.DEPLOYED
            assert undone.status is DeploymentStatus.ROLLED_BACK and undone.id < d.id
            assert (undone.version, undone.previous_version) == (current, d.version)
        if d.status in MOVED:
            current = d.version
    assert registry.models.show("m@production").version == current
    kinds = _event_kinds(registry)
    assert kinds.count("deployment.recorded") == len(records)
    assert kinds.count("model.alias_changed") == sum(d.status in MOVED for d in records)


def _interrupted_worker(where: Where, version: int, moved: bool, ready: Any) -> None:
    """Do what ``deploy`` does up to the crash point, then wait to be killed: under the
    alias lock, record a pending deploy of ``version`` and, when ``moved``, move the alias."""
    client = _open(where)
    stores = client.stores
    with alias_lock(stores.meta, "m", "production"):
        incumbent = client.models.show("m@production").version
        gate = GateResult(None, True, "no gate")
        now = time.time()
        with stores.meta.write() as conn:
            repo.insert(
                conn,
                {
                    "model": "m",
                    "alias": "production",
                    "action": Action.DEPLOY.value,
                    "version": version,
                    "previous_version": incumbent,
                    "selector": f"version:{version}",
                    "gate": None,
                    "gate_result": codec.to_builtins(gate),
                    "reason": gate.reason,
                    "status": DeploymentStatus.PENDING.value,
                    "created_at": now,
                    "created_by": "interrupted-worker",
                    "updated_at": now,
                },
            )
        if moved:
            client.models.set_alias("m", "production", version)
        ready.set()
        threading.Event().wait()  # holding the lock until SIGKILL


def _one(records: list[Deployment], version: int) -> Deployment:
    (found,) = [d for d in records if d.version == version]
    return found


@pytest.mark.parametrize("moved", [True, False], ids=["alias-moved", "alias-not-moved"])
def test_a_deploy_killed_between_record_and_move_is_settled_by_the_next(
    registry: Client, moved: bool
) -> None:
    deployments = registry.deployments
    deployments.deploy("m", version=1)
    ready = SPAWN.Event()
    proc = SPAWN.Process(
        target=_interrupted_worker, args=(_where(registry.settings), 2, moved, ready)
    )
    proc.start()
    try:
        assert ready.wait(timeout=120), "the worker did not reach the crash point"
        # In flight (its process holds the lock): history shows it pending, as it is.
        assert _one(deployments.history("m"), 2).status is DeploymentStatus.PENDING
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(timeout=60)
    assert proc.exitcode == -signal.SIGKILL

    # The dead process's lock is gone: the next deploy runs, and settles its record first.
    nxt = deployments.deploy("m", version=3)
    interrupted = _one(deployments.history("m"), 2)
    assert nxt.status is DeploymentStatus.DEPLOYED and interrupted.id < nxt.id
    assert registry.models.show("m@production").version == 3
    if moved:
        assert interrupted.status is DeploymentStatus.DEPLOYED
        assert interrupted.previous_version == 1 and nxt.previous_version == 2
        assert "settled after it was interrupted" in (interrupted.reason or "")
        # The settled deploy is in force: rollbacks walk back through it.
        assert deployments.rollback("m").version == 2
        assert deployments.rollback("m").version == 1
    else:
        assert interrupted.status is DeploymentStatus.FAILED
        assert "interrupted" in (interrupted.reason or "")
        assert "it points at version 1" in (interrupted.reason or "")
        assert nxt.previous_version == 1
        assert deployments.rollback("m").version == 1
    assert _event_kinds(registry).count("deployment.recorded") == len(deployments.history("m"))


def test_history_settles_an_interrupted_rollback_and_what_it_undid(registry: Client) -> None:
    deployments = registry.deployments
    deployments.deploy("m", version=1)
    second = deployments.deploy("m", version=2)
    # What a rollback killed after moving the alias leaves behind: its pending record and
    # the moved alias, with the deployment it undid still marked deployed.
    now = time.time()
    with registry.stores.meta.write() as conn:
        rid = repo.insert(
            conn,
            {
                "model": "m",
                "alias": "production",
                "action": Action.ROLLBACK.value,
                "version": 1,
                "previous_version": 2,
                "selector": f"rollback:{second.id}",
                "gate": None,
                "gate_result": None,
                "reason": f"rolled back deployment {second.id}",
                "status": DeploymentStatus.PENDING.value,
                "created_at": now,
                "created_by": "interrupted",
                "updated_at": now,
            },
        )
    registry.models.set_alias("m", "production", 1)

    by_id = {d.id: d for d in deployments.history("m")}
    assert by_id[rid].status is DeploymentStatus.DEPLOYED and by_id[rid].previous_version == 2
    assert by_id[second.id].status is DeploymentStatus.ROLLED_BACK
    with pytest.raises(Conflict, match="no earlier version"):
        deployments.rollback("m")  # deploy 1 is the one in force now


def test_history_fails_a_pending_record_whose_alias_never_moved(registry: Client) -> None:
    deployments = registry.deployments
    first = deployments.deploy("m", version=1)
    now = time.time()
    with registry.stores.meta.write() as conn:
        rid = repo.insert(
            conn,
            {
                "model": "m",
                "alias": "production",
                "action": Action.DEPLOY.value,
                "version": 4,
                "previous_version": 1,
                "selector": "version:4",
                "gate": None,
                "gate_result": None,
                "reason": "no gate",
                "status": DeploymentStatus.PENDING.value,
                "created_at": now,
                "created_by": "interrupted",
                "updated_at": now,
            },
        )
    # Another alias's history does not touch it; this alias's does.
    assert deployments.history("m", to="staging") == []
    with registry.stores.meta.read() as conn:
        assert repo.get(conn, rid).status is DeploymentStatus.PENDING
    history = deployments.history("m", to="production")
    assert [(d.id, d.status) for d in history] == [
        (rid, DeploymentStatus.FAILED),
        (first.id, DeploymentStatus.DEPLOYED),
    ]
    assert "before moving m@production to version 4" in (history[0].reason or "")
    assert registry.models.show("m@production").version == 1
    assert _event_kinds(registry).count("deployment.recorded") == 2
