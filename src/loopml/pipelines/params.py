"""Pipeline parameters: typed from the function signature, coerced from ``-p k=v`` text and
checked before anything runs."""

from __future__ import annotations

import inspect
import json
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopml.core.errors import InvalidInput

_MISSING: Any = inspect.Parameter.empty
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


@dataclass(frozen=True)
class Param:
    name: str
    annotation: Any  # a type, a typing construct, or Any when unknown
    default: Any = _MISSING

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    @property
    def type_name(self) -> str:
        return type_label(self.annotation)


def type_label(tp: Any) -> str:
    if tp is Any:
        return "any"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def params_of(func: Callable[..., Any]) -> list[Param]:
    """The parameters of a pipeline function with their resolved annotations."""
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:  # an annotation naming something undefined
        raise InvalidInput(
            f"cannot read the parameter types of {func.__qualname__}: {exc}"
        ) from None
    out = []
    for p in inspect.signature(func).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise InvalidInput(
                f"pipeline {func.__name__}() takes *{p.name}: declare each parameter by name"
            )
        tp = hints.get(p.name, Any)
        if tp is Any and p.default is not _MISSING and p.default is not None:
            tp = type(p.default)
        out.append(Param(p.name, tp, p.default))
    return out


def _fail(param: Param, value: Any, hint: str = "") -> InvalidInput:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return InvalidInput(f"parameter {param.name!r} expects {param.type_name}, got {shown}{hint}")


def _from_text(param: Param, tp: Any, text: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any or tp is str:
        return text
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and text.lower() in ("none", "null", ""):
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _from_text(param, a, text)
            except InvalidInput:
                continue
        raise _fail(param, text)
    if origin is typing.Literal:
        for choice in typing.get_args(tp):
            if str(choice) == text:
                return choice
        raise _fail(param, text, f"; choose one of {', '.join(map(str, typing.get_args(tp)))}")
    if tp is bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise _fail(param, text, "; write true or false")
    if tp is int:
        try:
            return int(text.strip())
        except ValueError:
            raise _fail(param, text, ", which is not a whole number") from None
    if tp is float:
        try:
            number = float(text.strip())
        except ValueError:
            raise _fail(param, text, ", which is not a number") from None
        if not math.isfinite(number):
            raise _fail(param, text, ", which is not a finite number")
        return number
    if tp is Path:
        return Path(text)
    if tp in (list, dict) or origin in (list, dict, tuple):
        try:
            return check(param, json.loads(text))
        except json.JSONDecodeError:
            raise _fail(param, text, ', which is not JSON (e.g. [1, 2] or {"a": 1})') from None
    raise InvalidInput(
        f"parameter {param.name!r} has type {param.type_name}, which cannot be given on the "
        "command line: use str, int, float, bool, Path, a list/dict (as JSON) or a Literal"
    )


def check(param: Param, value: Any, tp: Any = None) -> Any:
    """``value`` if it fits the parameter's type (ints pass for floats), else InvalidInput."""
    tp = param.annotation if tp is None else tp
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if isinstance(value, str) and tp is not str and origin is not typing.Literal:
        return _from_text(param, tp, value)
    if origin in (typing.Union, types.UnionType):
        for a in typing.get_args(tp):
            if value is None and a is type(None):
                return None
            if a is type(None):
                continue
            try:
                return check(param, value, a)
            except InvalidInput:
                continue
        raise _fail(param, value)
    if origin is typing.Literal:
        if value in typing.get_args(tp):
            return value
        raise _fail(param, value, f"; choose one of {', '.join(map(str, typing.get_args(tp)))}")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is Path and isinstance(value, Path):
        return value
    base = origin or tp
    if isinstance(base, type):
        if base is int and isinstance(value, bool):
            raise _fail(param, value)
        if isinstance(value, base):
            return value
        raise _fail(param, value)
    return value


def bind(params: list[Param], given: Mapping[str, Any], pipeline: str) -> dict[str, Any]:
    """Every parameter's value: given (coerced and checked) or its default."""
    names = [p.name for p in params]
    unknown = [k for k in given if k not in names]
    if unknown:
        known = ", ".join(f"{p.name}: {p.type_name}" for p in params) or "none"
        raise InvalidInput(
            f"pipeline {pipeline!r} has no parameter {unknown[0]!r}; its parameters are: {known}"
        )
    out: dict[str, Any] = {}
    for p in params:
        if p.name in given:
            out[p.name] = check(p, given[p.name])
        elif p.required:
            raise InvalidInput(
                f"pipeline {pipeline!r} needs parameter {p.name!r} ({p.type_name}): "
                f"pass it with -p {p.name}=VALUE"
            )
        else:
            out[p.name] = p.default
    return out


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["C=0.5", "dataset=churn@3"]`` → ``{"C": "0.5", "dataset": "churn@3"}``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"-p {item!r} is not NAME=VALUE; write e.g. -p C=0.5")
        out[key.strip()] = value
    return out


def jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as JSON values (paths as text) for storage and display."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, Path):
            v = str(v)
        try:
            json.dumps(v, allow_nan=False)
        except (TypeError, ValueError):
            v = repr(v)
        out[k] = v
    return out
