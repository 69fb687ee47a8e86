"""A reader for the common part of the skops file format, so loading a model does not import
skops.

Importing ``skops.io`` builds its default trust list by walking every scikit-learn estimator,
which imports all of scikit-learn (and pytest, where it is installed): about 0.3-1 s and 20 MiB
more in every process that serves a model. This reader builds the same objects from the
nodes plain estimators, pipelines and their numpy arrays are made of. A file with anything
else (an older protocol, tree or random-state nodes, a cycle) is left to skops: :func:`read`
raises :class:`Unsupported` and the caller falls back.

The reader trusts nothing by itself: the caller passes ``admit``, which decides on every
``module.name`` before that module is imported.
"""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from collections.abc import Callable, Collection
from typing import Any

from loopml.core.errors import LoopError

PROTOCOL = 2  # the skops protocol this reader was written against
_IN_PROGRESS = object()
# Builtin types each container node may name (what skops trusts for them by default).
_BUILTIN_CONTAINERS = {
    "DictNode": {"builtins.dict", "collections.OrderedDict"},
    "ListNode": {"builtins.list"},
    "TupleNode": {"builtins.tuple"},
    "SetNode": {"builtins.set"},
}
_BUILTIN_TYPES = {
    f"builtins.{n}" for n in ("int", "float", "str", "bool", "list", "set", "map", "tuple")
}


class Unsupported(LoopError):
    """The file uses something this reader leaves to skops."""


def read(data: bytes, admit: Callable[[str], bool]) -> Any:
    """The object a skops file holds. ``admit(name)`` must accept every class, function or
    type the file names outside the builtin containers before its module is imported."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
        if not isinstance(schema, dict) or schema.get("protocol") != PROTOCOL:
            raise Unsupported("another protocol")
        return _Reader(archive, admit).node(schema)


class _Reader:
    def __init__(self, archive: zipfile.ZipFile, admit: Callable[[str], bool]) -> None:
        self.archive = archive
        self.admit = admit
        self.memo: dict[Any, Any] = {}
        self.admitted: set[str] = set()  # asked once per name, not once per node

    def node(self, state: Any) -> Any:
        if not isinstance(state, dict):
            raise Unsupported("a node that is not an object")
        loader = state.get("__loader__")
        saved = state.get("__id__")
        if loader == "CachedNode":
            found = self.memo.get(saved, _IN_PROGRESS)
            if found is _IN_PROGRESS:
                raise Unsupported("a reference to an object not built yet")
            return found
        if saved is not None and saved in self.memo:
            found = self.memo[saved]
            if found is _IN_PROGRESS:
                raise Unsupported("a cycle")
            return found
        build = _LOADERS.get(loader) if isinstance(loader, str) else None
        if build is None:
            raise Unsupported(f"loader {loader!r}")
        if saved is not None:
            self.memo[saved] = _IN_PROGRESS
        obj = build(self, state)
        if saved is not None:
            self.memo[saved] = obj
        return obj

    def name(self, state: dict[str, Any]) -> str:
        module, cls = state.get("__module__"), state.get("__class__")
        if not isinstance(module, str) or not isinstance(cls, str):
            raise Unsupported("a node without a type name")
        return f"{module}.{cls}"

    def resolve(self, name: str, builtins: Collection[str] = ()) -> Any:
        """The object ``name`` points to, imported only once ``admit`` (or the builtin set
        given) accepted it."""
        if name not in builtins and name not in self.admitted:
            if not self.admit(name):
                raise Unsupported(f"type {name}")
            self.admitted.add(name)
        module, _, attr = name.rpartition(".")
        return getattr(importlib.import_module(module), attr)

    def container(self, state: dict[str, Any]) -> Any:
        return self.resolve(self.name(state), _BUILTIN_CONTAINERS[state["__loader__"]])

    def array_file(self, state: dict[str, Any]) -> Any:
        import numpy as np

        return np.load(io.BytesIO(self.archive.read(state["file"])), allow_pickle=False)


def _json(r: _Reader, state: dict[str, Any]) -> Any:
    return json.loads(state["content"])


def _dict(r: _Reader, state: dict[str, Any]) -> Any:
    cls = r.container(state)
    key_types = r.node(state["key_types"])
    out = cls()
    for k_type, (key, value) in zip(key_types, state["content"].items(), strict=True):
        out[k_type(key)] = r.node(value)
    return out


def _list(r: _Reader, state: dict[str, Any]) -> Any:
    cls = r.container(state)
    return cls([r.node(v) for v in state["content"]])


def _tuple(r: _Reader, state: dict[str, Any]) -> Any:
    cls = r.container(state)
    items = tuple(r.node(v) for v in state["content"])
    bases: tuple[type, ...] = getattr(cls, "__bases__", ())
    fields = getattr(cls, "_fields", None)
    if bases == (tuple,) and isinstance(fields, tuple):
        return cls(*items)  # a named tuple
    return items


def _object(r: _Reader, state: dict[str, Any]) -> Any:
    cls = r.resolve(r.name(state))
    if not isinstance(cls, type):
        raise Unsupported("an object node naming something other than a class")
    new: Any = cls.__new__  # bypasses __init__, as skops does; the state is set below
    instance = new(cls)
    content = state.get("content")
    if content is None:
        return instance
    attrs = r.node(content)
    if attrs is not None:
        if hasattr(instance, "__setstate__"):
            instance.__setstate__(attrs)
        else:
            instance.__dict__.update(attrs)
    return instance


def _ndarray(r: _Reader, state: dict[str, Any]) -> Any:
    import numpy as np

    name = r.name(state)
    kind = state.get("type")
    if kind == "numpy":
        content = r.array_file(state)
        if name != "numpy.ndarray":
            content = r.resolve(name)(content)
        return content
    if kind == "json":
        if name != "numpy.ndarray":
            raise Unsupported("an object array of another class")
        shape = r.node(state["shape"])
        items = [r.node(o) for o in state["content"]]
        if len(shape) == 1:
            out = np.ndarray(shape=len(items), dtype="O")
            for i, v in enumerate(items):
                out[i] = v
            return out
        return np.array(items, dtype="O")
    raise Unsupported(f"array type {kind!r}")


def _type(r: _Reader, state: dict[str, Any]) -> Any:
    return r.resolve(r.name(state), _BUILTIN_TYPES)


def _function(r: _Reader, state: dict[str, Any]) -> Any:
    import numpy as np

    found = r.resolve(r.name(state))
    if not isinstance(found, np.ufunc):
        raise Unsupported("a function other than a numpy ufunc")
    return found


def _dtype(r: _Reader, state: dict[str, Any]) -> Any:
    return r.node(state["content"]).dtype


_LOADERS: dict[str, Callable[[_Reader, dict[str, Any]], Any]] = {
    "JsonNode": _json,
    "DictNode": _dict,
    "ListNode": _list,
    "TupleNode": _tuple,
    "SetNode": _list,
    "ObjectNode": _object,
    "NdArrayNode": _ndarray,
    "TypeNode": _type,
    "FunctionNode": _function,
    "DTypeNode": _dtype,
}
