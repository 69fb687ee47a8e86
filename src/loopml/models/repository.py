"""SQL for the model aggregate: models, their versions, files and aliases."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.api.models import ModelFile, ModelSummary, ModelVersion
from loopml.core.errors import NotFound
from loopml.core.refs import Ref
from loopml.meta.rows import lock_named
from loopml.meta.tables import model_aliases, model_files, model_versions, models

_V = model_versions.c
_A = model_aliases.c


def version_from_row(
    name: str, row: Any, files: tuple[ModelFile, ...] = (), aliases: tuple[str, ...] = ()
) -> ModelVersion:
    return ModelVersion(
        name=name,
        version=row.version,
        flavor=row.flavor,
        run_id=row.run_id,
        signature=row.signature,
        metrics=dict(row.metrics or {}),
        params=dict(row.params or {}),
        datasets=tuple(row.datasets or ()),
        tags=dict(row.tags or {}),
        description=row.description,
        created_at=row.created_at,
        created_by=row.created_by,
        aliases=aliases,
        files=files,
    )


def model_id(conn: Connection, name: str) -> int | None:
    return conn.execute(sa.select(models.c.id).where(models.c.name == name)).scalar()


def _missing_model(name: str) -> NotFound:
    return NotFound(f"model {name!r} does not exist; list models with: loopml models list")


def lock_model(conn: Connection, name: str, now: float, user: str) -> int:
    """The model's id (created if needed), its row locked until commit."""
    return lock_named(conn, models, name, created_at=now, created_by=user)


def lock_existing_model(conn: Connection, name: str) -> int:
    """The id of an existing model, its row locked until commit; NotFound otherwise."""
    q = sa.select(models.c.id).where(models.c.name == name)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    found = conn.execute(q).scalar()
    if found is None:
        raise _missing_model(name)
    return int(found)


def latest_number(conn: Connection, mid: int) -> int | None:
    return conn.execute(sa.select(sa.func.max(_V.version)).where(_V.model_id == mid)).scalar()


def insert_version(conn: Connection, values: dict[str, Any], files: list[ModelFile]) -> int:
    vid = int(conn.execute(model_versions.insert().values(**values)).inserted_primary_key[0])  # type: ignore[index]
    conn.execute(
        model_files.insert(),
        [
            {"model_version_id": vid, "path": f.path, "file_digest": f.digest, "size": f.size}
            for f in files
        ],
    )
    return vid


def has_version(conn: Connection, mid: int, number: int) -> bool:
    q = sa.select(_V.id).where(_V.model_id == mid, _V.version == number)
    return conn.execute(q).first() is not None


def missing_version(conn: Connection, name: str, mid: int, number: int) -> NotFound:
    latest = latest_number(conn, mid)
    hint = f"latest is {latest}" if latest is not None else "it has no versions"
    return NotFound(
        f"model {name!r} has no version {number} ({hint}); "
        f"list versions with: loopml models show {name}"
    )


def aliases_of(conn: Connection, mid: int) -> dict[str, int]:
    q = sa.select(_A.alias, _A.version).where(_A.model_id == mid).order_by(_A.alias)
    return {a: int(v) for a, v in conn.execute(q)}


def get_alias(conn: Connection, mid: int, alias: str) -> int | None:
    q = sa.select(_A.version).where(_A.model_id == mid, _A.alias == alias)
    return conn.execute(q).scalar()


def put_alias(
    conn: Connection, mid: int, alias: str, number: int, now: float, exists: bool
) -> None:
    if exists:
        conn.execute(
            model_aliases.update()
            .where(_A.model_id == mid, _A.alias == alias)
            .values(version=number, updated_at=now)
        )
    else:
        conn.execute(
            model_aliases.insert().values(model_id=mid, alias=alias, version=number, updated_at=now)
        )


def remove_alias(conn: Connection, mid: int, alias: str) -> None:
    conn.execute(model_aliases.delete().where(_A.model_id == mid, _A.alias == alias))


def resolve(conn: Connection, ref: Ref, with_files: bool = True) -> ModelVersion:
    """The version a reference names; NotFound says what exists instead."""
    mid = model_id(conn, ref.name)
    if mid is None:
        raise _missing_model(ref.name)
    number = ref.version
    if ref.alias is not None:
        number = get_alias(conn, mid, ref.alias)
        if number is None:
            known = aliases_of(conn, mid)
            shown = ", ".join(f"{a} → {v}" for a, v in known.items()) or "none"
            raise NotFound(
                f"model {ref.name!r} has no alias {ref.alias!r} (aliases: {shown}); set it "
                f"with: loopml models alias {ref.name} VERSION {ref.alias}"
            )
    q = sa.select(model_versions).where(_V.model_id == mid)
    if number is not None:
        row = conn.execute(q.where(_V.version == number)).first()
    else:
        row = conn.execute(q.order_by(_V.version.desc()).limit(1)).first()
    if row is None:
        raise missing_version(conn, ref.name, mid, number or 0)
    return _complete(conn, ref.name, mid, row, with_files)


def _complete(conn: Connection, name: str, mid: int, row: Any, with_files: bool) -> ModelVersion:
    files: tuple[ModelFile, ...] = ()
    if with_files:
        frows = conn.execute(
            sa.select(model_files.c.path, model_files.c.size, model_files.c.file_digest)
            .where(model_files.c.model_version_id == row.id)
            .order_by(model_files.c.path)
        )
        files = tuple(ModelFile(p, int(s), d) for p, s, d in frows)
    aliases = conn.execute(
        sa.select(_A.alias).where(_A.model_id == mid, _A.version == row.version).order_by(_A.alias)
    ).scalars()
    return version_from_row(name, row, files, tuple(aliases))


def list_versions(conn: Connection, name: str) -> list[ModelVersion]:
    mid = model_id(conn, name)
    if mid is None:
        raise _missing_model(name)
    by_version: dict[int, list[str]] = {}
    for alias, number in aliases_of(conn, mid).items():
        by_version.setdefault(number, []).append(alias)
    rows = conn.execute(sa.select(model_versions).where(_V.model_id == mid).order_by(_V.version))
    return [version_from_row(name, r, (), tuple(by_version.get(r.version, ()))) for r in rows]


def list_models(conn: Connection) -> list[ModelSummary]:
    q = (
        sa.select(
            models.c.id,
            models.c.name,
            models.c.description,
            models.c.created_at,
            sa.func.max(_V.version),
            sa.func.count(_V.id),
            sa.func.max(_V.created_at),
        )
        .join(model_versions, _V.model_id == models.c.id)
        .group_by(models.c.id, models.c.name, models.c.description, models.c.created_at)
        .order_by(models.c.name)
    )
    aliases: dict[int, dict[str, int]] = {}
    for mid, alias, number in conn.execute(
        sa.select(_A.model_id, _A.alias, _A.version).order_by(_A.alias)
    ):
        aliases.setdefault(mid, {})[alias] = int(number)
    return [
        ModelSummary(
            name=name,
            description=description,
            latest_version=int(latest),
            version_count=int(count),
            aliases=aliases.get(mid, {}),
            created_at=float(created),
            updated_at=float(updated),
        )
        for mid, name, description, created, latest, count, updated in conn.execute(q)
    ]


def best(conn: Connection, name: str, metric: str, mode: str) -> ModelVersion | None:
    """The version with the highest (``max``) or lowest (``min``) value of ``metric``; on a
    tie the newest version. None when no version records the metric."""
    mid = model_id(conn, name)
    if mid is None:
        raise _missing_model(name)
    value = _V.metrics[metric].as_float()
    order = value.desc() if mode == "max" else value.asc()
    row = conn.execute(
        sa.select(model_versions)
        .where(_V.model_id == mid, value.is_not(None))
        .order_by(order, _V.version.desc())
        .limit(1)
    ).first()
    return None if row is None else _complete(conn, name, mid, row, with_files=False)


def metric_names(conn: Connection, name: str) -> list[str]:
    """Every metric key any version of ``name`` records (for error messages)."""
    mid = model_id(conn, name)
    found: set[str] = set()
    for (metrics,) in conn.execute(sa.select(_V.metrics).where(_V.model_id == mid)):
        found.update(metrics or {})
    return sorted(found)
