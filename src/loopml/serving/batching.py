"""Adaptive micro-batching: concurrent requests share one ``predict`` call.

One task gathers pending requests; whatever arrived while the previous call ran forms the next
batch. A slow model runs in a worker thread, so the event loop keeps reading requests meanwhile;
a fast one (a call under ``INLINE_BELOW_S`` on average) runs on the loop, since a thread hop
would cost more than the call. A lone request is never held back: waiting for a batch to fill
(up to ``max_latency_ms``) happens only while several requests are already queued and calls are
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
        if self.max_batch_size == 1 and self._cost_s < INLINE_BELOW_S and not self._pending:
            # no batching asked for and a fast model: the call the batcher task would make,
            # made here, without the two task switches of a hand-over
            self._on_batch(batch.n)
            return self._timed(served, batch)
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._pending.append(_Item(served, batch, future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                items, rows = self._take([], 0)
                if (
                    len(items) > 1
                    and rows < self.max_batch_size
                    and self.max_latency_s > 0
                    and self._cost_s >= INLINE_BELOW_S
                ):
                    items, rows = await self._fill(items, rows)
                await self._execute(items)

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

    async def _execute(self, items: list[_Item]) -> None:
        groups: dict[int, list[_Item]] = {}
        for item in items:  # a hot swap can leave items of two versions in one batch
            groups.setdefault(id(item.served), []).append(item)
        for group in groups.values():
            await self._execute_group(group)

    async def _execute_group(self, group: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        served = group[0].served
        merged = group[0].batch if len(group) == 1 else merge([i.batch for i in group])
        self._on_batch(merged.n)
        try:
            if self._cost_s < INLINE_BELOW_S:
                out = self._timed(served, merged)
            else:
                out = await loop.run_in_executor(self._executor, self._timed, served, merged)
        except Exception as exc:  # the model failed: find out which request made it fail
            if len(group) == 1:
                _settle(group[0].future, exc=exc)
                return
            for item in group:
                await self._execute_group([item])
            return
        start = 0
        for item in group:
            end = start + item.batch.n
            _settle(item.future, out[start:end])
            start = end

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
