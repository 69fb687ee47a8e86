"""Bad input on every route: a 4xx with a JSON error naming the field, never a 500, and the
server keeps answering."""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.serving.conftest import metric

Cancer = tuple[pd.DataFrame, np.ndarray]


def _good(cancer: Cancer) -> dict[str, Any]:
    return cancer[0].iloc[0].to_dict()


def _with(cancer: Cancer, **changes: Any) -> list[dict[str, Any]]:
    row = _good(cancer)
    row.update(changes)
    return [row]


def _without(cancer: Cancer, column: str) -> list[dict[str, Any]]:
    row = _good(cancer)
    del row[column]
    return [row]


# (case, route, body builder → JSON value or raw bytes, status, field)
CASES: list[tuple[str, str, Any, int, str | None]] = [
    ("empty body", "/predict", lambda c: b"", 400, "body"),
    ("whitespace body", "/predict", lambda c: b"  \n", 400, "body"),
    ("invalid json", "/predict", lambda c: b'{"records": [', 400, "body"),
    ("json array", "/predict", lambda c: [1, 2], 400, "body"),
    ("json string", "/predict", lambda c: "records", 400, "body"),
    ("no known key", "/predict", lambda c: {"rows": []}, 422, "body"),
    ("empty object", "/predict", lambda c: {}, 422, "body"),
    ("records not a list", "/predict", lambda c: {"records": {"a": 1}}, 422, "records"),
    ("records empty", "/predict", lambda c: {"records": []}, 422, "records"),
    ("record not an object", "/predict", lambda c: {"records": [[1, 2]]}, 422, "records[0]"),
    (
        "missing column",
        "/predict",
        lambda c: {"records": _without(c, "mean area")},
        422,
        "records[0].mean area",
    ),
    (
        "unknown column",
        "/predict",
        lambda c: {"records": _with(c, colour=1.0)},
        422,
        "records[0].colour",
    ),
    (
        "string in number column",
        "/predict",
        lambda c: {"records": _with(c, **{"mean radius": "big"})},
        422,
        "records[0].mean radius",
    ),
    (
        "boolean in number column",
        "/predict",
        lambda c: {"records": _with(c, **{"mean radius": True})},
        422,
        "records[0].mean radius",
    ),
    (
        "null in number column",
        "/predict",
        lambda c: {"records": _with(c, **{"mean radius": None})},
        422,
        "records[0].mean radius",
    ),
    (
        "nested value",
        "/predict",
        lambda c: {"records": _with(c, **{"mean radius": [1]})},
        422,
        "records[0].mean radius",
    ),
    (
        "NaN literal",
        "/predict",
        lambda c: b'{"instances": [[NaN' + b", 1.0" * 29 + b"]]}",
        422,
        "instances[0][0]",
    ),
    (
        "Infinity literal",
        "/predict",
        lambda c: b'{"instances": [[1.0, Infinity' + b", 1.0" * 28 + b"]]}",
        422,
        "instances[0][1]",
    ),
    ("short row", "/predict", lambda c: {"instances": [[1.0, 2.0]]}, 422, "instances[0]"),
    (
        "ragged rows",
        "/predict",
        lambda c: {"instances": [[1.0] * 30, [1.0] * 29]},
        422,
        "instances[1]",
    ),
    ("instances empty", "/predict", lambda c: {"instances": []}, 422, "instances"),
    ("scalar instances", "/predict", lambda c: {"instances": 3}, 422, "instances"),
    (
        "unknown key beside records",
        "/predict",
        lambda c: {"records": _with(c), "extra": 1},
        422,
        "extra",
    ),
    ("columns without data", "/predict", lambda c: {"columns": ["a"]}, 422, "data"),
    (
        "unknown column name",
        "/predict",
        lambda c: {"columns": ["x"] * 30, "data": [[1.0] * 30]},
        422,
        "columns[0]",
    ),
    (
        "duplicate column",
        "/predict",
        lambda c: {"columns": [*list(c[0].columns[:29]), c[0].columns[0]], "data": [[1.0] * 30]},
        422,
        "columns[29]",
    ),
    (
        "columns lacking one",
        "/predict",
        lambda c: {"columns": list(c[0].columns[:29]), "data": [[1.0] * 29]},
        422,
        "columns",
    ),
    ("v2 no inputs", "/v2/models/cancer/infer", lambda c: {}, 422, "inputs"),
    ("v2 inputs empty", "/v2/models/cancer/infer", lambda c: {"inputs": []}, 422, "inputs"),
    (
        "v2 input lacks data",
        "/v2/models/cancer/infer",
        lambda c: {"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64"}]},
        422,
        "inputs[0].data",
    ),
    (
        "v2 bad datatype",
        "/v2/models/cancer/infer",
        lambda c: {
            "inputs": [{"name": "x", "shape": [1, 30], "datatype": "FLOAT", "data": [1.0] * 30}]
        },
        422,
        "inputs[0].datatype",
    ),
    (
        "v2 text for numbers",
        "/v2/models/cancer/infer",
        lambda c: {
            "inputs": [{"name": "x", "shape": [1, 30], "datatype": "BYTES", "data": ["a"] * 30}]
        },
        422,
        "inputs[0].datatype",
    ),
    (
        "v2 shape mismatch",
        "/v2/models/cancer/infer",
        lambda c: {
            "inputs": [{"name": "x", "shape": [2, 30], "datatype": "FP64", "data": [1.0] * 30}]
        },
        422,
        "inputs[0].data",
    ),
    (
        "v2 wrong width",
        "/v2/models/cancer/infer",
        lambda c: {
            "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1.0] * 3}]
        },
        422,
        "inputs[0].shape",
    ),
    (
        "v2 negative shape",
        "/v2/models/cancer/infer",
        lambda c: {
            "inputs": [{"name": "x", "shape": [-1, 30], "datatype": "FP64", "data": [1.0] * 30}]
        },
        422,
        "inputs[0].shape",
    ),
    (
        "v2 string in data",
        "/v2/models/cancer/infer",
        lambda c: {
            "inputs": [
                {"name": "x", "shape": [1, 30], "datatype": "FP64", "data": ["a", *[1.0] * 29]}
            ]
        },
        422,
        "inputs[0].data[0][0]",
    ),
    (
        "v2 missing column input",
        "/v2/models/cancer/infer",
        lambda c: {
            "inputs": [
                {"name": n, "shape": [1], "datatype": "FP64", "data": [1.0]}
                for n in c[0].columns[:29]
            ]
        },
        422,
        "inputs",
    ),
    ("v2 unknown model", "/v2/models/other/infer", lambda c: {"inputs": []}, 404, None),
    (
        "v2 unknown version",
        "/v2/models/cancer/versions/9/infer",
        lambda c: {"inputs": []},
        404,
        None,
    ),
    ("v2 invalid json", "/v2/models/cancer/infer", lambda c: b"{", 400, "body"),
    (
        "lone high surrogate in a label",
        "/feedback",
        lambda c: b'{"request_id": "r", "label": "a\\ud800"}',
        422,
        "label",
    ),
    (
        "lone low surrogate in a request_id",
        "/feedback",
        lambda c: b'[{"request_id": "\\udc00", "label": 1}]',
        422,
        "body[0].request_id",
    ),
    (
        "lone surrogate in a column name",
        "/predict",
        lambda c: b'{"records": [{"\\ud83d": 1}]}',
        422,
        "records[0] key",
    ),
    (
        "surrogates in the wrong order",
        "/v2/models/cancer/infer",
        lambda c: (
            b'{"inputs": [{"name": "\\ude00\\ud83d", "shape": [1], "datatype": "FP64", "data": [1]}]}'
        ),
        422,
        "inputs[0].name",
    ),
    ("feedback empty body", "/feedback", lambda c: b"", 400, "body"),
    ("feedback invalid json", "/feedback", lambda c: b"[{", 400, "body"),
    ("feedback no request_id", "/feedback", lambda c: {"label": 1}, 422, "request_id"),
    ("feedback no label", "/feedback", lambda c: {"request_id": "r"}, 422, "label"),
    (
        "feedback null label",
        "/feedback",
        lambda c: {"request_id": "r", "label": None},
        422,
        "label",
    ),
    (
        "feedback object label",
        "/feedback",
        lambda c: {"request_id": "r", "label": {"a": 1}},
        422,
        "label",
    ),
    (
        "feedback number request_id",
        "/feedback",
        lambda c: {"request_id": 5, "label": 1},
        422,
        "request_id",
    ),
    ("feedback empty list", "/feedback", lambda c: [], 422, "body"),
    (
        "feedback bad item",
        "/feedback",
        lambda c: [{"request_id": "a", "label": 1}, 3],
        422,
        "body[1]",
    ),
    (
        "feedback extra field",
        "/feedback",
        lambda c: {"request_id": "r", "label": 1, "x": 2},
        422,
        "x",
    ),
    (
        "feedback negative row",
        "/feedback",
        lambda c: {"request_id": "r", "label": 1, "row": -1},
        422,
        "row",
    ),
    (
        "feedback text row",
        "/feedback",
        lambda c: {"request_id": "r", "label": 1, "row": "0"},
        422,
        "row",
    ),
    (
        "feedback boolean row",
        "/feedback",
        lambda c: {"feedback": [{"request_id": "r", "label": 1, "row": True}]},
        422,
        "feedback[0].row",
    ),
]


@pytest.mark.parametrize(
    ("case", "route", "build", "status", "field"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input_is_a_4xx_naming_the_field(
    http: httpx.Client,
    cancer: Cancer,
    case: str,
    route: str,
    build: Any,
    status: int,
    field: str | None,
) -> None:
    body = build(cancer)
    if isinstance(body, bytes):
        res = http.post(route, content=body, headers={"content-type": "application/json"})
    else:
        res = http.post(route, json=body)
    assert res.status_code == status, (case, res.text)
    out = res.json()
    assert out["error"], case
    if status != 404:
        assert out["field"] == field, (case, out)
        assert out["request_id"] == res.headers["x-request-id"]
    assert http.post("/predict", json={"records": [_good(cancer)]}).status_code == 200


def test_a_body_over_the_limit_is_413(http: httpx.Client, cancer: Cancer) -> None:
    big = b'{"records": [' + b" " * (9 * 1024 * 1024) + b"]}"
    json_type = {"content-type": "application/json"}
    res = http.post("/predict", content=big, headers=json_type)
    assert res.status_code == 413 and res.json()["field"] == "body"

    def chunks() -> Any:  # no content-length: the limit applies while reading
        for _ in range(10):
            yield b" " * (1024 * 1024)

    res = http.post("/predict", content=chunks(), headers=json_type)
    assert res.status_code == 413
    assert http.post("/predict", json={"records": [_good(cancer)]}).status_code == 200


@pytest.mark.parametrize(
    ("method", "route", "status"),
    [
        ("GET", "/predict", 405),
        ("PUT", "/feedback", 405),
        ("DELETE", "/metrics", 405),
        ("POST", "/health", 405),
        ("GET", "/v2/models/cancer/infer", 405),
        ("GET", "/nope", 404),
        ("POST", "/nope", 404),
        ("GET", "/v2/models/other", 404),
        ("GET", "/v2/models/cancer/versions/7", 404),
        ("GET", "/v2/models/other/ready", 404),
    ],
)
def test_wrong_routes_and_methods_answer_json_4xx(
    http: httpx.Client, method: str, route: str, status: int
) -> None:
    res = http.request(method, route)
    assert res.status_code == status, res.text
    assert res.headers["content-type"] == "application/json"
    body = res.json()
    assert body["error"] and body["request_id"] == res.headers["x-request-id"]
    if status == 405:
        assert method not in res.headers["allow"] and body["error"].startswith(method)


def test_an_integer_beyond_float64_is_422_naming_the_column(
    http: httpx.Client, cancer: Cancer
) -> None:
    # Python's json writes 10**400 as digits (orjson would not); the endpoint reads it exactly
    def post_raw(path: str, body: Any) -> httpx.Response:
        headers = {"content-type": "application/json"}
        return http.post(path, content=json.dumps(body), headers=headers)

    def refused(res: httpx.Response, field: str) -> None:
        assert res.status_code == 422, res.text
        assert res.json()["field"] == field and "does not fit" in res.json()["error"]

    for big in (10**400, -(10**309)):
        row = {**_good(cancer), "mean radius": big}
        refused(post_raw("/predict", {"records": [row]}), "records[0].mean radius")
        refused(post_raw("/predict", {"instances": [list(row.values())]}), "instances[0][0]")
        values = list(row.values())
        v2 = {"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": values}]}
        refused(post_raw("/v2/models/cancer/infer", v2), "inputs[0].data[0][0]")
    text = http.get("/metrics").text
    assert metric(text, "loopml_requests_total", route="/predict", status="500") is None
    assert metric(text, "loopml_requests_total", route="/v2/infer", status="500") is None


def test_no_500_was_ever_answered(http: httpx.Client) -> None:
    assert 'status="500"' not in http.get("/metrics").text
