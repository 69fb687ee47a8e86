"""Computed schema and per-column statistics of tabular files (CSV, Parquet), and their diff.

``table_stats`` never raises on a file it cannot parse: the dataset registry stores the file
anyway and keeps the parser's one-line reason under ``"error"``.

How the work is bounded (the numbers are ``ScanLimits`` defaults):

- A file whose in-memory size is at most 64 MiB (the CSV size on disk, eight times a gzip
  file's size, or the uncompressed size in the Parquet footer) is read whole by pyarrow and
  every statistic is exact.
- A larger file is scanned once in batches of about 16 MiB, keeping only per-column
  accumulators: rows, nulls, min, max, mean and std stay exact (mean and variance are merged with
  Chan's parallel formula); ``distinct`` stays exact up to 100 000 values, then switches to a
  HyperLogLog written here (2**14 registers, about 1 % error); ``top`` merges the
  1 000 most frequent values of each batch, so its counts are lower bounds for a column with more
  distinct values than that. A column lists such estimates in its ``"approximate"``.
- A file over 4 GiB is not scanned; ``"error"`` says why.

pyarrow is imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import gzip
import math
import os
import pathlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import numpy as np
    import pyarrow as pa

__all__ = ["ScanLimits", "diff_stats", "is_table", "table_stats"]

CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")

GZIP_EXPANSION = 8
READ_BLOCK_BYTES = 2**20
HLL_PRECISION = 14
TOP_N = 5
TOP_INT_MAX_DISTINCT = 50
TOP_BATCH_CANDIDATES = 1_000
TOP_TRACKED_MAX = 20_000
TEXT_MAX = 200
SNIFF_BYTES = 64 * 2**10
REL_TOL = 1e-9
ABS_TOL = 1e-12

_DIFF_STATS = ("nulls", "min", "max", "mean", "std", "distinct")
_CONVERSION_ERROR = re.compile(r"In CSV column #(\d+):.*CSV conversion error")


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


def is_table(path: pathlib.Path | str) -> bool:
    """Whether ``path`` names a CSV/TSV (optionally gzipped) or Parquet file, by its extension."""
    name = pathlib.PurePath(path).name.lower()
    return name.endswith(CSV_SUFFIXES + PARQUET_SUFFIXES)


def table_stats(path: pathlib.Path, *, limits: ScanLimits | None = None) -> dict[str, Any]:
    """Schema and per-column statistics of a CSV or Parquet file, as a JSON-safe dict.

    Returns ``{"format", "rows", "columns": [...]}``, or ``{"format", "error"}`` when the file
    cannot be parsed or is too large to scan. Conventions, as in pandas where it has one: a float
    NaN counts as null; ``std`` is the sample standard deviation (ddof=1); ``min``/``max`` cover
    numbers, dates and times (ISO 8601 text, tz-aware timestamps in UTC with a ``Z``); ``mean`` and
    ``std`` numbers only; ``top`` covers strings, bools, dictionaries and integer columns with at
    most 50 distinct values, ties in order of first appearance.
    """
    path = pathlib.Path(path)
    if not is_table(path):
        raise InvalidInput(
            f"cannot compute table statistics for '{path.name}': expected a file ending in "
            f"{', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}; check is_table() first"
        )
    if not path.is_file():
        raise NotFound(f"no file at '{path}'; pass the path of an existing CSV or Parquet file")
    limits = limits or ScanLimits()
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        return _parquet_stats(path, limits)
    return _csv_stats(path, limits)


def diff_stats(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed between two ``table_stats`` results (only the differences).

    When either side has no columns (an ``"error"``, or not a table) the column lists stay empty
    and ``"errors"`` says why.
    """
    old_rows, new_rows = old.get("rows"), new.get("rows")
    result: dict[str, Any] = {
        "rows": {
            "old": old_rows,
            "new": new_rows,
            "change": new_rows - old_rows
            if isinstance(old_rows, int) and isinstance(new_rows, int)
            else None,
        },
        "columns_added": [],
        "columns_removed": [],
        "dtype_changes": [],
        "column_changes": [],
        "errors": {"old": old.get("error"), "new": new.get("error")},
    }
    old_columns, new_columns = _columns_by_name(old), _columns_by_name(new)
    if old_columns is None or new_columns is None:
        return result
    result["columns_added"] = [name for name in new_columns if name not in old_columns]
    result["columns_removed"] = [name for name in old_columns if name not in new_columns]
    for name, before in old_columns.items():
        after = new_columns.get(name)
        if after is None:
            continue
        if before.get("dtype") != after.get("dtype"):
            result["dtype_changes"].append(
                {"column": name, "old": before.get("dtype"), "new": after.get("dtype")}
            )
        for stat in _DIFF_STATS:
            if not _same(before.get(stat), after.get(stat)):
                result["column_changes"].append(
                    {"column": name, "stat": stat, "old": before.get(stat), "new": after.get(stat)}
                )
    return result


# --- reading -------------------------------------------------------------------------------


def _csv_stats(path: pathlib.Path, limits: ScanLimits) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    size = path.stat().st_size
    gzipped = path.name.lower().endswith(".gz")
    estimate = size * GZIP_EXPANSION if gzipped else size
    try:
        head = _read_head(path, gzipped)
    except (OSError, EOFError) as exc:
        return {"format": "csv", "error": _one_line(f"cannot read file: {exc}")}
    if b"\x00" in head:
        return {
            "format": "csv",
            "error": "not a text file: NUL bytes in the first 64 KiB (binary data or UTF-16)",
        }
    if estimate > limits.max_bytes:
        return {"format": "csv", "error": _too_large(estimate, limits)}

    delimiter = "\t" if ".tsv" in path.name.lower() else ","
    invalid_rows: list[Any] = []

    def on_invalid_row(row: Any) -> str:
        invalid_rows.append(row)
        return "error"

    parse_options = pcsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid_row)
    try:
        if estimate <= limits.in_memory_bytes:
            table = pcsv.read_csv(
                path, parse_options=parse_options, convert_options=_convert_options()
            )
            accumulator = _TableAccumulator(table.schema, limits)
            accumulator.update(table.columns, table.num_rows)
            return accumulator.result("csv")
        column_types = _infer_csv_types(path, gzipped, delimiter, limits)
        return _csv_stats_streaming(path, parse_options, column_types, limits)
    except (pa.ArrowException, OSError, EOFError) as exc:
        if invalid_rows:
            return {"format": "csv", "error": _invalid_row_reason(path, delimiter, invalid_rows)}
        return {"format": "csv", "error": _one_line(str(exc))}


def _csv_stats_streaming(
    path: pathlib.Path,
    parse_options: Any,
    column_types: dict[str, pa.DataType],
    limits: ScanLimits,
) -> dict[str, Any]:
    """Scan a large CSV in batches. The streaming reader infers the types it is not given from
    its first block only, so a column that fails to convert later is widened and the scan
    restarted."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    # The reader reads dozens of blocks ahead: small blocks keep that in bounds.
    read_options = pcsv.ReadOptions(block_size=min(READ_BLOCK_BYTES, limits.batch_bytes))
    while True:
        reader = pcsv.open_csv(
            path,
            read_options=read_options,
            parse_options=parse_options,
            convert_options=_convert_options(column_types),
        )
        try:
            accumulator = _TableAccumulator(reader.schema, limits)
            accumulator.update_from(reader)
            return accumulator.result("csv")
        except pa.ArrowInvalid as exc:
            match = _CONVERSION_ERROR.search(str(exc))
            if match is None:
                raise
            field = reader.schema.field(int(match.group(1)))
            wider = _wider_type(field.type)
            if wider is None:
                raise
            column_types[field.name] = wider
        finally:
            reader.close()


def _infer_csv_types(
    path: pathlib.Path, gzipped: bool, delimiter: str, limits: ScanLimits
) -> dict[str, pa.DataType]:
    """Column types inferred from the first ``batch_bytes`` of a CSV, rather than from the
    streaming reader's first small block; empty guess if that prefix does not parse alone."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    opener = gzip.open if gzipped else open
    with opener(path, "rb") as stream:
        prefix = stream.read(limits.batch_bytes)
    end = prefix.rfind(b"\n")
    if end <= 0:
        return {}
    try:
        sample = pcsv.read_csv(
            pa.BufferReader(prefix[: end + 1]),
            parse_options=pcsv.ParseOptions(delimiter=delimiter),
            convert_options=_convert_options(),
        )
    except pa.ArrowInvalid:
        return {}
    return {field.name: field.type for field in sample.schema if not pa.types.is_null(field.type)}


def _convert_options(column_types: dict[str, pa.DataType] | None = None) -> Any:
    import pyarrow.csv as pcsv

    # Empty fields and NA markers are nulls in text columns too, as pandas reads them.
    return pcsv.ConvertOptions(column_types=column_types or {}, strings_can_be_null=True)


def _wider_type(current: pa.DataType) -> pa.DataType | None:
    import pyarrow as pa

    if pa.types.is_null(current):
        return pa.int64()
    if pa.types.is_integer(current):
        return pa.float64()
    if pa.types.is_string(current) or pa.types.is_large_string(current):
        return None
    return pa.string()


def _parquet_stats(path: pathlib.Path, limits: ScanLimits) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # Read pages as they are decoded rather than whole row groups at once.
        with pq.ParquetFile(path, pre_buffer=False, buffer_size=READ_BLOCK_BYTES) as parquet_file:
            return _scan_parquet(parquet_file, limits)
    except (pa.ArrowException, OSError) as exc:
        return {"format": "parquet", "error": _one_line(f"Parquet read error: {exc}")}


def _scan_parquet(parquet_file: Any, limits: ScanLimits) -> dict[str, Any]:
    metadata = parquet_file.metadata
    in_memory = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if in_memory > limits.max_bytes:
        return {"format": "parquet", "error": _too_large(in_memory, limits)}
    if in_memory <= limits.in_memory_bytes:
        table = parquet_file.read()
        accumulator = _TableAccumulator(table.schema, limits)
        accumulator.update(table.columns, table.num_rows)
        return accumulator.result("parquet")
    accumulator = _TableAccumulator(parquet_file.schema_arrow, limits)
    rows_per_batch = max(1, limits.batch_bytes * max(metadata.num_rows, 1) // in_memory)
    accumulator.update_from(parquet_file.iter_batches(batch_size=rows_per_batch))
    return accumulator.result("parquet")


def _read_head(path: pathlib.Path, gzipped: bool) -> bytes:
    if gzipped:
        with gzip.open(path, "rb") as stream:
            return stream.read(SNIFF_BYTES)
    with path.open("rb") as stream:
        return stream.read(SNIFF_BYTES)


def _invalid_row_reason(path: pathlib.Path, delimiter: str, rows: list[Any]) -> str:
    """A ragged row's reason with its line number, which only a serial parse knows."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    row = rows[0]
    if row.number is None:
        serial_rows: list[Any] = []

        def on_invalid_row(invalid: Any) -> str:
            serial_rows.append(invalid)
            return "error"

        reader = None
        try:
            reader = pcsv.open_csv(
                path,
                read_options=pcsv.ReadOptions(use_threads=False),
                parse_options=pcsv.ParseOptions(
                    delimiter=delimiter, invalid_row_handler=on_invalid_row
                ),
            )
            for _ in reader:
                pass
        except (pa.ArrowException, OSError, EOFError):
            pass
        finally:
            if reader is not None:
                reader.close()
        if serial_rows:
            row = serial_rows[0]
    where = f" on line {row.number}" if row.number is not None else ""
    snippet = _one_line(row.text, limit=60)
    return _one_line(
        f"CSV parse error: Expected {row.expected_columns} columns, "
        f"got {row.actual_columns}{where}: {snippet}"
    )


def _too_large(size: int, limits: ScanLimits) -> str:
    return (
        f"statistics skipped: about {size / 2**30:.1f} GiB to scan, more than the "
        f"{limits.max_bytes / 2**30:.1f} GiB limit"
    )


# --- accumulating --------------------------------------------------------------------------


class _TableAccumulator:
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
        else:
            self.distinct.update(pc.drop_null(pc.unique(array)))

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

    def estimate(self) -> int:
        import numpy as np

        if self.registers is None:
            return 0 if self.uniques is None else len(self.uniques)
        m = float(len(self.registers))
        alpha = 0.7213 / (1 + 1.079 / m)
        raw = alpha * m * m / float(np.sum(np.ldexp(1.0, -self.registers.astype(np.int64))))
        zeros = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * m and zeros:
            raw = m * math.log(m / zeros)  # linear counting is better for small cardinalities
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
    """Deterministic 64-bit hashes of an Arrow array without nulls (pandas' SipHash for text,
    a splitmix64 finalizer for numbers), mixed once more so that 0 and False do not hash to 0."""
    import numpy as np
    import pyarrow as pa

    hash_array = _hasher()
    data_type = values.type
    if pa.types.is_temporal(data_type):
        values = values.view(pa.int64() if data_type.bit_width == 64 else pa.int32())
    elif pa.types.is_decimal(data_type):
        values = values.cast(pa.string())
    hashes = hash_array(values.to_numpy(zero_copy_only=False), categorize=False)
    hashes = hashes + np.uint64(0x9E3779B97F4A7C15)
    hashes = (hashes ^ (hashes >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    hashes = (hashes ^ (hashes >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.asarray(hashes ^ (hashes >> np.uint64(31)), dtype=np.uint64)


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


def _one_line(text: str, limit: int = TEXT_MAX) -> str:
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    line = " ".join(printable.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _columns_by_name(stats: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    columns = stats.get("columns")
    if stats.get("error") or not isinstance(columns, list):
        return None
    return {column["name"]: column for column in columns}


def _same(old: Any, new: Any) -> bool:
    numbers = (int, float)
    if (
        isinstance(old, numbers)
        and isinstance(new, numbers)
        and not isinstance(old, bool)
        and not isinstance(new, bool)
    ):
        return math.isclose(old, new, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return bool(old == new)
