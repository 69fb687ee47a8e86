"""This process as the holder of a lease (a running run, a claimed job): its host, pid and the
process table that pid belongs to. Apart from :mod:`loopml.meta.lease` (the rule) so that a
client of a remote server names itself without loading the database layer."""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: a process (host, pid, and ``scope``, the process table the pid
    belongs to; None where the platform does not say) and ``token``, unique per holding."""

    host: str
    pid: int
    scope: str | None
    token: str | None = None

    @property
    def shown(self) -> str:
        return f"pid {self.pid} on {self.host}"


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


def this_process(token: str | None = None) -> Holder:
    """This process as a holder; ``token`` None gives it no token."""
    host, scope = _host_and_scope()
    return Holder(host, os.getpid(), scope, token)
