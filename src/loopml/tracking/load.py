"""Loading whole runs: run rows plus everything that hangs off them, one query per table for
a page of runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from loopml.api.runs import Artifact, MetricSummary, Run, RunStatus
from loopml.core.errors import StoreError
from loopml.meta.tables import experiments, runs

_IN_BATCH = 500

# Search results leave out the environment (kilobytes of package versions per run) and the
# metric ranges: they carry params, tags and latest metric values. get_run loads everything.
LIST_COLUMNS = (
    *(c for c in runs.c if c.name != "environment"),
    experiments.c.name.label("experiment_name"),
)
FULL_COLUMNS = (*LIST_COLUMNS, runs.c.environment)

# Driver SQL, run for a page of run ids at a time ({ids} becomes one placeholder per id):
# building these with SQLAlchemy costs more than running them.
_PARAMS = 'SELECT run_id, "key", "value" FROM run_params WHERE run_id IN ({ids})'
_TAGS = 'SELECT run_id, "key", "value" FROM run_tags WHERE run_id IN ({ids})'
_LATEST_VALUES = 'SELECT run_id, "key", "value" FROM latest_metrics WHERE run_id IN ({ids})'
_LATEST = (
    'SELECT run_id, "key", "value", step, "timestamp", min_value, max_value, "count" '
    "FROM latest_metrics WHERE run_id IN ({ids})"
)
_INPUTS = (
    "SELECT i.run_id, d.name, v.version FROM run_inputs i "
    "JOIN dataset_versions v ON i.dataset_version_id = v.id "
    "JOIN datasets d ON v.dataset_id = d.id WHERE i.run_id IN ({ids})"
)
_ARTIFACTS = "SELECT run_id, path, size, file_digest FROM run_artifacts WHERE run_id IN ({ids})"
_ORDER = {
    _PARAMS: ' ORDER BY run_id, "key"',
    _TAGS: ' ORDER BY run_id, "key"',
    _LATEST_VALUES: ' ORDER BY run_id, "key"',
    _LATEST: ' ORDER BY run_id, "key"',
    _INPUTS: " ORDER BY d.name, v.version",
    _ARTIFACTS: " ORDER BY run_id, path",
}


def _fetch(conn: Connection, sql: str, ids: list[str]) -> list[Any]:
    """Plain tuples from the driver's own cursor: SQLAlchemy's result rows cost more than
    the query itself for the thousands of rows a page of runs has."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    out: list[Any] = []
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for i in range(0, len(ids), _IN_BATCH):
            batch = ids[i : i + _IN_BATCH]
            cursor.execute(sql.format(ids=", ".join([mark] * len(batch))) + _ORDER[sql], batch)
            out += cursor.fetchall()
    except conn.dialect.loaded_dbapi.Error as exc:
        raise StoreError(f"metadata database read failed: {exc}") from exc
    finally:
        cursor.close()
    return out


def load_runs(conn: Connection, rows: Sequence[Any], detail: bool = True) -> list[Run]:
    """Runs for ``rows`` in the order given: selected with FULL_COLUMNS for the whole record,
    or with LIST_COLUMNS and ``detail=False`` for search results (no environment, no
    metric_summaries)."""
    if not rows:
        return []
    ids = [r.id for r in rows]
    params: dict[str, dict[str, str]] = {i: {} for i in ids}
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    values: dict[str, dict[str, float]] = {i: {} for i in ids}
    summaries: dict[str, dict[str, MetricSummary]] = {i: {} for i in ids}
    inputs: dict[str, list[str]] = {i: [] for i in ids}
    artifacts: dict[str, list[Artifact]] = {i: [] for i in ids}
    for rid, k, v in _fetch(conn, _PARAMS, ids):
        params[rid][k] = v
    for rid, k, v in _fetch(conn, _TAGS, ids):
        tags[rid][k] = v
    if detail:
        for rid, k, v, step, ts, lo, hi, n in _fetch(conn, _LATEST, ids):
            values[rid][k] = v
            summaries[rid][k] = MetricSummary(k, v, step, ts, lo, hi, n)
    else:
        for rid, k, v in _fetch(conn, _LATEST_VALUES, ids):
            values[rid][k] = v
    for rid, name, version in _fetch(conn, _INPUTS, ids):
        inputs[rid].append(f"{name}@{version}")
    for rid, path, size, digest in _fetch(conn, _ARTIFACTS, ids):
        artifacts[rid].append(Artifact(path, size, digest))
    return [
        _run(
            r,
            params[r.id],
            tags[r.id],
            values[r.id],
            summaries[r.id],
            tuple(inputs[r.id]),
            tuple(artifacts[r.id]),
            detail,
        )
        for r in rows
    ]


_STATUS = {s.value: s for s in RunStatus}
_new = object.__new__


def _run(
    r: Any,
    params: dict[str, str],
    tags: dict[str, str],
    metrics: dict[str, float],
    summaries: dict[str, MetricSummary],
    inputs: tuple[str, ...],
    artifacts: tuple[Artifact, ...],
    detail: bool,
) -> Run:
    """A Run from its row and parts. Filled in directly: the frozen dataclass's ``__init__``
    (one ``object.__setattr__`` per field) is a third of loading a page of search results.
    Run has no ``__post_init__``;
    ``test_loaded_runs_equal_runs_built_by_their_constructor`` holds it to that."""
    run: Run = _new(Run)
    run.__dict__.update(
        id=r.id,
        experiment=r.experiment_name,
        name=r.name,
        status=_STATUS[r.status],
        start_time=r.start_time,
        end_time=r.end_time,
        created_by=r.created_by,
        code=r.code or {},
        environment=(r.environment or {}) if detail else {},
        error=r.error,
        parent_run_id=r.parent_run_id,
        params=params,
        tags=tags,
        metrics=metrics,
        metric_summaries=summaries,
        inputs=inputs,
        artifacts=artifacts,
        heartbeat_at=r.heartbeat_at,
        host=r.host,
        pid=r.pid,
    )
    return run
