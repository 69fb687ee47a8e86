"""Signatures: inference from examples and validation of prediction input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml.core.errors import InvalidInput
from loopml.models.signature import ColumnSpec, Signature, TensorSpec


def test_infer_from_dataframe_names_and_dtypes_every_column() -> None:
    df = pd.DataFrame(
        {"age": [30, 40], "income": [1.5, 2.5], "city": ["a", "b"], "vip": [True, False]}
    )
    sig = Signature.infer(df, np.array([0, 1]))
    assert sig.inputs == (
        ColumnSpec("age", "int64"),
        ColumnSpec("income", "float64"),
        ColumnSpec("city", "string"),
        ColumnSpec("vip", "bool"),
    )
    assert sig.outputs == TensorSpec("int64", (-1,))


def test_infer_from_ndarray_is_a_tensor_with_any_batch_size() -> None:
    sig = Signature.infer(np.zeros((5, 3), dtype=np.float32))
    assert sig.inputs == TensorSpec("float32", (-1, 3))
    assert sig.columns is None


def test_infer_from_list_of_dicts_is_columns() -> None:
    sig = Signature.infer([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
    assert sig.columns == ["a", "b"]
    assert sig.inputs == (ColumnSpec("a", "int64"), ColumnSpec("b", "string"))


def test_round_trip_through_dict() -> None:
    sig = Signature.infer(pd.DataFrame({"a": [1.0]}), np.array([[0.1, 0.9]]))
    assert Signature.from_dict(sig.to_dict()) == sig


def test_prepare_orders_columns_and_drops_extras() -> None:
    sig = Signature.infer(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    out = sig.prepare([{"b": 3.0, "a": 4.0, "extra": "x"}])
    assert list(out.columns) == ["a", "b"]
    assert out.iloc[0].tolist() == [4.0, 3.0]


def test_validate_accepts_ints_for_float_columns_and_refuses_strings() -> None:
    sig = Signature.infer(pd.DataFrame({"a": [1.0]}))
    assert sig.validate(pd.DataFrame({"a": [1, 2]})) is None
    with pytest.raises(InvalidInput, match="holds string values, the model expects float64"):
        sig.validate(pd.DataFrame({"a": ["x", "y"]}))


def test_missing_column_is_named_in_the_error() -> None:
    sig = Signature.infer(pd.DataFrame({"age": [1], "income": [2.0]}))
    with pytest.raises(InvalidInput, match=r"lacks column\(s\) income"):
        sig.validate(pd.DataFrame({"age": [3]}))


def test_wrong_dtype_says_what_was_expected() -> None:
    sig = Signature.infer(pd.DataFrame({"age": [1]}))
    with pytest.raises(
        InvalidInput, match="column 'age' holds string values, the model expects int64"
    ):
        sig.validate([{"age": "old"}])


def test_integral_floats_fit_an_int_column() -> None:
    sig = Signature.infer(pd.DataFrame({"age": [1]}))
    assert sig.validate(pd.DataFrame({"age": [3.0]})) is None
    assert sig.prepare([{"age": 3.0}])["age"].tolist() == [3]
    with pytest.raises(InvalidInput):
        sig.validate(pd.DataFrame({"age": [3.5]}))


def test_tensor_shape_is_checked() -> None:
    sig = Signature.infer(np.zeros((2, 4)))
    assert sig.validate(np.ones((10, 4))) is None
    assert sig.prepare([1.0, 2.0, 3.0, 4.0]).shape == (1, 4)
    with pytest.raises(InvalidInput, match="size 3 on axis 1, the model expects 4"):
        sig.validate(np.ones((2, 3)))


def test_unsupported_input_type_says_what_to_pass() -> None:
    sig = Signature.infer(np.zeros((2, 4)))
    with pytest.raises(InvalidInput, match="pass a pandas DataFrame"):
        sig.validate(object())


def test_malformed_signature_dict_is_refused() -> None:
    with pytest.raises(InvalidInput, match="signature"):
        Signature.from_dict({"outputs": {}})
    with pytest.raises(InvalidInput, match="malformed"):
        Signature.from_dict({"inputs": {"type": "columns"}})
