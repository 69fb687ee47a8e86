"""The ``/api/v1`` routers, one module per service. Each route parses, calls the service and
serializes; no rule of the platform lives here."""

from __future__ import annotations

from fastapi import APIRouter

from loopml.server.routes import (
    deployments,
    events,
    maintenance,
    meta,
    monitoring,
    pipelines,
    runs,
    triggers,
)

ROUTERS: tuple[APIRouter, ...] = (
    meta.router,
    runs.router,
    events.router,
    deployments.router,
    monitoring.router,
    triggers.router,
    maintenance.router,
    pipelines.router,
)
