"""How a command reaches the database: one engine per command, disposed when it ends, and
the command (the entry point) owning the transaction.

- `cli_session(settings, write=True)`: one session in one transaction, committed when the
  block ends, rolled back when it raises (a refusal, `typer.Exit`).
- `cli_session(settings, write=False)`: for lists, reports and dry runs. On SQLite it takes no
  write lock (`db.engine.readonly`), so it never holds up the server's writers; nothing it
  flushes is kept (the session closes without committing).
- `cli_sessions(settings, write=...)`: a session factory, for jobs that commit batch by batch
  (`backfill run`, `retention run`, `keys rotate`).
- `cli_engine(settings)`: the bare engine, for migrations and snapshots.

sqlalchemy is imported when a command runs, not when the CLI starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from realname.config import Settings


@contextmanager
def cli_engine(settings: Settings) -> Iterator[Engine]:
    from realname.db.engine import create_engine_from_settings

    engine = create_engine_from_settings(settings)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def cli_sessions(settings: Settings, *, write: bool) -> Iterator[sessionmaker[Session]]:
    from realname.db.engine import create_session_factory, readonly

    with cli_engine(settings) as engine:
        yield create_session_factory(engine if write else readonly(engine))


@contextmanager
def cli_session(settings: Settings, *, write: bool) -> Iterator[Session]:
    with cli_sessions(settings, write=write) as factory, factory() as session:
        if not write:
            yield session
            return
        with session.begin():
            yield session
