"""The ``/api/v1`` routers, one module per service. Each route parses, calls the service and
serializes; no rule of the platform lives here."""

from __future__ import annotations

from fastapi import APIRouter

from loopml.server.routes import (
    access,
    datasets,
    deployments,
    events,
    maintenance,
    meta,
    models,
    monitoring,
    pipelines,
    runs,
    search,
    triggers,
)

ROUTERS: tuple[APIRouter, ...] = (
    meta.router,
    runs.router,
    search.router,
    datasets.router,
    models.router,
    access.router,
    events.router,
    deployments.router,
    monitoring.router,
    triggers.router,
    maintenance.router,
    pipelines.router,
)
