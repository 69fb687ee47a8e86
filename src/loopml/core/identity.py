"""Who is acting: the author every registry write records as ``created_by``. In a process of
its own that is ``user@host``; inside a ``loopml server`` with ``--auth`` it is the name of the
token the request came with, set per request with :func:`acting_as`."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from contextvars import ContextVar

_acting: ContextVar[str | None] = ContextVar("loopml_acting_as", default=None)


def whoami() -> str:
    """The author of a write made now: the token name of the request being served, else
    ``user@host`` of this process."""
    return _acting.get() or local_user()


def author(claimed: str) -> str:
    """The author to record for a write whose caller says it is ``claimed`` (a run's
    ``created_by`` made on the client): the token name when a request with a token is being
    served (a token holder cannot write as someone else), else ``claimed``."""
    return _acting.get() or claimed


@contextlib.contextmanager
def acting_as(name: str | None) -> Iterator[None]:
    """Within the block (and what it starts in threads with a copied context), writes record
    ``name`` as their author; None: this process's ``user@host``."""
    reset = _acting.set(name)
    try:
        yield
    finally:
        _acting.reset(reset)


@functools.cache
def local_user() -> str:
    """``user@host`` of this process (the user id when there is no user name)."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"
