"""Monitor options as people write them: windows (``1h``, ``30m``, ``2d``, ``90s``), ISO 8601
times (UTC when no offset is given) and per-column drift options."""

from __future__ import annotations

import datetime as dt
import math
import re

from loopml.api.monitoring import ColumnOptions
from loopml.core.errors import InvalidInput

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PERIOD = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*")


def parse_period(text: str | float, what: str = "--window") -> float:
    """Seconds in ``text`` (``1h``, ``30m``, ``2d``, ``90s``, or a number of seconds)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _PERIOD.fullmatch(str(text))
        if match is None:
            raise InvalidInput(
                f"{what} {text!r} is not a period; write a number and a unit, e.g. 90s, 30m, 1h, 2d"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not (seconds > 0 and math.isfinite(seconds)):
        raise InvalidInput(f"{what} must be longer than 0 seconds, got {text!r}")
    return seconds


def parse_time(text: str, what: str = "--since") -> float:
    """Epoch seconds of an ISO 8601 time (``2026-12-04T10:00``, ``…Z``, ``…+01:00``)."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{what} {text!r} is not a time; write ISO 8601, e.g. 2026-12-04T10:00 (UTC) or "
            "2026-12-04T10:00+01:00"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def show_period(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def parse_column_option(text: str) -> tuple[str, ColumnOptions]:
    """``age:test=ks,threshold=0.01`` (keys: test, threshold, kind) → (column, options)."""
    from loopml.api.monitoring import ColumnKind, DriftTest

    name, sep, body = text.partition(":")
    hint = (
        "write COLUMN:KEY=VALUE[,KEY=VALUE] with keys test (ks, wasserstein, chi2, "
        "jensenshannon), threshold (a number) and kind (numeric, categorical), e.g. "
        "age:test=ks,threshold=0.01"
    )
    if not sep or not name.strip() or not body.strip():
        raise InvalidInput(f"cannot read column option {text!r}; {hint}")
    values: dict[str, str] = {}
    for part in body.split(","):
        key, eq, value = part.partition("=")
        if not eq or key.strip() not in ("test", "threshold", "kind"):
            raise InvalidInput(f"cannot read column option {text!r} at {part!r}; {hint}")
        values[key.strip()] = value.strip()
    try:
        test = DriftTest(values["test"]) if "test" in values else None
        kind = ColumnKind(values["kind"]) if "kind" in values else None
        threshold = float(values["threshold"]) if "threshold" in values else None
    except ValueError:
        raise InvalidInput(f"cannot read column option {text!r}; {hint}") from None
    if threshold is not None and not (threshold > 0 and math.isfinite(threshold)):
        raise InvalidInput(f"column option {text!r}: the threshold must be a number above 0")
    return name.strip(), ColumnOptions(test=test, threshold=threshold, kind=kind)
