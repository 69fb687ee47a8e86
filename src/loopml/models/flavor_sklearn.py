"""scikit-learn models stored with skops: no pickle, and only types checked at save time
(scikit-learn, numpy and scipy classes and numpy ufuncs) are trusted at load time.

skops imports the module of every type a file names, so every name in the file's schema is
screened first, from the name alone, before skops or anything else imports a thing."""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from typing import Any

from loopml.core.errors import InvalidInput, LoopError, PermissionDenied
from loopml.models import skops_reader
from loopml.models.flavors import SavedModel, module_path, mro_modules
from loopml.models.signature import ColumnSpec, Signature, TensorSpec

NAME = "sklearn"
REQUIRES_TRUST = False
MODEL_FILE = "model.skops"
_TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy")
# Standard-library modules skops itself writes (dict, list, partial, defaultdict…).
_STDLIB_MODULES = ("builtins", "functools", "collections")
# Parts of the trusted packages that do things when imported (command lines, build and test
# helpers): a file naming them is refused before anything is imported.
_NEVER_IMPORTED = ("f2py", "distutils", "_build_utils", "_pytesttester", "conftest", "setup")
_SCHEMA = "schema.json"
_SCHEMA_LIMIT = 64 * 1024 * 1024


def matches(obj: Any) -> bool:
    return "sklearn" in mro_modules(obj) or module_path(obj, ".skops") is not None


def importable(type_name: str) -> bool:
    """Whether a type named in a skops file points only into modules that are safe to import,
    decided from the name alone: Python's builtins (and the two standard modules skops writes),
    or scikit-learn, numpy and scipy outside their command-line, build and test modules."""
    module_name, _, attr = type_name.rpartition(".")
    parts = module_name.split(".")
    if not attr.isidentifier() or not all(p.isidentifier() for p in parts):
        return False
    if module_name in _STDLIB_MODULES:
        return True
    if parts[0] not in _TRUSTED_PACKAGES:
        return False
    for p in parts[1:]:
        dunder = p.startswith("__") and p.endswith("__")  # __main__, __init__, __config__
        if dunder or p in _NEVER_IMPORTED or p.lstrip("_").startswith("test"):
            return False
    return True


def allowed(type_name: str) -> bool:
    """Whether a type skops does not trust by default may be trusted: a class (or numpy
    ufunc) that really exists in scikit-learn, numpy or scipy. Functions such as
    ``numpy.load`` and anything from other packages are refused. Only a name that passes
    :func:`importable` is ever imported to find out."""
    if type_name.split(".", 1)[0] not in _TRUSTED_PACKAGES or not importable(type_name):
        return False
    module_name, _, attr = type_name.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError):
        return False
    import numpy as np

    return isinstance(found, type | np.ufunc)


def named_types(data: bytes, what: str) -> list[str]:
    """Every type (``module.name``) a skops file names, read from its ``schema.json`` without
    importing anything."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo(_SCHEMA)
            if info.file_size > _SCHEMA_LIMIT:
                raise InvalidInput(
                    f"{what} has a {info.file_size}-byte {_SCHEMA}; a skops model's schema is "
                    f"at most {_SCHEMA_LIMIT >> 20} MiB here"
                )
            schema = json.loads(archive.read(info))
    except (zipfile.BadZipFile, KeyError, ValueError, RecursionError, EOFError, OSError) as exc:
        raise InvalidInput(
            f"{what} is not a valid skops file (a zip holding {_SCHEMA}): {exc}"
        ) from exc
    names: set[str] = set()
    stack = [schema]
    while stack:  # iterative: a deeply nested schema cannot exhaust the stack
        node = stack.pop()
        if isinstance(node, dict):
            if "__module__" in node or "__class__" in node:
                module, cls = node.get("__module__"), node.get("__class__")
                ok = isinstance(module, str) and isinstance(cls, str)
                names.add(f"{module}.{cls}" if ok else f"{module!r}.{cls!r}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(names)


def _screen(data: bytes, what: str, error: type[LoopError]) -> list[str]:
    """Refuse a file naming a type outside the modules safe to import, before skops (which
    imports the module of every type it meets) reads it; else every type it names."""
    named = named_types(data, what)
    refused = [t for t in named if not importable(t)]
    if refused:
        raise error(
            f"{what} names type(s) from modules loopml will not import to check them: "
            f"{', '.join(refused)}; only scikit-learn, numpy and scipy classes (and Python "
            "builtins) are accepted. If you trust the file, load it yourself with skops and "
            "register the object with flavor='python' (loading it then needs trusted=True)"
        )
    return named


def _untrusted(data: bytes, what: str) -> list[str]:
    import skops.io as sio

    try:
        return sorted(sio.get_untrusted_types(data=data))
    except Exception as exc:  # skops raises assorted errors on a file that is not a skops file
        raise InvalidInput(f"{what} is not a valid skops file: {exc}") from exc


def _check_allowed(types: list[str], what: str) -> None:
    refused = [t for t in types if not allowed(t)]
    if refused:
        raise InvalidInput(
            f"{what} holds type(s) outside scikit-learn/numpy/scipy that skops would have to "
            f"trust: {', '.join(refused)}; register it with flavor='python' instead "
            "(stored with cloudpickle; loading it then needs trusted=True)"
        )


def save(obj: Any) -> SavedModel:
    path = module_path(obj, ".skops")
    if path is not None:
        data = path.read_bytes()
    elif "sklearn" in mro_modules(obj):
        import skops.io as sio
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(obj)
        except NotFittedError:
            raise InvalidInput(
                f"this {type(obj).__name__} is not fitted; fit it before registering it"
            ) from None
        except TypeError:
            pass  # not an estimator (e.g. a bare scikit-learn helper object): skops decides

        try:
            data = sio.dumps(obj)
        except Exception as exc:  # skops cannot represent some objects (e.g. lambdas)
            raise InvalidInput(
                f"skops cannot store this {type(obj).__name__}: {exc}; register it with "
                "flavor='python' instead"
            ) from exc
    else:
        raise InvalidInput(
            f"flavor 'sklearn' takes a scikit-learn estimator or a .skops file, not a "
            f"{type(obj).__name__}"
        )
    named = _screen(data, "the model", InvalidInput)
    types = _untrusted(data, "the model")
    _check_allowed(types, "the model")
    meta = {"file": MODEL_FILE, "trusted_types": types, "named_types": named, **_versions()}
    return SavedModel({MODEL_FILE: data}, meta)


def _versions() -> dict[str, str]:
    import sklearn
    import skops

    return {"sklearn_version": sklearn.__version__, "skops_version": skops.__version__}


def load(files: dict[str, bytes], meta: dict[str, Any]) -> SklearnPredictor:
    data = files[meta.get("file", MODEL_FILE)]
    named = _screen(data, "the stored model", PermissionDenied)
    recorded_names = meta.get("named_types")
    if isinstance(recorded_names, list) and set(named) <= set(recorded_names):
        # Every type was seen and checked at registration: read the file without importing
        # skops (see skops_reader), admitting only what ``allowed`` admits.
        try:
            return SklearnPredictor(skops_reader.read(data, allowed))
        except (skops_reader.Unsupported, KeyError, TypeError, ValueError, AttributeError):
            pass  # something the short reader leaves to skops: read it the usual way
        except RecursionError:
            raise _too_deep() from None
    try:
        return SklearnPredictor(_load_with_skops(data, meta))
    except RecursionError:
        raise _too_deep() from None


def _too_deep() -> InvalidInput:
    return InvalidInput(
        "the stored model is nested deeper than Python can rebuild (objects inside objects "
        "hundreds of levels deep); no scikit-learn model is built like that, so the file was "
        "not made by skops.io.dump of an estimator: register the estimator again"
    )


def _load_with_skops(data: bytes, meta: dict[str, Any]) -> Any:
    import skops.io as sio

    types = _untrusted(data, "the stored model")
    recorded = set(meta.get("trusted_types", []))
    unexpected = [t for t in types if t not in recorded]
    if unexpected:
        raise PermissionDenied(
            f"the stored model holds type(s) not recorded when it was registered: "
            f"{', '.join(unexpected)}; refusing to load it. Re-register the model."
        )
    _check_allowed(types, "the stored model")
    try:
        return sio.loads(data, trusted=types)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # skops found the schema's parts do not fit together (a damaged or hand-made file);
        # only its own call is read this way, so a bug of ours stays a bug
        raise InvalidInput(
            f"the stored model cannot be rebuilt from its skops file "
            f"({type(exc).__name__}: {exc}); register the estimator again"
        ) from exc


def wrap(obj: Any) -> SklearnPredictor:
    path = module_path(obj, ".skops")
    if path is not None:
        saved = save(path)
        return load({MODEL_FILE: path.read_bytes()}, saved.meta)
    return SklearnPredictor(obj)


def default_signature(obj: Any) -> Signature | None:
    """Without an input example: the columns a fitted estimator saw (typed float64, what
    scikit-learn turns numeric input into), or its feature count as a tensor; else None."""
    names = getattr(obj, "feature_names_in_", None)
    if names is not None:
        return Signature(tuple(ColumnSpec(str(n), "float64") for n in names))
    count = getattr(obj, "n_features_in_", None)
    if isinstance(count, int):
        return Signature(TensorSpec("float64", (-1, count)))
    return None


class SklearnPredictor:
    """An estimator fed the input shape it was fitted on (DataFrame with the feature names it
    saw, or an array when it saw none), which keeps scikit-learn's feature-name checks quiet."""

    def __init__(self, estimator: Any) -> None:
        self.raw = estimator
        self.has_proba = hasattr(estimator, "predict_proba")
        self._names = getattr(estimator, "feature_names_in_", None)

    def _x(self, data: Any) -> Any:
        import numpy as np
        import pandas as pd

        if isinstance(data, pd.DataFrame) and self._names is None:
            return data.to_numpy()
        if isinstance(data, np.ndarray) and self._names is not None and data.ndim == 2:
            return pd.DataFrame(data, columns=list(self._names))
        return data

    def predict(self, data: Any) -> Any:
        return self.raw.predict(self._x(data))

    def predict_proba(self, data: Any) -> Any:
        return self.raw.predict_proba(self._x(data))
