"""CPU per registration through our service (no HTTP), one thread, on a scratch PostgreSQL
database: the first half timed plain (wall and process CPU), the second under cProfile.

    .venv/bin/python scripts/profile_registration.py --registrations 800 [--top 40]

Process CPU per registration is the figure a busy machine disturbs least (a neighbour's load
lengthens the wall time, not this process's CPU), so two versions of the code compared on
it, alternated, are comparable even on the shared 2 cores. To compare a version that is not
checked out, put its `src` first: `PYTHONPATH=/path/to/other/src .venv/bin/python …`.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from realname.bench.load import build_load_world
from realname.bench.register import CAP_SHARE
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from realname.db.scratch import scratch_postgres
from realname.policy.loader import load_policy
from realname.registry.commands import Actor, Context, Desk
from realname.registry.schemas import RegistrationIn
from realname.security.keys import keyring_from_settings
from realname.wiring import Process

WARM_UP = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrations", type=int, default=800)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    if args.registrations < 2:
        parser.error("--registrations needs at least 2: half are timed, the other half profiled")
    total = args.registrations + WARM_UP
    with scratch_postgres(args.admin_url) as url, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=url, key_file=str(Path(tmp) / "keys.json"))
        engine = create_engine_from_settings(settings)
        migrate.upgrade(engine)
        keyring = keyring_from_settings(settings)
        clock = settings.clock()
        with Session(engine) as session, session.begin():
            world = build_load_world(
                session,
                keyring,
                load_policy(settings.policy),
                counters=1,
                kits_per_counter=total,
                people=math.ceil(total / CAP_SHARE),
                at=clock.now(),
            )
        engine.dispose()
        (jobs,) = world.registration_runs([total], CAP_SHARE)
        process = Process(settings)

        def register(job: tuple[int, dict[str, Any]]) -> None:
            counter = world.counters[job[0]]
            request = RegistrationIn.model_validate(job[1])
            with process.uow.transaction() as session:
                process.registry(session).register(
                    Context(Actor("clerk", str(counter.clerk_id)), clock.now()),
                    desk=Desk(world.enterprise_id, counter.channel_id, counter.clerk_id),
                    msisdn=request.msisdn,
                    person=request.customer.to_person(),
                )

        try:
            for job in jobs[:WARM_UP]:
                register(job)
            timed = jobs[WARM_UP:]
            half = len(timed) // 2
            wall, cpu = time.perf_counter(), time.process_time()
            for job in timed[:half]:
                register(job)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(
                f"{half} registrations: wall {wall / half * 1000:.3f} ms,"
                f" process CPU {cpu / half * 1000:.3f} ms each"
            )
            profile = cProfile.Profile()
            profile.enable()
            for job in timed[half:]:
                register(job)
            profile.disable()
        finally:
            process.close()
        stats = pstats.Stats(profile)
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
