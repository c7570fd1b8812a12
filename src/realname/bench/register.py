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
import multiprocessing
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session

from realname.bench.load import (
    HttpBenchResult,
    LoadWorld,
    Outcome,
    ServerProcess,
    build_load_world,
    drive,
    fetch_token,
)
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from realname.policy.loader import load_policy
from realname.registry.commands import Actor, Context
from realname.registry.schemas import RegistrationIn
from realname.registry.wiring import registry_service
from realname.security.keys import keyring_from_settings

CAP_SHARE = 4  # registrations per person, under the China preset's cap of 5


@contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    """A new database on the server of `admin_url`, dropped afterwards."""
    name = f"realname_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _bare(
    settings: Settings, world: LoadWorld, jobs: Sequence[tuple[int, dict[str, Any]]]
) -> list[float]:
    """The same registrations, parsed from the same bodies, one transaction each."""
    engine = create_engine_from_settings(settings)
    keyring = keyring_from_settings(settings)
    latencies = []
    try:
        for counter_index, body in jobs:
            counter = world.counters[counter_index]
            started = time.perf_counter()
            request = RegistrationIn.model_validate(body)
            with Session(engine) as session, session.begin():
                registry_service(session, settings, keyring).register(
                    Context.now(Actor("clerk", str(counter.clerk_id))),
                    enterprise_id=world.enterprise_id,
                    channel_id=counter.channel_id,
                    clerk_id=counter.clerk_id,
                    msisdn=request.msisdn,
                    person=request.customer.to_person(),
                )
            latencies.append(time.perf_counter() - started)
    finally:
        engine.dispose()
    return latencies


def run_register_bench(
    database_url: str,
    *,
    registrations: int,
    concurrency: int,
    workers: int,
    time_limit: float,
    work_dir: Path | None = None,
) -> HttpBenchResult:
    """Build the world on `database_url` (an empty database), run the baseline, then the
    HTTP load against a server on it; both on fresh kits and fresh people."""
    work = work_dir or Path(tempfile.mkdtemp(prefix="realname-bench-"))
    key_file = work / "keys.json"
    settings = Settings(database_url=database_url, key_file=str(key_file))
    engine = create_engine_from_settings(settings)
    migrate.upgrade(engine)
    warmup = 2 * concurrency
    per_counter = math.ceil((2 * registrations + warmup) / concurrency)
    with Session(engine) as session, session.begin():
        world = build_load_world(
            session,
            keyring_from_settings(settings),
            load_policy(settings.policy),
            counters=concurrency,
            kits_per_counter=per_counter,
            people=math.ceil(per_counter * concurrency / CAP_SHARE),
        )
    engine.dispose()
    jobs = list(world.registrations(per_person=CAP_SHARE))
    bare_jobs = jobs[:registrations]
    warm_jobs = jobs[registrations : registrations + warmup]
    http_jobs = jobs[registrations + warmup : 2 * registrations + warmup]

    bare = _bare(settings, world, bare_jobs)

    spawn = multiprocessing.get_context("spawn")
    with (
        ServerProcess(
            database_url, key_file, workers=workers, log_file=work / "server.log"
        ) as server,
        ProcessPoolExecutor(max_workers=1, mp_context=spawn) as load_process,
    ):
        tokens = [fetch_token(server.base_url, c.client_id, c.secret) for c in world.counters]
        load_process.submit(
            drive,
            server.base_url,
            tokens,
            warm_jobs,
            concurrency=concurrency,
            time_limit=time_limit,
        ).result()
        started = time.perf_counter()
        outcomes: list[Outcome] = load_process.submit(
            drive,
            server.base_url,
            tokens,
            http_jobs,
            concurrency=concurrency,
            time_limit=time_limit,
        ).result()
        http_seconds = time.perf_counter() - started
    return HttpBenchResult(201, concurrency, workers, http_seconds, outcomes, bare)
