"""SQL for the dataset aggregate: datasets, their versions and the files of each version."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.api.datasets import DatasetSummary, DatasetVersion, FileEntry
from loopml.core.errors import NotFound
from loopml.core.refs import Ref
from loopml.datasets.rows import version_from_row
from loopml.meta.rows import lock_named
from loopml.meta.tables import dataset_files, dataset_versions, datasets

_V = dataset_versions.c


def dataset_id(conn: Connection, name: str) -> int | None:
    return conn.execute(sa.select(datasets.c.id).where(datasets.c.name == name)).scalar()


def lock_dataset(conn: Connection, name: str, now: float, user: str) -> int:
    """The dataset's id (created if needed), its row locked until commit."""
    return lock_named(conn, datasets, name, created_at=now, created_by=user)


def latest_row(conn: Connection, ds_id: int) -> Any:
    return conn.execute(
        sa.select(dataset_versions)
        .where(_V.dataset_id == ds_id)
        .order_by(_V.version.desc())
        .limit(1)
    ).first()


def insert_version(conn: Connection, values: dict[str, Any], files: list[FileEntry]) -> int:
    vid = int(conn.execute(dataset_versions.insert().values(**values)).inserted_primary_key[0])  # type: ignore[index]
    if files:
        conn.execute(
            dataset_files.insert(),
            [
                {"version_id": vid, "path": f.path, "file_digest": f.digest, "size": f.size}
                for f in files
            ],
        )
    return vid


def resolve(conn: Connection, ref: Ref, with_files: bool = True) -> DatasetVersion:
    """The version a reference names; NotFound says what exists instead."""
    ds_id = dataset_id(conn, ref.name)
    if ds_id is None:
        raise NotFound(
            f"dataset {ref.name!r} does not exist; list datasets with: loopml datasets list"
        )
    ref = ref.without_alias("dataset")
    q = sa.select(dataset_versions).where(_V.dataset_id == ds_id)
    if ref.version is not None:
        row = conn.execute(q.where(_V.version == ref.version)).first()
    else:
        row = conn.execute(q.order_by(_V.version.desc()).limit(1)).first()
    if row is None:
        latest = latest_row(conn, ds_id)
        hint = f"latest is {latest.version}" if latest is not None else "it has no versions"
        raise NotFound(
            f"dataset {ref.name!r} has no version {ref.version} ({hint}); "
            f"list versions with: loopml datasets show {ref.name}"
        )
    files: tuple[FileEntry, ...] = ()
    if with_files:
        frows = conn.execute(
            sa.select(dataset_files.c.path, dataset_files.c.size, dataset_files.c.file_digest)
            .where(dataset_files.c.version_id == row.id)
            .order_by(dataset_files.c.path)
        )
        files = tuple(FileEntry(p, int(s), d) for p, s, d in frows)
    return version_from_row(ref.name, row, files)


def list_versions(conn: Connection, name: str) -> list[DatasetVersion]:
    ds_id = dataset_id(conn, name)
    if ds_id is None:
        raise NotFound(f"dataset {name!r} does not exist; list datasets with: loopml datasets list")
    rows = conn.execute(
        sa.select(dataset_versions).where(_V.dataset_id == ds_id).order_by(_V.version)
    )
    return [version_from_row(name, r) for r in rows]


def list_datasets(conn: Connection) -> list[DatasetSummary]:
    q = (
        sa.select(
            datasets.c.name,
            sa.func.max(_V.version),
            sa.func.count(_V.id),
            sa.func.max(_V.created_at),
        )
        .join(dataset_versions, _V.dataset_id == datasets.c.id)
        .group_by(datasets.c.name)
        .order_by(datasets.c.name)
    )
    out = []
    for name, latest, count, updated in conn.execute(q):
        size = conn.execute(
            sa.select(_V.total_bytes)
            .join(datasets, _V.dataset_id == datasets.c.id)
            .where(datasets.c.name == name, _V.version == latest)
        ).scalar_one()
        out.append(DatasetSummary(name, int(latest), int(count), int(size), float(updated)))
    return out
