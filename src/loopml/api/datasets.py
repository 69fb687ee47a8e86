"""Value objects of the dataset registry (what the CLI, SDK and REST API show)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from loopml.core.times import iso


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    digest: str


@dataclass(frozen=True)
class DatasetVersion:
    name: str
    version: int
    kind: str  # file | folder | dataframe
    content_digest: str
    parent_version: int | None
    message: str | None
    meta: dict[str, str]
    stats: dict[str, Any]
    file_count: int
    total_bytes: int
    created_at: float
    created_by: str
    files: tuple[FileEntry, ...] = field(default=(), compare=False)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self, with_files: bool = True) -> dict[str, Any]:
        d = asdict(self)
        d["ref"] = self.ref
        d["created_at"] = iso(self.created_at)
        if not with_files:
            d.pop("files")
        else:
            d["files"] = [asdict(f) for f in self.files]
        return d


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    latest_version: int
    version_count: int
    total_bytes: int
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["updated_at"] = iso(self.updated_at)
        return d


@dataclass(frozen=True)
class PushResult:
    version: DatasetVersion
    created: bool
    bytes_read: int = 0
    bytes_new: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "bytes_read": self.bytes_read,
            "bytes_new": self.bytes_new,
            "seconds": round(self.seconds, 4),
            **self.version.to_dict(with_files=False),
        }
