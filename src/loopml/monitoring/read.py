"""Reading a window of the prediction log: only the hour partitions the window touches, only
the columns asked for, from a folder or an S3 prefix (the blob backend the endpoint wrote
through). A file that cannot be read (half written by a killed endpoint before the atomic
publish existed, truncated, not Parquet) is skipped and counted, never fatal."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.api.predlog import hours, partition
from loopml.core.errors import InvalidInput, LoopError

if TYPE_CHECKING:
    import pyarrow as pa

    from loopml.blobs.backend import Backend

log = logging.getLogger("loopml.monitoring")


@dataclass
class LogWindow:
    """The rows of one kind of log in ``[start, end)``, and what could not be read."""

    table: pa.Table
    files: int = 0
    skipped: list[str] = field(default_factory=list)  # keys of unreadable files
    rows: int = 0


def read_window(
    backend: Backend,
    kind: str,
    model: str,
    start: float,
    end: float,
    columns: Sequence[str] | None = None,
    prefixes: Sequence[str] = (),
) -> LogWindow:
    """The logged rows of ``model`` with ``start <= timestamp < end`` as one table.
    ``columns`` (None: all) and the columns starting with one of ``prefixes`` are read;
    ``timestamp`` always."""
    import pyarrow as pa

    out = LogWindow(pa.table({}))
    tables = list(iter_window(backend, kind, model, start, end, columns, prefixes, out))
    if tables:
        out.table = concat(tables)
    return out


def iter_window(
    backend: Backend,
    kind: str,
    model: str,
    start: float,
    end: float,
    columns: Sequence[str] | None,
    prefixes: Sequence[str],
    tally: LogWindow,
) -> Iterator[pa.Table]:
    """The rows of the window file by file (bounded memory); files read and skipped are
    counted in ``tally``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lo = pa.scalar(int(start * 1_000_000), pa.timestamp("us", tz="UTC"))
    hi = pa.scalar(int(end * 1_000_000), pa.timestamp("us", tz="UTC"))
    for hour in hours(start, end):
        prefix = partition(kind, model, hour)
        for key, _size in sorted(backend.iter(prefix)):
            if not key.endswith(".parquet") or key.rsplit("/", 1)[-1].startswith("."):
                continue
            try:
                table = _read_file(backend, key, columns, prefixes)
                ts = table.column("timestamp").cast(pa.timestamp("us", tz="UTC"))
                table = table.filter(pc.and_(pc.greater_equal(ts, lo), pc.less(ts, hi)))
            except (LoopError, OSError, ValueError, pa.ArrowException) as exc:
                log.warning("skipped unreadable log file %s: %s", key, exc)
                tally.skipped.append(key)
                continue
            tally.files += 1
            tally.rows += table.num_rows
            if table.num_rows:
                yield table


def _read_file(
    backend: Backend, key: str, columns: Sequence[str] | None, prefixes: Sequence[str]
) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from loopml.blobs.backend import LocalBackend

    source: Any
    if isinstance(backend, LocalBackend):
        source = str(backend.root / key)  # memory-mapped, column chunks read on demand
    else:
        source = pa.BufferReader(backend.get(key))
    pf = pq.ParquetFile(source)
    names = pf.schema_arrow.names
    if "timestamp" not in names:
        raise InvalidInput(f"log file {key} has no timestamp column")
    wanted = None
    if columns is not None:
        asked = set(columns) | {"timestamp"}
        wanted = [n for n in names if n in asked or n.startswith(tuple(prefixes))]
    return pf.read(columns=wanted)


def concat(tables: list[pa.Table]) -> pa.Table:
    """One table; a column whose type differs between files (labels sent as numbers, then as
    text) is read as text."""
    import pyarrow as pa

    if not tables:
        return pa.table({})

    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    types: dict[str, set[str]] = {}
    for t in tables:
        for f in t.schema:
            types.setdefault(f.name, set()).add(str(f.type))
    mixed = {n for n, ts in types.items() if len(ts) > 1}
    fixed = []
    for t in tables:
        for n in mixed & set(t.column_names):
            i = t.schema.get_field_index(n)
            t = t.set_column(i, n, _as_text(t.column(n)))
        fixed.append(t)
    return pa.concat_tables(fixed, promote_options="permissive")


def _as_text(column: Any) -> Any:
    import pyarrow as pa

    return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())
