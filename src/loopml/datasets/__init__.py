"""Block 1: the dataset registry. Names load on first use, so importing a submodule (the CLI
needs only value objects) does not pull in SQLAlchemy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopml.api.datasets import DatasetSummary, DatasetVersion, FileEntry, PushResult
    from loopml.datasets.service import DatasetService

__all__ = ["DatasetService", "DatasetSummary", "DatasetVersion", "FileEntry", "PushResult"]


def __getattr__(name: str) -> Any:
    if name == "DatasetService":
        from loopml.datasets.service import DatasetService

        return DatasetService
    if name in __all__:
        from loopml.api import datasets

        return getattr(datasets, name)
    raise AttributeError(name)
