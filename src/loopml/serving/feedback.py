"""``POST /feedback``: ground-truth labels for earlier predictions, joined later by request id
and row (``row``: which row of a multi-row request the label is for; 0 when not given)."""

from __future__ import annotations

from typing import Any

from loopml.serving.errors import RequestError
from loopml.serving.schema import describe

MAX_ITEMS = 10_000


def decode_feedback(data: Any) -> list[tuple[str, Any, int]]:
    """``{"request_id", "label"[, "row"]}``, ``{"feedback": [...]}`` or a list of them →
    (id, label, row)."""
    if isinstance(data, dict) and "feedback" in data:
        items, where = data["feedback"], "feedback"
    elif isinstance(data, dict):
        items, where = [data], None
    else:
        items, where = data, "body"
    if not isinstance(items, list) or not items:
        raise RequestError(
            "send {'request_id': ..., 'label': ...} or a non-empty list of them", where or "body"
        )
    if len(items) > MAX_ITEMS:
        raise RequestError(f"at most {MAX_ITEMS} labels per request, got {len(items)}", where)
    out = []
    for i, item in enumerate(items):
        prefix = f"{where}[{i}]." if where else ""
        if not isinstance(item, dict):
            raise RequestError(f"{prefix or 'the body '}must be an object", f"{where}[{i}]")
        rid = item.get("request_id")
        if not isinstance(rid, str) or not 0 < len(rid) <= 128:
            raise RequestError(
                f"{prefix}request_id must be the request_id of a prediction (1-128 characters), "
                f"found {describe(rid)}",
                f"{prefix}request_id",
            )
        if "label" not in item:
            raise RequestError(f"{prefix}label is missing", f"{prefix}label")
        label = item["label"]
        if label is None or isinstance(label, dict | list):
            raise RequestError(
                f"{prefix}label must be a number, a string or a boolean, found {describe(label)}",
                f"{prefix}label",
            )
        if isinstance(label, float) and label - label != 0.0:
            raise RequestError(
                f"{prefix}label must be finite, found {describe(label)}", f"{prefix}label"
            )
        row = item.get("row", 0)
        if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < 2**31:
            raise RequestError(
                f"{prefix}row must be the position of a row in the request (a whole number "
                f"from 0), found {describe(row)}",
                f"{prefix}row",
            )
        extra = [k for k in item if k not in ("request_id", "label", "row")]
        if extra:
            raise RequestError(f"{prefix}{extra[0]} is not a feedback field", f"{prefix}{extra[0]}")
        out.append((rid, label, row))
    return out
