"""The one JSON codec for everything that crosses a service interface: frozen dataclasses of
``loopml.api`` (with their enums, tuples and nested values) to JSON and back, without loss.

msgspec loads on first use, so importing ``loopml.api`` stays free."""

from __future__ import annotations

from typing import Any, TypeVar

from loopml.core.errors import InvalidInput

T = TypeVar("T")


def encode(value: Any) -> bytes:
    """``value`` (a value type, or lists and dicts of them) as JSON bytes."""
    import msgspec

    return msgspec.json.encode(value)


def decode(data: bytes | str, type_: type[T]) -> T:
    """Parse JSON ``data`` as a ``type_``; InvalidInput says which field was wrong."""
    import msgspec

    try:
        return msgspec.json.decode(data, type=type_)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise InvalidInput(f"not a valid {_name(type_)}: {exc}") from None


def to_builtins(value: Any) -> Any:
    """``value`` as plain dicts, lists, strings and numbers (what ``encode`` writes)."""
    import msgspec

    return msgspec.to_builtins(value)


def from_builtins(data: Any, type_: type[T]) -> T:
    """Build a ``type_`` from plain dicts and lists (the inverse of :func:`to_builtins`)."""
    import msgspec

    try:
        return msgspec.convert(data, type=type_)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"not a valid {_name(type_)}: {exc}") from None


def _name(type_: Any) -> str:
    return getattr(type_, "__name__", None) or str(type_)
