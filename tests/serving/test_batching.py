"""Micro-batching: concurrent calls share predict calls, lone calls never wait, a failing
request fails alone, and a slow model runs off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, cast

import numpy as np

from loopml.serving.batching import MicroBatcher
from loopml.serving.model import ServedModel
from loopml.serving.schema import Batch


class Doubler:
    """A served-model stand-in: doubles column 0; refuses rows holding -1; may be slow."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls: list[int] = []
        self.delay_s = delay_s

    def predict(self, batch: Batch) -> np.ndarray:
        self.calls.append(batch.n)
        if self.delay_s:
            time.sleep(self.delay_s)
        values = (batch.columns or [])[0]
        if (values == -1).any():
            raise ValueError("-1 is not a valid input")
        return values * 2


def _batch(*values: float) -> Batch:
    return Batch(len(values), [np.array(values, dtype=float)])


async def _with_batcher(model: Doubler, fn: Any, **kwargs: Any) -> Any:
    batcher = MicroBatcher(**kwargs)
    batcher.start()
    try:
        return await fn(batcher, cast(ServedModel, model))
    finally:
        await batcher.stop()


def test_concurrent_requests_share_calls_and_get_their_own_rows() -> None:
    model = Doubler()

    async def go(b: MicroBatcher, served: ServedModel) -> list[Any]:
        return await asyncio.gather(*(b.predict(served, _batch(i, i + 0.5)) for i in range(50)))

    results = asyncio.run(_with_batcher(model, go, max_batch_size=64))
    for i, out in enumerate(results):
        assert out.tolist() == [2 * i, 2 * i + 1]
    assert sum(model.calls) == 100 and len(model.calls) < 50
    assert max(model.calls) <= 64


def test_a_lone_request_does_not_wait_for_a_batch() -> None:
    async def go(b: MicroBatcher, served: ServedModel) -> float:
        start = time.perf_counter()
        await b.predict(served, _batch(1))
        return time.perf_counter() - start

    elapsed = asyncio.run(_with_batcher(Doubler(), go, max_latency_ms=2000))
    assert elapsed < 0.5


def test_a_failing_request_fails_alone() -> None:
    async def go(b: MicroBatcher, served: ServedModel) -> list[Any]:
        calls = [b.predict(served, _batch(v)) for v in (1, -1, 3)]
        return await asyncio.gather(*calls, return_exceptions=True)

    ok1, bad, ok3 = asyncio.run(_with_batcher(Doubler(), go))
    assert ok1.tolist() == [2] and ok3.tolist() == [6]
    assert isinstance(bad, ValueError)


def test_a_slow_model_runs_in_a_thread_and_the_loop_stays_free() -> None:
    loop_ran = threading.Event()
    seen: list[bool] = []
    loops: list[asyncio.AbstractEventLoop] = []

    class AsksTheLoop(Doubler):
        """Slow on its first call; on the next, asks the event loop to set an event and waits
        for it, which the loop can do only when the call is not blocking it."""

        def predict(self, batch: Batch) -> np.ndarray:
            if self.calls:
                loops[0].call_soon_threadsafe(loop_ran.set)
                seen.append(loop_ran.wait(5.0))
            return super().predict(batch)

    async def go(b: MicroBatcher, served: ServedModel) -> None:
        loops.append(asyncio.get_running_loop())
        await b.predict(served, _batch(1))  # teaches the batcher the model is slow
        await b.predict(served, _batch(2))

    asyncio.run(_with_batcher(AsksTheLoop(delay_s=0.05), go))
    assert seen == [True], "the loop ran while the model predicted"


def _finishes_at_once(coro: Any) -> tuple[bool, Any]:
    """Run ``coro`` one step: (True, its result) if it finished without waiting on the loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return True, done.value
    coro.close()
    return False, None


def test_requests_one_at_a_time_are_predicted_without_a_hand_over() -> None:
    """With one client (requests on separate turns of the loop) a fast model is called by the
    request itself; a second request on the same turn goes through a gathering again."""
    model = Doubler()

    async def go(b: MicroBatcher, served: ServedModel) -> list[tuple[bool, Any]]:
        for v in range(3):
            await b.predict(served, _batch(v))
            await asyncio.sleep(0)  # the next request arrives on a later turn
        first = _finishes_at_once(b.predict(served, _batch(7)))
        second = _finishes_at_once(b.predict(served, _batch(8)))  # the same turn
        return [first, second]

    (done1, out1), (done2, _) = asyncio.run(_with_batcher(model, go))
    assert done1 and out1.tolist() == [14]
    assert not done2


def test_answered_requests_go_before_the_rest_of_the_queue_is_predicted() -> None:
    """A queue longer than one batch is predicted a batch per turn of the loop: a request whose
    rows are done resumes (and can send its answer) before later batches run."""
    events: list[str] = []

    class Recording(Doubler):
        def predict(self, batch: Batch) -> np.ndarray:
            events.append("predict")
            return super().predict(batch)

    async def one(b: MicroBatcher, served: ServedModel, i: int) -> None:
        await b.predict(served, _batch(*([float(i)] * 100)))
        events.append("answered")

    async def go(b: MicroBatcher, served: ServedModel) -> None:
        await asyncio.gather(*(one(b, served, i) for i in range(7)))

    asyncio.run(_with_batcher(Recording(), go, max_batch_size=256))
    assert events.count("predict") >= 3 and events.count("answered") == 7
    last_predict = len(events) - 1 - events[::-1].index("predict")
    # the first request ran alone (nothing to gather yet); of the six gathered after it, the
    # first batch's two are answered before the last batch runs
    assert events[:last_predict].count("answered") >= 3, events
