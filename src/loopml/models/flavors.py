"""Model flavors by name: which flavor an object is, and the one module that saves and loads
it. Flavor modules import their libraries lazily, so this registry costs nothing to import."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from loopml.core.errors import InvalidInput
from loopml.models.signature import Signature

FLAVORS = ("sklearn", "onnx", "python")
_MODULES = {
    "sklearn": "loopml.models.flavor_sklearn",
    "onnx": "loopml.models.flavor_onnx",
    "python": "loopml.models.flavor_python",
}
# Inference order: the most specific flavor first; python takes anything with ``predict``.
_INFERENCE_ORDER = ("onnx", "sklearn", "python")

# The self-description every version carries next to its model file(s).
MANIFEST = "loopml-model.json"
INPUT_EXAMPLE = "input_example.json"


@dataclass
class SavedModel:
    """What a flavor stores: files by relative path (bytes, or a local file to stream) and
    the flavor's own metadata, kept in the manifest."""

    files: dict[str, bytes | Path]
    meta: dict[str, Any] = field(default_factory=dict)


class Predictor(Protocol):
    raw: Any
    has_proba: bool

    def predict(self, data: Any) -> Any: ...

    def predict_proba(self, data: Any) -> Any: ...


class Flavor(Protocol):
    NAME: str
    REQUIRES_TRUST: bool

    def matches(self, obj: Any) -> bool: ...

    def save(self, obj: Any) -> SavedModel: ...

    def wrap(self, obj: Any) -> Predictor: ...

    def load(self, files: dict[str, bytes], meta: dict[str, Any]) -> Predictor: ...

    def default_signature(self, obj: Any) -> Signature | None: ...


def get_flavor(name: str) -> Flavor:
    """The flavor module called ``name``; InvalidInput lists the known ones."""
    if name not in _MODULES:
        raise InvalidInput(f"unknown flavor {name!r}: use one of {', '.join(FLAVORS)}")
    return cast(Flavor, importlib.import_module(_MODULES[name]))


def infer_flavor(obj: Any) -> str:
    """The flavor of a model object or model file path."""
    for name in _INFERENCE_ORDER:
        if get_flavor(name).matches(obj):
            return name
    if isinstance(obj, str | os.PathLike):
        raise InvalidInput(
            f"cannot register path {os.fspath(obj)!r}: pass an existing .onnx or .skops file, "
            "or the model object itself"
        )
    raise InvalidInput(
        f"cannot register a {type(obj).__module__}.{type(obj).__qualname__}: pass a "
        "scikit-learn estimator, an onnx.ModelProto, a path to a .onnx or .skops file, or an "
        "object with a predict() method (stored with flavor='python')"
    )


def module_path(obj: Any, suffix: str) -> Path | None:
    """``obj`` as an existing file path ending in ``suffix``, else None."""
    if not isinstance(obj, str | os.PathLike):
        return None
    path = Path(obj)
    return path if path.suffix.lower() == suffix and path.is_file() else None


def mro_modules(obj: Any) -> list[str]:
    """Top-level package of every class ``obj`` is an instance of (no imports needed)."""
    return [(c.__module__ or "").split(".", 1)[0] for c in type(obj).__mro__]
