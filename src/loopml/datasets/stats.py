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
import pathlib
import re
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidInput, NotFound
from loopml.datasets.profile import ScanLimits, TableAccumulator, one_line

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ScanLimits", "diff_stats", "is_table", "table_stats"]

CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")

GZIP_EXPANSION = 8
READ_BLOCK_BYTES = 2**20
SNIFF_BYTES = 64 * 2**10
REL_TOL = 1e-9
ABS_TOL = 1e-12

_DIFF_STATS = ("nulls", "min", "max", "mean", "std", "distinct")
_CONVERSION_ERROR = re.compile(r"In CSV column #(\d+):.*CSV conversion error")


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
        return {"format": "csv", "error": one_line(f"cannot read file: {exc}")}
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
            accumulator = TableAccumulator(table.schema, limits)
            accumulator.update(table.columns, table.num_rows)
            return accumulator.result("csv")
        column_types = _infer_csv_types(path, gzipped, delimiter, limits)
        return _csv_stats_streaming(path, parse_options, column_types, limits)
    except (pa.ArrowException, OSError, EOFError) as exc:
        if invalid_rows:
            return {"format": "csv", "error": _invalid_row_reason(path, delimiter, invalid_rows)}
        return {"format": "csv", "error": one_line(str(exc))}


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
            accumulator = TableAccumulator(reader.schema, limits)
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
        return {"format": "parquet", "error": one_line(f"Parquet read error: {exc}")}


def _scan_parquet(parquet_file: Any, limits: ScanLimits) -> dict[str, Any]:
    metadata = parquet_file.metadata
    in_memory = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if in_memory > limits.max_bytes:
        return {"format": "parquet", "error": _too_large(in_memory, limits)}
    if in_memory <= limits.in_memory_bytes:
        table = parquet_file.read()
        accumulator = TableAccumulator(table.schema, limits)
        accumulator.update(table.columns, table.num_rows)
        return accumulator.result("parquet")
    accumulator = TableAccumulator(parquet_file.schema_arrow, limits)
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
    snippet = one_line(row.text, limit=60)
    return one_line(
        f"CSV parse error: Expected {row.expected_columns} columns, "
        f"got {row.actual_columns}{where}: {snippet}"
    )


def _too_large(size: int, limits: ScanLimits) -> str:
    return (
        f"statistics skipped: about {size / 2**30:.1f} GiB to scan, more than the "
        f"{limits.max_bytes / 2**30:.1f} GiB limit"
    )


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
