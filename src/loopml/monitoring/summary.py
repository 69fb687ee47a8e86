"""One side of a comparison, column by column: a numeric column as its sorted non-missing
values, a categorical one as its category counts. Every statistic of :mod:`.drift` is computed
from these, so each column is read and sorted once.

A reference summary can be kept and compared with many windows (:func:`summarize` once,
``compare(summary, window)`` many times). A current window too large to hold can be summarized
batch by batch (:class:`StreamSummary`): category counts, row counts and missing values stay
exact; numeric columns keep a uniform random sample of at most ``sample_rows`` rows (see
:mod:`.drift` for what that means for the statistics)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from loopml.api.monitoring import ColumnKind, ColumnOptions
from loopml.core.errors import InvalidInput

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

#: An integer column whose reference has at most this many distinct values is categorical
#: (flags, ratings, codes); with more it is numeric. Booleans and strings are categorical.
MAX_INT_CATEGORIES = 5
#: Rows of a streamed current window kept for the numeric statistics.
DEFAULT_SAMPLE_ROWS = 1_000_000


@dataclass
class NumericColumn:
    values: Floats  # sorted; finite values only
    rows: int  # rows of the table, missing ones included
    missing: int  # null, NaN and +/-inf
    is_int: bool = False
    seen: int = -1  # non-missing values seen (more than len(values) when sampled)
    minimum: float = float("nan")  # exact, also when sampled
    maximum: float = float("nan")

    def __post_init__(self) -> None:
        if self.seen < 0:
            self.seen = len(self.values)
        if len(self.values) and np.isnan(self.minimum):
            self.minimum, self.maximum = float(self.values[0]), float(self.values[-1])

    @property
    def sampled(self) -> bool:
        return self.seen > len(self.values)


@dataclass
class CategoricalColumn:
    categories: list[str]
    counts: Ints
    rows: int
    missing: int

    @property
    def seen(self) -> int:
        return int(self.counts.sum())


@dataclass
class Unreadable:
    """A column whose values are neither numbers nor categories (lists, structs, binary)."""

    type_name: str
    rows: int


Column = NumericColumn | CategoricalColumn | Unreadable


@dataclass
class Summary:
    """Every requested column of one side (absent ones are missing from ``columns``)."""

    rows: int
    columns: dict[str, Column] = field(default_factory=dict)
    note: str = ""


def as_table(data: Any) -> Any:
    """A pyarrow Table from a Table, a pandas DataFrame or a dict of arrays."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, Mapping):
        try:
            return pa.table({str(k): _as_array(v) for k, v in data.items()})
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
            raise InvalidInput(f"cannot read the columns as a table: {exc}") from None
    if type(data).__name__ == "DataFrame" and hasattr(data, "columns"):
        try:
            return pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidInput(f"cannot read the DataFrame: {exc}") from None
    raise InvalidInput(
        f"expected a pyarrow Table, a pandas DataFrame or a dict of arrays, got {type(data).__name__}"
    )


def _as_array(values: Any) -> Any:
    import pyarrow as pa

    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    arr = np.asarray(values)
    if arr.dtype.kind == "O":
        return pa.array(list(arr), from_pandas=True)
    return pa.array(arr, from_pandas=True)


def summarize(
    data: Any,
    columns: Sequence[str],
    *,
    options: Mapping[str, ColumnOptions] | None = None,
    like: Summary | None = None,
) -> Summary:
    """Summarize the ``columns`` of ``data`` (absent ones are left out). ``like``: the reference
    summary, whose column kinds the current side follows."""
    table = as_table(data)
    summary = Summary(rows=table.num_rows)
    names = set(table.column_names)
    for name in columns:
        if name in names:
            summary.columns[name] = read_column(
                table.column(name), _kind_for(name, options, like), table.num_rows
            )
    return summary


def _kind_for(
    name: str, options: Mapping[str, ColumnOptions] | None, like: Summary | None
) -> ColumnKind | None:
    option = (options or {}).get(name)
    if option is not None and option.kind is not None:
        return option.kind
    if like is not None:
        ref = like.columns.get(name)
        if isinstance(ref, NumericColumn):
            return ColumnKind.NUMERIC
        if isinstance(ref, CategoricalColumn):
            return ColumnKind.CATEGORICAL
    return None


def read_column(col: Any, kind: ColumnKind | None, rows: int) -> Column:
    """Read one pyarrow (chunked) array as the ``kind`` asked for, or the kind its type says."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    numeric_type = (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_null(t)
    )
    text_type = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
    if pa.types.is_boolean(t):
        return _counts(col, rows)
    if numeric_type:
        if kind is ColumnKind.CATEGORICAL:
            return _counts(_integral_as_text(col), rows)
        values = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        values = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(values)
        kept = values[finite] if not finite.all() else values.copy()
        kept.sort()
        numeric = NumericColumn(kept, rows, rows - len(kept), is_int=pa.types.is_integer(t))
        if kind is None and numeric.is_int and _distinct_sorted(kept) <= MAX_INT_CATEGORIES:
            return _counts(col, rows)
        return numeric
    if text_type:
        if kind is ColumnKind.NUMERIC:
            return Unreadable("strings", rows)
        return _counts(col, rows)
    return Unreadable(str(t), rows)


def _integral_as_text(col: Any) -> Any:
    """Numbers as category labels: whole floats as integers (1.0 -> "1"), so a column that
    turned float because of missing values keeps its integer categories."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_floating(col.type):
        values = col.to_numpy(zero_copy_only=False)
        finite = values[np.isfinite(values)]
        if np.all(finite == np.round(finite)):
            return pc.cast(pc.cast(col, pa.int64(), safe=False), pa.string())
    return pc.cast(col, pa.string())


def _counts(col: Any, rows: int) -> CategoricalColumn:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
            col = _integral_as_text(col)
        else:
            col = pc.cast(col, pa.string())
    counted = pc.value_counts(col)
    values = counted.field("values")
    counts = counted.field("counts")
    valid = values.is_valid()
    cats = values.filter(valid).to_pylist()
    n = np.asarray(counts.filter(valid).to_numpy(zero_copy_only=False), dtype=np.int64)
    return CategoricalColumn(
        [str(c) for c in cats], n, rows, rows - int(n.sum()) if len(n) else rows
    )


def _distinct_sorted(values: Floats) -> int:
    if len(values) == 0:
        return 0
    return 1 + int(np.count_nonzero(np.diff(values)))


class StreamSummary:
    """The current side of a comparison built from record batches, in bounded memory.

    Numeric columns keep a uniform random sample of ``sample_rows`` rows (bottom-k by a random
    key per row, the same rows for every column); min, max, row and missing counts are exact.
    Categorical columns are counted exactly. A column absent from some batches counts their
    rows as missing."""

    def __init__(
        self,
        columns: Sequence[str],
        like: Summary,
        *,
        options: Mapping[str, ColumnOptions] | None = None,
        sample_rows: int = DEFAULT_SAMPLE_ROWS,
        seed: int = 0,
    ) -> None:
        self._columns = list(columns)
        self._like = like
        self._options = options
        self._k = max(int(sample_rows), 1)
        self._rng = np.random.default_rng(seed)
        self.rows = 0
        self._keys: list[Floats] = []
        self._kept = 0  # sampled rows held (sum of the key parts)
        self._threshold = 1.0
        self._numeric: dict[str, list[Floats]] = {}  # sampled values, aligned with the keys
        self._held: dict[str, int] = {}  # values held per numeric column
        self._stats: dict[str, list[float]] = {}  # seen, min, max, is_int
        self._categorical: dict[str, dict[str, int]] = {}
        self._unreadable: dict[str, str] = {}

    def add(self, data: Any) -> None:
        """Fold one batch (a pyarrow RecordBatch or Table, a DataFrame or a dict) in."""
        import pyarrow as pa
        import pyarrow.compute as pc

        table = as_table(data)
        n = table.num_rows
        if n == 0:
            return
        self.rows += n
        keys = self._rng.random(n)
        take = np.flatnonzero(keys < self._threshold)
        names = set(table.column_names)
        for name in self._columns:
            if name not in names:
                continue
            raw = table.column(name)
            kind = _kind_for(name, self._options, self._like)
            if _is_numeric_type(raw.type) and kind is not ColumnKind.CATEGORICAL:
                values = pc.cast(raw, pa.float64()).to_numpy(zero_copy_only=False)
                values = np.asarray(values, dtype=np.float64)
                finite = values[np.isfinite(values)]
                stats = self._stats.setdefault(name, [0, np.inf, -np.inf, 0])
                stats[3] = stats[3] or pa.types.is_integer(raw.type)
                if len(finite):
                    stats[0] += len(finite)
                    stats[1] = min(stats[1], float(finite.min()))
                    stats[2] = max(stats[2], float(finite.max()))
                self._pad(name, self._kept)
                self._numeric[name].append(values[take])
                self._held[name] += len(take)
                continue
            col = read_column(raw, kind or ColumnKind.CATEGORICAL, n)
            if isinstance(col, CategoricalColumn):
                counts = self._categorical.setdefault(name, {})
                for cat, c in zip(col.categories, col.counts.tolist(), strict=True):
                    counts[cat] = counts.get(cat, 0) + c
            elif isinstance(col, Unreadable):
                self._unreadable[name] = col.type_name
        self._keys.append(keys[take])
        self._kept += len(take)
        if self._kept > 2 * self._k:
            self._shrink()

    def _pad(self, name: str, upto: int) -> None:
        """Missing values for the sampled rows of batches that lacked the column."""
        parts = self._numeric.setdefault(name, [])
        held = self._held.setdefault(name, 0)
        if held < upto:
            parts.append(np.full(upto - held, np.nan))
            self._held[name] = upto

    def _shrink(self) -> None:
        keys = np.concatenate(self._keys)
        keep = np.argpartition(keys, self._k - 1)[: self._k]
        self._threshold = float(keys[keep].max())
        keep.sort()
        self._keys = [keys[keep]]
        self._kept = self._k
        for name in self._numeric:
            self._pad(name, len(keys))
            self._numeric[name] = [np.concatenate(self._numeric[name])[keep]]
            self._held[name] = self._k

    def summary(self) -> Summary:
        """The summary of everything added so far."""
        if self._kept > self._k:
            self._shrink()
        out = Summary(rows=self.rows)
        sampled = False
        for name in self._columns:
            if name in self._unreadable:
                out.columns[name] = Unreadable(self._unreadable[name], self.rows)
            elif name in self._categorical:
                counts = self._categorical[name]
                n = np.fromiter(counts.values(), np.int64, len(counts))
                out.columns[name] = CategoricalColumn(
                    list(counts), n, self.rows, self.rows - int(n.sum())
                )
            elif name in self._numeric:
                seen, lo, hi, is_int = self._stats[name]
                values = np.concatenate(self._numeric[name])
                values = values[np.isfinite(values)]
                values.sort()
                col = NumericColumn(
                    values, self.rows, self.rows - int(seen), is_int=bool(is_int),
                    seen=int(seen), minimum=float(lo) if seen else float("nan"),
                    maximum=float(hi) if seen else float("nan"),
                )  # fmt: skip
                sampled = sampled or col.sampled
                out.columns[name] = col
        if sampled:
            out.note = (
                f"numeric statistics of the current window come from a uniform random sample "
                f"of {self._k:,} of its {self.rows:,} rows"
            )
        return out


def _is_numeric_type(t: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return False
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_null(t)
    )


def summarize_batches(
    batches: Iterable[Any],
    columns: Sequence[str],
    like: Summary,
    *,
    options: Mapping[str, ColumnOptions] | None = None,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
) -> Summary:
    """:class:`StreamSummary` over every batch of ``batches``."""
    stream = StreamSummary(columns, like, options=options, sample_rows=sample_rows, seed=seed)
    for batch in batches:
        stream.add(batch)
    return stream.summary()
