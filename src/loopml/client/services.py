"""The services of a remote backend. Each is built on first use by the module of the same name
in this package (``loopml.client.runs`` for ``runs``…), whose ``build(http, services)`` returns
an object implementing that service's interface from :mod:`loopml.api.protocols`."""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any

from loopml.client.http import Http
from loopml.core.errors import OperationalError
from loopml.core.settings import Settings

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
    from loopml.tracker.tracker import Tracker

SERVICES = (
    "datasets",
    "runs",
    "search",
    "models",
    "pipelines",
    "deployments",
    "maintenance",
    "monitoring",
    "triggers",
    "events",
    "access",
)


class RemoteServices:
    """The same services as the embedded :class:`loopml.connect.Services`, over HTTP."""

    def __init__(self, settings: Settings) -> None:
        assert settings.uri is not None
        self.settings = settings
        self.http = Http(settings.uri, settings.token)
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<Services remote uri={self.settings.uri!r}>"

    @property
    def stores(self) -> Any:
        raise OperationalError(
            "this client talks to a loopml server (LOOPML_URI is set); the stores are the "
            "server's: use the services, or unset LOOPML_URI to open a store directly"
        )

    def _get(self, name: str) -> Any:
        found = self._built.get(name)
        if found is None:
            with self._lock:
                found = self._built.get(name)
                if found is None:
                    try:
                        module = importlib.import_module(f"loopml.client.{name}")
                    except ModuleNotFoundError:
                        raise OperationalError(
                            f"the {name} service is not available over a server yet; "
                            "unset LOOPML_URI to use the store directly"
                        ) from None
                    found = self._built[name] = module.build(self.http, self)
        return found

    @property
    def datasets(self) -> Datasets:
        return self._get("datasets")  # type: ignore[no-any-return]

    @property
    def runs(self) -> Runs:
        return self._get("runs")  # type: ignore[no-any-return]

    @property
    def search(self) -> Search:
        return self._get("search")  # type: ignore[no-any-return]

    @property
    def models(self) -> Models:
        return self._get("models")  # type: ignore[no-any-return]

    @property
    def pipelines(self) -> Pipelines:
        return self._get("pipelines")  # type: ignore[no-any-return]

    @property
    def deployments(self) -> Deployments:
        return self._get("deployments")  # type: ignore[no-any-return]

    @property
    def maintenance(self) -> Maintenance:
        return self._get("maintenance")  # type: ignore[no-any-return]

    @property
    def monitoring(self) -> Monitoring:
        return self._get("monitoring")  # type: ignore[no-any-return]

    @property
    def triggers(self) -> Triggers:
        return self._get("triggers")  # type: ignore[no-any-return]

    @property
    def events(self) -> EventReader:
        return self._get("events")  # type: ignore[no-any-return]

    @property
    def access(self) -> Access:
        return self._get("access")  # type: ignore[no-any-return]

    @property
    def tracker(self) -> Tracker:
        """This process's runs, metric buffer and flusher, over the remote ``runs``."""
        found = self._built.get("tracker")
        if found is None:
            with self._lock:
                found = self._built.get("tracker")
                if found is None:
                    from loopml.tracker.tracker import Tracker

                    found = self._built["tracker"] = Tracker(
                        self.runs,
                        self.search,
                        lambda: self.maintenance,
                        heartbeat_s=self.settings.heartbeat_s,
                    )
        return found

    def close(self) -> None:
        with self._lock:
            tracker = self._built.pop("tracker", None)
            if tracker is not None:
                tracker.close()
            for service in self._built.values():
                closer = getattr(service, "close", None)
                if closer is not None:
                    closer()
            self._built.clear()
            self.http.close()
