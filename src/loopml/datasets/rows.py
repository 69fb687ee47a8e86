"""Dataset values from stored rows (no SQLAlchemy: the quick unchanged-push path uses it)."""

from __future__ import annotations

from typing import Any

from loopml.api.datasets import DatasetVersion, FileEntry


def version_from_row(name: str, row: Any, files: tuple[FileEntry, ...] = ()) -> DatasetVersion:
    """A version from a ``dataset_versions`` row (any object with its columns as attributes)."""
    return DatasetVersion(
        name=name,
        version=row.version,
        kind=row.kind,
        content_digest=row.content_digest,
        parent_version=row.parent_version,
        message=row.message,
        meta=dict(row.meta or {}),
        stats=dict(row.stats or {}),
        file_count=row.file_count,
        total_bytes=row.total_bytes,
        created_at=row.created_at,
        created_by=row.created_by,
        files=files,
    )
