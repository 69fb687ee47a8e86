"""The server itself: health and version."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["server"])


@router.get("/health")
def health() -> dict[str, str | int]:
    """``{"status": "ok", "version": …, "pid": …}`` while the server answers (``pid``: the
    process that answered, which tells the workers of ``--workers N`` apart)."""
    import os
    from importlib.metadata import version

    return {"status": "ok", "version": version("loopml"), "pid": os.getpid()}
