"""Numbers that do not fit the signature's type (beyond int64, 1e300 into float32, an integer
beyond float64) are a 422 naming the column, on every route and for column and tensor
signatures alike; never a 500 ``OverflowError``."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from loopml.core.settings import Settings
from loopml.models.signature import ColumnSpec, Signature, TensorSpec
from loopml.sdk import Client
from loopml.serving.errors import RequestError
from loopml.serving.schema import InputSchema
from tests.serving.conftest import Server, start_server

BIG = 10**400  # beyond float64: Python's json reads it, orjson does not
MIXED = Signature(
    (
        ColumnSpec("f32", "float32"),
        ColumnSpec("f64", "float64"),
        ColumnSpec("i64", "int64"),
        ColumnSpec("i8", "int8"),
        ColumnSpec("u8", "uint8"),
        ColumnSpec("u64", "uint64"),
    )
)
_DTYPES = {
    "f32": "float32",
    "f64": "float64",
    "i64": "int64",
    "i8": "int8",
    "u8": "uint8",
    "u64": "uint64",
}
ROW = {"f32": 1.5, "f64": 2.5, "i64": 3, "i8": -4, "u8": 5, "u64": 6}

# (column, value) that does not fit the column's dtype
TOO_BIG = [
    ("f32", 1e300),
    ("f32", -3.5e38),
    ("f32", 10**39),
    ("f64", BIG),
    ("f64", -BIG),
    ("i64", 2**63),
    ("i64", -(2**63) - 1),
    ("i64", 2**64),
    ("i64", 1e300),
    ("i64", 1.8446744073709552e19),
    ("i8", 128),
    ("i8", -129),
    ("i8", 1000.0),
    ("u8", 256),
    ("u8", -1),
    ("u64", -1),
    ("u64", 2**64),
    ("u64", BIG),
]
# (column, value) at the edge of the dtype, which fits
FITS = [
    ("f32", 3.4e38),
    ("f64", 1e308),
    ("f64", 2**1000),
    ("i64", 2**63 - 1),
    ("i64", -(2**63)),
    ("i8", 127),
    ("i8", -128.0),
    ("u8", 255),
    ("u64", 2**64 - 1),
]


@pytest.mark.parametrize(("column", "value"), TOO_BIG)
def test_a_number_beyond_the_column_dtype_is_refused_naming_it(column: str, value: Any) -> None:
    schema = InputSchema(MIXED)
    for build in (
        lambda: schema.from_records([ROW, {**ROW, column: value}], "records"),
        lambda: schema.from_rows([list(ROW.values()), [*_with(column, value)]], "instances"),
    ):
        with pytest.raises(RequestError, match=f"does not fit column '{column}'") as info:
            build()
        assert info.value.field in (f"records[1].{column}", f"instances[1][{_pos(column)}]")


@pytest.mark.parametrize(("column", "value"), FITS)
def test_a_number_at_the_edge_of_the_column_dtype_is_kept_exactly(column: str, value: Any) -> None:
    batch = InputSchema(MIXED).from_records([{**ROW, column: value}], "records")
    got = (batch.columns or [])[_pos(column)][0]
    assert got == value or float(got) == float(value)


TENSOR_TOO_BIG = [
    ("float32", [[1e300, 1.0]]),
    ("float32", [[1.0, -1e39]]),
    ("float32", [[BIG, 1]]),
    ("float64", [[BIG, 1]]),
    ("int64", [[2**63, 1]]),
    ("int64", [[-1, 2**63]]),
    ("int64", [[2**64, 1]]),
    ("int64", [[1e300, 1]]),
    ("int32", [[2**31, 1]]),
    ("uint8", [[-1, 1]]),
]


@pytest.mark.parametrize(("dtype", "data"), TENSOR_TOO_BIG)
def test_a_number_beyond_the_tensor_dtype_is_refused(dtype: str, data: Any) -> None:
    schema = InputSchema(Signature(TensorSpec(dtype, (-1, 2))))
    with pytest.raises(RequestError, match=f"does not fit {dtype}") as info:
        schema.from_tensor(data, "instances")
    assert info.value.field == "instances"


def test_tensor_values_that_fit_are_kept() -> None:
    f32 = InputSchema(Signature(TensorSpec("float32", (-1, 2))))
    kept = f32.from_tensor([[2**64, 3.4e38]], "x").tensor
    assert kept is not None and kept.tolist() == [[2.0**64, 3.4e38]]
    i64 = InputSchema(Signature(TensorSpec("int64", (-1, 2))))
    edge = i64.from_tensor([[2**63 - 1, -(2**63)]], "x").tensor
    assert edge is not None and edge.tolist() == [[2**63 - 1, -(2**63)]]


def _pos(column: str) -> int:
    return list(ROW).index(column)


def _with(column: str, value: Any) -> list[Any]:
    return [value if k == column else v for k, v in ROW.items()]


# ---------- over HTTP
@pytest.fixture(scope="module")
def dtype_servers(module_client: Client, module_settings: Settings) -> Iterator[dict[str, Server]]:
    """``mixed`` (the column signature above) and ``tensor`` (float32, shape (-1, 2))."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {name: (rng.random(40) * 100).astype(name_dtype) for name, name_dtype in _DTYPES.items()}
    )
    y = (frame["f64"] > 50).to_numpy()
    module_client.models.register("mixed", LogisticRegression().fit(frame, y), input_example=frame)
    x = rng.random((40, 2)).astype(np.float32)
    module_client.models.register(
        "tensor", LogisticRegression().fit(x, x[:, 0] > 0.5), input_example=x
    )
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {
            n: pool.submit(start_server, module_settings, f"{n}@1") for n in ("mixed", "tensor")
        }
        servers = {n: f.result() for n, f in futures.items()}
    try:
        yield servers
    finally:
        for s in servers.values():
            s.stop()


def assert_refused(res: httpx.Response, field: str) -> None:
    assert res.status_code == 422, res.text
    assert res.json()["field"] == field and "does not fit" in res.json()["error"]


@pytest.fixture(scope="module")
def raw() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as c:
        yield c


def _post_raw(http: httpx.Client, url: str, body: str) -> httpx.Response:
    # Python's json writes 10**400 as digits, which orjson would refuse to write
    return http.post(url, content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize(("column", "value"), TOO_BIG[::2])
def test_predict_and_v2_refuse_a_column_value_that_does_not_fit(
    dtype_servers: dict[str, Server], raw: httpx.Client, column: str, value: Any
) -> None:
    import json

    url = dtype_servers["mixed"].url
    row = {**ROW, column: value}
    assert_refused(
        _post_raw(raw, url + "/predict", json.dumps({"records": [row]})), f"records[0].{column}"
    )
    rows = json.dumps({"instances": [list(ROW.values()), _with(column, value)]})
    assert_refused(_post_raw(raw, url + "/predict", rows), f"instances[1][{_pos(column)}]")
    datatypes = {"f": "FP64", "i": "INT64", "u": "UINT64"}
    inputs = [{"name": k, "shape": [1], "datatype": datatypes[k[0]], "data": [row[k]]} for k in ROW]
    assert_refused(
        _post_raw(raw, url + "/v2/models/mixed/infer", json.dumps({"inputs": inputs})),
        f"inputs[{_pos(column)}].data[0]",
    )


def test_values_at_the_edge_of_their_dtype_are_served(
    dtype_servers: dict[str, Server], raw: httpx.Client
) -> None:
    import json

    row = {**ROW, "f32": 3.4e38, "i64": 2**63 - 1, "i8": -128, "u64": 2**64 - 1}
    res = _post_raw(raw, dtype_servers["mixed"].url + "/predict", json.dumps({"records": [row]}))
    assert res.status_code == 200, res.text


@pytest.mark.parametrize("data", [[[1e300, 1.0]], [[1.0, -1e39]], [[BIG, 1]], [[1, -BIG]]])
def test_predict_and_v2_refuse_a_tensor_value_that_does_not_fit(
    dtype_servers: dict[str, Server], raw: httpx.Client, data: Any
) -> None:
    import json

    url = dtype_servers["tensor"].url
    assert_refused(_post_raw(raw, url + "/predict", json.dumps({"instances": data})), "instances")
    v2 = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": data}]}
    assert_refused(
        _post_raw(raw, url + "/v2/models/tensor/infer", json.dumps(v2)), "inputs[0].data"
    )
