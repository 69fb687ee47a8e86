"""Request bodies in, response bodies out: ``/predict``'s three forms and the Open Inference
Protocol (v2) tensors."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

from loopml.serving.errors import MalformedBody, RequestError
from loopml.serving.schema import Batch, InputSchema, describe

PREDICT_FORMS = "{'records': [{col: value}, ...]}, {'columns': [...], 'data': [[...]]} or {'instances': [[...]]}"

# v2 datatypes → the column kinds they can carry
_V2_KINDS = {
    "BOOL": "b",
    "UINT8": "i",
    "UINT16": "i",
    "UINT32": "i",
    "UINT64": "i",
    "INT8": "i",
    "INT16": "i",
    "INT32": "i",
    "INT64": "i",
    "FP16": "f",
    "FP32": "f",
    "FP64": "f",
    "BYTES": "s",
}


def parse_json(body: bytes, allow_list: bool = False) -> Any:
    """The body as a JSON object (or list); MalformedBody when it is empty, not JSON, or
    something else."""
    if not body.strip():
        raise MalformedBody("the request body is empty; send a JSON object", "body")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        data = _parse_lenient(body, exc)
    if not isinstance(data, dict) and not (allow_list and isinstance(data, list)):
        raise MalformedBody(
            f"the request body must be a JSON object, found {describe(data)}", "body"
        )
    return data


def _parse_lenient(body: bytes, first: orjson.JSONDecodeError) -> Any:
    """Python's ``json`` also reads NaN and Infinity, which some clients send; they are then
    refused by the signature check, naming the field, rather than as invalid JSON."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedBody(f"the request body is not valid JSON: {first}", "body") from None
    _refuse_lone_surrogates(data)
    return data


def _refuse_lone_surrogates(data: Any) -> None:
    """orjson refuses a string escape such as ``"\\ud800"`` that is half a UTF-16 pair; Python's
    ``json`` reads it into text that no UTF-8 writer (the prediction log) can store, so it is
    refused here, naming where it is."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            _check_text(value, where or "body")
        elif isinstance(value, list):
            stack.extend((f"{where or 'body'}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, dict):
            for key, v in value.items():
                _check_text(key, f"{where or 'body'} key")
                stack.append((f"{where}.{key}" if where else key, v))


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise RequestError(
            f"{where} holds a lone UTF-16 surrogate (\\u{ord(bad):04x}), which is not text; "
            "send valid Unicode (a surrogate only as half of a pair)",
            where,
        ) from None


def decode_predict(schema: InputSchema, data: dict[str, Any]) -> Batch:
    """One of the three ``/predict`` forms → a batch checked against the signature."""
    if "records" in data:
        _only(data, {"records"})
        return schema.from_records(data["records"], "records")
    if "instances" in data:
        _only(data, {"instances"})
        rows = data["instances"]
        if isinstance(rows, list) and rows and isinstance(rows[0], dict):
            return schema.from_records(rows, "instances")
        return schema.from_rows(rows, "instances")
    if "data" in data:
        _only(data, {"columns", "data"})
        return schema.from_rows(data["data"], "data", data.get("columns"))
    if "columns" in data:
        raise RequestError("'columns' is given without 'data'", "data")
    keys = ", ".join(repr(k) for k in list(data)[:5]) or "none"
    raise RequestError(f"send one of {PREDICT_FORMS}; found key(s) {keys}", "body")


def _only(data: dict[str, Any], allowed: set[str]) -> None:
    extra = [k for k in data if k not in allowed]
    if extra:
        raise RequestError(
            f"unexpected key {extra[0]!r} next to {', '.join(sorted(allowed))}", extra[0]
        )


# ---------- Open Inference Protocol (v2)
def decode_v2(schema: InputSchema, data: dict[str, Any]) -> Batch:
    """A v2 inference request → a batch. Column models take one input per column (shape [N]
    or [N, 1]) or a single [N, C] input in signature order; tensor models take one input."""
    inputs = data.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError("'inputs' must be a non-empty list of tensors", "inputs")
    tensors = [_v2_tensor(t, k) for k, t in enumerate(inputs)]
    if schema.tensor is not None or (len(tensors) == 1 and tensors[0][0] not in schema.index):
        if len(tensors) != 1:
            raise RequestError(f"this model takes one input tensor, found {len(tensors)}", "inputs")
        name, shape, datatype, values = tensors[0]
        _check_datatype(schema, datatype, "inputs[0].datatype")
        if schema.tensor is not None:
            return schema.from_tensor(values, "inputs[0].data", shape)
        rows = _reshape_rows(values, shape, len(schema.names))
        return schema.from_rows(rows, "inputs[0].data")
    by_name: dict[str, Any] = {}
    where: dict[str, str] = {}
    for k, (name, shape, datatype, values) in enumerate(tensors):
        if name not in schema.index:
            raise RequestError(
                f"unknown input {name!r}; the model expects {schema.expected_text()}",
                f"inputs[{k}].name",
            )
        if name in by_name:
            raise RequestError(f"input {name!r} is given twice", f"inputs[{k}].name")
        col = schema.columns[schema.index[name]]
        if _V2_KINDS[datatype] != col.kind and col.kind != "o":
            raise RequestError(
                f"input {name!r} has datatype {datatype}, column {name!r} is {col.dtype}",
                f"inputs[{k}].datatype",
            )
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise RequestError(
                f"input {name!r} has shape {shape}; a column takes shape [N] or [N, 1]",
                f"inputs[{k}].shape",
            )
        flat = _flatten(values, f"inputs[{k}].data")
        if len(flat) != shape[0]:
            raise RequestError(
                f"input {name!r} declares {shape[0]} rows but holds {len(flat)} values",
                f"inputs[{k}].data",
            )
        by_name[name] = flat
        where[name] = f"inputs[{k}].data"
    missing = [n for n in schema.names if n not in by_name]
    if missing:
        raise RequestError(
            f"input {missing[0]!r} is missing; the model expects {schema.expected_text()}",
            "inputs",
        )
    return schema.from_column_values(by_name, where.__getitem__)


def _v2_tensor(t: Any, k: int) -> tuple[str, list[int], str, Any]:
    if not isinstance(t, dict):
        raise RequestError(f"inputs[{k}] must be an object, found {describe(t)}", f"inputs[{k}]")
    for key in ("name", "shape", "datatype", "data"):
        if key not in t:
            raise RequestError(f"inputs[{k}] lacks '{key}'", f"inputs[{k}].{key}")
    name, shape, datatype = t["name"], t["shape"], t["datatype"]
    if not isinstance(name, str):
        raise RequestError(f"inputs[{k}].name must be a string", f"inputs[{k}].name")
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise RequestError(
            f"inputs[{k}].shape must be a list of non-negative whole numbers", f"inputs[{k}].shape"
        )
    if datatype not in _V2_KINDS:
        raise RequestError(
            f"inputs[{k}].datatype {datatype!r} is not a v2 datatype ({', '.join(_V2_KINDS)})",
            f"inputs[{k}].datatype",
        )
    return name, shape, datatype, t["data"]


def _check_datatype(schema: InputSchema, datatype: str, field: str) -> None:
    kinds = {c.kind for c in schema.columns}
    if schema.tensor is not None:
        from loopml.serving.schema import _kind

        kinds = {_kind(schema.tensor.dtype)}
    if (
        "o" in kinds
        or _V2_KINDS[datatype] in kinds
        or (_V2_KINDS[datatype] == "i" and kinds <= {"f", "i"})
    ):
        return
    raise RequestError(f"datatype {datatype} does not fit the model's inputs", field)


def _flatten(values: Any, where: str) -> list[Any]:
    if not isinstance(values, list):
        raise RequestError(f"{where} must be a list, found {describe(values)}", where)
    if values and isinstance(values[0], list):
        flat: list[Any] = []
        for row in values:
            if not isinstance(row, list):
                raise RequestError(f"{where} mixes nested and flat values", where)
            flat.extend(row)
        return flat
    return values


def _reshape_rows(values: Any, shape: list[int], width: int) -> list[list[Any]]:
    where = "inputs[0].data"
    if len(shape) != 2 or shape[1] != width:
        raise RequestError(
            f"inputs[0] has shape {shape}; this model takes [N, {width}] (one value per column)",
            "inputs[0].shape",
        )
    flat = _flatten(values, where)
    if len(flat) != shape[0] * width:
        raise RequestError(
            f"{where} holds {len(flat)} values; shape {shape} needs {shape[0] * width}", where
        )
    return [flat[i : i + width] for i in range(0, len(flat), width)]


def v2_datatype(arr: np.ndarray) -> str:
    kind, size = arr.dtype.kind, arr.dtype.itemsize * 8
    if kind == "b":
        return "BOOL"
    if kind == "f":
        return f"FP{size}"
    if kind in "iu":
        return f"{'U' if kind == 'u' else ''}INT{size}"
    return "BYTES"


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)
