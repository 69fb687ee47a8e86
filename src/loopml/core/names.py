"""The one validator for every name and key loopml stores.

Names (datasets, models, experiments, aliases, steps): ``[A-Za-z0-9][A-Za-z0-9._-]{0,127}``.

Keys (metric, param and tag keys): 1-250 ASCII characters, letters, digits, ``_``, ``-``, ``.``,
space and ``/``, where each ``/``-separated part starts with a letter, digit or ``_`` and does not
end with a space. That is what MLflow users write (``val_loss``, ``val/loss``, ``val loss``,
``epoch.acc``) minus what is unsafe as a file path or confusing in a filter: no ``.``/``..``
parts, no hidden (``.x``) or option-like (``-x``) keys, no empty parts (``a//b``, ``/a``, ``a/``),
no look-alike non-ASCII letters, no control characters.
"""

from __future__ import annotations

import re
from typing import Any

from loopml.core.errors import InvalidInput, InvalidName

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
RULE = "1-128 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"

MAX_KEY = 250
_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.\- ]*[A-Za-z0-9_.\-])?"
KEY_RE = re.compile(rf"{_PART}(?:/{_PART})*")
KEY_RULE = (
    f"1-{MAX_KEY} characters: ASCII letters, digits, '_', '-', '.', space or '/', each "
    "'/'-separated part starting with a letter, digit or '_' and not ending with a space"
)


def _shown(value: Any) -> str:
    if isinstance(value, str) and len(value) > 40:
        return repr(value[:37] + "...")
    return repr(value)


def validate_name(name: str, kind: str = "name") -> str:
    """Return ``name`` unchanged if it is valid, else raise :class:`InvalidName`."""
    if not isinstance(name, str):
        raise InvalidName(f"{kind} must be a string, got {type(name).__name__}")
    if NAME_RE.fullmatch(name) is None:
        raise InvalidName(f"invalid {kind} {_shown(name)}: use {RULE}")
    return name


def validate_alias(alias: str) -> str:
    """An alias follows the name rule and is not a number (``churn@7`` means version 7)."""
    validate_name(alias, "alias")
    if alias.isdigit():
        raise InvalidName(
            f"invalid alias {alias!r}: a number would read as a version (churn@{alias}); "
            f"use a name with a letter, e.g. v{alias}"
        )
    return alias


def is_valid_key(key: object) -> bool:
    """Whether ``key`` follows the key rule."""
    return isinstance(key, str) and len(key) <= MAX_KEY and KEY_RE.fullmatch(key) is not None


def validate_key(key: Any, kind: str) -> str:
    """Return ``key`` (a ``kind`` key: metric, param, tag) if valid, else :class:`InvalidInput`."""
    if not is_valid_key(key):
        raise InvalidInput(f"invalid {kind} key {_shown(key)}: use {KEY_RULE}")
    return str(key)


def parse_digest(value: object) -> bytes | None:
    """The 32 bytes of a BLAKE3 digest as loopml writes it (64 lowercase hex digits), else
    None. Written back, the bytes give the same text only for exactly that form (no spaces,
    no capitals): one check that a push makes for every chunk, cheaper than a pattern."""
    try:
        raw = bytes.fromhex(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return raw if len(raw) == 32 and raw.hex() == value else None


def is_digest(value: object) -> bool:
    """Whether ``value`` is a BLAKE3 digest as loopml writes it: 64 lowercase hex digits."""
    return parse_digest(value) is not None
