"""Moving and deleting aliases (``production``, ``staging``, any valid name). Every change
appends an event in the same transaction, so triggers and deployments see each move once."""

from __future__ import annotations

import time
from typing import Any

from loopml.api.events import ModelAliasChanged, ModelAliasDeleted
from loopml.api.models import AliasChange
from loopml.core.errors import InvalidInput, NotFound
from loopml.core.names import validate_alias, validate_name
from loopml.meta.events import append_event
from loopml.models import repository as repo
from loopml.stores import Stores


def _version_number(version: Any) -> int:
    if isinstance(version, str) and version.isdigit():
        version = int(version)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput(f"version must be a positive whole number, got {version!r}")
    return version


def set_alias(stores: Stores, name: str, alias: str, version: Any) -> AliasChange:
    """Point ``name@alias`` at ``version``; appends ``model.alias_changed`` if it moved."""
    validate_name(name, "model name")
    validate_alias(alias)
    number = _version_number(version)
    with stores.meta.write() as conn:
        mid = repo.lock_existing_model(conn, name)
        if not repo.has_version(conn, mid, number):
            raise repo.missing_version(conn, name, mid, number)
        previous = repo.get_alias(conn, mid, alias)
        if previous == number:
            return AliasChange(name, alias, number, previous, changed=False)
        repo.put_alias(conn, mid, alias, number, time.time(), exists=previous is not None)
        append_event(conn, ModelAliasChanged(name, alias, number, previous))
    return AliasChange(name, alias, number, previous, changed=True)


def delete_alias(stores: Stores, name: str, alias: str) -> AliasChange:
    """Remove ``name@alias``; appends ``model.alias_deleted``. NotFound if it is not set."""
    validate_name(name, "model name")
    validate_alias(alias)
    with stores.meta.write() as conn:
        mid = repo.lock_existing_model(conn, name)
        previous = repo.get_alias(conn, mid, alias)
        if previous is None:
            raise NotFound(
                f"model {name!r} has no alias {alias!r}; see its aliases with: "
                f"loopml models show {name}"
            )
        repo.remove_alias(conn, mid, alias)
        append_event(conn, ModelAliasDeleted(name, alias, previous))
    return AliasChange(name, alias, None, previous, changed=True)
