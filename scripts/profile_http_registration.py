"""Profile one `realname serve` worker under the register + activate HTTP load (issue 14).

Builds a load world in a scratch PostgreSQL database, starts `realname serve --workers N`,
drives `--registrations` POST /v1/registrations from a separate process, and meanwhile runs
`py-spy record` on one worker (`--gil`: only the samples where it holds the GIL, i.e. its
Python time). Prints the rate and writes the profile as a collapsed-stack file, summarised
by `--top` frames.

    flock /tmp/bench.lock .venv/bin/python scripts/profile_http_registration.py \
        --registrations 6000 --seconds 10 --out /tmp/worker.txt
"""

from __future__ import annotations

import argparse
import collections
import math
import multiprocessing
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from sqlalchemy.orm import Session

from realname.bench.load import ServerProcess, build_load_world, drive, fetch_token
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from realname.db.scratch import scratch_postgres
from realname.policy.loader import load_policy, with_attested_chip_reads
from realname.security.keys import keyring_from_settings


def worker_pids(supervisor: int) -> list[int]:
    """The supervisor's children (workers, and the audit sequencer process if any)."""
    out = subprocess.run(  # noqa: S603
        ["ps", "-o", "pid=,args=", "--ppid", str(supervisor)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [int(line.split()[0]) for line in out.splitlines() if line.strip()]


def summarise(path: Path, top: int) -> None:
    """Inclusive share of samples per frame (function (file)), from py-spy's collapsed
    output: one line per stack, `frame;frame;... count`."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        seen = set()
        for frame in stack.split(";"):
            name = frame.split(" (")[0] + " (" + frame.split("/")[-1] if "/" in frame else frame
            if name not in seen:
                seen.add(name)
                inclusive[name] += n
    print(f"{total} samples")
    for name, n in inclusive.most_common(top):
        print(f"{100 * n / max(total, 1):5.1f}%  {name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--registrations", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=250)
    parser.add_argument("--gil", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "realname-worker-profile.txt"
    )
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args()
    with (
        scratch_postgres(args.admin_url, prefix="realname_profile") as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        settings = Settings(database_url=url, key_file=str(Path(tmp) / "keys.json"))
        engine = create_engine_from_settings(settings)
        migrate.upgrade(engine)
        policy = load_policy(settings.policy)
        per_counter = math.ceil((args.registrations + 2 * args.concurrency) / args.concurrency)
        with Session(engine) as session, session.begin():
            world = build_load_world(
                session,
                keyring_from_settings(settings),
                policy,
                counters=args.concurrency,
                kits_per_counter=per_counter,
                people=math.ceil(per_counter * args.concurrency / 4),
                at=settings.clock().now(),
            )
        engine.dispose()
        warmup, jobs = world.registration_runs([2 * args.concurrency, args.registrations], 4)
        spawn = multiprocessing.get_context("spawn")
        with (
            ServerProcess(
                url,
                Path(tmp) / "keys.json",
                workers=args.workers,
                # the load claims chip_read as its own reader attests it (bench register's way)
                extra_env={
                    "REALNAME_POLICY": str(with_attested_chip_reads(settings.policy, Path(tmp)))
                },
            ) as server,
            ProcessPoolExecutor(max_workers=1, mp_context=spawn) as load,
        ):
            tokens = [fetch_token(server.base_url, c.client_id, c.secret) for c in world.counters]
            options = {"concurrency": args.concurrency, "time_limit": 120.0}
            load.submit(drive, server.base_url, tokens, warmup, **options).result()
            assert server.process is not None
            children = worker_pids(server.process.pid)
            started = time.perf_counter()
            running = load.submit(drive, server.base_url, tokens, jobs, **options)
            time.sleep(2.0)
            spy = [
                sys.executable.replace("python", "py-spy"), "record", "-p", str(children[-1]),
                "-r", str(args.rate), "-d", str(args.seconds), "-f", "raw", "-o", str(args.out),
                "--nonblocking",
            ] + (["--gil"] if args.gil else [])  # fmt: skip
            subprocess.run(spy, check=False, capture_output=True)  # noqa: S603
            outcomes = running.result()
            seconds = time.perf_counter() - started
        ok = sum(1 for o in outcomes if o.status == 201)
        print(f"{ok} of {len(outcomes)} answered 201, {ok / seconds:.0f}/s; pids {children}")
        summarise(args.out, args.top)


if __name__ == "__main__":
    main()
