"""The access service over SQLite and PostgreSQL: tokens are random, shown once, stored as a
hash, and refused once revoked."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from loopml.api.access import Principal, Role, Unauthenticated
from loopml.core.errors import Conflict, InvalidInput, InvalidName, NotFound
from loopml.core.identity import acting_as, local_user, whoami
from loopml.meta.tables import tokens
from loopml.sdk import Client


def test_a_token_authenticates_as_its_name_and_role(client: Client) -> None:
    access = client.services.access
    made = access.create("writer", "ci")
    assert made.token.startswith("lml_") and len(made.token) > 40
    assert made.role is Role.WRITER and made.name == "ci"
    assert access.authenticate(made.token) == Principal("ci", Role.WRITER)
    other = access.create("reader")
    assert other.name.startswith("reader-") and other.token != made.token


def test_only_a_hash_of_the_token_is_stored(client: Client) -> None:
    made = client.services.access.create("admin", "root")
    with client.stores.meta.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(tokens))]
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0].values())
    assert made.token not in stored and made.token[4:] not in stored
    assert rows[0]["hash"] == hashlib.sha256(made.token.encode()).hexdigest()
    assert rows[0]["created_by"] == local_user()
    listed = client.services.access.list()
    assert [t.name for t in listed] == ["root"]
    assert made.token not in repr(listed)


def test_unknown_revoked_and_malformed_tokens_are_refused(client: Client) -> None:
    access = client.services.access
    made = access.create("admin", "a")
    for bad in ("", "nope", "lml_" + "x" * 43, made.token + "x", "lml_" + "y" * 500):
        with pytest.raises(Unauthenticated):
            access.authenticate(bad)
    revoked = access.revoke("a")
    assert revoked.revoked_at is not None and not revoked.active
    with pytest.raises(Unauthenticated, match="revoked"):
        access.authenticate(made.token)
    assert access.revoke("a").revoked_at == revoked.revoked_at  # revoking again keeps the time
    with pytest.raises(NotFound, match="loopml token list"):
        access.revoke("missing")
    with pytest.raises(InvalidName):  # checked before PostgreSQL sees it (it refuses NUL)
        access.revoke("a\x00b")


def test_bad_roles_and_names_and_duplicates_are_refused(client: Client) -> None:
    access = client.services.access
    with pytest.raises(InvalidInput, match="reader, writer, admin"):
        access.create("root")
    for name in ("../x", "a/b", "", "x" * 200, "a\x00b"):
        with pytest.raises(InvalidName):
            access.create("reader", name)
    access.create("reader", "dup")
    access.revoke("dup")
    with pytest.raises(Conflict, match="--name"):
        access.create("admin", "dup")
    assert [t.name for t in access.list()] == ["dup"]


def test_writes_record_the_acting_token_name() -> None:
    assert whoami() == local_user()
    with acting_as("ci-token"):
        assert whoami() == "ci-token"
    assert whoami() == local_user()
