"""The Python SDK: a client over the services, and the process-wide default client that the
module-level functions in ``loopml`` use."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.settings import Settings, load_settings

if TYPE_CHECKING:
    from loopml.datasets import DatasetService
    from loopml.stores import Stores


class Client:
    """Opens the stores lazily, on first use, so constructing a client is free."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        home: str | None = None,
        db: str | None = None,
        blobs: str | None = None,
    ) -> None:
        self.settings = settings or load_settings(home=home, db=db, blobs=blobs)

    @functools.cached_property
    def stores(self) -> Stores:
        from loopml.stores import open_stores

        return open_stores(self.settings)

    @functools.cached_property
    def datasets(self) -> DatasetService:
        from loopml.datasets import DatasetService

        return DatasetService(self.stores)

    def close(self) -> None:
        if "stores" in self.__dict__:
            self.stores.close()


@functools.lru_cache(maxsize=8)
def _client_for(settings: Settings) -> Client:
    return Client(settings)


def default_client() -> Client:
    """The client for the current ``LOOPML_*`` environment (one per distinct configuration)."""
    return _client_for(load_settings())


def push_dataset(
    name: str, path_or_df: Any, message: str | None = None, meta: dict[str, Any] | None = None
) -> Any:
    """Store a file, folder or DataFrame as the next version of dataset ``name``."""
    return default_client().datasets.push(name, path_or_df, message=message, meta=meta)


def pull_dataset(ref: str, dest: str | os.PathLike[str]) -> Path:
    """Write dataset version ``ref`` (``name``, ``name@3``) to ``dest``, verified."""
    return default_client().datasets.pull(ref, dest)


def load_dataset(ref: str) -> Any:
    """A DataFrame for a table version, else a local path to a verified copy."""
    return default_client().datasets.load(ref)


def list_datasets() -> list[Any]:
    return default_client().datasets.list()


def diff_datasets(a: str, b: str) -> dict[str, Any]:
    return default_client().datasets.diff(a, b)
