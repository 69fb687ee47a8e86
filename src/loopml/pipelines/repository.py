"""SQL for the pipeline-run aggregate: runs, their steps, and the steps' stored outputs."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.api.pipelines import Output, OutputFile, PipelineRun, RunStatus, StepRun, StepStatus
from loopml.core.errors import InvalidInput, NotFound
from loopml.meta.tables import (
    file_objects,
    pipeline_output_files,
    pipeline_outputs,
    pipeline_runs,
    pipeline_steps,
    runs,
)
from loopml.pipelines.lifecycle import check_run_transition, check_step_transition, sources_of

_R = pipeline_runs.c
_S = pipeline_steps.c
_O = pipeline_outputs.c
_F = pipeline_output_files.c


def insert_run(conn: Connection, values: dict[str, Any], steps: list[dict[str, Any]]) -> None:
    conn.execute(pipeline_runs.insert().values(**values))
    if steps:
        conn.execute(pipeline_steps.insert(), [{"run_id": values["id"], **s} for s in steps])


def run_exists(conn: Connection, run_id: str) -> bool:
    return conn.execute(sa.select(_R.id).where(_R.id == run_id)).first() is not None


def resolve_run_id(conn: Connection, text: str) -> str:
    """The full id of the run whose id is or starts with ``text``."""
    if not text or not all(c in "0123456789abcdef" for c in text.lower()):
        raise InvalidInput(f"{text!r} is not a pipeline run id; list runs: loopml pipeline list")
    found = (
        conn.execute(
            sa.select(_R.id).where(_R.id.startswith(text.lower(), autoescape=True)).limit(2)
        )
        .scalars()
        .all()
    )
    if not found:
        raise NotFound(f"no pipeline run {text!r}; list runs with: loopml pipeline list")
    if len(found) > 1:
        raise InvalidInput(f"{text!r} matches several pipeline runs; give more of the id")
    return str(found[0])


def _outputs(conn: Connection, run_ids: list[str]) -> dict[tuple[str, str], list[Output]]:
    if not run_ids:
        return {}
    files: dict[tuple[str, str, str], list[OutputFile]] = {}
    for r in conn.execute(
        sa.select(pipeline_output_files).where(_F.run_id.in_(run_ids)).order_by(_F.path)
    ):
        files.setdefault((r.run_id, r.step, r.output), []).append(
            OutputFile(r.path, r.file_digest, int(r.size))
        )
    out: dict[tuple[str, str], list[Output]] = {}
    for r in conn.execute(
        sa.select(pipeline_outputs).where(_O.run_id.in_(run_ids)).order_by(_O.output)
    ):
        out.setdefault((r.run_id, r.step), []).append(
            Output(
                r.output,
                r.materializer,
                r.type_name,
                r.digest,
                tuple(files.get((r.run_id, r.step, r.output), [])),
            )
        )
    return out


def _step(row: Any, outputs: list[Output]) -> StepRun:
    return StepRun(
        name=row.name,
        position=row.position,
        func=row.func,
        upstream=tuple(row.upstream or ()),
        inputs=dict(row.inputs or {}),
        status=StepStatus(row.status),
        cache_key=row.cache_key,
        cached_from=row.cached_from,
        start_time=row.start_time,
        end_time=row.end_time,
        worker=row.worker,
        stdout=row.stdout,
        stderr=row.stderr,
        error=row.error,
        decision=row.decision,
        metrics=row.metrics,
        datasets=tuple(row.datasets or ()),
        outputs=tuple(outputs),
    )


def _run(row: Any, steps: tuple[StepRun, ...]) -> PipelineRun:
    return PipelineRun(
        id=row.id,
        pipeline=row.pipeline,
        source=row.source,
        params=dict(row.params or {}),
        status=RunStatus(row.status),
        executor=row.executor,
        options=dict(row.options or {}),
        resumed_from=row.resumed_from,
        start_time=row.start_time,
        end_time=row.end_time,
        created_by=row.created_by,
        error=row.error,
        steps=steps,
    )


def load_runs(conn: Connection, rows: list[Any], with_outputs: bool = True) -> list[PipelineRun]:
    ids = [r.id for r in rows]
    steps: dict[str, list[StepRun]] = {}
    outs = _outputs(conn, ids) if with_outputs else {}
    if ids:
        for s in conn.execute(
            sa.select(pipeline_steps).where(_S.run_id.in_(ids)).order_by(_S.run_id, _S.position)
        ):
            steps.setdefault(s.run_id, []).append(_step(s, outs.get((s.run_id, s.name), [])))
    return [_run(r, tuple(steps.get(r.id, []))) for r in rows]


def get_run(conn: Connection, run_id: str) -> PipelineRun:
    row = conn.execute(sa.select(pipeline_runs).where(_R.id == run_id)).first()
    if row is None:
        raise NotFound(f"no pipeline run {run_id!r}; list runs with: loopml pipeline list")
    return load_runs(conn, [row])[0]


def list_runs(conn: Connection, pipeline: str | None, limit: int) -> list[PipelineRun]:
    q = sa.select(pipeline_runs).order_by(_R.start_time.desc()).limit(limit)
    if pipeline is not None:
        q = q.where(_R.pipeline == pipeline)
    return load_runs(conn, list(conn.execute(q)), with_outputs=False)


def step_status(conn: Connection, run_id: str, step: str, lock: bool = False) -> StepStatus:
    q = sa.select(_S.status).where(_S.run_id == run_id, _S.name == step)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    found = conn.execute(q).scalar()
    if found is None:
        raise NotFound(f"pipeline run {run_id} has no step {step!r}")
    return StepStatus(found)


@functools.lru_cache(maxsize=64)
def _move_statement(new: StepStatus, names: tuple[str, ...]) -> sa.Update:
    """The UPDATE of :func:`move_step` for one target status and set of fields, built once:
    a step moves several times, and building the statement cost more than running it."""
    allowed = [s.value for s in sources_of(new)]
    return (
        pipeline_steps.update()
        .where(
            _S.run_id == sa.bindparam("_run_id"),
            _S.name == sa.bindparam("_step"),
            # Literal values, not an expanding parameter: one compiled form, reused as is.
            _S.status.in_([sa.literal(a) for a in allowed]),
        )
        .values({"status": new.value, **{n: sa.bindparam(n, type_=_S[n].type) for n in names}})
    )


def move_step(conn: Connection, run_id: str, step: str, new: StepStatus, **fields: Any) -> None:
    """Change a step's status (checked against the legal moves) and set ``fields``: one
    conditional UPDATE; when it matches nothing, the current status says why."""
    stmt = _move_statement(new, tuple(sorted(fields)))
    done = conn.execute(stmt, {"_run_id": run_id, "_step": step, **fields})
    if done.rowcount != 1:
        check_step_transition(step, step_status(conn, run_id, step), new)


def move_run(conn: Connection, run_id: str, new: RunStatus, **fields: Any) -> None:
    q = sa.select(_R.status).where(_R.id == run_id)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    old = conn.execute(q).scalar()
    if old is None:
        raise NotFound(f"no pipeline run {run_id!r}")
    check_run_transition(run_id, RunStatus(old), new)
    conn.execute(pipeline_runs.update().where(_R.id == run_id).values(status=new.value, **fields))


def insert_outputs(conn: Connection, run_id: str, step: str, outputs: Iterable[Output]) -> None:
    outs = list(outputs)
    if not outs:
        return
    conn.execute(
        pipeline_outputs.insert(),
        [
            {
                "run_id": run_id,
                "step": step,
                "output": o.name,
                "materializer": o.materializer,
                "type_name": o.type_name,
                "digest": o.digest,
            }
            for o in outs
        ],
    )
    files = [
        {
            "run_id": run_id,
            "step": step,
            "output": o.name,
            "path": f.path,
            "file_digest": f.digest,
            "size": f.size,
        }
        for o in outs
        for f in o.files
    ]
    if files:
        conn.execute(pipeline_output_files.insert(), files)


def cache_candidates(conn: Connection, key: str, limit: int = 3) -> list[StepRun]:
    """The newest finished steps stored under ``key`` (with their run id as ``worker``-free
    rows), best candidates first."""
    rows = list(
        conn.execute(
            sa.select(pipeline_steps)
            .where(
                _S.cache_key == key,
                _S.status.in_([StepStatus.SUCCEEDED.value, StepStatus.CACHED.value]),
            )
            .order_by(_S.end_time.desc())
            .limit(limit)
        )
    )
    outs = _outputs(conn, list({r.run_id for r in rows}))
    return [_with_run(_step(r, outs.get((r.run_id, r.name), [])), r.run_id) for r in rows]


def _with_run(step: StepRun, run_id: str) -> StepRun:
    # The producing run: where a cached copy came from, else the run itself.
    from dataclasses import replace

    return replace(step, cached_from=step.cached_from or run_id)


def missing_files(conn: Connection, digests: set[str]) -> set[str]:
    if not digests:
        return set()
    found = set(
        conn.execute(
            sa.select(file_objects.c.digest).where(file_objects.c.digest.in_(sorted(digests)))
        ).scalars()
    )
    return digests - found


def orphaned_runs(conn: Connection) -> list[Any]:
    """Running pipeline runs whose tracked run has ended (its coordinator was killed or
    died): id, and the tracked run's status, end_time and error."""
    q = (
        sa.select(_R.id, runs.c.status, runs.c.end_time, runs.c.error)
        .join(runs, runs.c.id == _R.id)
        .where(_R.status == RunStatus.RUNNING.value, runs.c.status != "running")
    )
    return list(conn.execute(q))


def fail_unfinished_steps(conn: Connection, run_id: str, end_time: float, error: str) -> None:
    """Fail the steps of a run whose coordinator died: they will never finish."""
    conn.execute(
        pipeline_steps.update()
        .where(
            _S.run_id == run_id,
            _S.status.in_([StepStatus.PENDING.value, StepStatus.RUNNING.value]),
        )
        .values(status=StepStatus.FAILED.value, end_time=end_time, error=error)
    )


def running_steps(conn: Connection, run_id: str) -> list[str]:
    return list(
        conn.execute(
            sa.select(_S.name).where(
                _S.run_id == run_id,
                _S.status.in_([StepStatus.RUNNING.value, StepStatus.PENDING.value]),
            )
        ).scalars()
    )
