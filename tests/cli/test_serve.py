"""`realname serve --workers 2` on PostgreSQL (deferred audit mode): the supervisor runs ONE
audit sequencer process beside the workers, which run none; it chains what every worker
appends, is restarted when it dies, and nothing pending is lost on a kill or a stop."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from realname.bench.load import Outcome, ServerProcess, drive, fetch_token
from realname.cli.serve import runs_sequencer_process
from realname.config import Settings
from realname.security.models import AuditLog
from realname.wiring import Process
from tests.conftest import _postgres_database
from tests.served import Served as ServedWorld
from tests.served import served_world

STARTED = re.compile(r"audit sequencer (\d+) started")
WORKER_STARTED = re.compile(r"Started server process \[(\d+)\]")


class Served(ServedWorld):
    """The served world with the sequencer process's test settings and its questions."""

    def server(self, workers: int = 2, extra_env: Mapping[str, str] | None = None) -> ServerProcess:
        return super().server(
            workers,
            {
                "REALNAME_AUDIT_SEQUENCE_INTERVAL_MS": "50",
                "REALNAME_LOG_LEVEL": "INFO",  # the supervisor's "audit sequencer N started"
                **(extra_env or {}),
            },
        )

    def sequencers(self) -> list[int]:
        """The pids of every sequencer process the supervisor started, in order."""
        return [int(pid) for pid in STARTED.findall(self.log.read_text())]

    def workers(self) -> list[int]:
        """The pids of every worker started (Uvicorn's "Started server process"), in order."""
        return [int(pid) for pid in WORKER_STARTED.findall(self.log.read_text())]

    def pending(self) -> int:
        with Session(self.engine) as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(AuditLog)
                    .where(AuditLog.position.is_(None), AuditLog.refused.is_(False))
                )
                or 0
            )

    def entries(self) -> int:
        with Session(self.engine) as session:
            return int(session.scalar(select(func.count()).select_from(AuditLog)) or 0)

    def wait_until_chained(self, seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        while self.pending() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.pending() == 0, "entries left pending while the server runs"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    for url in _postgres_database():
        yield from served_world(url, tmp_path, Served)


def _register(server: ServerProcess, served: Served, jobs: list[Any], **options: Any) -> list[Any]:
    tokens = [fetch_token(server.base_url, c.client_id, c.secret) for c in served.world.counters]
    return drive(server.base_url, tokens, jobs, concurrency=8, time_limit=60, **options)


def _wait_for(condition: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert condition()


def test_deferred_mode_on_postgresql_only_runs_a_sequencer_process() -> None:
    assert runs_sequencer_process(Settings(database_url="postgresql+psycopg://h/db"))
    assert not runs_sequencer_process(Settings(database_url="sqlite:///x.db"))
    assert runs_sequencer_process(
        Settings(database_url="sqlite:///x.db", audit_sequencing="deferred")
    )
    assert not runs_sequencer_process(
        Settings(database_url="postgresql+psycopg://h/db", audit_sequencing="inline")
    )


@pytest.mark.postgres
def test_a_worker_runs_no_sequencer_when_its_supervisor_runs_one(served: Served) -> None:
    settings = served.settings.model_copy(update={"audit_sequencer": "external"})
    with Process(settings, engine=served.engine) as process:
        assert process.start_audit_sequencer() is None
        sequencer = process.start_audit_sequencer(standalone=True)
        assert sequencer is not None and sequencer.idle == sequencer.interval


@pytest.mark.postgres
def test_the_sequencer_process_chains_what_the_workers_append(served: Served) -> None:
    """With the sequencer process paused, entries the workers append stay pending (no worker
    chains them); resumed, it chains them all while the server serves."""
    jobs = list(served.world.registrations(per_person=4))[:60]
    with served.server() as server:
        _wait_for(lambda: len(served.sequencers()) == 1)
        (pid,) = served.sequencers()
        os.kill(pid, signal.SIGSTOP)
        try:
            outcomes = _register(server, served, jobs)
            assert [o.status for o in outcomes] == [201] * len(jobs)
            time.sleep(1.0)  # 20 of the workers' would-be passes at 50 ms
            assert served.pending() >= len(jobs)
        finally:
            os.kill(pid, signal.SIGCONT)
        served.wait_until_chained()
        assert served.sequencers() == [pid]
    served.check_is_clean()


@pytest.mark.postgres
def test_a_killed_sequencer_is_restarted_and_loses_nothing(served: Served) -> None:
    """SIGKILL the sequencer while 8 clients register: the supervisor starts another, which
    chains everything (the killed one's batch rolled back, pending and intact); `check`
    is clean, and every entry the workers appended is in a chain."""
    jobs = list(served.world.registrations(per_person=4))
    with served.server() as server:
        _wait_for(lambda: len(served.sequencers()) == 1)
        answered = threading.Semaphore(0)

        def count(outcome: Outcome) -> None:
            if outcome.status == 201:
                answered.release()

        def killer() -> None:
            for _ in range(len(jobs) // 3):
                answered.acquire(timeout=60)
            os.kill(served.sequencers()[0], signal.SIGKILL)

        thread = threading.Thread(target=killer)
        thread.start()
        outcomes = _register(server, served, jobs, on_outcome=count)
        thread.join(30)
        assert [o.status for o in outcomes] == [201] * len(jobs)
        _wait_for(lambda: len(served.sequencers()) == 2)
        assert "restarting" in served.log.read_text()
        served.wait_until_chained()
        entries = served.entries()
    assert entries >= len(jobs)
    assert served.entries() == entries and served.pending() == 0
    served.check_is_clean()


@pytest.mark.postgres
def test_sigterm_stops_the_sequencer_last_and_leaves_nothing_pending(served: Served) -> None:
    """SIGTERM to the supervisor right after a load: workers drain, then the sequencer chains
    what is left and stops; every process of the server is gone, nothing pending."""
    jobs = list(served.world.registrations(per_person=4))[:80]
    server = served.server().start()
    try:
        _wait_for(lambda: len(served.sequencers()) == 1)
        (pid,) = served.sequencers()
        outcomes = _register(server, served, jobs)
        assert [o.status for o in outcomes] == [201] * len(jobs)
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGTERM)  # the supervisor only
        server.process.wait(timeout=60)
        assert server.process.returncode == 0
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        server.kill()
    assert served.pending() == 0
    assert "final audit chaining pass" not in served.log.read_text()  # the sequencer's work
    served.check_is_clean()


@pytest.mark.postgres
def test_sigterm_with_the_sequencer_dead_chains_in_the_supervisor(served: Served) -> None:
    """Workers killed (an OOM) after appending while the sequencer was stopped, then the
    sequencer dead (crashed, not yet restarted) when the supervisor gets SIGTERM: no process
    that is left chains at exit (the restarted workers appended nothing), so the supervisor
    chains the entries itself; before, they waited pending for the next start."""
    jobs = list(served.world.registrations(per_person=4))[:40]
    server = served.server().start()
    # after every worker listens, so after the supervisor started them (taken before the
    # start, a slow start left the kill inside their first 10 s on a loaded machine)
    began = time.monotonic()
    try:
        _wait_for(lambda: len(served.sequencers()) == 1)
        (pid,) = served.sequencers()
        os.kill(pid, signal.SIGSTOP)  # nothing chained from here on
        outcomes = _register(server, served, jobs)
        assert [o.status for o in outcomes] == [201] * len(jobs)
        assert served.pending() >= len(jobs)
        # A worker dead within 10 s of its start "could not start": the supervisor gives up.
        time.sleep(max(0.0, began + 11 - time.monotonic()))
        for worker in served.workers():
            os.kill(worker, signal.SIGKILL)
        _wait_for(lambda: len(served.workers()) == 4)  # both restarted
        assert served.pending() >= len(jobs)
        assert server.process is not None
        os.kill(pid, signal.SIGKILL)
        os.kill(server.process.pid, signal.SIGTERM)  # the supervisor only
        server.process.wait(timeout=60)
        assert server.process.returncode == 0
    finally:
        server.kill()
    assert served.sequencers() == [pid]  # not restarted: the supervisor was stopping
    assert served.pending() == 0
    assert "final audit chaining pass" in served.log.read_text()
    served.check_is_clean()
