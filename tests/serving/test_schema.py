"""Request data against a signature: every accepted shape, and each refusal names its field."""

from __future__ import annotations

import numpy as np
import pytest

from loopml.models.signature import ColumnSpec, Signature, TensorSpec
from loopml.serving.errors import RequestError
from loopml.serving.schema import InputSchema

SIG = Signature(
    (
        ColumnSpec("age", "int64"),
        ColumnSpec("income", "float64"),
        ColumnSpec("member", "bool"),
        ColumnSpec("plan", "string"),
    )
)
ROW = {"age": 30, "income": 1.5, "member": True, "plan": "gold"}


def test_records_and_rows_become_typed_columns_in_signature_order() -> None:
    schema = InputSchema(SIG)
    batch = schema.from_records([ROW, {**ROW, "age": 31.0, "income": 2}], "records")
    assert batch.n == 2 and batch.columns is not None
    age, income, member, plan = batch.columns
    assert age.dtype == np.int64 and age.tolist() == [30, 31]
    assert income.dtype == np.float64 and income.tolist() == [1.5, 2.0]
    assert member.dtype == np.bool_ and plan.tolist() == ["gold", "gold"]
    reordered = schema.from_rows(
        [["gold", True, 1.5, 30]], "data", ["plan", "member", "income", "age"]
    )
    assert [c.tolist() for c in reordered.columns or []] == [[30], [1.5], [True], ["gold"]]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"age": 1.5}, "records[0].age", "whole number"),
        ({"age": "30"}, "records[0].age", "string '30'"),
        ({"age": True}, "records[0].age", "boolean true"),
        ({"income": None}, "records[0].income", "missing values"),
        ({"income": float("nan")}, "records[0].income", "NaN"),
        ({"income": float("inf")}, "records[0].income", "finite"),
        ({"member": 1}, "records[0].member", "true or false"),
        ({"plan": 3}, "records[0].plan", "a string"),
    ],
)
def test_wrong_values_name_the_field(change: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(RequestError, match=words) as info:
        InputSchema(SIG).from_records([ROW, {**ROW, **change}][1:], "records")
    assert info.value.field == field


def test_missing_values_pass_when_the_model_takes_them() -> None:
    schema = InputSchema(SIG, allow_nan=True)
    batch = schema.from_records([{**ROW, "income": None}, {**ROW, "income": float("nan")}], "r")
    assert np.isnan((batch.columns or [])[1]).all()
    with pytest.raises(RequestError, match="missing values"):
        schema.from_records([{**ROW, "age": None}], "r")  # integers cannot be missing


def test_tensor_signatures_check_rank_size_and_type() -> None:
    schema = InputSchema(Signature(TensorSpec("float32", (-1, 2, 2))))
    assert schema.from_tensor([[[1, 2], [3, 4]]], "instances").n == 1
    assert schema.from_tensor([[1, 2], [3, 4]], "instances").n == 1  # one row without batch axis
    assert schema.from_tensor([1, 2, 3, 4, 5, 6, 7, 8], "inputs[0].data", [2, 2, 2]).n == 2
    for bad, words in (
        ([[1, 2, 3], [4, 5, 6]], "size 3 on axis 2"),
        ([[[1, 2], [3]]], "ragged|mixes"),
        ([[["a", "b"], ["c", "d"]]], "string"),
        ([[[1.0, float("nan")], [1.0, 1.0]]], "NaN"),
    ):
        with pytest.raises(RequestError, match=words):
            schema.from_tensor(bad, "instances")


def test_a_model_without_signature_takes_numeric_rows() -> None:
    schema = InputSchema(None)
    assert schema.from_rows([[1, 2], [3, 4]], "instances").n == 2
    with pytest.raises(RequestError, match="tensor"):
        schema.from_records([{"a": 1}], "records")


# ---------- float64-only signatures: records read as one matrix
F64 = Signature([ColumnSpec(n, "float64") for n in ("a", "b", "c")])


@pytest.mark.parametrize(
    "records",
    [
        [{"a": 1.5, "b": -2.0, "c": 0.0}],
        [{"c": 3, "b": 2, "a": 1}, {"a": 1e300, "b": -1e-300, "c": 7}],  # ints, key order
    ],
)
def test_float_records_become_one_matrix_equal_to_the_columns(
    records: list[dict[str, object]],
) -> None:
    batch = InputSchema(F64).from_records(records, "records")
    assert batch.matrix is not None and batch.matrix.dtype == np.float64
    expected = np.array([[r["a"], r["b"], r["c"]] for r in records], dtype=np.float64)
    np.testing.assert_array_equal(batch.matrix, expected)
    assert [list(c) for c in batch.columns or []] == [list(col) for col in expected.T]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "expects"),
        ("1.5", "expects"),
        (None, "missing values"),
        (float("nan"), "missing values"),
        (float("inf"), "finite"),
        (10**400, "does not fit"),
    ],
)
def test_a_bad_value_in_a_float_matrix_is_named_by_its_column(value: object, message: str) -> None:
    records = [{"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 1.0, "b": value, "c": 3.0}]
    with pytest.raises(RequestError, match=message) as caught:
        InputSchema(F64).from_records(records, "records")
    assert caught.value.field == "records[1].b"


def test_missing_values_allowed_are_nan_in_the_matrix() -> None:
    batch = InputSchema(F64, allow_nan=True).from_records(
        [{"a": None, "b": float("nan"), "c": 1.0}], "records"
    )
    assert batch.columns is not None
    assert np.isnan(batch.columns[0][0]) and np.isnan(batch.columns[1][0])
