"""ONNX models, run with onnxruntime: an ``onnx.ModelProto`` or a path to a .onnx file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loopml.core.errors import InvalidInput
from loopml.models.flavors import SavedModel, module_path, mro_modules
from loopml.models.signature import ColumnSpec, Signature, TensorSpec

NAME = "onnx"
REQUIRES_TRUST = False
MODEL_FILE = "model.onnx"

# onnxruntime's type strings → numpy dtypes and our dtype names.
_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "string",
}


def _is_proto(obj: Any) -> bool:
    return type(obj).__name__ == "ModelProto" and "onnx" in mro_modules(obj)


def matches(obj: Any) -> bool:
    return _is_proto(obj) or module_path(obj, ".onnx") is not None


def _parse(data: bytes, what: str) -> Any:
    import onnx

    try:
        proto = onnx.load_model_from_string(data)
        onnx.checker.check_model(proto)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, ...
        raise InvalidInput(f"{what} is not a valid ONNX model: {exc}") from exc
    return proto


def save(obj: Any) -> SavedModel:
    path = module_path(obj, ".onnx")
    if path is not None:
        proto = _parse(path.read_bytes(), f"file {str(path)!r}")
        content: bytes | Path = path
    elif _is_proto(obj):
        data = obj.SerializeToString()
        proto = _parse(data, "the model")
        content = data
    else:
        raise InvalidInput(
            f"flavor 'onnx' takes an onnx.ModelProto or a .onnx file, not a "
            f"{type(obj).__name__}; convert scikit-learn models with skl2onnx first"
        )
    import onnx

    meta = {
        "file": MODEL_FILE,
        "onnx_version": onnx.__version__,
        "ir_version": int(proto.ir_version),
        "opsets": {op.domain or "ai.onnx": int(op.version) for op in proto.opset_import},
    }
    return SavedModel({MODEL_FILE: content}, meta)


def _session(data: bytes) -> Any:
    import onnxruntime as ort

    try:
        return ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail / InvalidGraph errors
        raise InvalidInput(f"onnxruntime cannot run this model: {exc}") from exc


def load(files: dict[str, bytes], meta: dict[str, Any]) -> OnnxPredictor:
    return OnnxPredictor(_session(files[meta.get("file", MODEL_FILE)]))


def wrap(obj: Any) -> OnnxPredictor:
    path = module_path(obj, ".onnx")
    return OnnxPredictor(_session(path.read_bytes() if path else obj.SerializeToString()))


def default_signature(obj: Any) -> Signature | None:
    """The graph's declared inputs: one tensor, or one column per single-column input."""
    inputs = wrap(obj).raw.get_inputs()
    specs = [(i.name, _ORT_TYPES.get(i.type, "object"), _shape(i.shape)) for i in inputs]
    if len(specs) == 1:
        return Signature(TensorSpec(specs[0][1], specs[0][2]))
    if all(len(s) == 2 and s[1] == 1 for _, _, s in specs):
        return Signature(tuple(ColumnSpec(n, d) for n, d, _ in specs))
    return None


def _shape(dims: list[Any]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else -1 for d in dims)


class OnnxPredictor:
    """Feeds a DataFrame or array to the session's inputs, cast to their declared types."""

    def __init__(self, session: Any) -> None:
        self.raw = session
        self._inputs = session.get_inputs()
        self._outputs = [o.name for o in session.get_outputs()]
        self.has_proba = len(self._outputs) >= 2 and "prob" in self._outputs[1].lower()

    def _feeds(self, data: Any) -> dict[str, Any]:
        import numpy as np
        import pandas as pd

        feeds = {}
        if len(self._inputs) == 1:
            arg = self._inputs[0]
            array = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
            feeds[arg.name] = _cast(array, arg.type)
            return feeds
        if not isinstance(data, pd.DataFrame):
            names = ", ".join(i.name for i in self._inputs)
            raise InvalidInput(f"this ONNX model takes named inputs ({names}); pass a DataFrame")
        for arg in self._inputs:
            if arg.name not in data.columns:
                raise InvalidInput(f"input lacks column {arg.name!r} that the ONNX model needs")
            feeds[arg.name] = _cast(data[arg.name].to_numpy().reshape(-1, 1), arg.type)
        return feeds

    def run(self, data: Any) -> dict[str, Any]:
        """Every output of the graph, by name."""
        values = self.raw.run(self._outputs, self._feeds(data))
        return dict(zip(self._outputs, values, strict=True))

    def predict(self, data: Any) -> Any:
        return self.raw.run(self._outputs[:1], self._feeds(data))[0]

    def predict_proba(self, data: Any) -> Any:
        import numpy as np

        probs = self.raw.run([self._outputs[1]], self._feeds(data))[0]
        if isinstance(probs, list):  # skl2onnx's ZipMap: one {class: probability} per row
            classes = sorted(probs[0]) if probs else []
            return np.array([[row[c] for c in classes] for row in probs])
        return probs


def _cast(array: Any, ort_type: str) -> Any:
    import numpy as np

    name = _ORT_TYPES.get(ort_type)
    if name is None:
        return array
    return array.astype(object if name == "string" else np.dtype(name), copy=False)
