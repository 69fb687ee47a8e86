"""Rows of the tokens table to value types and back."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.api.access import Role, TokenInfo
from loopml.core.errors import NotFound
from loopml.meta.tables import tokens

T = tokens.c


def to_info(row: Any) -> TokenInfo:
    return TokenInfo(
        name=row.name,
        role=Role(row.role),
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
    )


def name_taken(conn: Connection, name: str) -> bool:
    return conn.execute(sa.select(T.id).where(T.name == name)).first() is not None


def insert(conn: Connection, name: str, role: Role, digest: str, now: float, user: str) -> None:
    conn.execute(
        tokens.insert().values(
            name=name, role=role.value, hash=digest, created_at=now, created_by=user
        )
    )


def get_row(conn: Connection, name: str) -> Any:
    row = conn.execute(sa.select(tokens).where(T.name == name)).first()
    if row is None:
        raise NotFound(f"no token named {name!r}; list them with: loopml token list")
    return row


def by_hash(conn: Connection, digest: str) -> Any:
    return conn.execute(sa.select(tokens).where(T.hash == digest)).first()


def list_rows(conn: Connection) -> list[Any]:
    return list(conn.execute(sa.select(tokens).order_by(T.created_at, T.id)))


def revoke(conn: Connection, name: str, now: float) -> None:
    conn.execute(
        tokens.update().where(T.name == name, T.revoked_at.is_(None)).values(revoked_at=now)
    )
