"""Who is acting: the ``user@host`` every registry write records as its author."""

from __future__ import annotations

import functools
import os


@functools.cache
def whoami() -> str:
    """``user@host`` of this process (the user id when there is no user name)."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


@functools.cache
def host_and_scope() -> tuple[str, str | None]:
    """This machine's host name and the process table our pid belongs to (kernel boot and pid
    namespace; None where the platform does not say): what a lease records of its holder."""
    import socket
    from pathlib import Path

    host = socket.gethostname()[:255]
    try:
        # Two machines (or containers) can share a hostname; only a process with the same
        # kernel boot and pid namespace can tell whether a pid is alive.
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        return host, None
    return host, f"{boot}/{ns.removeprefix('pid:[').removesuffix(']')}"[:64]
