"""Against a real `realname serve` process over loopback: the cap holds when many clients race
for it over HTTP, and a SIGKILL in the middle of a registration load loses no registration
that was answered 201 and leaves the database consistent.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from realname.bench.load import LoadWorld, Outcome, drive, fetch_token, person_body
from realname.registry.models import Holding, Line
from tests.conftest import _postgres_database
from tests.served import Served, served_world


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    urls: Iterator[str] = (
        iter([f"sqlite:///{tmp_path / 'served.db'}"])
        if request.param == "sqlite"
        else _postgres_database()
    )
    for url in urls:
        yield from served_world(url, tmp_path, Served)


def _tokens(base_url: str, world: LoadWorld) -> list[str]:
    return [fetch_token(base_url, c.client_id, c.secret) for c in world.counters]


def test_the_cap_holds_when_many_clients_race_over_http(served: Served) -> None:
    """One person, 24 registrations at 4 counters at once, under a cap of 5: exactly 5 pass."""
    world = served.world
    person = world.people[0]
    jobs: list[tuple[int, dict[str, Any]]] = [
        (n % 4, {"msisdn": world.counters[n % 4].msisdns[n // 4], "customer": person_body(person)})
        for n in range(24)
    ]
    with served.server(workers=2) as server:
        tokens = _tokens(server.base_url, world)
        outcomes = drive(server.base_url, tokens, jobs, concurrency=12, time_limit=60)
    statuses = sorted(o.status for o in outcomes)
    assert len(outcomes) == 24
    assert statuses.count(201) == 5, statuses
    refused = [o.body for o in outcomes if o.status != 201]
    assert all(b is not None and b["code"] == "REALNAME.CAP_EXCEEDED" for b in refused), refused
    with Session(served.engine) as session:
        active = session.scalar(
            select(func.count()).select_from(Line).where(Line.state == "active")
        )
        holding = session.scalars(select(Holding)).one()
    assert active == 5 and holding.active_count == 5
    served.check_is_clean()


def test_a_sigkill_mid_load_loses_no_answered_registration(served: Served) -> None:
    """Kill -9 while 8 clients register; every 201 is in the database after the restart, a
    retry with the same Idempotency-Key finishes the rest exactly once, and `check` is clean."""
    world = served.world
    jobs = list(world.registrations(per_person=4))  # 240 registrations, nobody near the cap
    server = served.server(workers=2).start()
    tokens = _tokens(server.base_url, world)
    # Kill once a third of the load has been answered, whatever the machine's speed.
    answered = threading.Semaphore(0)

    def count(outcome: Outcome) -> None:
        if outcome.status == 201:
            answered.release()

    def killer() -> None:
        for _ in range(len(jobs) // 3):
            answered.acquire(timeout=60)
        server.kill()

    thread = threading.Thread(target=killer)
    thread.start()
    first = drive(
        server.base_url,
        tokens,
        jobs,
        concurrency=8,
        time_limit=60,
        idempotency_prefix="crash",
        on_outcome=count,
    )
    thread.join(30)
    server.stop()
    created = {o.job for o in first if o.status == 201}
    lost = [o for o in first if o.status not in (201,)]
    assert created, "the server should have answered some registrations before the kill"
    assert lost, "the kill should have cut some requests off"
    assert all(o.status == 0 for o in lost), sorted({o.status for o in lost})

    # After the restart: every registration answered 201 is there, active, with its owner.
    with Session(served.engine) as session:
        by_msisdn = {line.msisdn: line for line in session.scalars(select(Line))}
    for job in created:
        line = by_msisdn[jobs[job][1]["msisdn"]]
        assert line.state == "active" and line.owner_identity_id is not None
    served.check_is_clean()

    # Clients retry whatever got no answer (and everything not yet sent) with the same key.
    with served.server(workers=2) as again:
        tokens = _tokens(again.base_url, world)
        retry = drive(
            again.base_url, tokens, jobs, concurrency=8, time_limit=60, idempotency_prefix="crash"
        )
    assert sorted(o.job for o in retry) == list(range(len(jobs)))
    assert all(o.status == 201 for o in retry), sorted({o.status for o in retry})
    replayed = [o for o in retry if o.job in created]
    assert all(o.body == next(f.body for f in first if f.job == o.job) for o in replayed)
    with Session(served.engine) as session:
        active = session.scalar(
            select(func.count()).select_from(Line).where(Line.state == "active")
        )
    assert active == len(jobs)
    served.check_is_clean()


def test_workers_stop_when_their_supervisor_is_killed(served: Served) -> None:
    """`realname serve --workers 2` with its supervisor SIGKILLed: the workers (each its own
    SO_REUSEPORT socket) went on serving, and a new `serve` bound beside them without an
    error, old code and settings taking a share of the port. They now die with it."""
    import httpx

    if served.settings.database_url.startswith("postgresql"):
        pytest.skip("the supervisor is the same on either engine: once is enough")
    server = served.server(workers=2).start()
    try:
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)  # the supervisor only, not its group
        deadline = time.monotonic() + 15
        answering = True
        while answering and time.monotonic() < deadline:
            try:
                httpx.get(f"{server.base_url}/healthz", timeout=1.0)
                time.sleep(0.2)
            except httpx.TransportError:
                answering = False
        assert not answering, "a worker outlived its supervisor"
    finally:
        server.kill()
