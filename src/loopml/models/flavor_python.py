"""Any Python object with a ``predict`` method, stored with cloudpickle. Unpickling runs code,
so loading one needs an explicit opt-in (``trusted=True`` or ``LOOPML_TRUST_PICKLE=1``)."""

from __future__ import annotations

import platform
from typing import Any

from loopml.core.errors import InvalidInput
from loopml.models.flavors import SavedModel
from loopml.models.signature import Signature

NAME = "python"
REQUIRES_TRUST = True
MODEL_FILE = "model.pkl"


def matches(obj: Any) -> bool:
    return not isinstance(obj, type) and callable(getattr(obj, "predict", None))


def save(obj: Any) -> SavedModel:
    if not matches(obj):
        raise InvalidInput(
            f"flavor 'python' takes an object with a predict() method; "
            f"{type(obj).__name__} has none"
        )
    import cloudpickle

    try:
        data = cloudpickle.dumps(obj)
    except Exception as exc:  # pickling fails with many error types (locks, sockets, ...)
        raise InvalidInput(
            f"cannot pickle this {type(obj).__name__}: {exc}; remove unpicklable attributes "
            "(open files, connections, locks) from the model"
        ) from exc
    meta = {
        "file": MODEL_FILE,
        "class": f"{type(obj).__module__}.{type(obj).__qualname__}",
        "python_version": platform.python_version(),
        "cloudpickle_version": cloudpickle.__version__,
    }
    return SavedModel({MODEL_FILE: data}, meta)


def load(files: dict[str, bytes], meta: dict[str, Any]) -> PythonPredictor:
    """Unpickle; the caller has checked that the user trusts this model."""
    import pickle

    try:
        return PythonPredictor(pickle.loads(files[meta.get("file", MODEL_FILE)]))
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(
            f"cannot load the pickled {meta.get('class', 'model')}: {exc}; make the module "
            f"that defines it importable (it was saved with Python {meta.get('python_version')})"
        ) from exc


def wrap(obj: Any) -> PythonPredictor:
    return PythonPredictor(obj)


def default_signature(obj: Any) -> Signature | None:
    return None


class PythonPredictor:
    def __init__(self, obj: Any) -> None:
        self.raw = obj
        self.has_proba = callable(getattr(obj, "predict_proba", None))

    def predict(self, data: Any) -> Any:
        return self.raw.predict(data)

    def predict_proba(self, data: Any) -> Any:
        return self.raw.predict_proba(data)
