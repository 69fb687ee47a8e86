"""Run liveness: who owns a run (host, pid, and the process table that pid belongs to),
whether that owner is still alive, and which running runs are dead and must end as ``lost``.

A run is dead when its owner shares our process table and its pid is gone (checked at once,
no waiting), or, seen from anywhere else, when its heartbeat is older than the timeout. Both
clocks in that comparison are the database's, so skewed hosts do not reap each other."""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopml.core.times import iso_ms as iso


@dataclass(frozen=True)
class Owner:
    """The process that started a run, as recorded on its row."""

    host: str
    pid: int
    scope: str | None  # boot id and pid namespace; None where the platform does not say


@functools.cache
def _host_and_scope() -> tuple[str, str | None]:
    host = socket.gethostname()[:255]
    try:
        # Two machines (or containers) can share a hostname; only a process with the same
        # kernel boot and pid namespace can tell whether a pid is alive.
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        return host, None
    return host, f"{boot}/{ns.removeprefix('pid:[').removesuffix(']')}"[:64]


def this_process() -> Owner:
    host, scope = _host_and_scope()
    return Owner(host, os.getpid(), scope)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists in our process table (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. another user's process: it exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def why_lost(row: Any, me: Owner, timeout_s: float) -> tuple[float, str] | None:
    """(end time, reason) if the running run ``row`` (see ``repository.running_runs``) is dead,
    else None. The end time is its last sign of life."""
    last = row.heartbeat_at if row.heartbeat_at is not None else row.start_time
    end = max(last, row.start_time)
    owner = f"pid {row.pid} on {row.host}" if row.pid is not None else "an unknown process"
    if row.host == me.host and row.pid is not None and row.pid_scope == me.scope:
        if row.pid == me.pid or pid_alive(row.pid):
            return None  # its owner is alive, however late its heartbeat
        return end, (
            f"lost: its process ({owner}) is gone without ending the run "
            f"(killed with SIGKILL, crashed or out of memory); last heartbeat {iso(last)}"
        )
    age = row.db_now - last
    if age <= timeout_s:
        return None
    return end, (
        f"lost: no heartbeat from its process ({owner}) for {age:.0f} s "
        f"(timeout {timeout_s:g} s, LOOPML_HEARTBEAT_TIMEOUT_S); last heartbeat {iso(last)}"
    )
