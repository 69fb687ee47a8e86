"""SIGTERM ends the runs a process has open as ``killed`` before the process dies of it.

The handler is installed by the first run started in the main thread, and only over the
default disposition: a handler the application set (or SIG_IGN) is left alone. After ending
the runs it restores the default and raises the signal again, so the process still dies of
SIGTERM, exactly as it would have without loopml. Its state lives in the handler object
itself (found again with ``signal.getsignal``), not in a module global.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import weakref
from types import FrameType
from typing import Protocol


class Tracker(Protocol):
    """A tracker whose open runs SIGTERM ends (:class:`loopml.tracker.tracker.Tracker`)."""

    def end_open_runs_on_signal(self, signum: int) -> None: ...


class TermHandler:
    """The installed SIGTERM handler: the trackers whose open runs it ends."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.services: weakref.WeakSet[Tracker] = weakref.WeakSet()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        try:
            # A forked child inherits the handler but not the runs: it only passes it on.
            if os.getpid() == self.pid:
                for service in list(self.services):
                    try:
                        service.end_open_runs_on_signal(signum)
                    except Exception as exc:  # dying anyway: report, never block the signal
                        sys.stderr.write(f"loopml: could not end runs on signal: {exc}\n")
        finally:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)


def watch(service: Tracker) -> None:
    """Have SIGTERM end ``service``'s open runs, if this thread may and nobody else handles it."""
    if threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGTERM)
    if isinstance(current, TermHandler) and current.pid == os.getpid():
        current.services.add(service)
        return
    if current is not signal.SIG_DFL and not isinstance(current, TermHandler):
        return  # the application's own handler (or SIG_IGN, or one set outside Python) wins
    handler = TermHandler()
    handler.services.add(service)
    signal.signal(signal.SIGTERM, handler)
