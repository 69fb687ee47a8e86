"""Hot swap: follow the events outbox and replace the served version when its alias moves.

The new version is loaded and warmed up in a worker thread while the old one keeps serving;
then one reference assignment makes it current. A request reads the current version once and
uses that object to the end (validation, batch, response), so none fails during a swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from loopml.api.events import (
    EventKind,
    EventReader,
    ModelAliasChanged,
    ModelAliasDeleted,
    ModelVersionCreated,
    Payload,
)
from loopml.core.refs import Ref
from loopml.serving.metrics import Metrics
from loopml.serving.model import ServedModel

log = logging.getLogger("loopml.serving")

_KINDS = (
    EventKind.MODEL_ALIAS_CHANGED,
    EventKind.MODEL_ALIAS_DELETED,
    EventKind.MODEL_VERSION_CREATED,
)
_BATCH = 10_000


class ModelHolder:
    """The served version. Readers take ``current`` once; a swap is one assignment."""

    def __init__(self, current: ServedModel) -> None:
        self.current = current

    def swap(self, new: ServedModel) -> ServedModel:
        old, self.current = self.current, new
        return old


class AliasWatcher:
    """Follows the events for moves of the served reference and hot-swaps the model. Its
    cursor lives in memory: a restarted endpoint resolves the reference afresh, after reading
    ``events.latest_cursor()``, so it misses no move."""

    def __init__(
        self,
        events: EventReader,
        ref: Ref,
        holder: ModelHolder,
        resolve: Callable[[], int],
        load: Callable[[int], ServedModel],
        metrics: Metrics,
        after_id: int,
        interval_s: float = 0.5,
        wait_s: float = 0.0,
    ) -> None:
        self.events = events
        self.ref = ref
        self.holder = holder
        self.resolve = resolve  # the version the reference points at now
        self.load = load  # a loaded and warmed-up version
        self.metrics = metrics
        self.last_id = after_id
        self.interval_s = interval_s
        self.wait_s = wait_s  # > 0: each poll waits in the reader (a server's long-poll)
        self._task: asyncio.Task[None] | None = None

    @property
    def follows(self) -> bool:
        """A pinned version (``churn@3``) never moves; an alias or ``latest`` does."""
        return self.ref.version is None

    def start(self) -> None:
        if self.follows:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loopml-swap")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            if self.wait_s <= 0.0:
                await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed poll or load must not stop the endpoint
                log.exception("checking for a new version of %s failed", self.ref)
                if self.wait_s > 0.0:
                    await asyncio.sleep(self.interval_s)  # the server is away: ask less often

    async def check(self) -> bool:
        """Swap if a relevant event arrived and the reference now points elsewhere."""
        relevant = await asyncio.to_thread(self._poll)
        if not relevant:
            return False
        target = await asyncio.to_thread(self.resolve)
        if target == self.holder.current.version:
            return False
        try:
            new = await asyncio.to_thread(self.load, target)
        except Exception:
            self.metrics.swap_failures += 1
            log.exception(
                "cannot load %s version %s; still serving version %s",
                self.ref.name,
                target,
                self.holder.current.version,
            )
            return False
        old = self.holder.swap(new)
        self.metrics.swaps += 1
        log.warning("%s: swapped version %s → %s", self.ref, old.version, new.version)
        return True

    def _poll(self) -> bool:
        relevant = False
        wait = self.wait_s
        while True:
            batch = self.events.read_after(self.last_id, _KINDS, limit=_BATCH, wait=wait)
            wait = 0.0
            for event in batch:
                self.last_id = max(self.last_id, event.id)
                relevant = self._matches(event.payload) or relevant
            if len(batch) < _BATCH:
                return relevant

    def _matches(self, payload: Payload) -> bool:
        match payload:
            case ModelAliasChanged(model=model, alias=alias) if self.ref.alias is not None:
                return model == self.ref.name and alias == self.ref.alias
            case ModelAliasDeleted(model=model, alias=alias) if self.ref.alias is not None:
                if model == self.ref.name and alias == self.ref.alias:
                    log.warning(
                        "alias %s was deleted; still serving version %s",
                        self.ref,
                        self.holder.current.version,
                    )
                return False
            case ModelVersionCreated(model=model) if self.ref.alias is None:
                return model == self.ref.name
        return False
