"""Helpers for the outbox tests: an enterprise to hang messages on, bulk enqueueing, a
PostgreSQL-only engine, and sender subprocesses that are always reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from realname.db import migrate
from realname.messaging.service import enqueue
from realname.registry.models import Enterprise
from tests.conftest import _engine_for, _postgres_database

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
CLI = "from realname.cli.messages import messages_app; messages_app()"


def enterprise_id(session: Session, code: str = "CMCC") -> int:
    existing = session.scalar(select(Enterprise.id).where(Enterprise.code == code))
    if existing is not None:
        return int(existing)
    enterprise = Enterprise(code=code, name="中国移动", kind="mno", created_at=NOW)
    session.add(enterprise)
    session.flush()
    return enterprise.id


def destination(n: int) -> str:
    return f"+86139{n:08d}"


def body(n: int) -> str:
    return f"【实名登记】尊敬的用户，您的号码尚未完成实名补登记，请携带身份证到营业厅办理。编号{n}"


def enqueue_many(
    session: Session, count: int, *, at: datetime = NOW, start: int = 0, long_every: int = 0
) -> list[str]:
    """Queue `count` reminders; every `long_every`-th is a long (multi-part) one. Returns the
    bodies in queue order."""
    ent = enterprise_id(session)
    bodies = []
    for n in range(start, start + count):
        text = body(n)
        if long_every and n % long_every == 0:
            text = text + "。逾期未登记的，将依次限制呼出、限制呼入直至停机。" * 6
        enqueue(
            session,
            dedupe_key=f"test:{n}",
            enterprise_id=ent,
            line_id=None,
            destination=destination(n),
            kind="backfill_remind",
            body=text,
            at=at,
        )
        bodies.append(text)
    return bodies


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
def postgres_engine() -> Iterator[Engine]:
    """A migrated PostgreSQL database of this test's own (for lock behaviour)."""
    for url in _postgres_database():
        engine = _engine_for(url)
        migrate.upgrade(engine)
        yield engine
        engine.dispose()


def database_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


class Processes:
    """Subprocesses started by a test, killed (by pid) and reaped when it ends."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.started: list[subprocess.Popen[str]] = []

    def messages(self, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
        """`realname messages ARGS` as the main command would run it, in a new process."""
        full_env = {**os.environ, **env}
        full_env.pop("REALNAME_LOG_LEVEL", None)
        process = subprocess.Popen(  # noqa: S603 (our own CLI, argv list, no shell)
            [sys.executable, "-c", CLI, *args],
            cwd=self.cwd,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started.append(process)
        return process

    def reap(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.reap()
