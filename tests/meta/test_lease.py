"""The one lease rule, with an injected clock: expiry exactly at the boundary, renewing
extends, and a lease that was expired or taken over cannot be completed by its old holder."""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from loopml.core.errors import InvalidInput
from loopml.meta import open_meta
from loopml.meta.engine import MetaStore
from loopml.meta.lease import (
    Holder,
    LeaseColumns,
    Leases,
    expires_at,
    is_expired,
    judge,
    new_token,
    this_process,
)

TTL = 30.0
_md = sa.MetaData()
jobs = sa.Table(
    "lease_test_jobs",
    _md,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("renewed_at", sa.Float, nullable=True),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("scope", sa.String(64), nullable=True),
    sa.Column("token", sa.String(32), nullable=True),
)
JOBS = LeaseColumns(
    table=jobs,
    key=jobs.c.id,
    renewed_at=jobs.c.renewed_at,
    host=jobs.c.host,
    pid=jobs.c.pid,
    scope=jobs.c.scope,
    held=lambda: jobs.c.state == "open",
    token=jobs.c.token,
)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _remote(name: str) -> Holder:
    """A holder on another machine: only its renewals say it is alive."""
    return Holder(f"{name}-host", 4242, "another-machine", new_token())


@pytest.fixture
def meta(db_url: str) -> Iterator[MetaStore]:
    store = open_meta(db_url)
    _md.create_all(store.engine)
    with store.write() as conn:
        conn.execute(jobs.insert(), [{"id": f"j{i}", "state": "open"} for i in range(3)])
    try:
        yield store
    finally:
        store.dispose()


@pytest.mark.parametrize(
    ("renewed", "ttl"), [(1000.0, 30.0), (100.1, 0.2), (1.7e9 + 0.123, 10.0), (0.0, 1e-3)]
)
def test_a_lease_is_held_at_its_expiry_and_expired_just_after(renewed: float, ttl: float) -> None:
    end = expires_at(renewed, ttl)
    assert not is_expired(renewed, ttl, end)
    assert not is_expired(renewed, ttl, math.nextafter(end, -math.inf))
    assert is_expired(renewed, ttl, math.nextafter(end, math.inf))


def test_taking_over_is_refused_at_the_boundary_and_allowed_just_after(meta: MetaStore) -> None:
    clock = Clock()
    leases = Leases(JOBS, TTL, clock)
    a, b = _remote("a"), _remote("b")
    with meta.write() as conn:
        assert leases.acquire(conn, "j0", a)
        assert not leases.acquire(conn, "j0", b)  # held
    clock.now = expires_at(1000.0, TTL)
    with meta.write() as conn:
        assert not leases.acquire(conn, "j0", b)  # exactly at expiry: still a's
        assert leases.find_expired(conn) == []
    clock.now = math.nextafter(clock.now, math.inf)
    with meta.write() as conn:
        assert [e.key for e in leases.find_expired(conn)] == ["j0"]
        assert leases.acquire(conn, "j0", b)  # expired: b takes it over


def test_renewing_extends_the_lease_from_the_renewal(meta: MetaStore) -> None:
    clock = Clock()
    leases = Leases(JOBS, TTL, clock)
    a, b = _remote("a"), _remote("b")
    with meta.write() as conn:
        assert leases.acquire(conn, "j1", a)
    for at in (1020.0, 1045.0, 1070.0):  # each renewal within the ttl of the previous one
        clock.now = at
        with meta.write() as conn:
            assert leases.renew(conn, ["j1"], a) == set()
            assert not leases.acquire(conn, "j1", b)
    clock.now = 1070.0 + TTL
    with meta.read() as conn:
        assert leases.find_expired(conn) == []
    clock.now = math.nextafter(1070.0 + TTL, math.inf)
    with meta.read() as conn:
        [expired] = leases.find_expired(conn)
    assert (expired.key, expired.holder, expired.renewed_at) == ("j1", a, 1070.0)
    assert not expired.expiry.gone and expired.expiry.last == 1070.0


def test_a_lease_taken_over_cannot_be_renewed_or_completed_by_its_old_holder(
    meta: MetaStore,
) -> None:
    clock = Clock()
    leases = Leases(JOBS, TTL, clock)
    a, b = _remote("a"), _remote("b")
    with meta.write() as conn:
        assert leases.acquire(conn, "j0", a)
        assert leases.acquire(conn, "j1", a)
    clock.now += TTL + 1
    with meta.write() as conn:
        assert leases.acquire(conn, "j0", b)
        assert leases.renew(conn, ["j0", "j1"], a) == {"j0"}  # j1 was not taken: renewed
        assert not leases.release(conn, "j0", a, {"state": "done"})
        assert leases.release(conn, "j0", b, {"state": "done"})
        assert not leases.release(conn, "j0", b, {"state": "done"})  # completed once
        states = dict(conn.execute(sa.select(jobs.c.id, jobs.c.state)).all())
    assert states == {"j0": "done", "j1": "open", "j2": "open"}


def test_a_lease_expired_by_a_reaper_cannot_be_completed_by_its_old_holder(
    meta: MetaStore,
) -> None:
    clock = Clock()
    leases = Leases(JOBS, TTL, clock)
    a = _remote("a")
    with meta.write() as conn:
        assert leases.acquire(conn, "j2", a)
    clock.now += TTL + 1
    with meta.write() as conn:
        [expired] = leases.find_expired(conn)
        assert leases.expire(conn, expired, {"state": "lost"})
        assert not leases.expire(conn, expired, {"state": "lost"})  # once
        assert leases.renew(conn, ["j2"], a) == {"j2"}
        assert not leases.release(conn, "j2", a, {"state": "done"})
        assert conn.execute(sa.select(jobs.c.state).where(jobs.c.id == "j2")).scalar() == "lost"


def test_a_renewal_after_the_reaper_looked_keeps_the_lease(meta: MetaStore) -> None:
    clock = Clock()
    leases = Leases(JOBS, TTL, clock)
    a = _remote("a")
    with meta.write() as conn:
        assert leases.acquire(conn, "j0", a)
    clock.now += TTL + 1
    with meta.read() as conn:
        [expired] = leases.find_expired(conn)  # judged dead ...
    with meta.write() as conn:
        assert leases.renew(conn, ["j0"], a) == set()  # ... but it renewed in between
    with meta.write() as conn:
        assert not leases.expire(conn, expired, {"state": "lost"})
        assert leases.release(conn, "j0", a, {"state": "done"})


def test_a_holder_in_our_process_table_whose_pid_is_gone_expires_at_once() -> None:
    me = this_process()
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: its pid no longer exists
    dead = Holder(me.host, child.pid, me.scope, new_token())
    expiry = judge(dead, renewed_at=1000.0, since=1000.0, now=1000.0, ttl_s=TTL)
    assert expiry is not None and expiry.gone and expiry.last == 1000.0
    # Alive (this very process): held however late its renewal.
    assert judge(me, renewed_at=0.0, since=0.0, now=1e9, ttl_s=TTL) is None
    # Another machine: only the clock can tell.
    other = _remote("x")
    assert judge(other, 1000.0, 1000.0, 1000.0 + TTL, TTL) is None
    late = judge(other, 1000.0, 1000.0, 1000.0 + TTL + 0.5, TTL)
    assert late is not None and not late.gone and late.age == pytest.approx(TTL + 0.5)
    # Never renewed: its age counts from when it began.
    never = judge(None, None, 500.0, 500.0 + TTL + 1, TTL)
    assert never is not None and never.last == 500.0


def test_the_database_clock_judges_leases_by_the_servers_time(meta: MetaStore) -> None:
    leases = Leases(JOBS, 0.001, clock="database")
    a, b = _remote("a"), _remote("b")
    with meta.write() as conn:
        assert leases.acquire(conn, "j0", a)
        renewed = conn.execute(sa.select(jobs.c.renewed_at).where(jobs.c.id == "j0")).scalar()
    assert renewed is not None and abs(renewed - time.time()) < 60  # epoch seconds
    with meta.read() as conn:
        now = conn.execute(sa.select(leases.now(conn))).scalar()
    assert now is not None and now >= renewed
    # 1 ms later by the server's clock the lease has expired: b takes it over.
    deadline = renewed + 0.001
    with meta.write() as conn:
        while conn.execute(sa.select(leases.now(conn))).scalar() <= deadline:
            pass
        assert leases.acquire(conn, "j0", b)


def test_a_lease_needs_a_positive_ttl() -> None:
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(InvalidInput, match="ttl"):
            Leases(JOBS, bad)
