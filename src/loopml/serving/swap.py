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
from typing import Any

import sqlalchemy as sa

from loopml.core.refs import Ref
from loopml.meta.tables import events
from loopml.serving.metrics import Metrics
from loopml.serving.model import ServedModel
from loopml.stores import Stores

log = logging.getLogger("loopml.serving")

_KINDS = ("model.alias_changed", "model.alias_deleted", "model.version_created")


class ModelHolder:
    """The served version. Readers take ``current`` once; a swap is one assignment."""

    def __init__(self, current: ServedModel) -> None:
        self.current = current

    def swap(self, new: ServedModel) -> ServedModel:
        old, self.current = self.current, new
        return old


def last_event_id(stores: Stores) -> int:
    """The newest event id now; read before resolving the reference so no move is missed."""
    with stores.meta.read() as conn:
        return int(conn.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0)


class AliasWatcher:
    """Polls the outbox for moves of the served reference and hot-swaps the model."""

    def __init__(
        self,
        stores: Stores,
        ref: Ref,
        holder: ModelHolder,
        resolve: Callable[[], int],
        load: Callable[[int], ServedModel],
        metrics: Metrics,
        after_id: int,
        interval_s: float = 0.5,
    ) -> None:
        self.stores = stores
        self.ref = ref
        self.holder = holder
        self.resolve = resolve  # the version the reference points at now
        self.load = load  # a loaded and warmed-up version
        self.metrics = metrics
        self.last_id = after_id
        self.interval_s = interval_s
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
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed poll or load must not stop the endpoint
                log.exception("checking for a new version of %s failed", self.ref)

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
        with self.stores.meta.read() as conn:
            rows = conn.execute(
                sa.select(events.c.id, events.c.kind, events.c.payload)
                .where(events.c.id > self.last_id, events.c.kind.in_(_KINDS))
                .order_by(events.c.id)
                .limit(10_000)
            ).all()
        relevant = False
        for row in rows:
            self.last_id = max(self.last_id, int(row.id))
            relevant = relevant or self._matches(row.kind, row.payload)
        return relevant

    def _matches(self, kind: str, payload: dict[str, Any]) -> bool:
        if payload.get("model") != self.ref.name:
            return False
        if self.ref.alias is not None:
            if kind == "model.alias_deleted" and payload.get("alias") == self.ref.alias:
                log.warning(
                    "alias %s was deleted; still serving version %s",
                    self.ref,
                    self.holder.current.version,
                )
                return False
            return kind == "model.alias_changed" and payload.get("alias") == self.ref.alias
        return kind == "model.version_created"
