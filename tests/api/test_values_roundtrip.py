"""Every value type of ``loopml.api`` survives JSON and back exactly, field for field."""

from __future__ import annotations

import dataclasses
import enum
import importlib
import pkgutil
import types
import typing
from typing import Any

import pytest

import loopml.api
from loopml.api import codec
from loopml.core.errors import InvalidInput


def _value_types() -> list[type]:
    """Every dataclass defined in a module of ``loopml.api`` (found by walking the package, so
    a new one cannot be forgotten)."""
    found = []
    for info in pkgutil.iter_modules(loopml.api.__path__, "loopml.api."):
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and dataclasses.is_dataclass(obj)
                and obj.__module__ == module.__name__
            ):
                found.append(obj)
    return sorted(found, key=lambda t: f"{t.__module__}.{t.__qualname__}")


VALUE_TYPES = _value_types()

# A JSON-native value for fields typed ``Any``: nested, of every JSON kind.
_ANY = {"n": 3, "x": 0.25, "s": "text", "ok": True, "none": None, "list": [1, "two", 3.5]}


def _sample(tp: Any, label: str, avoid: Any = dataclasses.MISSING) -> Any:
    """A value of type ``tp`` that differs from ``avoid`` (the field's default)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return dict(_ANY)
    if origin in (typing.Union, types.UnionType):
        choices = [a for a in args if a is not type(None)]
        return _sample(choices[0], label, avoid)
    if origin is tuple:
        item = args[0]
        return (_sample(item, label + "0"), _sample(item, label + "1"))
    if origin is dict:
        return {f"{label}-a": _sample(args[1], label + "a"), "b": _sample(args[1], label + "b")}
    if origin is list:
        return [_sample(args[0], label + "0")]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        members = [m for m in tp if m != avoid]
        return members[-1]
    if tp is bool:
        return avoid is not True
    if tp is int:
        return 7 + len(label)
    if tp is float:
        return 1712345678.125 + len(label)
    if tp is str:
        return f"{label}-é✓"
    if dataclasses.is_dataclass(tp):
        return _build(tp)
    raise AssertionError(f"no sample for {tp!r} ({label}): add one to this test")


def _build(cls: type) -> Any:
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        default = f.default
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        values[f.name] = _sample(hints[f.name], f.name, default)
        assert values[f.name] != default, f"{cls.__name__}.{f.name} sample equals its default"
    # A value that carries one of several payload types names it by kind (an event): the
    # sample's kind must be the one of the payload it holds.
    for value in list(values.values()):
        if "kind" in values and dataclasses.is_dataclass(value) and hasattr(value, "kind"):
            values["kind"] = value.kind
    return cls(**values)


def test_the_api_has_value_types_of_every_service() -> None:
    modules = {t.__module__ for t in VALUE_TYPES}
    for name in ("datasets", "runs", "models", "pipelines", "deployments"):
        assert f"loopml.api.{name}" in modules


@pytest.mark.parametrize("cls", VALUE_TYPES, ids=lambda t: f"{t.__module__}.{t.__name__}")
def test_value_type_round_trips_through_json_exactly(cls: type) -> None:
    assert dataclasses.fields(cls), f"{cls.__name__} has no fields"
    assert cls.__dataclass_params__.frozen, f"{cls.__name__} must be frozen"  # type: ignore[attr-defined]
    value = _build(cls)
    data = codec.encode(value)
    back = codec.decode(data, cls)
    assert type(back) is cls
    # Field by field, also those left out of ==, and their types (a tuple stays a tuple).
    for f in dataclasses.fields(cls):
        got, want = getattr(back, f.name), getattr(value, f.name)
        assert got == want, f"{cls.__name__}.{f.name}: {got!r} != {want!r}"
        assert type(got) is type(want), f"{cls.__name__}.{f.name}: {type(got)} != {type(want)}"
    assert codec.encode(back) == data
    assert codec.from_builtins(codec.to_builtins(value), cls) == value


@pytest.mark.parametrize(
    "cls", [t for t in VALUE_TYPES if len(dataclasses.fields(t)) > 1][:4], ids=lambda t: t.__name__
)
@pytest.mark.parametrize("bad", [b"{}", b"[1, 2]", b"not json", b'{"name": 3}'])
def test_decoding_malformed_json_raises_invalid_input(cls: type, bad: bytes) -> None:
    with pytest.raises(InvalidInput, match=f"not a valid {cls.__name__}"):
        codec.decode(bad, cls)


def test_lists_of_self_reading_values_round_trip_and_bad_ones_are_invalid_input() -> None:
    from loopml.api.events import DatasetVersionCreated, Event, ModelAliasChanged

    payloads = [DatasetVersionCreated("d", 2, "ab" * 32), _build(ModelAliasChanged)]
    events = [Event(i + 1, p.kind, p.subject, p, 1.5 + i) for i, p in enumerate(payloads)]
    back = codec.decode(codec.encode(events), list[Event])
    assert back == events and [type(e.payload) for e in back] == [type(p) for p in payloads]
    for bad in (b'{"id": 1}', b"[1]", b'[{"id": 1, "kind": "no.such", "subject": "x"}]', b"3"):
        with pytest.raises(InvalidInput, match=r"not a valid|unknown event kind"):
            codec.decode(bad, list[Event])
