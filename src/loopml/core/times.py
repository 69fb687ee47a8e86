"""Timestamps as loopml shows them: epoch seconds in storage, ISO 8601 UTC on the way out."""

from __future__ import annotations

import datetime as dt


def iso(ts: float) -> str:
    """Epoch seconds as ISO 8601 UTC to the second."""
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat(timespec="seconds")


def iso_ms(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC to the millisecond, or None."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat(timespec="milliseconds")
