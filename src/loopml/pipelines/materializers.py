"""How step outputs become files and back, chosen by type: JSON values, bytes, paths (files
and folders), numpy arrays (.npy), pandas frames (Parquet), scikit-learn models (skops) and
ONNX models. Users add their own with :func:`register_materializer`. Heavy libraries are
imported only when a value of their type is stored or loaded."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from loopml.core.errors import InvalidInput
from loopml.core.paths import safe_relpath


class ArtifactFiles(Protocol):
    """Read access to the stored files of one output."""

    names: list[str]

    def read_bytes(self, path: str) -> bytes: ...

    def folder(self) -> Path:
        """Every file written under a fresh local folder (verified), which is returned."""
        ...


@runtime_checkable
class Materializer(Protocol):
    name: str

    def save(self, obj: Any) -> dict[str, bytes | Path]:
        """Files (relative path → bytes or a local file) that represent ``obj``."""
        ...

    def load(self, files: ArtifactFiles) -> Any: ...


def type_name(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


class NoneMaterializer:
    name = "none"

    def save(self, obj: Any) -> dict[str, bytes | Path]:
        return {}

    def load(self, files: ArtifactFiles) -> Any:
        return None


class JsonMaterializer:
    name = "json"

    def save(self, obj: Any) -> dict[str, bytes | Path]:
        if hasattr(obj, "item") and not isinstance(obj, list | dict | tuple | str):
            obj = obj.item()  # a numpy scalar
        try:
            text = json.dumps(obj, allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"a {type(obj).__name__} output is stored as JSON but is not JSON ({exc}); "
                "return JSON values, DataFrames, arrays, models or paths, or register a "
                "materializer with loopml.pipelines.register_materializer"
            ) from None
        return {"value.json": text.encode()}

    def load(self, files: ArtifactFiles) -> Any:
        return json.loads(files.read_bytes("value.json"))


class BytesMaterializer:
    name = "bytes"

    def save(self, obj: Any) -> dict[str, bytes | Path]:
        return {"data.bin": bytes(obj)}

    def load(self, files: ArtifactFiles) -> Any:
        return files.read_bytes("data.bin")


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    for dirpath, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(names):
            p = Path(dirpath) / n
            if p.is_symlink():
                raise InvalidInput(
                    f"output folder {root} holds a symbolic link {p}; store real files only"
                )
            yield safe_relpath(p.relative_to(root).as_posix()), p


class PathMaterializer:
    """A file is stored as ``file/NAME``, a folder's files under ``folder/``."""

    name = "path"

    def save(self, obj: Any) -> dict[str, bytes | Path]:
        path = Path(obj)
        if path.is_file():
            return {f"file/{path.name}": path}
        if path.is_dir():
            return {f"folder/{rel}": p for rel, p in _walk(path)}
        raise InvalidInput(f"the step returned path {str(path)!r}, which does not exist")

    def load(self, files: ArtifactFiles) -> Any:
        root = files.folder()
        singles = [n for n in files.names if n.startswith("file/")]
        if singles:
            return root / singles[0]
        folder = root / "folder"
        folder.mkdir(exist_ok=True)
        return folder


class NumpyMaterializer:
    name = "numpy"

    def save(self, obj: Any) -> dict[str, bytes | Path]:
        import numpy as np

        buf = io.BytesIO()
        try:
            np.save(buf, obj, allow_pickle=False)
        except ValueError as exc:
            raise InvalidInput(
                f"an array of dtype {obj.dtype} cannot be stored without pickle ({exc}); "
                "convert it to a numeric or string dtype"
            ) from None
        return {"array.npy": buf.getvalue()}

    def load(self, files: ArtifactFiles) -> Any:
        import numpy as np

        return np.load(io.BytesIO(files.read_bytes("array.npy")), allow_pickle=False)


class PandasMaterializer:
    name = "parquet"

    def save(self, obj: Any) -> dict[str, bytes | Path]:
        import pandas as pd

        buf = io.BytesIO()
        if isinstance(obj, pd.Series):
            frame = obj.to_frame(name="__series__" if obj.name is None else obj.name)
            frame.to_parquet(buf)
            return {"series.parquet": buf.getvalue()}
        obj.to_parquet(buf)
        return {"frame.parquet": buf.getvalue()}

    def load(self, files: ArtifactFiles) -> Any:
        import pandas as pd

        if "series.parquet" in files.names:
            frame = pd.read_parquet(io.BytesIO(files.read_bytes("series.parquet")))
            series = frame.iloc[:, 0]
            return series.rename(None) if series.name == "__series__" else series
        return pd.read_parquet(io.BytesIO(files.read_bytes("frame.parquet")))


_TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy")


class SklearnMaterializer:
    """skops, as the model registry stores them: no pickle; on loading only scikit-learn,
    numpy and scipy types are trusted."""

    name = "sklearn"

    def save(self, obj: Any) -> dict[str, bytes | Path]:
        import skops.io as sio

        try:
            return {"model.skops": sio.dumps(obj)}
        except Exception as exc:  # skops cannot represent some objects
            raise InvalidInput(f"skops cannot store this {type(obj).__name__}: {exc}") from None

    def load(self, files: ArtifactFiles) -> Any:
        import skops.io as sio

        data = files.read_bytes("model.skops")
        types = sio.get_untrusted_types(data=data)
        refused = [t for t in types if t.split(".", 1)[0] not in _TRUSTED_PACKAGES]
        if refused:
            raise InvalidInput(
                f"the stored model holds types outside scikit-learn/numpy/scipy: {refused}"
            )
        return sio.loads(data, trusted=types)


class OnnxMaterializer:
    name = "onnx"

    def save(self, obj: Any) -> dict[str, bytes | Path]:
        return {"model.onnx": obj.SerializeToString()}

    def load(self, files: ArtifactFiles) -> Any:
        import onnx

        return onnx.load_from_string(files.read_bytes("model.onnx"))


class PickleMaterializer:
    """Any object, with cloudpickle. Opt in per type: loading runs code from the store."""

    name = "pickle"

    def save(self, obj: Any) -> dict[str, bytes | Path]:
        import cloudpickle

        return {"object.pkl": cloudpickle.dumps(obj)}

    def load(self, files: ArtifactFiles) -> Any:
        import pickle

        return pickle.loads(files.read_bytes("object.pkl"))


# (type, "module.QualName", "package:QualName" or "package:*", materializer), searched along
# the value's MRO; "package:" matches the top-level package, wherever the class is defined.
_Match = type | str
_BUILTIN: list[tuple[_Match, Materializer]] = [
    (type(None), NoneMaterializer()),
    (bool, JsonMaterializer()),
    (int, JsonMaterializer()),
    (float, JsonMaterializer()),
    (str, JsonMaterializer()),
    (list, JsonMaterializer()),
    (tuple, JsonMaterializer()),
    (dict, JsonMaterializer()),
    (bytes, BytesMaterializer()),
    (bytearray, BytesMaterializer()),
    (Path, PathMaterializer()),
    ("numpy:ndarray", NumpyMaterializer()),
    ("numpy:generic", JsonMaterializer()),
    ("pandas:DataFrame", PandasMaterializer()),
    ("pandas:Series", PandasMaterializer()),
    ("onnx:ModelProto", OnnxMaterializer()),
    ("sklearn:*", SklearnMaterializer()),
]
_BY_NAME: dict[str, Materializer] = {m.name: m for _, m in _BUILTIN}
_BY_NAME["pickle"] = PickleMaterializer()
_BUILTIN_NAMES = dict(_BY_NAME)
# User registrations, newest first; shipped to worker processes with each run.
_USER: list[tuple[_Match, Materializer]] = []


def _as_materializer(m: Any) -> Materializer:
    if isinstance(m, str):
        if m not in _BY_NAME:
            raise InvalidInput(f"unknown materializer {m!r}: use one of {', '.join(_BY_NAME)}")
        return _BY_NAME[m]
    if isinstance(m, type):
        m = m()
    if not isinstance(m, Materializer) or not isinstance(getattr(m, "name", None), str):
        raise InvalidInput(
            "a materializer has a name and save(obj) -> {path: bytes | Path} and "
            "load(files) -> obj methods"
        )
    return m


def register_materializer(match: type | str, materializer: Any) -> None:
    """Store values of type ``match`` (a class or ``"module.QualName"``) with
    ``materializer`` (an object or class with ``name``, ``save`` and ``load``, or the name of
    a built-in one such as ``"pickle"``). Later registrations win."""
    m = _as_materializer(materializer)
    builtin = _BUILTIN_NAMES.get(m.name)
    if builtin is not None and builtin is not m:
        raise InvalidInput(
            f"materializer name {m.name!r} is the built-in {type(builtin).__name__}'s; "
            "name yours differently"
        )
    _USER[:] = [(t, x) for t, x in _USER if t != match]
    _USER.insert(0, (match, m))
    _BY_NAME[m.name] = m


def user_registrations() -> list[tuple[_Match, Materializer]]:
    return list(_USER)


def install_registrations(entries: list[tuple[_Match, Materializer]]) -> None:
    """Make a worker process know the registrations of the process that planned the run."""
    _USER[:] = list(entries)
    for _, m in entries:
        _BY_NAME[m.name] = m


def _matches(entry: _Match, cls: type) -> bool:
    if isinstance(entry, type):
        return entry is cls
    if ":" in entry:
        package, _, qualname = entry.partition(":")
        if cls.__module__.split(".", 1)[0] != package:
            return False
        return qualname in ("*", cls.__qualname__)
    return entry == f"{cls.__module__}.{cls.__qualname__}"


def for_value(obj: Any, where: Callable[[], str]) -> Materializer:
    """The materializer for ``obj``; InvalidInput says how to add one if there is none."""
    mro = type(obj).__mro__
    for table in (_USER, _BUILTIN):
        for cls in mro:
            for entry, m in table:
                if _matches(entry, cls):
                    return m
    raise InvalidInput(
        f"{where()} returned a {type_name(obj)}, which no materializer stores: return a JSON "
        "value, bytes, a Path, a numpy array, a pandas DataFrame or a scikit-learn/ONNX model, "
        f"or register one: loopml.pipelines.register_materializer({type(obj).__name__}, ...)"
    )


def by_name(name: str) -> Materializer:
    if name not in _BY_NAME:
        raise InvalidInput(
            f"output was stored with materializer {name!r}, which this process does not know; "
            "import the module that registers it"
        )
    return _BY_NAME[name]
