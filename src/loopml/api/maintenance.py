"""Results of the maintenance calls: verifying the stores and collecting garbage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FsckSummary:
    """What ``fsck`` read and every problem it found (none: the stores are sound)."""

    packs: int
    chunks: int
    bytes: int
    files: int
    orphan_objects: int
    problems: tuple[str, ...] = ()
    leftover_files: int = 0  # temporary files of running or interrupted writes
    leftover_bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "packs": self.packs,
            "chunks": self.chunks,
            "bytes": self.bytes,
            "files": self.files,
            "orphan_objects": self.orphan_objects,
            "leftover_files": self.leftover_files,
            "leftover_bytes": self.leftover_bytes,
            "problems": list(self.problems),
            "ok": self.ok,
        }


@dataclass(frozen=True)
class GcSummary:
    """What ``gc`` removed (or, on a dry run, would remove)."""

    files_removed: int
    packs_deleted: int
    packs_repacked: int
    orphans_deleted: int
    bytes_freed: int
    leftovers_deleted: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "files_removed": self.files_removed,
            "packs_deleted": self.packs_deleted,
            "packs_repacked": self.packs_repacked,
            "orphans_deleted": self.orphans_deleted,
            "bytes_freed": self.bytes_freed,
            "leftovers_deleted": self.leftovers_deleted,
        }
