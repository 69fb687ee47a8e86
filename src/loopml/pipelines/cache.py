"""Cache keys. A step's key is a digest of its code — its own source plus the source of the
user functions, classes and modules it references, found by walking globals and closures, so
editing a helper invalidates the cache — its arguments, and the digests of its input
artifacts. Library code (stdlib, site-packages, loopml itself) is not walked."""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import sysconfig
import types
from collections.abc import Callable, Mapping
from typing import Any

import blake3

KEY_VERSION = "loopml-step-cache-1"
_SCALARS = (int, float, str, bool, type(None))


@functools.cache
def _library_roots() -> tuple[str, ...]:
    roots = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            roots.add(os.path.realpath(p) + os.sep)
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        roots.add(os.path.realpath(os.path.join(prefix, "lib")) + os.sep)
    return tuple(sorted(roots))


def is_user_module(module: types.ModuleType | None, own: str | None = None) -> bool:
    """Whether ``module`` is the user's code (not stdlib, not installed, not loopml)."""
    if module is None:
        return False
    name = module.__name__
    if name == own or name in ("__main__", "__mp_main__"):
        return True
    if name.split(".", 1)[0] == "loopml":
        return False
    path = getattr(module, "__file__", None)
    if not path:
        return False
    real = os.path.realpath(path)
    return not real.startswith(_library_roots())


@functools.lru_cache(maxsize=512)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    with open(path, "rb") as f:
        return blake3.blake3(f.read()).hexdigest()


def _module_digest(module: types.ModuleType) -> str:
    path = getattr(module, "__file__", None)
    try:
        st = os.stat(path) if path else None
    except OSError:
        st = None
    if path is None or st is None:
        return "nofile:" + module.__name__
    return _file_digest(path, st.st_mtime_ns, st.st_size)


def _source(obj: Any) -> str:
    try:
        return str(inspect.getsource(obj))
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        if code is None:
            return repr(obj)
        return f"{code.co_code.hex()}{code.co_consts!r}"


def _names(code: types.CodeType) -> set[str]:
    found = set(code.co_names) | set(code.co_freevars)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _names(const)
    return found


class _Walker:
    def __init__(self, own_module: str | None) -> None:
        self.own = own_module
        self.seen: set[int] = set()
        self.parts: list[str] = []

    def function(self, f: types.FunctionType) -> None:
        if id(f) in self.seen:
            return
        self.seen.add(id(f))
        self.parts.append(f"fn {f.__module__}.{f.__qualname__}\n{_source(f)}")
        g = f.__globals__
        for name in sorted(_names(f.__code__)):
            if name in g:
                self.value(name, g[name])
        for cell, name in zip(f.__closure__ or (), f.__code__.co_freevars, strict=False):
            try:
                self.value(name, cell.cell_contents)
            except ValueError:  # an empty cell
                continue

    def value(self, name: str, v: Any) -> None:
        from loopml.pipelines.step import Step

        if isinstance(v, Step):
            v = v.func
        if isinstance(v, functools.partial):
            self.value(name, v.func)
            self.constant(name, (v.args, v.keywords))
            return
        if inspect.isfunction(v):
            if is_user_module(sys.modules.get(v.__module__), self.own):
                self.function(v)
        elif inspect.isclass(v):
            if id(v) not in self.seen and is_user_module(sys.modules.get(v.__module__), self.own):
                self.seen.add(id(v))
                self.parts.append(f"class {v.__module__}.{v.__qualname__}\n{_source(v)}")
                for attr in vars(v).values():
                    if inspect.isfunction(attr):
                        self.function(attr)
        elif inspect.ismodule(v):
            if id(v) not in self.seen and is_user_module(v, self.own):
                self.seen.add(id(v))
                self.parts.append(f"module {v.__name__} {_module_digest(v)}")
                for attr in list(vars(v).values()):
                    if inspect.ismodule(attr) or (
                        inspect.isfunction(attr) and attr.__module__ != v.__name__
                    ):
                        self.value(attr.__name__, attr)
        else:
            self.constant(name, v)

    def constant(self, name: str, v: Any) -> None:
        if isinstance(v, _SCALARS) or (
            isinstance(v, tuple | frozenset)
            and len(v) < 64
            and all(isinstance(x, _SCALARS) for x in v)
        ):
            self.parts.append(f"const {name}={v!r}")


def user_modules(func: Callable[..., Any]) -> list[types.ModuleType]:
    """The user modules a step references (shipped by value to remote workers)."""
    w = _Walker(func.__module__)
    w.function(inspect.unwrap(func))
    found = []
    for mod in list(sys.modules.values()):
        if mod is not None and id(mod) in w.seen:
            found.append(mod)
    own = sys.modules.get(func.__module__)
    if own is not None and own not in found and is_user_module(own, func.__module__):
        found.append(own)
    return found


def code_fingerprint(func: Callable[..., Any], outputs: tuple[str, ...]) -> str:
    """Digest of a step's code and of the user code it reaches."""
    w = _Walker(func.__module__)
    w.function(inspect.unwrap(func))
    w.parts.append(f"outputs {outputs!r}")
    return blake3.blake3("\n\0".join(w.parts).encode()).hexdigest()


def canonical(value: Any) -> Any:
    """A JSON-able stand-in for a constant argument: itself, or a digest of its pickle."""
    try:
        json.dumps(value, allow_nan=False, sort_keys=True)
        return value
    except (TypeError, ValueError):
        import cloudpickle

        return {"pickle": blake3.blake3(cloudpickle.dumps(value)).hexdigest()}


def resolve_spec(spec: tuple[Any, ...], digests: Mapping[tuple[str, str], str]) -> Any:
    kind = spec[0]
    if kind == "ref":
        return {"artifact": digests[(spec[1], spec[2])]}
    if kind == "list":
        return [resolve_spec(s, digests) for s in spec[1]]
    if kind == "dict":
        return {"dict": {k: resolve_spec(s, digests) for k, s in spec[1].items()}}
    return {"const": canonical(spec[1])}


def cache_key(
    fingerprint: str,
    args: list[tuple[Any, ...]],
    kwargs: Mapping[str, tuple[Any, ...]],
    digests: Mapping[tuple[str, str], str],
    extra: Any = None,
) -> str:
    doc = {
        "v": KEY_VERSION,
        "code": fingerprint,
        "args": [resolve_spec(a, digests) for a in args],
        "kwargs": {k: resolve_spec(s, digests) for k, s in kwargs.items()},
        "extra": canonical(extra),
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return blake3.blake3(text.encode()).hexdigest()
