"""Checking what users log and turning it into stored values, before anything is written."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping
from typing import Any

from loopml.api.runs import LogBatch, NewRun
from loopml.core.errors import Conflict, InvalidInput
from loopml.core.names import validate_key

MAX_PARAM_CHARS = 6000
MAX_TAG_CHARS = 65_536
MAX_RUN_NAME = 256
_STEP_MIN, _STEP_MAX = -(2**63), 2**63 - 1


# The one key rule (loopml.core.names), under the name the tracking service calls it by.


def metric_value(key: str, value: Any) -> float:
    """``value`` as a finite float; InvalidInput for NaN, infinity or anything not a number."""
    if isinstance(value, (str, bytes)) or not hasattr(type(value), "__float__"):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise InvalidInput(
            f"metric {key!r} must be a number, got {type(value).__name__} {shown}; "
            "convert it with float(...) or record text with set_tag"
        )
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(
            f"metric {key!r}: {value!r} does not convert to a float ({exc})"
        ) from None
    if not math.isfinite(number):
        raise InvalidInput(
            f"metric {key!r} is {number!r}, not a finite number; skip the point or log a "
            "finite stand-in (a NaN loss usually means the training diverged)"
        )
    return number


def step_value(key: str, step: Any) -> int:
    """``step`` as an int in the 64-bit range."""
    try:
        n = operator.index(step)
    except TypeError:
        raise InvalidInput(
            f"step of metric {key!r} must be a whole number, got {type(step).__name__} {step!r}"
        ) from None
    if isinstance(step, bool) or not _STEP_MIN <= n <= _STEP_MAX:
        raise InvalidInput(f"step of metric {key!r} must be a 64-bit whole number, got {step!r}")
    return n


def timestamp_value(key: str, timestamp: Any) -> float:
    """``timestamp`` (epoch seconds) as a finite, non-negative float."""
    try:
        ts = float(timestamp)
    except (TypeError, ValueError, OverflowError):
        ts = math.nan
    if isinstance(timestamp, (str, bytes)) or not math.isfinite(ts) or ts < 0:
        raise InvalidInput(
            f"timestamp of metric {key!r} must be epoch seconds such as time.time(), "
            f"got {timestamp!r}"
        )
    return ts


def _text(kind: str, key: str, value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise InvalidInput(
            f"{kind} {key!r} is {len(text)} characters long, over the {limit} limit; "
            "store long text as an artifact"
        )
    if "\x00" in text:
        raise InvalidInput(f"{kind} {key!r} contains a NUL character; remove it")
    return text


def param_values(params: Mapping[str, Any]) -> dict[str, str]:
    """Checked keys and their values as text (params are stored as strings)."""
    if not isinstance(params, Mapping):
        raise InvalidInput(
            f"params must be a mapping such as {{'lr': 0.1}}, got {type(params).__name__}"
        )
    return {
        validate_key(k, "param"): _text("param", k, v, MAX_PARAM_CHARS) for k, v in params.items()
    }


def tag_values(tags: Mapping[str, Any]) -> dict[str, str]:
    """Checked keys and their values as text."""
    if not isinstance(tags, Mapping):
        raise InvalidInput(
            f"tags must be a mapping such as {{'team': 'a'}}, got {type(tags).__name__}"
        )
    return {validate_key(k, "tag"): _text("tag", k, v, MAX_TAG_CHARS) for k, v in tags.items()}


def run_name(name: Any) -> str:
    """A run name: free text of 1-256 printable characters."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_RUN_NAME:
        raise InvalidInput(f"run name must be 1-{MAX_RUN_NAME} characters of text, got {name!r}")
    if not name.isprintable():
        raise InvalidInput(f"run name {name!r} contains control characters; remove them")
    return name


def check_batch(batch: LogBatch) -> None:
    """Refuse a batch that a tracker would never build: columns of different lengths, bad
    keys, values that are not finite, steps outside 64 bits, negative timestamps, or params
    and tags that do not pass :func:`param_values` / :func:`tag_values`. What a client sends
    over HTTP is checked here once more (the embedded tracker checked it already; this costs
    a pass over the columns, small beside the write)."""
    for item in batch.params:
        param_values(item.values)
    for item in batch.tags:
        tag_values(item.values)
    p = batch.points
    n = len(p.run_ids)
    if not len(p.keys) == len(p.steps) == len(p.timestamps) == len(p.values) == n:
        raise InvalidInput(
            "the metric columns of a batch must all have the same length (run_ids, keys, "
            "steps, timestamps, values); send one entry per point in each"
        )
    if not n:
        return
    for key in set(p.keys):
        validate_key(key, "metric")
    if not all(map(math.isfinite, p.values)):
        bad = next(i for i, v in enumerate(p.values) if not math.isfinite(v))
        metric_value(p.keys[bad], p.values[bad])
    if min(p.steps) < _STEP_MIN or max(p.steps) > _STEP_MAX:
        bad = next(i for i, s in enumerate(p.steps) if not _STEP_MIN <= s <= _STEP_MAX)
        step_value(p.keys[bad], p.steps[bad])
    if min(p.timestamps) < 0 or not all(map(math.isfinite, p.timestamps)):
        bad = next(i for i, t in enumerate(p.timestamps) if not (math.isfinite(t) and t >= 0))
        timestamp_value(p.keys[bad], p.timestamps[bad])


RUN_ID = re.compile(r"[0-9a-f]{32}")
_OWNER_LIMITS = (("created_by", 200), ("host", 255), ("pid_scope", 64))


def new_run(run: NewRun) -> None:
    """Refuse a run no tracker would start: an id that is not 32 lowercase hex digits (the
    tracker's uuid4), a start time that is not epoch seconds, owner fields longer than their
    columns, a pid outside 32 bits, or a bad name."""
    run_name(run.name)
    for what, value in (("run id", run.id), ("parent run id", run.parent_run_id)):
        if value is not None and (not isinstance(value, str) or not RUN_ID.fullmatch(value)):
            raise InvalidInput(
                f"{what} {str(value)[:40]!r} is not 32 lowercase hex digits (a uuid4 hex)"
            )
    timestamp_value("start_time", run.start_time)
    for name, limit in _OWNER_LIMITS:
        value = getattr(run, name)
        if value is not None and len(value) > limit:
            raise InvalidInput(f"{name} of a run is at most {limit} characters")
    if run.pid is not None and not 0 <= run.pid < 2**31:
        raise InvalidInput(f"pid {run.pid} of a run is not a process id")


def param_conflict(run_id: str, key: str, old: str, new: str) -> Conflict:
    """The error for a param logged again with another value."""
    return Conflict(
        f"param {key!r} of run {run_id} is already {old!r}, cannot change it to {new!r}; "
        "params are fixed once logged: start a new run to try another value"
    )
