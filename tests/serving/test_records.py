"""The records body of an all-float64 signature read straight from its bytes: the same batch as
the general path for every body it takes, and no judgement at all (None) on anything else, so
the general path still accepts or names the field at fault."""

from __future__ import annotations

import numpy as np
import pytest

from loopml.core.errors import InvalidInput
from loopml.models.signature import ColumnSpec, Signature
from loopml.serving import codec
from loopml.serving.errors import RequestError
from loopml.serving.records import FloatRecords
from loopml.serving.schema import InputSchema

NAMES = ["a", "b b", "c.d", "prediction"]  # spaces, dots, a name the log renames
SCHEMA = InputSchema(Signature([ColumnSpec(n, "float64") for n in NAMES]))
RECORDS = FloatRecords(NAMES)


def _general(body: bytes, schema: InputSchema = SCHEMA) -> np.ndarray:
    batch = codec.decode_predict(schema, codec.parse_json(body))
    assert batch.matrix is not None
    return batch.matrix


def _row(values: list[str]) -> str:
    return "{" + ", ".join(f'"{n}": {v}' for n, v in zip(NAMES, values, strict=True)) + "}"


@pytest.mark.parametrize(
    "rows",
    [
        [["1.5", "-2.0", "0.0", "3"]],
        [["1", "2", "3", "4"], ["-0", "0.1", "1e300", "-1e-300"]],  # integers, extremes
        [["9007199254740993", "18446744073709551617", str(2**1000), "1.7976931348623157e308"]],
        [["0.1", "0.2", "0.30000000000000004", "5e-324"]] * 50,
    ],
)
def test_a_valid_body_gives_the_general_paths_matrix(rows: list[list[str]]) -> None:
    body = ('{"records": [' + ", ".join(_row(r) for r in rows) + "]}").encode()
    batch = RECORDS.decode(body)
    assert batch is not None and batch.matrix is not None
    assert batch.n == len(rows) and batch.matrix.dtype == np.float64
    np.testing.assert_array_equal(batch.matrix, _general(body))
    assert [c.tolist() for c in batch.columns or []] == batch.matrix.T.tolist()


def test_keys_in_any_order_and_a_repeated_key_read_as_the_general_path_reads_them() -> None:
    body = b'{"records": [{"prediction": 4, "c.d": 3, "b b": 2, "a": 1, "a": 5}]}'
    batch = RECORDS.decode(body)
    assert batch is not None and batch.matrix is not None
    np.testing.assert_array_equal(batch.matrix, _general(body))
    assert batch.matrix.tolist() == [[5.0, 2.0, 3.0, 4.0]]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"records": []}',
        b'{"records": {}}',
        b'{"instances": [[1, 2, 3, 4]]}',
        b'{"columns": ["a", "b b", "c.d", "prediction"], "data": [[1, 2, 3, 4]]}',
        b'{"records": [{"a": 1, "b b": 2, "c.d": 3, "prediction": 4}], "extra": 1}',
        b'{"records": [{"a": 1, "b b": 2, "c.d": 3}]}',  # a column missing
        b'{"records": [{"a": 1, "b b": 2, "c.d": 3, "prediction": 4, "e": 5}]}',  # unknown
        b'{"records": [{"a": null, "b b": 2, "c.d": 3, "prediction": 4}]}',
        b'{"records": [{"a": "1", "b b": 2, "c.d": 3, "prediction": 4}]}',
        b'{"records": [{"a": true, "b b": 2, "c.d": 3, "prediction": 4}]}',
        b'{"records": [{"a": NaN, "b b": 2, "c.d": 3, "prediction": 4}]}',
        b'{"records": [{"a": 1e999, "b b": 2, "c.d": 3, "prediction": 4}]}',
        b'{"records": [{"a": 1, "b b": -1e309, "c.d": 3, "prediction": 4}]}',
        b'{"records": [{"a": 1, "b b": 2, "c.d": 3, "prediction": Infinity}]}',
        b'{"records": [{"a": 1' + b"0" * 400 + b', "b b": 2, "c.d": 3, "prediction": 4}]}',
        b'{"records": [{"a": [1], "b b": 2, "c.d": 3, "prediction": 4}]}',
        b'{"records": [[1, 2, 3, 4]]}',
    ],
)
def test_anything_else_is_left_to_the_general_path(body: bytes) -> None:
    assert RECORDS.decode(body) is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"records": [{"a": 1, "b b": 2, "c.d": 3}]}', "records[0].prediction"),
        (b'{"records": [{"a": null, "b b": 2, "c.d": 3, "prediction": 4}]}', "records[0].a"),
        (b'{"records": [{"a": 1, "b b": "2", "c.d": 3, "prediction": 4}]}', "records[0].b b"),
    ],
)
def test_what_it_leaves_the_general_path_still_names_the_column(body: bytes, field: str) -> None:
    assert RECORDS.decode(body) is None
    with pytest.raises(RequestError) as caught:
        _general(body)
    assert caught.value.field == field


def test_only_signatures_of_two_or_more_float64_columns_get_the_path() -> None:
    assert SCHEMA.all_float64
    for columns in (
        [ColumnSpec("a", "float64")],
        [ColumnSpec("a", "float64"), ColumnSpec("b", "float32")],
        [ColumnSpec("a", "float64"), ColumnSpec("b", "int64")],
    ):
        assert not InputSchema(Signature(columns)).all_float64
    with pytest.raises(InvalidInput, match="two or more"):
        FloatRecords(["a"])
