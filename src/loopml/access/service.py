"""The access service: bearer tokens with a role. A token is ``lml_`` and 43 random URL-safe
characters (256 bits), shown once when made; the store keeps only its SHA-256 (a fast hash is
enough for a secret that random: there is nothing to guess), and a presented token is
compared with the stored digest in constant time."""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from loopml.access import repository as repo
from loopml.api.access import NewToken, Principal, Role, TokenInfo, Unauthenticated
from loopml.core.errors import Conflict, InvalidInput
from loopml.core.identity import whoami
from loopml.core.names import validate_name
from loopml.stores import Stores

PREFIX = "lml_"
MAX_TOKEN_CHARS = 200
ROLES = ", ".join(r.value for r in Role)

_HOW = (
    "send it as Authorization: Bearer TOKEN (the CLI and SDK read LOOPML_TOKEN); an admin "
    "makes one with: loopml token create --role reader|writer|admin"
)


def digest_of(token: str) -> str:
    """The SHA-256 (hex) the store keeps in place of ``token``."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def parse_role(role: str | Role) -> Role:
    """``role`` as a :class:`Role`, or InvalidInput listing the roles."""
    try:
        return Role(role)
    except ValueError:
        raise InvalidInput(f"role {role!r} is not one of {ROLES}") from None


class AccessService:
    """Tokens in the metadata store."""

    def __init__(self, stores: Stores, clock: Callable[[], float] = time.time) -> None:
        self.stores = stores
        self.clock = clock

    def create(self, role: str | Role, name: str | None = None) -> NewToken:
        """A new token with ``role`` (named ``name``, else ``ROLE-xxxxxx``); its secret is in
        the answer and nowhere else."""
        chosen = parse_role(role)
        if name is None:
            name = f"{chosen.value}-{secrets.token_hex(3)}"
        validate_name(name, "token name")
        secret = PREFIX + secrets.token_urlsafe(32)
        with self.stores.meta.write() as conn:
            if repo.name_taken(conn, name):
                raise Conflict(
                    f"a token named {name!r} exists (revoked tokens keep their name); "
                    "choose another --name"
                )
            repo.insert(conn, name, chosen, digest_of(secret), self.clock(), whoami())
        return NewToken(name=name, role=chosen, token=secret)

    def list(self) -> builtins.list[TokenInfo]:
        """Every token, revoked ones too, oldest first (never their secrets)."""
        with self.stores.meta.read() as conn:
            return [repo.to_info(r) for r in repo.list_rows(conn)]

    def get(self, name: str) -> TokenInfo:
        validate_name(name, "token name")
        with self.stores.meta.read() as conn:
            return repo.to_info(repo.get_row(conn, name))

    def revoke(self, name: str) -> TokenInfo:
        """Revoke ``name``: from now on it authenticates nothing. Revoking twice keeps the
        first time."""
        validate_name(name, "token name")
        with self.stores.meta.write() as conn:
            repo.get_row(conn, name)
            repo.revoke(conn, name, self.clock())
            return repo.to_info(repo.get_row(conn, name))

    def authenticate(self, token: str) -> Principal:
        """Who ``token`` is; Unauthenticated when it is unknown or revoked."""
        if not isinstance(token, str) or not token:
            raise Unauthenticated(f"this server needs a token: {_HOW}")
        if not token.startswith(PREFIX) or len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated(f"that is not a loopml token (they start with {PREFIX}); {_HOW}")
        digest = digest_of(token)
        with self.stores.meta.read() as conn:
            row = repo.by_hash(conn, digest)
        if row is None or not hmac.compare_digest(row.hash, digest):
            raise Unauthenticated(f"unknown token; {_HOW}")
        if row.revoked_at is not None:
            raise Unauthenticated(f"token {row.name!r} was revoked; ask an admin for a new one")
        return Principal(name=row.name, role=Role(row.role))
