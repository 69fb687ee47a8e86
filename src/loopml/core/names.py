"""The one validator for every name loopml stores (datasets, models, experiments, aliases)."""

from __future__ import annotations

import re

from loopml.core.errors import InvalidName

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
RULE = "1-128 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"


def validate_name(name: str, kind: str = "name") -> str:
    """Return ``name`` unchanged if it is valid, else raise :class:`InvalidName`."""
    if not isinstance(name, str):
        raise InvalidName(f"{kind} must be a string, got {type(name).__name__}")
    if NAME_RE.fullmatch(name) is None:
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise InvalidName(f"invalid {kind} {shown!r}: use {RULE}")
    return name
