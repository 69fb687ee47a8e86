"""Cron schedules: checking a 5-field expression and a time zone, and the ticks due between two
moments (croniter does the calendar arithmetic)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loopml.api.triggers import Catchup
from loopml.core.errors import InvalidInput

# A tick this late (seconds) is still "on time" under the skip policy.
ON_TIME_S = 60.0
_MAX_TICKS = 10_000  # ticks counted per call, so a years-old schedule cannot loop for long


def check_cron(cron: str, tz: str) -> None:
    """Refuse anything but a valid 5-field cron expression and a known IANA time zone."""
    from croniter import croniter

    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise InvalidInput(
            f"schedule {cron!r} is not a 5-field cron expression (minute hour day month "
            "weekday), e.g. 'schedule:0 3 * * *' for 03:00 every day"
        )
    zone(tz)


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"time zone {tz!r} is unknown; use an IANA name such as UTC or Europe/Paris"
        ) from None


def due_ticks(cron: str, tz: str, after: float, now: float) -> list[float]:
    """The ticks of ``cron`` in ``tz`` in ``(after, now]``, oldest first (epoch seconds)."""
    from croniter import croniter

    it = croniter(cron, datetime.fromtimestamp(after, zone(tz)))
    ticks: list[float] = []
    while len(ticks) < _MAX_TICKS:
        tick = float(it.get_next(float))
        if tick > now:
            break
        ticks.append(tick)
    return ticks


def to_fire(ticks: list[float], now: float, catchup: Catchup) -> float | None:
    """The one tick to fire among those due: the latest; under ``skip`` only if it is on time
    (a controller that was down lets the missed ones go)."""
    if not ticks:
        return None
    latest = ticks[-1]
    if catchup == Catchup.SKIP and now - latest > ON_TIME_S:
        return None
    return latest
