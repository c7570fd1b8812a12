"""How a command reaches the database: one engine per command, disposed when it ends, and
the command (the entry point) owning the transaction.

- `cli_session(settings, write=True)`: one session in one transaction, committed when the
  block ends, rolled back when it raises (a refusal, `typer.Exit`).
- `cli_session(settings, write=False)`: for lists, reports and dry runs. On SQLite it takes no
  write lock (`db.engine.readonly`), so it never holds up the server's writers; nothing it
  flushes is kept (the session closes without committing).
- `cli_unit(settings, write=...)`: the same unit with its `Process` (key rings, policy, clock).
- `cli_process(settings)`: the composition root's `Process`, for jobs that open a unit of work
  per batch (`keys rotate`, `import legacy`) through `process.uow`.
- `cli_engine(settings)`: the bare engine, for migrations and snapshots.

sqlalchemy is imported when a command runs, not when the CLI starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from realname.config import Settings
    from realname.wiring import Process


@contextmanager
def cli_engine(settings: Settings) -> Iterator[Engine]:
    from realname.db.engine import create_engine_from_settings

    engine = create_engine_from_settings(settings)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def cli_process(settings: Settings) -> Iterator[Process]:
    """The composition root's parts for one command (engine, unit of work, clock, key rings,
    authority, gateway), closed when the command ends."""
    from realname.wiring import Process

    with Process(settings) as process:
        yield process


@contextmanager
def cli_unit(settings: Settings, *, write: bool) -> Iterator[tuple[Process, Session]]:
    """`cli_session` with the process it runs in, for a command that also needs the key
    rings, the policy or the clock the composition root chose."""
    with (
        cli_process(settings) as process,
        process.uow.transaction(readonly=not write) as session,
    ):
        yield process, session


@contextmanager
def cli_session(settings: Settings, *, write: bool) -> Iterator[Session]:
    """One unit of work for the whole command (read-only for lists, reports, dry runs)."""
    with (
        cli_process(settings) as process,
        process.uow.transaction(readonly=not write) as session,
    ):
        yield session
