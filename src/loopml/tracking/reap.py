"""Run liveness: a running run is leased by the process that started it (see
:mod:`loopml.meta.lease` for the one rule), renewed by its heartbeat, and ended as ``lost``
by an explicit reap once the lease has expired: at once when its process shares our process
table and is gone, else when its heartbeat is older than the timeout. The clock is the
database's, so skewed hosts do not reap each other. Reading runs never reaps."""

from __future__ import annotations

from loopml.core.times import iso_ms as iso
from loopml.meta.lease import DATABASE_CLOCK, ExpiredLease, LeaseColumns, Leases
from loopml.meta.lease import this_process as this_process
from loopml.meta.tables import runs

RUN_LEASE = LeaseColumns(
    table=runs,
    key=runs.c.id,
    renewed_at=runs.c.heartbeat_at,
    host=runs.c.host,
    pid=runs.c.pid,
    scope=runs.c.pid_scope,
    held=lambda: runs.c.status == "running",
    since=runs.c.start_time,
)


def run_leases(timeout_s: float) -> Leases:
    """The leases of runs, expiring ``timeout_s`` after the last heartbeat."""
    return Leases(RUN_LEASE, timeout_s, clock=DATABASE_CLOCK)


def why_lost(lease: ExpiredLease, timeout_s: float) -> str:
    """The error recorded on a run whose lease expired."""
    e = lease.expiry
    owner = lease.holder.shown if lease.holder is not None else "an unknown process"
    if e.gone:
        return (
            f"lost: its process ({owner}) is gone without ending the run "
            f"(killed with SIGKILL, crashed or out of memory); last heartbeat {iso(e.last)}"
        )
    return (
        f"lost: no heartbeat from its process ({owner}) for {e.age:.0f} s "
        f"(timeout {timeout_s:g} s, LOOPML_HEARTBEAT_TIMEOUT_S); last heartbeat {iso(e.last)}"
    )
