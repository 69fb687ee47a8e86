"""Request data checked against a model version's signature, built into numpy columns.

The checks are precomputed once per served version (column order, names, kinds), so a request
costs a few list comprehensions and one ``np.array`` per column. Every error names the field at
fault, e.g. ``records[2].age`` or ``instances[0][3]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from loopml.models.signature import Signature, TensorSpec
from loopml.serving.errors import RequestError

Locator = Callable[[int], str]  # row index → field name, for error messages


def _kind(dtype: str) -> str:
    if dtype.startswith("float"):
        return "f"
    if dtype.startswith(("int", "uint")):
        return "i"
    if dtype == "bool":
        return "b"
    if dtype in ("string", "category", "datetime", "timedelta"):
        return "s"
    return "o"


_NP_DTYPES = {"f": np.float64, "i": np.int64, "b": np.bool_}
_NONE = type(None)
_FLOATISH = frozenset({float, int})
_F64_MAX = float(np.finfo(np.float64).max)
_EXACT = 2**53  # the largest whole number every float64 beneath it holds exactly


def value_range(dtype: str) -> tuple[int | float, int | float]:
    """The smallest and largest number a signature dtype holds (int64 and float64 when the
    name is not a numpy one)."""
    kind = _kind(dtype)
    if kind == "i":
        try:
            info = np.iinfo(np.dtype(dtype))
        except TypeError:
            info = np.iinfo(np.int64)
        return int(info.min), int(info.max)
    try:
        top = float(np.finfo(np.dtype(dtype)).max)
    except (TypeError, ValueError):
        top = _F64_MAX
    return -min(top, _F64_MAX), min(top, _F64_MAX)


def _array_dtype(dtype: str, kind: str) -> Any:
    """The numpy dtype a checked column is built in: 64 bits, unsigned only for uint64."""
    if kind == "i" and dtype == "uint64":
        return np.uint64
    return _NP_DTYPES.get(kind)


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # the signature's dtype name
    kind: str  # f float, i integer, b bool, s text, o anything
    low: int | float = 0
    high: int | float = 0

    @property
    def narrow(self) -> bool:
        """Whether the 64-bit array it is built in holds values the dtype does not."""
        if self.kind == "i":
            return self.dtype not in ("int64", "uint64")
        return self.kind == "f" and self.high < _F64_MAX


def _column(name: str, dtype: str) -> Column:
    kind = _kind(dtype)
    low, high = value_range(dtype) if kind in "fi" else (0, 0)
    return Column(name, dtype, kind, low, high)


class Batch:
    """The rows of one request: one array per signature column, or one tensor. When every
    column is float64, ``matrix`` holds them as one (rows by columns) array and ``columns`` are
    views of its columns, made when first asked for, so a model that takes a matrix gets it
    without a copy and a request pays for no view it does not use."""

    __slots__ = ("_columns", "matrix", "n", "tensor")

    def __init__(
        self,
        n: int,
        columns: list[np.ndarray] | None = None,
        tensor: np.ndarray | None = None,
        matrix: np.ndarray | None = None,
    ) -> None:
        self.n = n
        self._columns = columns
        self.tensor = tensor
        self.matrix = matrix

    @property
    def columns(self) -> list[np.ndarray] | None:
        if self._columns is None and self.matrix is not None:
            self._columns = list(self.matrix.T)
        return self._columns


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        shown = value if len(value) <= 30 else value[:27] + "..."
        return f"string {shown!r}"
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "infinity"
    if isinstance(value, int) and abs(value) >= 10**24:
        digits = str(abs(value))
        sign = "-" if value < 0 else ""
        return f"number {sign}{digits[:6]}...{digits[-3:]} ({len(digits)} digits)"
    if isinstance(value, int | float):
        return f"number {value!r}"
    return "an array" if isinstance(value, list) else "an object"


class InputSchema:
    """What one served version accepts, compiled from its signature."""

    def __init__(self, signature: Signature | None, allow_nan: bool = False) -> None:
        self.allow_nan = allow_nan
        self.tensor: TensorSpec | None = None
        self.columns: list[Column] = []
        if signature is None:
            self.tensor = TensorSpec("float64", (-1, -1))
        elif isinstance(signature.inputs, TensorSpec):
            self.tensor = signature.inputs
        else:
            self.columns = [_column(c.name, c.dtype) for c in signature.inputs]
        self.names = [c.name for c in self.columns]
        self.index = {name: i for i, name in enumerate(self.names)}
        self._name_set = frozenset(self.names)
        self.numeric = bool(self.columns) and all(c.kind in "fi" for c in self.columns)
        # every column a float64 one: records are read as one matrix, checked as a whole
        self.all_float64 = len(self.columns) >= 2 and all(
            c.kind == "f" and not c.narrow for c in self.columns
        )
        self._row_values = itemgetter(*self.names) if self.all_float64 else None

    # ----- column signatures
    def from_records(self, records: Any, where: str) -> Batch:
        """``[{col: value, ...}, ...]`` → a batch."""
        if self.tensor is not None:
            raise RequestError(
                "this model takes a tensor, not named columns; send {'instances': [[...]]}",
                where,
            )
        rows = _non_empty_list(records, where)
        names, expected, width = self.names, self._name_set, len(self.names)
        for i, r in enumerate(rows):
            if r.__class__ is not dict:
                raise RequestError(
                    f"{where}[{i}] must be an object of column: value, found {describe(r)}",
                    f"{where}[{i}]",
                )
            if len(r) != width or r.keys() != expected:
                self._key_error(r, f"{where}[{i}]")
        if self._row_values is not None:
            fast = self._float_matrix([self._row_values(r) for r in rows])
            if fast is not None:
                return fast
        cols = [[r[name] for r in rows] for name in names]
        return Batch(
            len(rows), [self.convert(j, cols[j], _dotted(where, names[j])) for j in range(width)]
        )

    def _float_matrix(self, rows: list[tuple[Any, ...]]) -> Batch | None:
        """Rows of a float64-only signature as one matrix, or None when a value needs the
        per-column path (a type other than float or int, a missing or non-finite number when
        those are refused): that path then names it."""
        types = set(map(type, chain.from_iterable(rows)))
        if not types <= _FLOATISH:
            return None
        try:
            matrix = np.array(rows, dtype=np.float64)
        except OverflowError:  # an integer beyond float64: the per-column path names it
            return None
        if float in types and not self.allow_nan and not np.isfinite(matrix).all():
            return None
        return Batch(len(rows), matrix=matrix)

    def _key_error(self, record: dict[str, Any], where: str) -> None:
        missing = [c for c in self.names if c not in record]
        if missing:
            raise RequestError(
                f"{where} lacks column {missing[0]!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + f"; the model expects {self.expected_text()}",
                f"{where}.{missing[0]}",
            )
        unknown = [str(k) for k in record if k not in self._name_set]
        raise RequestError(
            f"{where} has unknown column {unknown[0]!r}; the model expects {self.expected_text()}",
            f"{where}.{unknown[0]}",
        )

    def from_rows(self, rows: Any, where: str, columns: Any = None) -> Batch:
        """``[[v, ...], ...]`` in signature order, or in the order of ``columns``."""
        if self.tensor is not None:
            return self.from_tensor(rows, where)
        data = _non_empty_list(rows, where)
        order = self._order(columns) if columns is not None else list(range(len(self.names)))
        width = len(order)
        for i, r in enumerate(data):
            if r.__class__ is not list or len(r) != width:
                found = f"{len(r)} values" if isinstance(r, list) else describe(r)
                raise RequestError(
                    f"{where}[{i}] must be a list of {width} values "
                    f"({', '.join(self.names[j] for j in order)}), found {found}",
                    f"{where}[{i}]",
                )
        by_position = list(zip(*data, strict=True))
        out: list[np.ndarray | None] = [None] * len(self.names)
        for pos, j in enumerate(order):
            out[j] = self.convert(j, by_position[pos], _indexed(where, pos))
        return Batch(len(data), [c for c in out if c is not None])

    def _order(self, columns: Any) -> list[int]:
        if not isinstance(columns, list) or not columns:
            raise RequestError("'columns' must be a non-empty list of column names", "columns")
        order: list[int] = []
        seen: set[str] = set()
        for j, name in enumerate(columns):
            if not isinstance(name, str) or name not in self.index:
                raise RequestError(
                    f"unknown column {name!r}; the model expects {self.expected_text()}",
                    f"columns[{j}]",
                )
            if name in seen:
                raise RequestError(f"column {name!r} is given twice", f"columns[{j}]")
            seen.add(name)
            order.append(self.index[name])
        missing = [n for n in self.names if n not in seen]
        if missing:
            raise RequestError(
                f"'columns' lacks {missing[0]!r}; the model expects {self.expected_text()}",
                "columns",
            )
        return order

    def from_column_values(
        self, values: dict[str, Sequence[Any]], where: Callable[[str], str]
    ) -> Batch:
        """Whole columns by name (the v2 protocol's one-input-per-column form)."""
        lengths = {len(v) for v in values.values()}
        if len(lengths) != 1:
            raise RequestError("every input column must hold the same number of rows", "inputs")
        cols = [
            self.convert(j, values[name], _flat(where(name))) for j, name in enumerate(self.names)
        ]
        return Batch(lengths.pop(), cols)

    def convert(self, j: int, values: Sequence[Any], loc: Locator) -> np.ndarray:
        col = self.columns[j]
        types = {v.__class__ for v in values}
        try:
            if col.kind == "f" and types <= _FLOATISH:
                arr = np.array(values, dtype=np.float64)
                if float in types and not self.allow_nan and not np.isfinite(arr).all():
                    bad = int(np.flatnonzero(~np.isfinite(arr))[0])
                    self._bad(col, values[bad], loc(bad))
                if col.narrow and (np.isfinite(arr) & (np.abs(arr) > col.high)).any():
                    return self._convert_slow(col, values, loc)
                return arr
            if col.kind == "i" and types == {int}:
                arr = np.array(values, dtype=_array_dtype(col.dtype, "i"))
                if col.narrow and (arr.min() < col.low or arr.max() > col.high):
                    return self._convert_slow(col, values, loc)
                return arr
        except OverflowError:  # a number beyond 64 bits: the slow path names it
            return self._convert_slow(col, values, loc)
        if col.kind == "b" and types == {bool}:
            return np.array(values, dtype=np.bool_)
        if col.kind == "s" and types == {str}:
            return _objects(values)
        return self._convert_slow(col, values, loc)

    def _convert_slow(self, col: Column, values: Sequence[Any], loc: Locator) -> np.ndarray:
        """The same checks value by value, to name the first bad one or admit nulls."""
        for i, v in enumerate(values):
            if not self._accepts(col, v):
                self._bad(col, v, loc(i))
            if col.kind in "fi" and v is not None and not _fits(col, v):
                self._too_big(col, v, loc(i))
        if col.kind == "f":
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        if col.kind == "i":
            return np.array([int(v) for v in values], dtype=_array_dtype(col.dtype, "i"))
        if col.kind == "b":
            return np.array(values, dtype=np.bool_)
        return _objects(values)

    def _accepts(self, col: Column, v: Any) -> bool:
        if v is None:
            return self.allow_nan and col.kind in "fso"
        if col.kind == "o":
            return True
        if col.kind == "f":
            if v.__class__ is int:
                return True
            return v.__class__ is float and (self.allow_nan or v - v == 0.0)
        if col.kind == "i":
            return v.__class__ is int or (v.__class__ is float and v.is_integer())
        if col.kind == "b":
            return v.__class__ is bool
        return v.__class__ is str

    def _bad(self, col: Column, v: Any, field: str) -> None:
        if v is None or (isinstance(v, float) and v != v):
            message = f"{field} is {describe(v)}, but column {col.name!r} ({col.dtype}) does not take missing values"
        elif isinstance(v, float) and col.kind == "f":
            message = f"{field} is {describe(v)}; column {col.name!r} takes finite numbers"
        else:
            message = f"{field} is {describe(v)}; column {col.name!r} expects {_wanted(col)}"
        raise RequestError(message, field)

    def _too_big(self, col: Column, v: Any, field: str) -> None:
        raise RequestError(
            f"{field} is {describe(v)}, which does not fit column {col.name!r} ({col.dtype}); "
            f"it takes {_range_text(col.kind, col.low, col.high)}",
            field,
        )

    # ----- tensor signatures
    def from_tensor(self, data: Any, where: str, shape: Sequence[int] | None = None) -> Batch:
        """A nested list (or a flat list and its ``shape``) → one array of the spec's shape."""
        assert self.tensor is not None
        spec = self.tensor
        items = _non_empty_list(data, where)
        try:
            arr = np.array(items)
        except ValueError as exc:
            raise RequestError(
                f"{where} is ragged: every row must have the same length", where
            ) from exc
        if shape is not None:
            try:
                arr = arr.reshape(tuple(int(n) for n in shape))
            except (ValueError, TypeError) as exc:
                raise RequestError(
                    f"{where} holds {arr.size} values, which do not fill shape {list(shape)}", where
                ) from exc
        if arr.ndim == len(spec.shape) - 1 and len(spec.shape) > 1:
            arr = arr.reshape(1, *arr.shape)
        if arr.ndim != len(spec.shape) and spec.shape != (-1, -1):
            raise RequestError(
                f"{where} has {arr.ndim} dimension(s), the model expects shape {_shape_text(spec.shape)}",
                where,
            )
        for axis, (want, got) in enumerate(zip(spec.shape, arr.shape, strict=False)):
            if want != -1 and want != got:
                raise RequestError(
                    f"{where} has size {got} on axis {axis}, the model expects shape "
                    f"{_shape_text(spec.shape)}",
                    where,
                )
        return Batch(int(arr.shape[0]) if arr.ndim else 1, tensor=self._tensor_values(arr, where))

    def _tensor_values(self, arr: np.ndarray, where: str) -> np.ndarray:
        assert self.tensor is not None
        spec = self.tensor
        kind = _kind(spec.dtype)
        if arr.dtype.kind == "O":
            arr = self._beyond_64_bits(arr, kind, where)
        ok = {
            "f": arr.dtype.kind in "iuf",
            "i": arr.dtype.kind in "iu"
            or (arr.dtype.kind == "f" and bool(np.all(arr == np.round(arr)))),
            "b": arr.dtype.kind == "b",
            "s": arr.dtype.kind == "U",
            "o": True,
        }[kind]
        if not ok:
            raise RequestError(
                f"{where} holds {_np_kind_text(arr.dtype.kind)} values, the model expects "
                f"{spec.dtype}",
                where,
            )
        if arr.dtype.kind == "f" and not self.allow_nan and not np.isfinite(arr).all():
            raise RequestError(
                f"{where} holds NaN or infinity, which the model does not take", where
            )
        if kind in "fi" and arr.size:
            self._check_tensor_range(arr, kind, where)
        if kind in _NP_DTYPES:
            return arr.astype(_array_dtype(spec.dtype, kind), copy=False)
        return arr

    def _beyond_64_bits(self, arr: np.ndarray, kind: str, where: str) -> np.ndarray:
        """numpy keeps integers beyond 64 bits as Python objects: a float tensor takes them
        when they fit float64 (and then its own range); anything else is refused here."""
        assert self.tensor is not None
        values = arr.ravel().tolist()
        if not all(v.__class__ in _FLOATISH for v in values):
            raise RequestError(f"{where} mixes value types or holds nulls", where)
        if kind == "f":
            try:
                return arr.astype(np.float64)
            except OverflowError:
                pass
        big = next(v for v in values if v.__class__ is int and abs(v) > 2**63)
        raise RequestError(
            f"{where} holds {describe(big)}, which does not fit {self.tensor.dtype}", where
        )

    def _check_tensor_range(self, arr: np.ndarray, kind: str, where: str) -> None:
        assert self.tensor is not None
        low, high = value_range(self.tensor.dtype)
        if kind == "i":
            # ``high + 1``: a float array holds 2**63 where int64's top (2**63 - 1) rounds up
            lo, hi = arr.min(), arr.max()
            inexact = arr.dtype.kind == "f" and max(-lo, hi) > _EXACT
            if inexact or lo < low or hi >= int(high) + 1:
                bad = lo if lo < low or -lo > hi else hi
                exact = float(bad).is_integer() and abs(float(bad)) < 2.0**65
                shown = int(bad) if exact else float(bad)
                raise RequestError(
                    f"{where} holds {describe(shown)}, which does not fit {self.tensor.dtype}; "
                    f"it takes {_range_text(kind, low, high)}",
                    where,
                )
            return
        if arr.dtype.kind == "f":
            over = np.isfinite(arr) & (np.abs(arr) > high)
        else:  # integers into a float tensor: compare exactly, then as floats
            over = np.abs(arr.astype(np.float64)) > high
        if over.any():
            bad = arr.ravel()[int(np.flatnonzero(over.ravel())[0])]
            raise RequestError(
                f"{where} holds {describe(bad.item())}, which does not fit {self.tensor.dtype}; "
                f"it takes {_range_text(kind, low, high)}",
                where,
            )

    def expected_text(self, limit: int = 6) -> str:
        shown = ", ".join(f"{c.name} ({c.dtype})" for c in self.columns[:limit])
        more = f", ... {len(self.columns) - limit} more" if len(self.columns) > limit else ""
        return f"{len(self.columns)} column(s): {shown}{more}"


def _non_empty_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise RequestError(f"'{where}' must be a list, found {describe(value)}", where)
    if not value:
        raise RequestError(f"'{where}' is empty; send at least one row", where)
    return value


def _objects(values: Sequence[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


def _dotted(where: str, name: str) -> Locator:
    return lambda i: f"{where}[{i}].{name}"


def _indexed(where: str, pos: int) -> Locator:
    return lambda i: f"{where}[{i}][{pos}]"


def _flat(where: str) -> Locator:
    return lambda i: f"{where}[{i}]"


def _wanted(col: Column) -> str:
    return {
        "f": f"a number ({col.dtype})",
        "i": f"a whole number ({col.dtype})",
        "b": "true or false",
        "s": f"a string ({col.dtype})",
    }.get(col.kind, col.dtype)


def _fits(col: Column, v: Any) -> bool:
    """Whether a number the column's kind accepts lies within its dtype's range."""
    if col.kind == "i":
        if v.__class__ is float and abs(v) > _EXACT:
            return False  # not exact; orjson also reads integers beyond 64 bits as floats
        return col.low <= int(v) <= col.high
    if v.__class__ is float and v - v != 0.0:  # NaN and infinity are judged by allow_nan
        return True
    try:
        return abs(float(v)) <= col.high
    except OverflowError:  # an integer beyond float64
        return False


def _range_text(kind: str, low: int | float, high: int | float) -> str:
    if kind == "i":
        exact = (
            " (beyond 2**53, written without a decimal point or exponent)" if high > _EXACT else ""
        )
        return f"whole numbers from {low} to {high}{exact}"
    return f"numbers from {low:.8g} to {high:.8g}"


def _np_kind_text(kind: str) -> str:
    return {"b": "boolean", "U": "string", "f": "float", "i": "integer", "u": "integer"}.get(
        kind, kind
    )


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join("any" if n == -1 else str(n) for n in shape) + ")"
