"""The bare-SQL baselines' common parts: psycopg connections, N workers each on its own
connection timed per transaction, and the audit append as the schema has it.

A baseline is the same statements and writes as the path it measures, issued with psycopg
directly (no ORM, no HTTP, none of our service code), in the same process and run and at the
same concurrency as the HTTP load (DESIGN.md §7): the ratio to it says what our code costs
over what PostgreSQL itself needs. Its statements are written against the tables of Alembic's
head on the scratch database; tests/bench runs them end to end, so a schema change that
breaks them fails there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Engine, make_url

from realname.bench.figures import percentile
from realname.security.audit import NONCE_BYTES, chain_for, content_message

T = TypeVar("T")
W = TypeVar("W")


def psycopg_conninfo(database_url: str) -> str:
    """A libpq URI for a SQLAlchemy URL (`postgresql+psycopg://…` → `postgresql://…`)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError("the bare-SQL baselines run on PostgreSQL")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def fresh_statistics(engine: Engine, *, checkpoint: bool = False) -> None:
    """ANALYZE (and CHECKPOINT) before a measured run, so our run and its bare baseline get the
    plans the loaded tables deserve: autovacuum's analyze otherwise lands during one run and
    not another (the KYC bench's bare read ran on empty-table plans at 7.4k/s against 19k/s,
    docs/benchmarks.md)."""
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
        if checkpoint:
            connection.exec_driver_sql("CHECKPOINT")


@dataclass(frozen=True)
class Run:
    """One path run by N workers: the successful calls' latencies (seconds), the failures,
    and the wall time from the first call to the last answer."""

    key: str  # the JSON prefix of this row's figures in `extra`
    label: str  # the row's name in the table
    latencies: list[float]
    errors: int
    seconds: float
    concurrency: int
    first_error: str | None = None

    @property
    def n(self) -> int:
        return len(self.latencies)

    @property
    def rate_per_s(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000

    def as_extra(self) -> dict[str, Any]:
        """`<key>_rate_per_s`, `_p50_ms`, `_p99_ms`, `_n`, `_errors` for `Figures.extra`."""

        def plain(value: float) -> float | None:
            return None if value != value else round(value, 3)  # NaN is not JSON

        return {
            f"{self.key}_rate_per_s": plain(self.rate_per_s),
            f"{self.key}_p50_ms": plain(self.latency_ms(0.50)),
            f"{self.key}_p99_ms": plain(self.latency_ms(0.99)),
            f"{self.key}_n": self.n,
            f"{self.key}_errors": self.errors,
        }


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    finished: list[float] = field(default_factory=list)


def run_concurrently(
    key: str,
    label: str,
    items: Sequence[T],
    *,
    concurrency: int,
    open_worker: Callable[[], W],
    call: Callable[[W, T], None],
    close_worker: Callable[[W], None],
    recover: Callable[[W], None] = lambda _worker: None,
    time_limit: float = 600.0,
) -> Run:
    """`call(worker, item)` for every item, from `concurrency` threads each with its own
    worker (a connection), taking items in order from one queue; each call timed on its
    own. Workers are opened before the clock starts. A call that raises counts as an error
    (then `recover(worker)`, e.g. a rollback) and the run goes on."""
    lock = threading.Lock()
    cursor = iter(range(len(items)))
    tally = _Tally()
    ready = threading.Barrier(concurrency + 1)
    deadline = [time.monotonic() + time_limit + 3600.0]  # set properly when the clock starts

    def work() -> None:
        try:
            worker = open_worker()
        except Exception as error:
            with lock:
                tally.errors += 1
                tally.first_error = tally.first_error or _describe(error)
            ready.abort()
            return
        try:
            try:
                ready.wait()
            except threading.BrokenBarrierError:
                return
            while time.monotonic() < deadline[0]:
                with lock:
                    n = next(cursor, None)
                if n is None:
                    break
                started = time.perf_counter()
                try:
                    call(worker, items[n])
                except Exception as error:
                    recover(worker)
                    with lock:
                        tally.errors += 1
                        tally.first_error = tally.first_error or _describe(error)
                    continue
                elapsed = time.perf_counter() - started
                with lock:
                    tally.latencies.append(elapsed)
            with lock:
                tally.finished.append(time.perf_counter())
        finally:
            close_worker(worker)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait()
    started = time.perf_counter()
    deadline[0] = time.monotonic() + time_limit
    for thread in threads:
        thread.join()
    ended = max(tally.finished, default=time.perf_counter())
    return Run(
        key, label, tally.latencies, tally.errors, ended - started, concurrency, tally.first_error
    )


def _describe(error: BaseException) -> str:
    state = getattr(getattr(error, "diag", None), "sqlstate", None)
    return f"{type(error).__name__}{f' ({state})' if state else ''}: {str(error)[:200]}"


def run_on_connections(
    key: str,
    label: str,
    conninfo: str,
    items: Sequence[T],
    transaction: Callable[[psycopg.Connection[Any], T], None],
    *,
    concurrency: int,
    time_limit: float,
    autocommit: bool = False,
    warm_up: Callable[[psycopg.Connection[Any]], None] | None = None,
) -> Run:
    """`run_concurrently` with one psycopg connection per worker; a failed call is rolled
    back. `transaction` commits (or, in autocommit, issues a single statement). `warm_up`
    runs on each connection before the clock starts (e.g. reads, so psycopg has prepared
    their statements, as a server's pooled connections have)."""

    def open_connection() -> psycopg.Connection[Any]:
        connection = psycopg.connect(conninfo, autocommit=autocommit)
        if warm_up is not None:
            warm_up(connection)
            if not autocommit:
                connection.rollback()
        return connection

    def rollback(connection: psycopg.Connection[Any]) -> None:
        if not connection.closed and not autocommit:
            connection.rollback()

    return run_concurrently(
        key,
        label,
        items,
        concurrency=concurrency,
        open_worker=open_connection,
        call=transaction,
        close_worker=lambda connection: connection.close(),
        recover=rollback,
        time_limit=time_limit,
    )


# --- the audit entry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditEntry:
    """One audit_log row before it is chained (security/models.py AuditLog)."""

    occurred_at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]
    correlation_id: str | None = None


@dataclass(frozen=True)
class _Content:
    """An entry's content as `security.audit.content_message` reads it."""

    chain: int
    key_id: str
    occurred_at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]
    correlation_id: str | None = None


def append_audit_entry(
    cursor: psycopg.Cursor[Any], entry: AuditEntry, mac_key: bytes, key_id: str
) -> None:
    """The audit append as a request does it on PostgreSQL (security/audit.py `append_audit`,
    deferred mode): one INSERT of a pending entry carrying its keyed content MAC over a random
    nonce, no lock on any shared row. Chaining it (position, link) is the sequencer's work,
    off the request path, which the baseline does not do and our path pays for on the same
    cores."""
    chain = chain_for(entry.object_type, entry.object_id)
    nonce = secrets.token_bytes(NONCE_BYTES)
    # The MAC's message is the audit module's own (a pure function): the sequencer chains
    # what it can verify, so a copy of the format here would drift from it unseen.
    content = _Content(chain, key_id, **dataclasses.asdict(entry))
    mac = hmac.digest(mac_key, content_message(content, nonce), hashlib.sha256)
    cursor.execute(
        "INSERT INTO audit_log (chain, key_id, occurred_at, actor, action, object_type, "
        "object_id, correlation_id, detail, nonce, content_mac) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::json, %s, %s)",
        (
            chain, key_id, entry.occurred_at, entry.actor, entry.action, entry.object_type,
            entry.object_id, entry.correlation_id,
            json.dumps(entry.detail, separators=(",", ":")), nonce, mac,
        ),
    )  # fmt: skip


def row_mac(mac_key: bytes, domain: str, values: Sequence[Any]) -> bytes:
    """A keyed MAC over a row's values, at the cost of the registry's (registry/integrity.py:
    canonical JSON of the values, HMAC-SHA256). The bench's key is not the audit key, so
    `realname check` would refuse these rows: the scratch database is dropped after."""
    body = json.dumps(list(values), sort_keys=True, separators=(",", ":"), default=str)
    return hmac.digest(mac_key, (domain + "\x00" + body).encode(), hashlib.sha256)
