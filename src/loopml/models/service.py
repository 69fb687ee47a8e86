"""The model registry's one entry point over the stores."""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from loopml.api.models import AliasChange, ModelFile, ModelSummary, ModelUpload, ModelVersion
from loopml.core.errors import InvalidInput, NotFound
from loopml.core.names import validate_key, validate_name
from loopml.models import aliases
from loopml.models import load as load_mod
from loopml.models import register as register_mod
from loopml.models import repository as repo
from loopml.models.loaded import LoadedModel
from loopml.models.signature import Signature
from loopml.stores import Stores

MODES = ("max", "min")


class ModelService:
    """Named models → numbered versions, aliases, loading. ``tracking`` (the experiment
    tracking service) supplies a run's metrics, params and input datasets for ``run=``;
    ``active_run`` returns the caller's active run, linked when ``run`` is not given."""

    def __init__(
        self,
        stores: Stores,
        tracking: register_mod.Tracking | None = None,
        active_run: Callable[[], register_mod.RunHandle | None] | None = None,
    ) -> None:
        self.stores = stores
        self.tracking = tracking
        self.active_run = active_run

    def register(
        self,
        name: str,
        model: Any,
        *,
        run: Any = None,
        metrics: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        signature: Signature | dict[str, Any] | None = None,
        input_example: Any = None,
        flavor: str | None = None,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """Store ``model`` (an object or a .onnx/.skops path) as the next version of ``name``;
        ``run`` (default: the active run) supplies lineage and default metrics and params."""
        return register_mod.register(
            self.stores,
            self.tracking,
            name,
            model,
            run=run,
            metrics=metrics,
            params=params,
            signature=signature,
            input_example=input_example,
            flavor=flavor,
            tags=tags,
            description=description,
            active=self.active_run,
        )

    def load(self, ref: str, trusted: bool | None = None) -> LoadedModel:
        """Load ``ref`` for prediction; pickled (python flavor) models need ``trusted``."""
        return load_mod.load_model(self.stores, ref, trusted)

    def show(self, ref: str) -> ModelVersion:
        return load_mod.resolve(self.stores, ref)

    def versions(self, name: str) -> builtins.list[ModelVersion]:
        validate_name(name, "model name")
        with self.stores.meta.read() as conn:
            return repo.list_versions(conn, name)

    def list(self) -> builtins.list[ModelSummary]:
        with self.stores.meta.read() as conn:
            return repo.list_models(conn)

    def best_version(self, name: str, metric: str, mode: str = "max") -> ModelVersion:
        """The version with the best value of ``metric`` (``max`` or ``min``); newest on a tie."""
        validate_name(name, "model name")
        validate_key(metric, "metric")
        if mode not in MODES:
            raise InvalidInput(f"mode must be 'max' or 'min', got {mode!r}")
        with self.stores.meta.read() as conn:
            found = repo.best(conn, name, metric, mode)
            if found is None:
                known = repo.metric_names(conn, name)
                shown = ", ".join(known) if known else "none"
                raise NotFound(
                    f"no version of model {name!r} records metric {metric!r} "
                    f"(metrics recorded: {shown})"
                )
        return found

    def set_alias(self, name: str, alias: str, version: int | str) -> AliasChange:
        """Point ``name@alias`` at ``version`` (moving it if it points elsewhere)."""
        return aliases.set_alias(self.stores, name, alias, version)

    def delete_alias(self, name: str, alias: str) -> AliasChange:
        return aliases.delete_alias(self.stores, name, alias)

    def commit_version(self, name: str, upload: ModelUpload) -> ModelVersion:
        """The next version of ``name`` from files whose chunks are stored already (sent
        through the datasets chunk transfer); Conflict names a chunk that is not."""
        return register_mod.commit_upload(self.stores, self.tracking, name, upload)

    def open_file(self, ref: str, path: str) -> tuple[ModelFile, Iterator[bytes]]:
        """One artifact file of ``ref`` and its bytes, verified as they are read."""
        return load_mod.open_file(self.stores, ref, path)

    def pull(self, ref: str, dest: str | os.PathLike[str]) -> Path:
        """Write the artifact files of ``ref`` into ``dest``, verified."""
        return load_mod.pull(self.stores, ref, dest)[1]
