"""`realname bench register`: registrations through the HTTP API against the same work done
bare, in one process, on the same database.

The server runs as `realname serve` (Uvicorn workers) on a scratch PostgreSQL database; the
load comes from a separate process over loopback, bounded in count and time. The baseline
calls `RegistryService.register` in a loop, one transaction each: the same SQL statements
without HTTP, JSON, authentication or the worker pool. The ratio HTTP / bare says what the
serving layer costs (it can pass 1 with several workers, since the baseline is one process).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from realname.bench.load import (
    HttpBenchResult,
    LoadWorld,
    Progress,
    build_load_world,
    serve_and_drive,
    timed_each,
)
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from realname.policy.loader import load_policy
from realname.registry.commands import Actor, Context, Desk
from realname.registry.schemas import RegistrationIn
from realname.security.keys import keyring_from_settings
from realname.wiring import registry_service

CAP_SHARE = 4  # registrations per person, under the China preset's cap of 5


def register_bare(
    settings: Settings,
    world: LoadWorld,
    jobs: Sequence[tuple[int, dict[str, Any]]],
    progress: Progress | None = None,
    label: str = "bare registrations",
) -> list[float]:
    """The registrations, parsed from the same bodies as over HTTP, one transaction each
    through the service: the baseline, and how other benchmarks fill their world."""
    engine = create_engine_from_settings(settings)
    keyring = keyring_from_settings(settings)
    clock = settings.clock()

    def register(job: tuple[int, dict[str, Any]]) -> None:
        counter = world.counters[job[0]]
        request = RegistrationIn.model_validate(job[1])
        with Session(engine) as session, session.begin():
            registry_service(session, settings, keyring).register(
                Context(Actor("clerk", str(counter.clerk_id)), clock.now()),
                desk=Desk(world.enterprise_id, counter.channel_id, counter.clerk_id),
                msisdn=request.msisdn,
                person=request.customer.to_person(),
            )

    try:
        return timed_each(jobs, register, progress, label)
    finally:
        engine.dispose()


def run_register_bench(
    database_url: str,
    *,
    registrations: int,
    concurrency: int,
    workers: int,
    time_limit: float,
    work_dir: Path | None = None,
    progress: Progress | None = None,
) -> HttpBenchResult:
    """Build the world on `database_url` (an empty database), run the baseline, then the
    HTTP load against a server on it; both on fresh kits and fresh people."""
    if work_dir is None:  # keys and the server log live only as long as the run
        with tempfile.TemporaryDirectory(prefix="realname-bench-") as tmp:
            return run_register_bench(
                database_url=database_url,
                registrations=registrations,
                concurrency=concurrency,
                workers=workers,
                time_limit=time_limit,
                progress=progress,
                work_dir=Path(tmp),
            )
    work = work_dir
    settings = Settings(database_url=database_url, key_file=str(work / "keys.json"))
    engine = create_engine_from_settings(settings)
    migrate.upgrade(engine)
    warmup = 2 * concurrency
    per_counter = math.ceil((2 * registrations + warmup) / concurrency)
    if progress is not None:
        progress(f"stocking {per_counter * concurrency:,} kits at {concurrency} counters")
    with Session(engine) as session, session.begin():
        world = build_load_world(
            session,
            keyring_from_settings(settings),
            load_policy(settings.policy),
            counters=concurrency,
            kits_per_counter=per_counter,
            people=math.ceil(per_counter * concurrency / CAP_SHARE),
            at=settings.clock().now(),
        )
    engine.dispose()
    jobs = list(world.registrations(per_person=CAP_SHARE))
    bare = register_bare(settings, world, jobs[:registrations], progress)
    seconds, outcomes = serve_and_drive(
        database_url,
        work,
        [(c.client_id, c.secret) for c in world.counters],
        jobs[registrations : registrations + warmup],
        jobs[registrations + warmup : 2 * registrations + warmup],
        workers=workers,
        concurrency=concurrency,
        time_limit=time_limit,
        path="/v1/registrations",
        progress=progress,
    )
    return HttpBenchResult(201, concurrency, workers, seconds, outcomes, bare)
