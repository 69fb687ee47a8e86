"""The ``/api/v1`` routers, one module per service. Each route parses, calls the service and
serializes; no rule of the platform lives here."""

from __future__ import annotations

from fastapi import APIRouter

from loopml.server.routes import access, datasets, meta, models, runs, search

ROUTERS: tuple[APIRouter, ...] = (
    meta.router,
    runs.router,
    search.router,
    datasets.router,
    models.router,
    access.router,
)
