"""The maintenance service: verify the blob store, collect its garbage, end dead runs. The
reapers of the other blocks come from the factory (a service does not import another)."""

from __future__ import annotations

from collections.abc import Callable

from loopml.api.maintenance import FsckSummary, GcSummary
from loopml.api.runs import LostRun
from loopml.blobs.gc import ORPHAN_GRACE_S
from loopml.stores import Stores


class MaintenanceService:
    """``reap_runs`` ends dead running runs as lost; ``reap_pipelines`` fails pipeline runs
    whose coordinator died (both given by :func:`loopml.connect`)."""

    def __init__(
        self,
        stores: Stores,
        reap_runs: Callable[[], list[LostRun]],
        reap_pipelines: Callable[[], list[str]],
    ) -> None:
        self.stores = stores
        self._reap_runs = reap_runs
        self._reap_pipelines = reap_pipelines

    def fsck(self, progress: Callable[[int], None] | None = None) -> FsckSummary:
        """Read every pack and check each chunk's digest; check files and references."""
        from loopml.blobs.fsck import fsck

        r = fsck(self.stores.blobs, progress)
        return FsckSummary(
            r.packs,
            r.chunks,
            r.bytes,
            r.files,
            r.orphan_objects,
            tuple(r.problems),
            r.leftover_files,
            r.leftover_bytes,
        )

    def gc(
        self,
        grace_s: float = ORPHAN_GRACE_S,
        dry_run: bool = False,
        on_wait: Callable[[], None] | None = None,
    ) -> GcSummary:
        """Remove what no version references, once running writes have ended."""
        from loopml.blobs.gc import gc

        r = gc(self.stores.blobs, grace_s=grace_s, dry_run=dry_run, on_wait=on_wait)
        return GcSummary(
            r.files_removed,
            r.packs_deleted,
            r.packs_repacked,
            r.orphans_deleted,
            r.bytes_freed,
            r.leftovers_deleted,
        )

    def reap_runs(self) -> list[LostRun]:
        """End every dead running run as lost."""
        return self._reap_runs()

    def reap_pipelines(self) -> list[str]:
        """Fail the running pipeline runs whose coordinator died; returns their ids."""
        return self._reap_pipelines()
