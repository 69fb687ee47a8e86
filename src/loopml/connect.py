"""The one factory: ``loopml.connect()`` reads the settings once and returns the services of
one backend wired together. Nothing else constructs a service; a service that needs another
gets it here (pipelines: datasets, models, runs and deployments; deployments: models;
monitoring: models and datasets; triggers: the events and every service it acts through).
Two backends implement the same interfaces: the embedded one (the local stores) and, when
``settings.uri`` is set (``LOOPML_URI``), the remote one in :mod:`loopml.client` (HTTP to a
``loopml server``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidInput
from loopml.core.settings import Settings, load_settings

if TYPE_CHECKING:
    from loopml.api.events import EventReader
    from loopml.api.protocols import (
        Access,
        Datasets,
        Deployments,
        Maintenance,
        Models,
        Monitoring,
        Pipelines,
        Runs,
        Search,
        Triggers,
    )
    from loopml.stores import Stores
    from loopml.tracker.tracker import Tracker


class Services:
    """The services of one backend (plus ``tracker``, this process's side of tracking). Each is
    built on first use, so connecting costs nothing until a service is called; the stores open
    with the first one. Read-only: there is nothing to set."""

    __slots__ = ("_built", "_lock", "_owns_stores", "_stores", "settings")
    settings: Settings
    _stores: Stores | None
    _owns_stores: bool
    _built: dict[str, Any]
    _lock: threading.RLock

    def __init__(self, settings: Settings, stores: Stores | None = None) -> None:
        object.__setattr__(self, "settings", settings)
        object.__setattr__(self, "_stores", stores)
        object.__setattr__(self, "_owns_stores", stores is None)
        object.__setattr__(self, "_built", {})
        object.__setattr__(self, "_lock", threading.RLock())

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Services is read-only: cannot set {name!r}")

    def __repr__(self) -> str:
        return f"<Services embedded db={self.settings.db_url!r}>"

    @property
    def stores(self) -> Stores:
        """The opened stores (embedded backend only)."""
        with self._lock:
            if self._stores is None:
                from loopml.stores import open_stores

                object.__setattr__(self, "_stores", open_stores(self.settings))
            assert self._stores is not None
            return self._stores

    def _get(self, name: str, build: Callable[[], Any]) -> Any:
        found = self._built.get(name)
        if found is None:
            with self._lock:
                found = self._built.get(name)
                if found is None:
                    found = self._built[name] = build()
        return found

    @property
    def datasets(self) -> Datasets:
        return self._get("datasets", self._datasets)  # type: ignore[no-any-return]

    @property
    def runs(self) -> Runs:
        return self._get("runs", self._runs)  # type: ignore[no-any-return]

    @property
    def search(self) -> Search:
        return self._get("search", self._search)  # type: ignore[no-any-return]

    @property
    def models(self) -> Models:
        return self._get("models", self._models)  # type: ignore[no-any-return]

    @property
    def pipelines(self) -> Pipelines:
        return self._get("pipelines", self._pipelines)  # type: ignore[no-any-return]

    @property
    def deployments(self) -> Deployments:
        return self._get("deployments", self._deployments)  # type: ignore[no-any-return]

    @property
    def maintenance(self) -> Maintenance:
        return self._get("maintenance", self._maintenance)  # type: ignore[no-any-return]

    @property
    def monitoring(self) -> Monitoring:
        return self._get("monitoring", self._monitoring)  # type: ignore[no-any-return]

    @property
    def triggers(self) -> Triggers:
        return self._get("triggers", self._triggers)  # type: ignore[no-any-return]

    @property
    def events(self) -> EventReader:
        return self._get("events", self._events)  # type: ignore[no-any-return]

    @property
    def access(self) -> Access:
        """Bearer tokens and roles (what ``loopml server --auth`` checks)."""
        return self._get("access", self._access)  # type: ignore[no-any-return]

    @property
    def tracker(self) -> Tracker:
        """This process's runs, metric buffer and flusher over ``runs`` (client side)."""
        return self._get("tracker", self._tracker)  # type: ignore[no-any-return]

    # ---------- the embedded wiring ----------
    def _datasets(self) -> Datasets:
        from loopml.datasets.service import DatasetService

        return DatasetService(self.stores)

    def _runs(self) -> Runs:
        from loopml.tracking.service import RunService

        return RunService(self.stores)

    def _search(self) -> Search:
        from loopml.tracking.service import RunService, SearchService

        runs = self.runs
        assert isinstance(runs, RunService)
        return SearchService(runs)

    def _models(self) -> Models:
        from loopml.models.service import ModelService

        # Through the tracker: a run read for lineage includes what this process buffered.
        return ModelService(self.stores, tracking=self.tracker, active_run=_active_run)

    def _pipelines(self) -> Pipelines:
        from loopml.pipelines.records import StoredRecords
        from loopml.pipelines.service import PipelineService

        return PipelineService(
            StoredRecords(self.stores),
            tracking=self.tracker,
            backend=self,
            connect=over_records,
        )

    def _deployments(self) -> Deployments:
        from loopml.deployments.service import DeploymentService

        return DeploymentService(self.stores, self.models)

    def _monitoring(self) -> Monitoring:
        from loopml.monitoring.service import MonitoringService

        return MonitoringService(self.stores, self.models, self.datasets)

    def _triggers(self) -> Triggers:
        from loopml.triggers.service import TriggerService

        return TriggerService(
            self.stores,
            events=self.events,
            datasets=self.datasets,
            models=self.models,
            pipelines=self.pipelines,
            deployments=self.deployments,
            monitoring=self.monitoring,
            maintenance=self.maintenance,
        )

    def _events(self) -> EventReader:
        from loopml.events import EventService

        return EventService(self.stores)

    def _access(self) -> Access:
        from loopml.access.service import AccessService

        return AccessService(self.stores)

    def _maintenance(self) -> Maintenance:
        from loopml.maintenance.service import MaintenanceService
        from loopml.tracking.service import RunService

        runs = self.runs
        assert isinstance(runs, RunService)
        return MaintenanceService(self.stores, runs.reap_stale, self._reap_pipelines)

    def _reap_pipelines(self) -> list[str]:
        from loopml.pipelines.service import PipelineService

        pipelines = self.pipelines
        assert isinstance(pipelines, PipelineService)
        return pipelines.reap_orphans()

    def _tracker(self) -> Tracker:
        from loopml.tracker.tracker import Tracker

        return Tracker(
            self.runs,
            self.search,
            lambda: self.maintenance,
            heartbeat_s=self.settings.heartbeat_s,
        )

    def close(self) -> None:
        """Commit what this process buffered, stop its flusher, close the stores it opened."""
        with self._lock:
            tracker = self._built.pop("tracker", None)
            if tracker is not None:
                tracker.close()
            pipelines = self._built.pop("pipelines", None)
            close_workers = getattr(pipelines, "close", None)
            if close_workers is not None:
                close_workers()  # the step workers it keeps between runs
            self._built.clear()
            if self._owns_stores and self._stores is not None:
                self._stores.close()
                object.__setattr__(self, "_stores", None)


def _active_run() -> Any:
    from loopml.tracker.active import current_run

    return current_run()


def connect(settings: Settings | None = None, **overrides: str | None) -> Services:
    """The services for ``settings`` (default: read from the ``LOOPML_*`` environment once;
    keyword overrides such as ``home=``, ``db=``, ``blobs=`` win over it)."""
    if settings is None:
        settings = load_settings(None, **overrides)
    elif overrides:
        raise InvalidInput(
            "connect() takes settings or keyword overrides (home=, db=...), not both"
        )
    if settings.uri:
        from loopml.client.services import RemoteServices

        return RemoteServices(settings)  # type: ignore[return-value]
    return Services(settings)


def over_stores(stores: Stores) -> Services:
    """The embedded services over stores a worker process has open already (it closes them)."""
    return Services(stores.settings, stores)


def over_records(records: Any) -> Services:
    """The embedded services over a step worker's records (its opened stores)."""
    return over_stores(records.stores)
