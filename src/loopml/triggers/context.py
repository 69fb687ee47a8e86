"""What a controller pass and a worker step need of the trigger service (so they do not
import it): its stores, the interfaces it acts through, its clock and lease ttl."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from loopml.api.events import EventReader
from loopml.api.protocols import Deployments, Maintenance, Monitoring, Pipelines
from loopml.api.triggers import Trigger
from loopml.stores import Stores


class Context(Protocol):
    stores: Stores
    events: EventReader
    pipelines: Pipelines
    deployments: Deployments
    monitoring: Monitoring
    maintenance: Maintenance
    clock: Callable[[], float]
    lease_ttl_s: float

    def get(self, name: str) -> Trigger: ...
