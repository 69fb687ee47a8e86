"""Adaptive micro-batching: concurrent requests share one ``predict`` call.

Requests queue what they want predicted; whatever queued while the previous call ran forms the
next batch. A slow model runs in a worker thread, driven by one task, so the event loop keeps
reading requests meanwhile; a fast one (a call under ``INLINE_BELOW_S`` on average) runs on the
loop, since a thread hop would cost more than the call: one callback, scheduled by the first
request that queues, predicts after every request read on that turn of the loop has queued its
rows (cheaper than waking a task). With ``max_batch_size`` 1, or while requests come one at a
time (the last gathering found one request and no other request reached the batcher on this
turn of the loop), a fast model is called by the request itself. A queue longer than one batch
is predicted a batch per turn of the loop. A lone request is never held back: waiting for a
batch to fill (up to ``max_latency_ms``) happens only while several requests are already queued and calls are
expensive enough for a bigger batch to pay off. Measured, this keeps batching from being slower
than one call per request at any concurrency and request size (benchmarks/bench_serving.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from loopml.serving.model import ServedModel
from loopml.serving.schema import Batch

_FILL_YIELDS = 3  # event-loop turns to wait for more requests while a batch fills
# A predict call expected to take less than this runs on the event loop itself: handing it to
# a thread costs more than it saves (and a GIL-bound model gains nothing from the thread).
INLINE_BELOW_S = 0.002


@dataclass
class _Item:
    served: ServedModel
    batch: Batch
    future: asyncio.Future[np.ndarray]
    queued_at: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Gathers concurrent ``predict`` calls into batches of at most ``max_batch_size`` rows."""

    def __init__(
        self,
        max_batch_size: int = 256,
        max_latency_ms: float = 5.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.max_batch_size = max_batch_size
        self.max_latency_s = max_latency_ms / 1000.0
        self._on_batch = on_batch or (lambda _rows: None)
        self._pending: deque[_Item] = deque()
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="loopml-predict")
        self._cost_s = 0.0  # moving average of one predict call's duration
        self._task: asyncio.Task[None] | None = None
        self._running = False  # the batcher task is working through the pending requests
        self._dispatching = False  # a _dispatch callback is scheduled
        # Whether requests come one at a time: the last gathering of a fast model took one
        # request. Then a request is predicted in its own call, as without batching, unless
        # another one already did so on this turn of the loop (then both see company coming).
        self._lone = True
        self._turn_taken = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loopml-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    async def predict(self, served: ServedModel, batch: Batch) -> np.ndarray:
        """The model's output rows for ``batch``, computed in a shared batch."""
        loop = asyncio.get_running_loop()
        if self._cost_s < INLINE_BELOW_S and not self._pending and not self._dispatching:
            if self.max_batch_size == 1:
                # no batching asked for and a fast model: the call the batcher task would
                # make, made here, without the two task switches of a hand-over
                self._on_batch(batch.n)
                return self._timed(served, batch)
            if self._lone and not self._turn_taken:
                # requests come one at a time: nothing to gather, so no hand-over either
                self._turn_taken = True
                loop.call_soon(self._end_turn)
                self._on_batch(batch.n)
                return self._timed(served, batch)
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._pending.append(_Item(served, batch, future))
        if self._cost_s >= INLINE_BELOW_S or self._running:
            self._wakeup.set()
        elif not self._dispatching:
            # a fast model: one callback after the requests already read on this turn of the
            # loop have queued theirs, cheaper than waking the batcher task
            self._dispatching = True
            loop.call_soon(self._dispatch)
        return await future

    def _end_turn(self) -> None:
        self._turn_taken = False

    def _dispatch(self) -> None:
        """Predict what is pending now, on the event loop (a fast model)."""
        if self._cost_s >= INLINE_BELOW_S or self._running:  # the task takes over
            self._dispatching = False
            self._wakeup.set()
            return
        self._lone = len(self._pending) == 1
        self._dispatch_more()

    def _dispatch_more(self) -> None:
        """One batch of what is pending; the rest on a later turn, after the requests just
        answered have sent their answers (else all of them wait for the whole queue)."""
        self._dispatching = False
        items, _rows = self._take([], 0)
        for group in _by_version(items):
            self._execute_inline(group)
        if not self._pending:
            return
        if self._cost_s < INLINE_BELOW_S and not self._running:
            self._dispatching = True
            asyncio.get_running_loop().call_soon(self._dispatch_more)
        else:  # the model turned slow: the task runs the rest off the loop
            self._wakeup.set()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            self._running = True
            try:
                await self._run_pending()
            finally:
                self._running = False

    async def _run_pending(self) -> None:
        while self._pending:
            items, rows = self._take([], 0)
            if (
                len(items) > 1
                and rows < self.max_batch_size
                and self.max_latency_s > 0
                and self._cost_s >= INLINE_BELOW_S
            ):
                items, rows = await self._fill(items, rows)
            for group in _by_version(items):
                await self._execute_group(group)

    def _take(self, items: list[_Item], rows: int) -> tuple[list[_Item], int]:
        pending = self._pending
        # always take at least one item, even when it alone exceeds the size limit
        while pending and (not items or rows + pending[0].batch.n <= self.max_batch_size):
            item = pending.popleft()
            items.append(item)
            rows += item.batch.n
        return items, rows

    async def _fill(self, items: list[_Item], rows: int) -> tuple[list[_Item], int]:
        deadline = items[0].queued_at + self.max_latency_s
        for _ in range(_FILL_YIELDS):
            await asyncio.sleep(0)
            before = len(items)
            items, rows = self._take(items, rows)
            if len(items) == before or rows >= self.max_batch_size:
                break
            if time.perf_counter() >= deadline:
                break
        return items, rows

    async def _execute_group(self, group: list[_Item]) -> None:
        if self._cost_s < INLINE_BELOW_S:
            self._execute_inline(group)
            return
        loop = asyncio.get_running_loop()
        merged = _merged(group)
        self._on_batch(merged.n)
        try:
            out = await loop.run_in_executor(self._executor, self._timed, group[0].served, merged)
        except Exception as exc:  # the model failed: find out which request made it fail
            if len(group) == 1:
                _settle(group[0].future, exc=exc)
                return
            for item in group:
                await self._execute_group([item])
            return
        _settle_rows(group, out)

    def _execute_inline(self, group: list[_Item]) -> None:
        """One predict call for ``group`` on the event loop (a fast model)."""
        try:
            merged = _merged(group)
            self._on_batch(merged.n)
            out = self._timed(group[0].served, merged)
        except Exception as exc:  # the model failed: find out which request made it fail
            if len(group) == 1:
                _settle(group[0].future, exc=exc)
                return
            for item in group:
                self._execute_inline([item])
            return
        _settle_rows(group, out)

    def _timed(self, served: ServedModel, batch: Batch) -> np.ndarray:
        start = time.perf_counter()
        try:
            return served.predict(batch)
        finally:
            self._cost_s = 0.8 * self._cost_s + 0.2 * (time.perf_counter() - start)


def merge(batches: list[Batch]) -> Batch:
    """One batch holding the rows of ``batches`` in order."""
    n = sum(b.n for b in batches)
    first = batches[0]
    if first.tensor is not None:
        return Batch(n, tensor=np.concatenate([b.tensor for b in batches if b.tensor is not None]))
    if all(b.matrix is not None for b in batches):
        matrix = np.concatenate([b.matrix for b in batches if b.matrix is not None])
        return Batch(n, matrix=matrix)
    width = len(first.columns or [])
    cols = [np.concatenate([(b.columns or [])[j] for b in batches]) for j in range(width)]
    return Batch(n, cols)


def _by_version(items: list[_Item]) -> list[list[_Item]]:
    """``items`` grouped by the version they are for (a hot swap can leave two in a batch)."""
    if len(items) == 1:
        return [items]
    groups: dict[int, list[_Item]] = {}
    for item in items:
        groups.setdefault(id(item.served), []).append(item)
    return list(groups.values())


def _merged(group: list[_Item]) -> Batch:
    return group[0].batch if len(group) == 1 else merge([i.batch for i in group])


def _settle_rows(group: list[_Item], out: np.ndarray) -> None:
    """Each item's future gets its own rows of ``out``."""
    start = 0
    for item in group:
        end = start + item.batch.n
        _settle(item.future, out[start:end])
        start = end


def _settle(
    future: asyncio.Future[np.ndarray],
    result: np.ndarray | None = None,
    exc: BaseException | None = None,
) -> None:
    if future.done():  # the client went away and its request was cancelled
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        assert result is not None
        future.set_result(result)
