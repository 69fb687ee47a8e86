"""Write-behind for tracking, on the client: params, tags and metric points collect in
memory and go to the runs service together, in batches (one :class:`LogBatch` per
transaction), from a background thread, from ``flush()`` or before the next synchronous write.
Every synchronous write (starting or ending a run, inputs, artifacts) runs inside
:meth:`Writer.ordered`, which sends what is pending first, so writes land in the order they
were made.

Something logged is *acknowledged* once a flush that started after it has returned: it is
committed and survives a crash of the process. A run exists in the database from the moment
``start_run`` returns, so even a process killed right after it leaves a row to reap.

The same thread keeps the runs this process has open alive: every ``heartbeat_s`` it asks the
runs service to renew their lease (see :mod:`loopml.tracking.reap` and :mod:`loopml.meta.lease`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from loopml.api.protocols import Runs
from loopml.api.runs import LogBatch, MetricColumns, RunValues
from loopml.core.errors import Conflict, LoopError, StoreError

log = logging.getLogger("loopml.tracking")

PointRow = tuple[str, str, int, float, float]  # run_id, key, step, timestamp, value


@dataclass
class Pending:
    """Writes not sent yet, in the order they must be applied."""

    params: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    tags: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    points: list[PointRow] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.params or self.tags or self.points)

    def prepend(self, older: Pending) -> None:
        self.params[:0] = older.params
        self.tags[:0] = older.tags
        self.points[:0] = older.points

    def batch(self) -> LogBatch:
        """The pending writes as the value the runs service takes."""
        columns = (
            MetricColumns(*map(tuple, zip(*self.points, strict=True)))
            if self.points
            else MetricColumns()
        )
        return LogBatch(
            params=tuple(RunValues(r, v) for r, v in self.params),
            tags=tuple(RunValues(r, v) for r, v in self.tags),
            points=columns,
        )


class Writer:
    """One per client: the pending writes, a write lock and a lazily started flusher."""

    def __init__(
        self,
        runs: Runs,
        interval_s: float = 1.0,
        batch_points: int = 20_000,
        max_pending: int = 200_000,
        heartbeat_s: float = 10.0,
    ) -> None:
        self.runs = runs
        self.interval_s = interval_s
        self.heartbeat_s = heartbeat_s
        self.batch_points = batch_points
        self.max_pending = max_pending
        self._pending = Pending()
        self._lock = threading.Lock()  # guards _pending and _next_step
        self._write_lock = threading.RLock()  # one write to the service at a time
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._error: LoopError | None = None
        self._next_step: dict[tuple[str, str], int] = {}
        self._late: list[Conflict] = []  # param clashes found while committing
        self._beating: set[str] = set()  # open runs of this process, kept alive
        me = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _forget_in_child(me))

    def _after_fork(self) -> None:
        # The parent commits its own pending writes; a child writing them too would
        # duplicate them. The flusher thread did not survive the fork either.
        self._pending = Pending()
        self._lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._wake = threading.Event()
        self._thread = None
        self._beating = set()  # the parent's runs are not ours to keep alive

    # ---------- producing ----------
    def watch(self, run_id: str) -> None:
        """Send heartbeats for ``run_id`` from the background thread."""
        with self._lock:
            self._beating.add(run_id)
        self._ensure_thread()

    def unwatch(self, run_id: str) -> None:
        with self._lock:
            self._beating.discard(run_id)

    def add_params(self, run_id: str, params: dict[str, str]) -> None:
        """Buffer params already checked against what this process logged to the run."""
        with self._lock:
            self._pending.params.append((run_id, params))
        self._ensure_thread()

    def add_tags(self, run_id: str, tags: dict[str, str]) -> None:
        with self._lock:
            self._pending.tags.append((run_id, tags))
        self._ensure_thread()

    def add(self, run_id: str, key: str, value: float, step: int | None, ts: float) -> None:
        """Buffer one validated point; ``step=None`` takes the key's next automatic step."""
        with self._lock:
            if step is None:
                step = self._auto_step(run_id, key)
            points = self._pending.points
            points.append((run_id, key, step, ts, value))
            n = len(points)
        if n >= self.batch_points:
            self._signal(n)
        elif self._thread is None:
            self._ensure_thread()

    def add_many(self, points: list[Any]) -> None:
        """Buffer validated ``(run_id, key, step, ts, value)`` points; ``None`` steps take the
        key's next automatic step."""
        with self._lock:
            if any(p[2] is None for p in points):
                points = [
                    p if p[2] is not None else (p[0], p[1], self._auto_step(p[0], p[1]), *p[3:])
                    for p in points
                ]
            pending = self._pending.points
            pending.extend(points)
            n = len(pending)
        if n >= self.batch_points:
            self._signal(n)
        elif self._thread is None:
            self._ensure_thread()

    def _auto_step(self, run_id: str, key: str) -> int:
        """Automatic steps count a key's step-less points in this process: 0, 1, 2, …"""
        step = self._next_step.get((run_id, key), 0)
        self._next_step[(run_id, key)] = step + 1
        return step

    def _signal(self, n: int) -> None:
        if n >= self.max_pending:
            # Back-pressure: the producer outruns the database, so it writes this batch itself
            # instead of growing memory without bound.
            self.commit_pending()
            return
        self._ensure_thread()
        self._wake.set()

    def pending(self) -> int:
        """How many metric points are waiting to be committed."""
        return len(self._pending.points)

    # ---------- committing ----------
    def _take(self) -> Pending:
        with self._lock:
            taken, self._pending = self._pending, Pending()
        return taken

    def _put_back(self, taken: Pending) -> None:
        with self._lock:
            self._pending.prepend(taken)

    def _send(self) -> None:
        """Send what is pending as one batch; if the service cannot take it now, it stays
        buffered for the next attempt (a batch it refuses as invalid can never succeed and
        is dropped, with the error raised)."""
        batch = self._take()
        if not batch:
            return
        try:
            late = self.runs.log_batch(batch.batch())
        except StoreError:
            self._put_back(batch)
            raise
        except LoopError:
            raise
        except BaseException:
            self._put_back(batch)
            raise
        self._error = None
        for message in late:
            log.warning("loopml: %s", message)
            self._late.append(Conflict(message))

    @contextlib.contextmanager
    def ordered(self) -> Iterator[None]:
        """Hold the write lock for a synchronous write, after sending what is pending, so
        writes reach the service in the order they were made."""
        with self._write_lock:
            self.commit_pending()
            yield

    def commit_pending(self) -> None:
        """Send what is buffered (late param clashes are kept for :meth:`flush`)."""
        with self._write_lock:
            if not self._pending:
                return
            try:
                self._send()
            except LoopError:
                raise
            except Exception as exc:
                raise StoreError(f"writing buffered tracking data failed: {exc}") from exc

    def flush(self) -> None:
        """Block until everything buffered before this call is committed; a param that
        another process gave the same run first is reported here as a Conflict."""
        with self._write_lock:
            self.commit_pending()
            if self._late:
                late, self._late = self._late, []
                raise late[0]

    # ---------- the background flusher ----------
    def _ensure_thread(self) -> None:
        if self._thread is not None or self._stop:
            return
        with self._lock:
            if self._thread is None:
                t = threading.Thread(target=self._loop, name="loopml-tracking-flusher", daemon=True)
                t.start()
                self._thread = t

    def _loop(self) -> None:
        failures = 0
        next_beat = time.monotonic() + self.heartbeat_s
        while not self._stop:
            wait = self.interval_s * (2 ** min(failures, 5))
            if self._beating:
                wait = max(0.0, min(wait, next_beat - time.monotonic()))
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop:
                return
            try:
                if self._beating and time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.heartbeat_s
                    self.beat()
                else:
                    self.commit_pending()
                failures = 0
            except Exception as exc:
                # Kept buffered; flush() in the caller's thread retries and raises it.
                failures += 1
                self._error = exc if isinstance(exc, LoopError) else StoreError(str(exc))
                log.warning("loopml: background tracking flush failed (will retry): %s", exc)

    def beat(self) -> None:
        """Send what is pending, then refresh the heartbeat of the runs kept alive; a run that
        another process ended (or reaped) is no longer kept alive."""
        with self.ordered():
            # Read under the write lock: a run ended meanwhile has left ``_beating``.
            with self._lock:
                ids = tuple(sorted(self._beating))
            ended = self.runs.heartbeat(ids)
        for run_id, status in ended.items():
            self.unwatch(run_id)
            log.warning(
                "loopml: run %s was ended as %s by another process (a late heartbeat looks "
                "like a dead process); what this process logs to it is still stored",
                run_id,
                status.value,
            )

    def can_write_from_signal_handler(self) -> bool:
        """Whether the main thread, interrupted by a signal, may write now: not while it is
        itself inside a write (that would wait on its own transaction forever)."""
        is_owned = getattr(self._write_lock, "_is_owned", None)
        if is_owned is None or is_owned():
            return False
        if not self._lock.acquire(timeout=0.5):  # held by the interrupted code itself
            return False
        self._lock.release()
        return True

    @property
    def last_error(self) -> LoopError | None:
        """The error of the last failed background write, cleared by the next success."""
        return self._error

    def close(self) -> None:
        """Commit what is buffered and stop the flusher thread."""
        try:
            self.flush()
        finally:
            self._stop = True
            self._wake.set()
            t = self._thread
            if t is not None and t is not threading.current_thread():
                t.join(timeout=10)
            self._thread = None


def _forget_in_child(ref: weakref.ReferenceType[Writer]) -> None:
    writer = ref()
    if writer is not None:
        writer._after_fork()
