from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from loopml.api.events import DatasetVersionCreated, RunStarted
from loopml.meta import open_meta
from loopml.meta.events import append_event, load_cursor, save_cursor
from loopml.meta.migrations import HEAD_REVISION
from loopml.meta.tables import events, metadata


def _schema_diff(conn: sa.Connection) -> list[object]:
    """What differs between the database and tables.py, leaving out indexes that tables.py
    creates on another database only (``Index.ddl_if(dialect=...)``)."""

    def applies(obj: object, name: str | None, kind: str, reflected: bool, other: object) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None)
        return kind != "index" or ddl_if is None or ddl_if.dialect in (None, conn.dialect.name)

    context = MigrationContext.configure(conn, opts={"include_object": applies})
    return list(compare_metadata(context, metadata))


def test_head_constant_matches_alembic_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", "loopml.meta:migrations")
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


def test_opening_creates_schema_identical_to_table_definitions(db_url: str) -> None:
    store = open_meta(db_url)
    try:
        with store.engine.connect() as conn:
            diff = _schema_diff(conn)
        assert diff == []
    finally:
        store.dispose()


def _alembic_upgrade(db_url: str, target: str) -> sa.Engine:
    from alembic import command

    from loopml.meta.engine import normalize_url

    if db_url.startswith("sqlite"):
        Path(sa.engine.make_url(db_url).database or "").parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(normalize_url(db_url))
    cfg = Config()
    cfg.set_main_option("script_location", "loopml.meta:migrations")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)
    return engine


def test_migrations_replayed_from_empty_build_the_table_definitions(db_url: str) -> None:
    # A new database is created from tables.py directly; the migrations an old database
    # replays must arrive at exactly the same schema.
    engine = _alembic_upgrade(db_url, "head")
    try:
        with engine.connect() as conn:
            diff = _schema_diff(conn)
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        assert diff == []
        assert version == HEAD_REVISION
    finally:
        engine.dispose()


def test_a_new_database_is_stamped_at_head_for_alembic(db_url: str) -> None:
    store = open_meta(db_url)
    try:
        with store.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == HEAD_REVISION
    finally:
        store.dispose()


def test_reopening_an_existing_database_keeps_its_rows(db_url: str) -> None:
    store = open_meta(db_url)
    with store.write() as conn:
        append_event(conn, RunStarted("r1", "e", "n"))
    store.dispose()
    again = open_meta(db_url)
    try:
        with again.read() as conn:
            rows = conn.execute(sa.select(events.c.kind, events.c.payload)).all()
        assert rows == [("run.started", {"run_id": "r1", "experiment": "e", "name": "n"})]
    finally:
        again.dispose()


def test_old_database_is_upgraded_not_recreated(db_url: str) -> None:
    engine = _alembic_upgrade(db_url, "0001")  # a database made by the first release
    with engine.begin() as conn:
        conn.execute(
            events.insert().values(kind="keep.me", subject="s", payload={}, created_at=0.0)
        )
    engine.dispose()
    again = open_meta(db_url)
    try:
        with again.read() as conn:
            assert conn.execute(sa.select(events.c.kind)).scalars().all() == ["keep.me"]
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            assert version == HEAD_REVISION
            assert sa.inspect(conn).has_table("runs")
    finally:
        again.dispose()


def test_a_failed_write_appends_no_event(db_url: str) -> None:
    store = open_meta(db_url)
    try:
        try:
            with store.write() as conn:
                append_event(conn, DatasetVersionCreated("d", 1, "ab" * 32))
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        with store.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 0
    finally:
        store.dispose()


def test_a_database_at_0004_upgrades_to_run_liveness_keeping_its_runs(db_url: str) -> None:
    from alembic import command

    from loopml.meta.engine import normalize_url
    from loopml.meta.tables import experiments, runs

    if db_url.startswith("sqlite"):
        Path(sa.engine.make_url(db_url).database or "").parent.mkdir(parents=True)
    engine = sa.create_engine(normalize_url(db_url))
    cfg = Config()
    cfg.set_main_option("script_location", "loopml.meta:migrations")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")  # before runs had a heartbeat
        conn.execute(
            sa.text(
                "INSERT INTO experiments (id, name, created_at, created_by) "
                "VALUES (1, 'old', 1.0, 'me')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO runs (id, experiment_id, name, status, start_time, created_by, "
                "code, environment) VALUES ('ab' || :z, 1, 'r', 'running', 2.0, 'me', "
                "'{}', '{}')"
            ),
            {"z": "0" * 30},
        )
    engine.dispose()
    again = open_meta(db_url)
    try:
        with again.read() as conn:
            row = conn.execute(
                sa.select(runs).join(experiments, experiments.c.id == runs.c.experiment_id)
            ).one()
            assert (row.name, row.status, row.start_time) == ("r", "running", 2.0)
            assert (row.heartbeat_at, row.host, row.pid, row.pid_scope) == (None,) * 4
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            assert version == HEAD_REVISION
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("runs")}
            assert "ix_runs_status_heartbeat_at" in indexes
    finally:
        again.dispose()


def test_a_database_at_0005_upgrades_to_event_cursors_keeping_its_events(db_url: str) -> None:
    engine = _alembic_upgrade(db_url, "0005")  # before consumers could save a cursor
    with engine.begin() as conn:
        conn.execute(
            events.insert().values(kind="run.started", subject="s", payload={}, created_at=1.0)
        )
    engine.dispose()
    again = open_meta(db_url)
    try:
        with again.read() as conn:
            assert conn.execute(sa.select(events.c.kind)).scalars().all() == ["run.started"]
            assert load_cursor(conn, "controller") == 0
        with again.write() as conn:
            save_cursor(conn, "controller", 1)
        with again.write() as conn:
            save_cursor(conn, "controller", 7)  # saved again: replaced, not added
        with again.read() as conn:
            assert load_cursor(conn, "controller") == 7
            assert load_cursor(conn, "other") == 0
    finally:
        again.dispose()
