"""Triggers benchmark: event committed → job claimed latency with one ``loopml controller`` and
one ``loopml worker`` (median and p99), and how many events per second one controller pass
processes (each event firing one of 10 triggers: a firing and a queued job per event).

Usage (with the project venv; PostgreSQL as the tests use it)::

    .venv/bin/python benchmarks/bench_triggers.py                          # SQLite and PostgreSQL
    .venv/bin/python benchmarks/bench_triggers.py --latency-events 20 --throughput-events 1000 \\
        --only sqlite                                                      # a smoke run

One JSON object goes to stdout, progress to stderr. Latency: events are appended one at a time
``--gap`` seconds apart (each in its own transaction, as a dataset push appends it); the latency
of one is its job's ``started_at`` (set in the claim) minus the event's ``created_at``, both
this host's clock. Throughput: ``--throughput-events`` events appended first, then one
in-process controller pass (``Services.triggers.poll``) timed from start to its last commit.
Targets: p99 ≤ 1 s on both databases; ≥ 1,000 events/s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
LOOPML_BIN = str(Path(sys.executable).with_name("loopml"))
PG_ADMIN = os.environ.get("LOOPML_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TRIGGERS = 10
PIPELINE = """
from loopml.pipelines import pipeline, step


@step
def echo(dataset: str) -> str:
    return dataset


@pipeline
def training(dataset: str = "none"):
    echo(dataset)
"""


def log(msg: str) -> None:
    sys.stderr.write(f"[bench_triggers] {msg}\n")


def _pg_schema() -> tuple[str, str]:
    schema = "bench_" + uuid.uuid4().hex[:10]
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    base = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    return schema, f"{base}?options=-csearch_path%3D{schema}"


def _drop_pg(schema: str) -> None:
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


def _env(home: Path, db: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env.update(LOOPML_HOME=str(home), LOOPML_DB=db, LOOPML_BLOBS=str(home / "blobs"))
    return env


def _setup(work: Path, db: str) -> Any:
    from loopml.api.triggers import TriggerSpec
    from loopml.core.settings import load_settings
    from loopml.sdk import Client

    home = work / "home"
    client = Client(load_settings(env={}, home=str(home), db=db, blobs=str(home / "blobs")))
    pipeline = work / "cheap.py"
    pipeline.write_text(textwrap.dedent(PIPELINE))
    for i in range(TRIGGERS):
        src = work / f"d{i}.csv"
        src.write_text(f"a\n{i}\n")
        client.datasets.push(f"d{i}", src)
        client.services.triggers.add(
            TriggerSpec(
                f"t{i}", f"dataset:d{i}", f"{pipeline}:training", {"dataset": "{event.ref}"}
            )
        )
    return client, home


def _append(client: Any, pairs: list[tuple[str, int]]) -> None:
    from loopml.api.events import DatasetVersionCreated
    from loopml.meta.events import append_event

    with client.stores.meta.write() as conn:
        for name, version in pairs:
            append_event(conn, DatasetVersionCreated(name, version, f"x{version}"))


def latency(db: str, n: int, gap: float) -> dict[str, Any]:
    from loopml.meta.tables import events, firings, jobs

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        client, home = _setup(work, db)
        env = _env(home, db)
        procs = [
            subprocess.Popen([LOOPML_BIN, cmd], env=env, start_new_session=True)
            for cmd in ("controller", "worker")
        ]
        try:
            time.sleep(2.0)  # both started and idle (their start-up is not the latency)
            for i in range(n):
                _append(client, [(f"d{i % TRIGGERS}", 1000 + i)])
                time.sleep(gap)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with client.stores.meta.read() as conn:
                    started = conn.execute(
                        sa.select(sa.func.count())
                        .select_from(jobs)
                        .where(jobs.c.started_at.isnot(None))
                    ).scalar_one()
                if started >= n:
                    break
                time.sleep(0.1)
            with client.stores.meta.read() as conn:
                rows = conn.execute(
                    sa.select(jobs.c.started_at, events.c.created_at)
                    .join(firings, firings.c.id == jobs.c.firing_id)
                    .join(
                        events,
                        firings.c.event_key
                        == sa.literal("event:") + sa.cast(events.c.id, sa.String),
                    )
                ).all()
        finally:
            for p in procs:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            client.close()
    lat = sorted(s - c for s, c in rows if s is not None)
    if not lat:
        return {"events": n, "claimed": 0}
    p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
    return {
        "events": n,
        "claimed": len(lat),
        "median_s": round(statistics.median(lat), 4),
        "p99_s": round(p99, 4),
        "max_s": round(lat[-1], 4),
        "target_p99_s": 1.0,
    }


def throughput(db: str, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        client, _home = _setup(Path(tmp), db)
        try:
            _append(client, [(f"d{i % TRIGGERS}", 1000 + i) for i in range(n)])
            t0 = time.perf_counter()
            fired = client.services.triggers.poll()
            elapsed = time.perf_counter() - t0
        finally:
            client.close()
    return {
        "events": n,
        "fired": fired,
        "seconds": round(elapsed, 3),
        "events_per_s": round(n / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency-events", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.1, help="Seconds between events.")
    parser.add_argument("--throughput-events", type=int, default=20_000)
    parser.add_argument("--only", default="sqlite,postgres")
    args = parser.parse_args()
    out: dict[str, Any] = {
        "benchmark": "triggers",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg()[0],
        "results": {},
    }
    for backend in args.only.split(","):
        schema = None
        with tempfile.TemporaryDirectory() as tmp:
            if backend == "sqlite":
                make_db = lambda: f"sqlite:///{Path(tmp) / uuid.uuid4().hex}.db"  # noqa: E731
            else:
                make_db = None
            res: dict[str, Any] = {}
            for what, fn in (
                ("latency", lambda db: latency(db, args.latency_events, args.gap)),
                ("throughput", lambda db: throughput(db, args.throughput_events)),
            ):
                log(f"{backend}: {what}")
                if make_db is not None:
                    res[what] = fn(make_db())
                else:
                    schema, url = _pg_schema()
                    try:
                        res[what] = fn(url)
                    finally:
                        _drop_pg(schema)
            out["results"][backend] = res
    out["load_after"] = os.getloadavg()[0]
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
