"""Appends per second to ONE audit chain from N threads: inline (the head row locked until
commit, as before issue 14) against deferred (one INSERT; the background sequencer chains),
in one run, on a scratch PostgreSQL database.

    .venv/bin/python scripts/bench_audit_append.py --threads 8 --seconds 5 --hold-ms 0 2

`--hold-ms`: work the transaction does after its audit append before it commits (a
registration's remaining statements), during which inline mode keeps the head locked.
Prints one line per (mode, hold) and a JSON object last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from realname.db.scratch import scratch_postgres
from realname.db.uow import UnitOfWork
from realname.security.audit import DEFERRED_AUDIT, AuditDeferral, append_audit, verify_audit_chains
from realname.security.audit_keys import AuditKeys
from realname.security.audit_sequencer import BackgroundSequencer, sequence_all
from realname.security.vault import KeyRing, generate_key
from realname.tables import load_all_models

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def sample_waits(engine: Engine, until: float) -> Counter[str]:
    """What the benchmark's backends wait on, sampled from pg_stat_activity every 10 ms."""
    seen: Counter[str] = Counter()
    with engine.connect() as connection:
        while time.perf_counter() < until:
            rows = connection.execute(
                text(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'running') "
                    "FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state = 'active'"
                )
            )
            seen.update(r for (r,) in rows)
            connection.rollback()
            time.sleep(0.01)
    return seen


def run(
    uow: UnitOfWork, keyring: KeyRing, threads: int, seconds: float, hold_ms: float
) -> tuple[int, list[float]]:
    stop = time.perf_counter() + seconds
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads)

    def worker(t: int) -> None:
        start.wait()
        mine = latencies[t]
        i = 0
        while time.perf_counter() < stop:
            began = time.perf_counter()
            with uow.transaction() as session:
                append_audit(
                    session,
                    keyring,
                    actor="clerk:1",
                    action="line.activated",
                    object_type="line",
                    object_id="hot",
                    at=AT,
                    detail={"t": t, "i": i},
                )
                session.flush()
                if hold_ms:
                    session.execute(text("SELECT pg_sleep(:s)"), {"s": hold_ms / 1000})
            mine.append((time.perf_counter() - began) * 1000)
            i += 1

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for p in pool:
        p.start()
    for p in pool:
        p.join()
    flat = [x for part in latencies for x in part]
    return len(flat), flat


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--hold-ms", type=float, nargs="+", default=[0.0, 2.0])
    args = parser.parse_args()
    load_all_models()
    keyring = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())
    figures = []
    with scratch_postgres(args.url, prefix="bench_audit") as url:
        engine = create_engine_from_settings(Settings(database_url=url), pool_size=args.threads + 4)
        migrate.upgrade(engine)
        inline = UnitOfWork(sessionmaker(bind=engine, expire_on_commit=False))
        deferral = AuditDeferral()
        deferred = UnitOfWork(
            sessionmaker(bind=engine, expire_on_commit=False, info={DEFERRED_AUDIT: deferral})
        )
        for hold in args.hold_ms:
            for mode, uow in (("inline", inline), ("deferred", deferred)):
                sequencer = None
                if mode == "deferred":
                    sequencer = BackgroundSequencer(uow, lambda: keyring.audit, deferral).start()
                waits: Counter[str] = Counter()
                sampler = threading.Thread(
                    target=lambda into=waits: into.update(
                        sample_waits(engine, time.perf_counter() + args.seconds)
                    )
                )
                sampler.start()
                n, lat = run(uow, keyring, args.threads, args.seconds, hold)
                sampler.join()
                lag = time.perf_counter()
                if sequencer is not None:
                    sequencer.stop()
                left = sequence_all(inline, keyring.audit).chained
                lag_ms = (time.perf_counter() - lag) * 1000
                q = statistics.quantiles(lat, n=100)
                row = {
                    "mode": mode,
                    "hold_ms": hold,
                    "threads": args.threads,
                    "n": n,
                    "rate_per_s": round(n / args.seconds, 1),
                    "p50_ms": round(q[49], 2),
                    "p99_ms": round(q[98], 2),
                    "left_pending_at_end": left,
                    "drain_ms": round(lag_ms, 1),
                    "sequencer_chained": sequencer.chained if sequencer else None,
                    "waits": dict(waits.most_common(4)),
                }
                figures.append(row)
                print(
                    f"{mode:8} hold {hold:4} ms: {row['rate_per_s']:8,.0f} appends/s  "
                    f"p50 {row['p50_ms']:6} ms  p99 {row['p99_ms']:7} ms  "
                    f"(n={n}, pending at end {left}, drained in {lag_ms:.0f} ms)"
                )
                total = sum(waits.values()) or 1
                print(
                    "          backends: "
                    + ", ".join(f"{k} {v / total:.0%}" for k, v in waits.most_common(4))
                )
        with inline.transaction(readonly=True) as session:
            scan = verify_audit_chains(session, keyring.audit)
        print(f"chain verified: {scan.checked} entries, {len(scan.problems or [])} problems")
        engine.dispose()
    for hold in args.hold_ms:
        a, b = (
            next(f for f in figures if f["mode"] == m and f["hold_ms"] == hold)
            for m in ("inline", "deferred")
        )
        print(f"hold {hold} ms: deferred / inline = {b['rate_per_s'] / a['rate_per_s']:.2f}")
    print(json.dumps({"path": "audit append, one chain", "figures": figures}))


if __name__ == "__main__":
    main()
