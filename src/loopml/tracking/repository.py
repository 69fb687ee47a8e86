"""SQL for the run aggregate: experiments, runs and what hangs off a run."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.api.runs import Artifact, Experiment, MetricPoint, RunStatus
from loopml.core.errors import InvalidInput, NotFound
from loopml.core.refs import Ref
from loopml.meta.lease import ExpiredLease, Leases, database_now_sql, this_process
from loopml.meta.rows import insert_ignore
from loopml.meta.tables import (
    dataset_versions,
    datasets,
    experiments,
    metrics,
    run_artifacts,
    run_inputs,
    run_params,
    runs,
)
from loopml.tracking.load import FULL_COLUMNS
from loopml.tracking.log import param_conflict

_R = runs.c
_IN_BATCH = 500
_RUN_ID_RE = re.compile(r"[0-9a-f]{1,32}")

# A buffered point as the writer keeps it: (run_id, key, step, timestamp, value).
PointRow = tuple[str, str, int, float, float]


def _dialect_insert(dialect: str, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _insert(conn: Connection, table: sa.Table) -> Any:
    return _dialect_insert(conn.dialect.name, table)


def _batches(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _IN_BATCH):
        yield items[i : i + _IN_BATCH]


# ---------- experiments ----------
def experiment_from_row(row: Any) -> Experiment:
    return Experiment(int(row.id), row.name, float(row.created_at), row.created_by)


def find_experiment(conn: Connection, name: str) -> Experiment | None:
    row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
    return None if row is None else experiment_from_row(row)


def ensure_experiment(conn: Connection, name: str, now: float, user: str) -> Experiment:
    """The experiment called ``name``, created if it does not exist (safe under concurrency)."""
    insert_ignore(conn, experiments, [{"name": name, "created_at": now, "created_by": user}])
    found = find_experiment(conn, name)
    assert found is not None
    return found


def list_experiments(conn: Connection) -> list[Experiment]:
    rows = conn.execute(sa.select(experiments).order_by(experiments.c.name))
    return [experiment_from_row(r) for r in rows]


# ---------- runs ----------
_RUN_FIELDS = (
    "id",
    "experiment_id",
    "name",
    "status",
    "start_time",
    "end_time",
    "created_by",
    "code",
    "environment",
    "error",
    "parent_run_id",
    "host",
    "pid",
    "pid_scope",
)


def insert_runs(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert run rows whose ``code`` and ``environment`` are already JSON text (the
    environment is the same for every run of a process, so it is serialized once); their
    first heartbeat is the insert itself."""
    if not rows:
        return
    m = _mark(conn)
    marks = ", ".join([m] * len(_RUN_FIELDS))
    conn.exec_driver_sql(
        f"INSERT INTO runs ({', '.join(_RUN_FIELDS)}, heartbeat_at) "
        f"VALUES ({marks}, {database_now_sql(conn.dialect.name)})",
        [tuple(r[f] for f in _RUN_FIELDS) for r in rows],
    )


def heartbeat(conn: Connection, leases: Leases, run_ids: Sequence[str]) -> dict[str, RunStatus]:
    """Renew the leases of the running runs among ``run_ids``; returns the ones that are no
    longer running (ended elsewhere, or reaped as lost) with their status."""
    if not run_ids:
        return {}
    gone = leases.renew(conn, run_ids, this_process())
    if not gone:
        return {}
    q = sa.select(_R.id, _R.status).where(_R.id.in_(sorted(gone)))
    return {rid: RunStatus(st) for rid, st in conn.execute(q)}


def expired_runs(conn: Connection, leases: Leases) -> list[ExpiredLease]:
    """The running runs whose lease expired; each ``row`` has id, experiment_name, name."""
    return leases.find_expired(
        conn,
        extra=[experiments.c.name.label("experiment_name"), _R.name],
        source=runs.join(experiments, _R.experiment_id == experiments.c.id),
    )


def mark_lost(
    conn: Connection, leases: Leases, lease: ExpiredLease, end_time: float, reason: str
) -> bool:
    """End a running run as lost, unless it has renewed its lease since it was judged (then
    it is alive after all); True if it was ended."""
    return leases.expire(
        conn, lease, {"status": RunStatus.LOST.value, "end_time": end_time, "error": reason}
    )


_RUN_BY_ID = (
    sa.select(*FULL_COLUMNS)
    .join(experiments, _R.experiment_id == experiments.c.id)
    .where(_R.id == sa.bindparam("run_id"))
)
_END_RUN = (
    runs.update()
    .where(_R.id == sa.bindparam("run_id"), _R.status == RunStatus.RUNNING.value)
    .values(
        status=sa.bindparam("new_status"),
        end_time=sa.bindparam("ended"),
        error=sa.bindparam("traceback"),
    )
)


_RUN_EXISTS = sa.select(_R.id).where(_R.id == sa.bindparam("run_id"))


def run_state(conn: Connection, run_id: str) -> tuple[RunStatus, Any] | None:
    """(status, row with FULL_COLUMNS) of a run, or None."""
    if not isinstance(run_id, str) or _RUN_ID_RE.fullmatch(run_id) is None:
        return None  # not an id: no such run (and nothing odd reaches the database)
    row = conn.execute(_RUN_BY_ID, {"run_id": run_id}).first()
    return None if row is None else (RunStatus(row.status), row)


def run_exists(conn: Connection, run_id: str) -> bool:
    if not isinstance(run_id, str) or _RUN_ID_RE.fullmatch(run_id) is None:
        return False
    return conn.execute(_RUN_EXISTS, {"run_id": run_id}).first() is not None


def end_run(
    conn: Connection, run_id: str, status: RunStatus, end_time: float, error: str | None
) -> bool:
    """Move a running run to ``status``; False if it is not running (or does not exist)."""
    res = conn.execute(
        _END_RUN,
        {"run_id": run_id, "new_status": status.value, "ended": end_time, "traceback": error},
    )
    return res.rowcount == 1


def resolve_run_id(conn: Connection, text: str) -> str:
    """The full id of the run ``text`` names (the id or a unique prefix of 4+ characters)."""
    hint = "list runs with: loopml runs list"
    if not isinstance(text, str) or _RUN_ID_RE.fullmatch(text) is None:
        raise NotFound(f"run {text!r} does not exist (run ids are 32 hex digits); {hint}")
    if conn.execute(sa.select(_R.id).where(_R.id == text)).first() is not None:
        return text
    if len(text) >= 4:
        found = conn.execute(sa.select(_R.id).where(_R.id.like(text + "%")).limit(2)).all()
        if len(found) == 1:
            return str(found[0][0])
        if len(found) > 1:
            raise InvalidInput(f"run id prefix {text!r} is ambiguous; give more characters")
    raise NotFound(f"run {text!r} does not exist; {hint}")


# ---------- params and tags ----------
def existing_values(
    conn: Connection, table: sa.Table, run_id: str, keys: Iterable[str]
) -> dict[str, str]:
    wanted = list(keys)
    out: dict[str, str] = {}
    for batch in _batches(wanted):
        q = sa.select(table.c.key, table.c.value).where(
            table.c.run_id == run_id, table.c.key.in_(batch)
        )
        out.update({k: v for k, v in conn.execute(q)})
    return out


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def insert_params(conn: Connection, run_id: str, params: Mapping[str, str]) -> None:
    """Add params; re-logging the same value is a no-op, a different value is a Conflict (the
    caller's transaction then rolls back, so nothing is written)."""
    if not params:
        return
    m = _mark(conn)
    res = conn.exec_driver_sql(
        f'INSERT INTO run_params (run_id, "key", "value") VALUES ({m}, {m}, {m}) '
        'ON CONFLICT (run_id, "key") DO NOTHING',
        [(run_id, k, v) for k, v in params.items()],
    )
    if res.rowcount != len(params):
        # Some keys were there already: the same values are fine, others are a conflict.
        for key, value in existing_values(conn, run_params, run_id, params).items():
            if params[key] != value:
                raise param_conflict(run_id, key, value, params[key])


def upsert_tags(conn: Connection, run_id: str, tags: Mapping[str, str]) -> None:
    if not tags:
        return
    m = _mark(conn)
    conn.exec_driver_sql(
        f'INSERT INTO run_tags (run_id, "key", "value") VALUES ({m}, {m}, {m}) '
        'ON CONFLICT (run_id, "key") DO UPDATE SET "value" = excluded.value',
        [(run_id, k, v) for k, v in tags.items()],
    )


# ---------- metrics ----------
def _summaries(points: Sequence[PointRow]) -> list[tuple[Any, ...]]:
    """Per (run, key) of a batch: the latest point, min, max and count, as upsert rows."""
    acc: dict[tuple[str, str], list[Any]] = {}
    for run_id, key, step, ts, value in points:
        s = acc.get((run_id, key))
        if s is None:
            acc[(run_id, key)] = [step, ts, value, value, value, 1]
            continue
        if step > s[0] or (step == s[0] and ts >= s[1]):
            s[0], s[1], s[2] = step, ts, value
        if value < s[3]:
            s[3] = value
        elif value > s[4]:
            s[4] = value
        s[5] += 1
    return [(run_id, key, *s) for (run_id, key), s in acc.items()]


_NEWER = (
    "excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step "
    "AND excluded.timestamp >= latest_metrics.timestamp)"
)


@functools.cache
def _points_sql(paramstyle: str, dialect: str) -> tuple[str, str]:
    """The two statements of a metric write, as driver SQL (built once: the hot path)."""
    m = "?" if paramstyle == "qmark" else "%s"
    least, greatest = ("least", "greatest") if dialect == "postgresql" else ("min", "max")
    insert = (
        'INSERT INTO metrics (run_id, "key", step, "timestamp", "value") '
        f"VALUES ({m}, {m}, {m}, {m}, {m})"
    )
    upsert = (
        'INSERT INTO latest_metrics (run_id, "key", step, "timestamp", "value", min_value, '
        f'max_value, "count") VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}) '
        'ON CONFLICT (run_id, "key") DO UPDATE SET '
        f"step = CASE WHEN {_NEWER} THEN excluded.step ELSE latest_metrics.step END, "
        f'"timestamp" = CASE WHEN {_NEWER} THEN excluded.timestamp '
        "ELSE latest_metrics.timestamp END, "
        f'"value" = CASE WHEN {_NEWER} THEN excluded.value ELSE latest_metrics.value END, '
        f"min_value = {least}(latest_metrics.min_value, excluded.min_value), "
        f"max_value = {greatest}(latest_metrics.max_value, excluded.max_value), "
        '"count" = latest_metrics.count + excluded.count'
    )
    return insert, upsert


def write_points(conn: Connection, points: Sequence[PointRow]) -> None:
    """Append points to the history and fold them into ``latest_metrics``, on ``conn``."""
    if not points:
        return
    insert, upsert = _points_sql(conn.dialect.paramstyle, conn.dialect.name)
    conn.exec_driver_sql(insert, list(points))
    conn.exec_driver_sql(upsert, _summaries(points))


def metric_history(conn: Connection, run_id: str, key: str) -> list[MetricPoint]:
    m = metrics.c
    q = (
        sa.select(m.step, m.timestamp, m.value)
        .where(m.run_id == run_id, m.key == key)
        .order_by(m.step, m.timestamp, m.id)
    )
    return [MetricPoint(key, int(s), float(t), float(v)) for s, t, v in conn.execute(q)]


# ---------- inputs and artifacts ----------
def dataset_version_id(conn: Connection, ref: Ref) -> tuple[int, str]:
    """(row id, ``name@N``) of the dataset version ``ref`` names; latest when unversioned."""
    hint = "list datasets with: loopml datasets list"
    ref = ref.without_alias("dataset")
    v = dataset_versions.c
    q = (
        sa.select(v.id, v.version)
        .join(datasets, v.dataset_id == datasets.c.id)
        .where(datasets.c.name == ref.name)
    )
    if ref.version is not None:
        row = conn.execute(q.where(v.version == ref.version)).first()
    else:
        row = conn.execute(q.order_by(v.version.desc()).limit(1)).first()
    if row is None:
        exists = conn.execute(sa.select(datasets.c.id).where(datasets.c.name == ref.name)).first()
        if exists is None:
            raise NotFound(f"dataset {ref.name!r} does not exist; {hint}")
        raise NotFound(
            f"dataset {ref.name!r} has no version {ref.version}; "
            f"list versions with: loopml datasets show {ref.name}"
        )
    return int(row.id), f"{ref.name}@{row.version}"


def insert_input(conn: Connection, run_id: str, version_id: int) -> None:
    insert_ignore(conn, run_inputs, [{"run_id": run_id, "dataset_version_id": version_id}])


def upsert_artifacts(conn: Connection, run_id: str, items: Sequence[Artifact]) -> None:
    if not items:
        return
    stmt = _insert(conn, run_artifacts)
    stmt = stmt.on_conflict_do_update(
        index_elements=[run_artifacts.c.run_id, run_artifacts.c.path],
        set_={"file_digest": stmt.excluded.file_digest, "size": stmt.excluded.size},
    )
    conn.execute(
        stmt,
        [
            {"run_id": run_id, "path": a.path, "file_digest": a.digest, "size": a.size}
            for a in items
        ],
    )
