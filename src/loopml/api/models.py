"""Value objects of the model registry (what the CLI, SDK and REST API show)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from loopml.api.datasets import ManifestFile
from loopml.core.times import iso


@dataclass(frozen=True)
class ModelFile:
    """One artifact file of a version: relative path, size and BLAKE3 digest."""

    path: str
    size: int
    digest: str


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    flavor: str  # sklearn | onnx | python
    run_id: str | None
    signature: dict[str, Any] | None
    metrics: dict[str, float]
    params: dict[str, Any]
    datasets: tuple[str, ...]  # dataset versions it was trained on, e.g. ("churn@3",)
    tags: dict[str, str]
    description: str | None
    created_at: float
    created_by: str
    aliases: tuple[str, ...] = ()
    files: tuple[ModelFile, ...] = field(default=(), compare=False)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_dict(self, with_files: bool = True) -> dict[str, Any]:
        d = asdict(self)
        d["ref"] = self.ref
        d["datasets"] = list(self.datasets)
        d["aliases"] = list(self.aliases)
        d["created_at"] = iso(self.created_at)
        if with_files:
            d["files"] = [asdict(f) for f in self.files]
            d["total_bytes"] = self.total_bytes
        else:
            d.pop("files")
        return d


@dataclass(frozen=True)
class ModelSummary:
    name: str
    description: str | None
    latest_version: int
    version_count: int
    aliases: dict[str, int]
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = iso(self.created_at)
        d["updated_at"] = iso(self.updated_at)
        return d


@dataclass(frozen=True)
class AliasChange:
    """The result of moving or deleting an alias."""

    name: str
    alias: str
    version: int | None  # None: the alias was deleted
    previous_version: int | None
    changed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelUpload:
    """A version registered from files whose chunks the client uploaded (the body of
    ``POST /models/{name}/versions``): the files with their chunks in order, and what the
    client knows about the model. ``metrics``/``params`` left None come from ``run_id``."""

    flavor: str
    files: tuple[ManifestFile, ...]
    run_id: str | None = None
    metrics: dict[str, float] | None = None
    params: dict[str, Any] | None = None
    signature: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    description: str | None = None
