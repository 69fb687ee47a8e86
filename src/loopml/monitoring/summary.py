"""One side of a comparison, column by column: a numeric column as its sorted non-missing
values, a categorical one as its category counts. Every statistic of :mod:`.drift` is computed
from these, so each column is read and sorted once.

A reference summary can be kept and compared with many windows (:func:`summarize` once,
``compare(summary, window)`` many times). A current window too large to hold can be summarized
batch by batch (:class:`StreamSummary`): category counts, row counts and missing values stay
exact; numeric columns keep a uniform random sample of at most ``sample_rows`` rows (see
:mod:`.drift` for what that means for the statistics)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

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
#: Values (rows x columns) below which columns are read one after the other.
PARALLEL_MIN_WORK = 200_000

T = TypeVar("T")
R = TypeVar("R")


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


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def parallel_map(
    fn: Callable[[T], R], items: Sequence[T], threads: int | None, work: int
) -> list[R]:
    """``[fn(x) for x in items]``, on ``threads`` threads when there is enough ``work`` (values
    to go through) to pay for them: sorting and counting release the GIL."""
    threads = default_threads() if threads is None else max(1, threads)
    if threads == 1 or len(items) < 2 or work < PARALLEL_MIN_WORK:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(min(threads, len(items))) as pool:
        return list(pool.map(fn, items))


def summarize(
    data: Any,
    columns: Sequence[str],
    *,
    options: Mapping[str, ColumnOptions] | None = None,
    like: Summary | None = None,
    threads: int | None = None,
) -> Summary:
    """Summarize the ``columns`` of ``data`` (absent ones are left out). ``like``: the reference
    summary, whose column kinds the current side follows; ``threads``: columns read at once
    (default: the cores, at most 4)."""
    table = as_table(data)
    summary = Summary(rows=table.num_rows)
    present = set(table.column_names)
    names = [name for name in dict.fromkeys(columns) if name in present]

    def read(name: str) -> Column:
        return read_column(table.column(name), _kind_for(name, options, like), table.num_rows)

    for name, col in zip(
        names, parallel_map(read, names, threads, table.num_rows * len(names)), strict=True
    ):
        summary.columns[name] = col
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
        if not finite.all():
            kept = values[finite]
        elif values.flags.writeable:  # already a copy of arrow's buffers: sort it in place
            kept = values
        else:
            kept = values.copy()
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
    key per row, the same rows for every column) in buffers allocated once (1.5 x
    ``sample_rows`` values per column); min, max, row and missing counts are exact. Categorical
    columns are counted exactly. A column absent from some batches counts their rows as
    missing."""

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
        self._k = max(int(sample_rows), 2)
        self._cap = self._k + self._k // 2
        self._rng = np.random.default_rng(seed)
        self.rows = 0
        self._keys: Floats = np.empty(0)
        self._n = 0  # sampled rows held
        self._threshold = 1.0
        self._numeric: dict[str, Floats] = {}  # sampled values, aligned with the keys
        self._stats: dict[str, list[float]] = {}  # seen, min, max, is_int
        self._categorical: dict[str, dict[str, int]] = {}
        self._unreadable: dict[str, str] = {}

    def add(self, data: Any) -> None:
        """Fold one batch (a pyarrow RecordBatch or Table, a DataFrame or a dict) in."""
        table = as_table(data)
        step = self._k // 2  # at most this many rows at once: they fit after a shrink
        for start in range(0, table.num_rows, step):
            self._add(table.slice(start, step))

    def _add(self, table: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        n = table.num_rows
        if n == 0:
            return
        self.rows += n
        keys = self._rng.random(n)
        take = np.flatnonzero(keys < self._threshold)
        if self._n + len(take) > self._cap:
            self._shrink()
            take = take[keys[take] < self._threshold]
        lo, hi = self._n, self._n + len(take)
        names = set(table.column_names)
        for name in self._columns:
            if name not in names:
                continue
            raw = table.column(name)
            kind = _kind_for(name, self._options, self._like)
            if _is_numeric_type(raw.type) and kind is not ColumnKind.CATEGORICAL:
                values = pc.cast(raw, pa.float64()).to_numpy(zero_copy_only=False)
                values = np.asarray(values, dtype=np.float64)
                finite = np.isfinite(values)
                stats = self._stats.setdefault(name, [0, np.inf, -np.inf, 0])
                stats[3] = stats[3] or pa.types.is_integer(raw.type)
                seen = int(finite.sum())
                if seen:
                    stats[0] += seen
                    stats[1] = min(stats[1], float(np.min(values, where=finite, initial=np.inf)))
                    stats[2] = max(stats[2], float(np.max(values, where=finite, initial=-np.inf)))
                self._buffer(name)[lo:hi] = values[take]
                continue
            col = read_column(raw, kind or ColumnKind.CATEGORICAL, n)
            if isinstance(col, CategoricalColumn):
                counts = self._categorical.setdefault(name, {})
                for cat, c in zip(col.categories, col.counts.tolist(), strict=True):
                    counts[cat] = counts.get(cat, 0) + c
            elif isinstance(col, Unreadable):
                self._unreadable[name] = col.type_name
        for name, buf in self._numeric.items():
            if name not in names:  # missing in this batch
                buf[lo:hi] = np.nan
        if not len(self._keys):
            self._keys = np.empty(self._cap)
        self._keys[lo:hi] = keys[take]
        self._n = hi

    def _buffer(self, name: str) -> Floats:
        buf = self._numeric.get(name)
        if buf is None:
            buf = self._numeric[name] = np.empty(self._cap)
            buf[: self._n] = np.nan  # rows of earlier batches, which lacked the column
        return buf

    def _shrink(self) -> None:
        """Keep the ``k`` rows with the smallest keys (in arrival order)."""
        if self._n <= self._k:
            return
        keys = self._keys[: self._n]
        keep = np.argpartition(keys, self._k - 1)[: self._k]
        self._threshold = float(keys[keep].max())
        keep.sort()
        self._keys[: self._k] = keys[keep]
        for buf in self._numeric.values():
            buf[: self._k] = buf[: self._n][keep]
        self._n = self._k

    def summary(self) -> Summary:
        """The summary of everything added so far. Ends the stream: the sample buffers are
        handed over (or freed) column by column, so memory does not double at the end."""
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
            elif name in self._stats:
                seen, lo, hi, is_int = self._stats[name]
                buf = self._numeric.pop(name)[: self._n]
                values = buf[np.isfinite(buf)]
                del buf
                values.sort()
                col = NumericColumn(
                    values, self.rows, self.rows - int(seen), is_int=bool(is_int),
                    seen=int(seen), minimum=float(lo) if seen else float("nan"),
                    maximum=float(hi) if seen else float("nan"),
                )  # fmt: skip
                sampled = sampled or col.sampled
                out.columns[name] = col
        self._numeric.clear()
        self._keys = np.empty(0)
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
