"""The server itself: health and version."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["server"])


@router.get("/health")
def health() -> dict[str, str]:
    """``{"status": "ok", "version": …}`` while the server answers."""
    from importlib.metadata import version

    return {"status": "ok", "version": version("loopml")}
