"""Per-column accumulators behind ``stats.table_stats``: exact counts, min/max, mean/std
(merged batch by batch), a distinct counter that turns into a HyperLogLog past a limit, and
top values; plus the type names and JSON conversions the statistics are reported in."""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import numpy as np
    import pyarrow as pa

HLL_PRECISION = 14
TOP_N = 5
TOP_INT_MAX_DISTINCT = 50
TOP_BATCH_CANDIDATES = 1_000
TOP_TRACKED_MAX = 20_000
TEXT_MAX = 200


@dataclass(frozen=True)
class ScanLimits:
    """How much work ``table_stats`` may do on one file."""

    in_memory_bytes: int = 64 * 2**20
    """Files up to this size (in memory) are read whole; larger ones are scanned in batches."""
    batch_bytes: int = 16 * 2**20
    """The size of one batch of a scan."""
    max_bytes: int = 4 * 2**30
    """Files larger than this get no statistics, only a reason."""
    exact_distinct: int = 100_000
    """Distinct values counted exactly in a scan before switching to HyperLogLog."""


# --- accumulating --------------------------------------------------------------------------


class TableAccumulator:
    """Per-column accumulators fed whole tables or record batches."""

    def __init__(self, schema: pa.Schema, limits: ScanLimits) -> None:
        self.rows = 0
        self.batch_bytes = limits.batch_bytes
        self.columns = [_ColumnAccumulator(field.name, field.type, limits) for field in schema]

    def update_from(self, batches: Iterable[Any]) -> None:
        """Feed record batches, grouped into about ``batch_bytes`` per update."""
        import pyarrow as pa

        pending: list[Any] = []
        size = 0
        for batch in batches:
            pending.append(batch)
            size += batch.nbytes
            if size >= self.batch_bytes:
                table = pa.Table.from_batches(pending)
                self.update(table.columns, table.num_rows)
                pending, size = [], 0
        if pending:
            table = pa.Table.from_batches(pending)
            self.update(table.columns, table.num_rows)

    def update(self, arrays: list[Any], num_rows: int) -> None:
        self.rows += num_rows
        work = list(zip(self.columns, arrays, strict=True))
        workers = min(len(work), os.cpu_count() or 1)
        if workers <= 1:
            for column, array in work:
                column.update(array)
            return
        # Modules the workers need are imported here first: two threads racing on a first
        # import can see a half-initialized module.
        import pyarrow.compute  # noqa: F401

        if any(c.distinct is not None and c.distinct.will_sketch() for c in self.columns):
            _hasher()
        # Arrow kernels release the GIL, and the hash-based ones (unique, value_counts) are
        # single-threaded, so columns run in parallel.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(lambda item: item[0].update(item[1]), work):
                pass

    def result(self, file_format: str) -> dict[str, Any]:
        return {
            "format": file_format,
            "rows": self.rows,
            "columns": [column.result() for column in self.columns],
        }


class _ColumnAccumulator:
    """Statistics of one column, mergeable across batches."""

    def __init__(self, name: str, data_type: pa.DataType, limits: ScanLimits) -> None:
        import pyarrow as pa

        self.name = name
        self.dtype = _dtype_name(data_type)
        self.decode = pa.types.is_dictionary(data_type)
        self.value_type = data_type.value_type if self.decode else data_type
        self.kind = _kind(self.value_type)
        self.nulls = 0
        self.minimum: Any = None
        self.maximum: Any = None
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.updates = 0
        self.distinct = _DistinctCounter(limits.exact_distinct) if self.kind != "nested" else None
        self.top: dict[Any, int] | None = (
            {} if self.kind in ("string", "bool", "int", "null") else None
        )
        self.top_approximate = False

    def update(self, array: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self.updates += 1
        if self.decode:
            array = array.cast(self.value_type)
        self.nulls += array.null_count
        if self.kind == "float":
            nans = pc.sum(pc.is_nan(array)).as_py() or 0
            if nans:
                # NaN counts as missing, as in pandas; the statistics ignore it.
                self.nulls += nans
                array = pc.filter(array, pc.invert(pc.is_nan(array)))
        valid = len(array) - array.null_count
        if valid == 0 or self.kind == "null":
            return
        if self.kind in ("int", "float", "decimal", "temporal"):
            self._update_min_max(array)
        if self.kind in ("int", "float", "decimal"):
            numbers = array if self.kind == "int" else array.cast(pa.float64())
            self._update_moments(valid, pc.mean(numbers).as_py(), pc.variance(numbers).as_py())
        if self.distinct is None:
            return
        if (
            self.kind == "int"
            and self.top is not None
            and self.distinct.at_least_exceeds(TOP_INT_MAX_DISTINCT)
        ):
            self.top = None
        if self.top is not None:
            counts = pc.value_counts(array)
            counts = counts.filter(counts.field("values").is_valid())
            self.distinct.update(counts.field("values"))
            self._update_top(counts)
        elif self.kind in ("int", "float") and self.distinct.seen + valid > self.distinct.exact_max:
            # More numbers than the exact limit: sketch them as they are, without a hash table
            # of their unique values first (the estimate is the same; the work is halved).
            self.distinct.sketch(pc.drop_null(array))
        else:
            self.distinct.update(pc.drop_null(pc.unique(array)))
        self.distinct.seen += valid

    def _update_min_max(self, array: Any) -> None:
        import pyarrow.compute as pc

        bounds = pc.min_max(array)
        if self.kind == "temporal":
            low, high = _temporal_bound(bounds["min"]), _temporal_bound(bounds["max"])
        else:
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
        self.minimum = low if self.minimum is None else min(self.minimum, low)
        self.maximum = high if self.maximum is None else max(self.maximum, high)

    def _update_moments(self, count: int, mean: float, variance: float) -> None:
        # Chan et al.: merge (count, mean, sum of squared deviations) of two parts.
        total = self.count + count
        delta = mean - self.mean
        self.mean += delta * count / total
        self.m2 += variance * count + delta * delta * self.count * count / total
        self.count = total

    def _update_top(self, counts: Any) -> None:
        import pyarrow.compute as pc

        assert self.top is not None
        values, frequencies = counts.field("values"), counts.field("counts")
        if len(counts) > TOP_BATCH_CANDIDATES:
            # Arrow's sort is stable, so ties keep their order of first appearance.
            best = pc.sort_indices(frequencies, sort_keys=[("", "descending")])
            best = best[:TOP_BATCH_CANDIDATES]
            keep = best.take(pc.sort_indices(best))
            values, frequencies = values.take(keep), frequencies.take(keep)
            self.top_approximate = True
        top = self.top
        for value, frequency in zip(values.to_pylist(), frequencies.to_pylist(), strict=True):
            top[value] = top.get(value, 0) + frequency
        if len(top) > TOP_TRACKED_MAX:
            ranked = sorted(top.items(), key=lambda item: -item[1])[: TOP_TRACKED_MAX // 4]
            kept = {value for value, _ in ranked}
            self.top = {value: n for value, n in top.items() if value in kept}
            self.top_approximate = True

    def result(self) -> dict[str, Any]:
        numeric = self.kind in ("int", "float", "decimal") and self.count > 0
        std = math.sqrt(self.m2 / (self.count - 1)) if numeric and self.count > 1 else None
        approximate = []
        distinct = None
        if self.distinct is not None:
            distinct = self.distinct.estimate()
            if not self.distinct.exact:
                approximate.append("distinct")
        top = None
        too_many = self.kind == "int" and (distinct or 0) > TOP_INT_MAX_DISTINCT
        if self.top is not None and not too_many:
            ranked = sorted(self.top.items(), key=lambda item: -item[1])[:TOP_N]
            top = [[_json_value(value), count] for value, count in ranked]
            if self.top_approximate and self.updates > 1:
                approximate.append("top")
        return {
            "name": self.name,
            "dtype": self.dtype,
            "nulls": self.nulls,
            "min": self._bound(self.minimum),
            "max": self._bound(self.maximum),
            "mean": _json_value(self.mean) if numeric else None,
            "std": _json_value(std),
            "distinct": distinct,
            "top": top,
            "approximate": approximate,
        }

    def _bound(self, value: Any) -> Any:
        if value is not None and self.kind == "temporal":
            return value[1]
        return _json_value(value)


class _DistinctCounter:
    """Exact distinct count (a set of unique values) that turns into a HyperLogLog when the
    set outgrows ``exact_max`` and more values arrive."""

    def __init__(self, exact_max: int) -> None:
        self.exact_max = exact_max
        self.seen = 0  # non-null values fed so far
        self.uniques: Any = None
        self.registers: np.ndarray[Any, Any] | None = None

    @property
    def exact(self) -> bool:
        return self.registers is None

    def at_least_exceeds(self, limit: int) -> bool:
        return self.registers is not None or (
            self.uniques is not None and len(self.uniques) > limit
        )

    def will_sketch(self) -> bool:
        """Whether the next update uses the HyperLogLog."""
        return self.at_least_exceeds(self.exact_max)

    def update(self, uniques: Any) -> None:
        """Add the non-null distinct values of one batch."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(uniques, pa.ChunkedArray):
            uniques = uniques.combine_chunks()
        if self.registers is not None:
            self._add_to_sketch(uniques)
        elif self.uniques is None:
            self.uniques = uniques
        elif len(self.uniques) > self.exact_max:
            import numpy as np

            self.registers = np.zeros(2**HLL_PRECISION, dtype=np.uint8)
            self._add_to_sketch(self.uniques)
            self._add_to_sketch(uniques)
            self.uniques = None
        else:
            self.uniques = pc.unique(pa.concat_arrays([self.uniques, uniques]))

    def sketch(self, values: Any) -> None:
        """Add non-null values (repeats allowed) straight to the HyperLogLog."""
        import numpy as np
        import pyarrow as pa

        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if self.registers is None:
            self.registers = np.zeros(2**HLL_PRECISION, dtype=np.uint8)
            if self.uniques is not None:
                self._add_to_sketch(self.uniques)
                self.uniques = None
        self._add_to_sketch(values)

    def estimate(self) -> int:
        import numpy as np

        if self.registers is None:
            return 0 if self.uniques is None else len(self.uniques)
        m = float(len(self.registers))
        alpha = 0.7213 / (1 + 1.079 / m)
        raw = alpha * m * m / float(np.sum(np.ldexp(1.0, -self.registers.astype(np.int64))))
        zeros = int(np.count_nonzero(self.registers == 0))
        if zeros:
            # Linear counting is unbiased while registers stay empty; up to about 3 m distinct
            # values its error is no worse than the raw estimate's, which runs ~3 % high there.
            linear = m * math.log(m / zeros)
            if linear <= 3 * m:
                return round(linear)
        return round(raw)

    def _add_to_sketch(self, values: Any) -> None:
        import numpy as np

        assert self.registers is not None
        hashes = _hash64(values)
        bucket = (hashes >> np.uint64(64 - HLL_PRECISION)).astype(np.intp)
        rest = hashes << np.uint64(HLL_PRECISION)
        # frexp's exponent is the bit length; float rounding can only matter with 53 leading
        # one bits, which is rare enough to ignore.
        _, bit_length = np.frexp(rest.astype(np.float64))
        rank = np.clip(65 - bit_length, 1, 64 - HLL_PRECISION + 1).astype(np.uint8)
        np.maximum.at(self.registers, bucket, rank)


def _hasher() -> Callable[..., np.ndarray[Any, Any]]:
    from pandas.util import hash_array

    return hash_array


def _hash64(values: Any) -> np.ndarray[Any, Any]:
    """Deterministic 64-bit hashes of an Arrow array without nulls: text through pandas'
    SipHash, numbers by their bits; both mixed by a splitmix64 finalizer (so 0 does not hash
    to 0)."""
    import numpy as np
    import pyarrow as pa

    data_type = values.type
    if pa.types.is_temporal(data_type):
        values = values.view(pa.int64() if data_type.bit_width == 64 else pa.int32())
        data_type = values.type
    elif pa.types.is_decimal(data_type):
        values = values.cast(pa.string())
    if pa.types.is_floating(data_type) or pa.types.is_integer(data_type):
        # Numbers hash by their bits (-0.0 made 0.0 first), several times faster than SipHash.
        numbers = values.to_numpy(zero_copy_only=False)
        if pa.types.is_floating(data_type):
            hashes = (numbers.astype(np.float64) + 0.0).view(np.uint64)
        else:
            hashes = numbers.astype(np.int64).view(np.uint64)
    else:
        hashes = _hasher()(values.to_numpy(zero_copy_only=False), categorize=False)
    # The splitmix64 finalizer, in place on one buffer (no temporaries per step).
    hashes = np.array(hashes, dtype=np.uint64, copy=True)
    scratch = np.empty_like(hashes)
    hashes += np.uint64(0x9E3779B97F4A7C15)
    for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        np.right_shift(hashes, np.uint64(shift), out=scratch)
        hashes ^= scratch
        hashes *= np.uint64(factor)
    np.right_shift(hashes, np.uint64(31), out=scratch)
    hashes ^= scratch
    return hashes


# --- values --------------------------------------------------------------------------------


def _kind(data_type: pa.DataType) -> str:
    import pyarrow as pa

    types = pa.types
    if types.is_null(data_type):
        return "null"
    if types.is_boolean(data_type):
        return "bool"
    if types.is_integer(data_type):
        return "int"
    if types.is_floating(data_type):
        return "float"
    if types.is_decimal(data_type):
        return "decimal"
    if types.is_timestamp(data_type) or types.is_date(data_type) or types.is_time(data_type):
        return "temporal"
    if types.is_string(data_type) or types.is_large_string(data_type):
        return "string"
    if types.is_nested(data_type):
        return "nested"
    return "other"  # binary, duration, ...: nulls and distinct only


def _dtype_name(data_type: pa.DataType) -> str:
    """A stable, readable type name: int64, float64, string, bool, timestamp[us, tz=UTC]..."""
    import pyarrow as pa

    types = pa.types
    if types.is_dictionary(data_type):
        return f"dictionary<{_dtype_name(data_type.value_type)}>"
    if types.is_floating(data_type):
        return f"float{data_type.bit_width}"
    if types.is_string(data_type) or types.is_large_string(data_type):
        return "string"
    if types.is_binary(data_type) or types.is_large_binary(data_type):
        return "binary"
    if types.is_date(data_type):
        return "date"
    if types.is_timestamp(data_type):
        zone = f", tz={data_type.tz}" if data_type.tz else ""
        return f"timestamp[{data_type.unit}{zone}]"
    if types.is_boolean(data_type):
        return "bool"
    return str(data_type)


def _temporal_bound(scalar: Any) -> tuple[int, str]:
    """A date/time scalar as (a number that orders it, its ISO 8601 text)."""
    import pyarrow as pa

    # Scalar casts only: building Arrow arrays from Python objects would import pandas.
    data_type = scalar.type
    key = scalar.cast(pa.int64() if data_type.bit_width == 64 else pa.int32()).as_py()
    if pa.types.is_timestamp(data_type) and data_type.tz is not None:
        # Rendered in UTC so that the text does not depend on the zone.
        naive = scalar.cast(pa.timestamp(data_type.unit))
        return key, _iso(naive.cast(pa.string()).as_py()) + "Z"
    return key, _iso(scalar.cast(pa.string()).as_py())


def _iso(text: str) -> str:
    """Arrow's timestamp text as ISO 8601, without a trailing all-zero fraction."""
    text = text.replace(" ", "T", 1)
    if "." in text:
        whole, fraction = text.split(".", 1)
        fraction = fraction.rstrip("0")
        text = f"{whole}.{fraction}" if fraction else whole
    return text


def _json_value(value: Any) -> Any:
    """A value that ``json.dumps(..., allow_nan=False)`` accepts."""
    if value is None or isinstance(value, bool | int | str):
        return value[:TEXT_MAX] if isinstance(value, str) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        return value[:TEXT_MAX].decode("utf-8", "replace")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return _json_value(value.item())
    try:
        return _json_value(float(value))  # Decimal
    except (TypeError, ValueError):
        return str(value)[:TEXT_MAX]


def one_line(text: str, limit: int = TEXT_MAX) -> str:
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    line = " ".join(printable.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
