"""Bearer tokens and roles: who may read, write and manage. Plain frozen value types; no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from loopml.core.errors import PermissionDenied


class Role(StrEnum):
    """What a token may do; each role may also do everything of the roles before it."""

    READER = "reader"
    WRITER = "writer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may."""
        return self.rank >= needed.rank


_RANKS = {Role.READER: 0, Role.WRITER: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the name of its token and the token's role."""

    name: str
    role: Role


@dataclass(frozen=True)
class TokenInfo:
    """A stored token, without its secret (the store keeps only a hash of it)."""

    name: str
    role: Role
    created_at: float
    created_by: str
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class NewToken:
    """A token just made: the only time its secret ``token`` is shown."""

    name: str
    role: Role
    token: str


class Unauthenticated(PermissionDenied):
    """No token, or one that is unknown or revoked (HTTP 401)."""

    def __init__(self, message: str, field: str | None = "authorization") -> None:
        super().__init__(message)
        self.field = field
