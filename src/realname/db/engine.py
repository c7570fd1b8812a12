"""Engines and sessions, built from Settings on demand (never at import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from realname.config import Settings


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine_from_settings(settings: Settings, **overrides: Any) -> Engine:
    """SQLite gets WAL, foreign keys and a busy timeout; PostgreSQL a sized pool.

    The tables are not loaded here (`db` imports no domain): the entry points load them all
    (`realname.tables.load_all_models`) before any session flushes."""
    url = make_url(settings.database_url)
    # hide_parameters: a constraint or deadlock error must not quote phone or ID numbers.
    kwargs: dict[str, Any] = {"echo": settings.database_echo, "hide_parameters": True, **overrides}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms, settings.sqlite_cache_mib)
        return engine
    kwargs.setdefault("pool_size", settings.database_pool_size)
    kwargs.setdefault("pool_pre_ping", settings.database_pool_pre_ping)
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "postgresql":
        _configure_postgresql(engine)
    return engine


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Read-only work (`realname check`, reports) reads one snapshot: under READ COMMITTED
        # each statement saw its own, so a check racing the audit sequencer compared chain
        # entries read before a commit with heads read after it ("head does not match the
        # last entry", a false alarm). A read-only REPEATABLE READ transaction never fails
        # to serialise; it only stops seeing later commits.
        if connection.get_execution_options().get("readonly", False):
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def _configure_sqlite(engine: Engine, busy_timeout_ms: int, cache_mib: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, issue BEGIN, so SAVEPOINTs and locking behave.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # A registry's indexes (MSISDN, ICCID, IMSI, owner) are written in random order; the
        # 2 MiB default page cache turns every insert into page misses past ~100k lines.
        cursor.execute(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: two writers never deadlock on upgrade.
        # Read-only work (`realname check`, reports) asks for a plain BEGIN so it does not
        # hold the write lock: WAL lets it read while writers go on.
        readonly = connection.get_execution_options().get("readonly", False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def readonly(engine: Engine) -> Engine:
    """The same engine for work that only reads (no write lock on SQLite)."""
    return engine.execution_options(readonly=True)


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def async_pool_from_settings(
    settings: Settings, *, min_size: int | None = None, max_size: int | None = None, **kwargs: Any
) -> AsyncConnectionPool[Any]:
    """An async psycopg pool on the settings' PostgreSQL database, not yet open (open it in
    the event loop that will use it: `await pool.open()`), its connections in autocommit:
    for the reads that go without SQLAlchemy (the async KYC Match route). `max_size`
    defaults to REALNAME_DATABASE_POOL_SIZE, `min_size` (opened at once) to `max_size`."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError("an async pool needs PostgreSQL")
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return AsyncConnectionPool(
        conninfo,
        min_size=min_size if min_size is not None else (max_size or settings.database_pool_size),
        max_size=max_size or settings.database_pool_size,
        open=False,
        kwargs={"autocommit": True},
        **kwargs,
    )
