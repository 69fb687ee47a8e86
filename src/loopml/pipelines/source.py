"""Finding a pipeline: ``path/to/file.py:FUNC`` (the file, and the user modules beside it,
loaded fresh each time) or ``package.module:FUNC`` (imported)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path

import blake3

from loopml.core.errors import InvalidInput
from loopml.pipelines.cache import is_user_module
from loopml.pipelines.pipeline import Pipeline


def _is_file(location: str) -> bool:
    return location.endswith(".py") or "/" in location or os.sep in location


def _forget_modules_under(folder: Path) -> None:
    """Drop already imported modules that sit beside the pipeline file, or that have the name
    of one (imported from another pipeline's folder), so ``import helper`` reads this folder's
    helper as it is now."""
    siblings = {p.stem for p in folder.glob("*.py")} | {
        p.parent.name for p in folder.glob("*/__init__.py")
    }
    here = str(folder)
    for name, mod in sys.modules.copy().items():  # a copy taken at once: threads import too
        path = getattr(mod, "__file__", None)
        if name in ("__main__", "__mp_main__") or not path:
            continue
        beside = os.path.dirname(path) == here
        if beside or (name.split(".", 1)[0] in siblings and is_user_module(mod)):
            del sys.modules[name]


def _import_file(path: Path) -> object:
    name = "loopml_pipeline_" + blake3.blake3(str(path).encode()).hexdigest()[:12]
    folder = path.parent
    _forget_modules_under(folder)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))  # as Python does for a script: siblings import
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidInput(f"cannot load {path} as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # anything the user's file raises while importing
        del sys.modules[name]
        frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
        tail = "".join(frames[-2:]).rstrip()
        raise InvalidInput(
            f"pipeline file {path} does not import: {type(exc).__name__}: {exc}\n{tail}"
        ) from None
    import cloudpickle

    # Its functions travel to workers by value: a worker need not find the file.
    cloudpickle.register_pickle_by_value(module)
    return module


def load_pipeline(source: str) -> tuple[Pipeline, str]:
    """The pipeline named by ``source`` and ``source`` in canonical form."""
    location, sep, func = source.rpartition(":")
    if not sep or not location or not func:
        raise InvalidInput(
            f"pipeline {source!r} is not FILE.py:FUNCTION or module:FUNCTION; "
            "write e.g. pipelines/train.py:training"
        )
    if _is_file(location):
        path = Path(location).expanduser().resolve()
        if not path.is_file():
            raise InvalidInput(f"pipeline file {location!r} does not exist")
        module = _import_file(path)
        canonical = f"{path}:{func}"
        where = f"pipeline file {location}"
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as exc:
            raise InvalidInput(f"cannot import module {location!r}: {exc}") from None
        except Exception as exc:  # the module raised while importing
            raise InvalidInput(
                f"module {location!r} does not import: {type(exc).__name__}: {exc}"
            ) from None
        canonical = f"{location}:{func}"
        where = f"module {location}"
    obj = getattr(module, func, None)
    if isinstance(obj, Pipeline):
        return obj, canonical
    found = sorted(k for k, v in vars(module).items() if isinstance(v, Pipeline))
    listed = ", ".join(found) if found else "none"
    if obj is None:
        raise InvalidInput(f"{where} has no function {func!r}; pipelines in it: {listed}")
    raise InvalidInput(
        f"{func!r} in {where} is not a pipeline: decorate it with @pipeline "
        f"(pipelines in it: {listed})"
    )
