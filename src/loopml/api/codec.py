"""The one JSON codec for everything that crosses a service interface: frozen dataclasses of
``loopml.api`` (with their enums, tuples and nested values) to JSON and back, without loss.

A value whose field holds one of several dataclasses (an event and its payload) cannot be told
apart from its JSON by type alone; such a type says how it is read back with a ``from_dict``
classmethod (its kind field picks the payload type), and the codec uses it, also for lists of
it. msgspec loads on first use, so importing ``loopml.api`` stays free."""

from __future__ import annotations

import typing
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
        if _reads_itself(type_):
            return from_builtins(msgspec.json.decode(data), type_)
        return msgspec.json.decode(data, type=type_)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise InvalidInput(f"not a valid {_name(type_)}: {exc}") from None
    except RecursionError:  # msgspec's own nesting limit
        raise InvalidInput(
            f"not a valid {_name(type_)}: the JSON nests deeper than it can be read; flatten it"
        ) from None


def to_builtins(value: Any) -> Any:
    """``value`` as plain dicts, lists, strings and numbers (what ``encode`` writes)."""
    import msgspec

    return msgspec.to_builtins(value)


def from_builtins(data: Any, type_: type[T]) -> T:
    """Build a ``type_`` from plain dicts and lists (the inverse of :func:`to_builtins`)."""
    import msgspec

    own = _reads_itself(type_)
    try:
        if own is not None:
            if typing.get_origin(type_) is list:
                if not isinstance(data, list):
                    raise InvalidInput(f"not a valid {_name(type_)}: expected a list")
                return [own.from_dict(item) for item in data]  # type: ignore[return-value]
            return own.from_dict(data)  # type: ignore[no-any-return]
        return msgspec.convert(data, type=type_)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"not a valid {_name(type_)}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"not a valid {_name(type_)}: {type(exc).__name__}: {exc}") from None


def _reads_itself(type_: Any) -> Any:
    """The class that reads ``type_`` (or the items of ``list[type_]``) with ``from_dict``."""
    if typing.get_origin(type_) is list:
        (type_,) = typing.get_args(type_) or (None,)
    return type_ if callable(getattr(type_, "from_dict", None)) else None


def _name(type_: Any) -> str:
    return getattr(type_, "__name__", None) or str(type_)
