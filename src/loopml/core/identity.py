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
