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


# A chunk on its way to or from the datasets service: its BLAKE3 digest (hex) and its bytes.
# On HTTP this is a binary stream, never JSON; in embedded mode the bytes may be a view into
# the client's read buffer, so nothing is copied on the way into a pack.
Chunk = tuple[str, "bytes | memoryview"]


@dataclass(frozen=True)
class ChunkRef:
    """A chunk the service stored: its BLAKE3 digest (hex) and its length."""

    digest: str
    size: int


@dataclass(frozen=True)
class ManifestFile:
    """One file of a version: where it goes, its size and digest, its chunks in order."""

    path: str
    size: int
    digest: str
    chunks: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    """What a version holds, committed once every chunk it names is stored."""

    kind: str  # file | folder | dataframe
    files: tuple[ManifestFile, ...]
    message: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    def entries(self) -> list[FileEntry]:
        """The files as the version lists them."""
        return [FileEntry(f.path, f.size, f.digest) for f in self.files]
