"""Opening the metadata database: engine set-up, SQLite pragmas, and automatic migration."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from loopml.core.errors import InvalidInput, StoreError
from loopml.meta.migrations import HEAD_REVISION

_PG_LOCK_KEY = 0x100B_0001


def normalize_url(url: str) -> str:
    """Map user-facing URLs to SQLAlchemy URLs with the driver we ship."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("sqlite://", "postgresql+")):
        return url
    raise InvalidInput(
        f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://user@host/db"
    )


class MetaStore:
    """A migrated database. ``write()`` opens a transaction that takes the write lock up
    front (SQLite ``BEGIN IMMEDIATE``), so read-then-write sequences such as numbering a new
    version cannot interleave; ``read()`` opens a plain one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.lock_namespace: str | None = None  # PostgreSQL schema, read by meta.locks

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(loopml_immediate=True)
                with conn.begin():
                    yield conn
        except sa.exc.OperationalError as exc:
            raise StoreError(f"metadata database write failed: {exc.orig}") from exc

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except sa.exc.OperationalError as exc:
            raise StoreError(f"metadata database read failed: {exc.orig}") from exc

    def dispose(self) -> None:
        self.engine.dispose()


SQLITE_SYNC = ("normal", "full")


def _sqlite_engine(url: str) -> Engine:
    parsed = sa.engine.make_url(url)
    # ``?synchronous=full`` trades write speed for durability across power loss (WAL with
    # NORMAL, the default, is durable across process crashes; a power cut may lose the last
    # commits). It is ours, not the driver's, so it leaves the URL before SQLAlchemy sees it.
    sync = str(parsed.query.get("synchronous", "normal")).lower()
    if sync not in SQLITE_SYNC:
        raise InvalidInput(
            f"unsupported synchronous={sync!r} in the SQLite URL: use normal (default) or full"
        )
    parsed = parsed.difference_update_query(["synchronous"])
    path = parsed.database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves so writers can take the lock up front.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={sync.upper()}")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache per connection
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("loopml_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def open_meta(url: str) -> MetaStore:
    """Open (and if needed create or upgrade) the metadata database at ``url``."""
    url = normalize_url(url)
    try:
        if url.startswith("sqlite"):
            engine = _sqlite_engine(url)
        else:
            engine = sa.create_engine(url, pool_pre_ping=True)
        store = MetaStore(engine)
        if _current_revision(engine) != HEAD_REVISION:
            with _migration_lock(store, url):
                if _current_revision(engine) != HEAD_REVISION:
                    _create_or_upgrade(engine)
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"the driver for {url.split(':', 1)[0]} is not installed ({exc.name}); "
            "install it with: pip install 'loopml[postgres]'"
        ) from exc
    except sa.exc.OperationalError as exc:
        raise StoreError(f"cannot open metadata database {_redact(url)}: {exc.orig}") from exc
    return store


def _redact(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(sa.text("SELECT version_num FROM alembic_version")).first()
        conn.rollback()
        return None if row is None else str(row[0])


@contextlib.contextmanager
def _migration_lock(store: MetaStore, url: str) -> Iterator[None]:
    """Serialize migrations between processes opening the same database at once."""
    if store.dialect == "postgresql":
        with store.engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    path = sa.engine.make_url(url).database
    if not path or path == ":memory:":
        yield
        return
    fd = os.open(path + ".migrate-lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _create_or_upgrade(engine: Engine) -> None:
    """An empty database gets the head schema in one transaction (the table definitions plus
    Alembic's version stamp; a test checks the migrations build the same schema), which
    spares a new store the import of Alembic and a replay of every migration. A database that
    has tables is upgraded by Alembic."""
    with engine.begin() as conn:
        if not sa.inspect(conn).get_table_names():
            from loopml.meta.tables import metadata

            metadata.create_all(conn)
            stamp = sa.Table(
                "alembic_version",
                sa.MetaData(),
                sa.Column("version_num", sa.String(32), nullable=False),
                sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
            )
            stamp.create(conn)
            conn.execute(stamp.insert().values(version_num=HEAD_REVISION))
            return
    _upgrade(engine)


def _upgrade(engine: Engine) -> None:
    # Alembic is imported only here: an up-to-date or new database never pays for it.
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "loopml.meta:migrations")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
