"""Round trips to PostgreSQL, counted on the wire: what a hot path's regression guard pins.

A statement count misses what SQLAlchemy's events never see (psycopg's own BEGIN and COMMIT,
statements sent straight on the driver connection, a pipeline) and counts a pipeline of four
statements as four. Here libpq traces every connection checked out of the engine in the
block (`PQtrace`), and a round trip is one turn of the wire: messages sent, then the
server's answer read. So BEGIN and COMMIT count one each, a statement outside a pipeline one,
a pipeline one however many statements it carries. The audit sequencer's thread is left out:
it chains entries whenever it wakes, not as part of the request.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import Engine, event

from realname.security.audit_sequencer import SEQUENCER_THREAD


@dataclass
class RoundTrips:
    """Each round trip as the statements it carried (their SQL text, first line)."""

    trips: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.trips)

    def __str__(self) -> str:
        return "\n".join(f"{n + 1}. " + " | ".join(trip) for n, trip in enumerate(self.trips))


def _parse(trace: str) -> list[list[str]]:
    """One round trip per turn of the wire: what the client sent, then the server's answer
    (a pipeline's statements go in one turn, with or without a sync between them)."""
    trips: list[list[str]] = []
    statements: list[str] = []
    sending = False
    for line in trace.splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        side, message, rest = parts[0], parts[2], parts[3] if len(parts) > 3 else ""
        if side == "F":
            sending = True
            if message == "Query":
                statements.append(rest.strip().strip('"')[:100])
            elif message == "Parse":
                # Parse "<name>" "<sql>" n …: the statement's text is the second quoted field
                quoted = rest.strip().split('"')
                statements.append((quoted[3] if len(quoted) > 3 else rest)[:100])
        elif side == "B" and sending:
            trips.append(statements)
            statements, sending = [], False
    return trips


@contextmanager
def round_trips(engine: Engine) -> Iterator[RoundTrips]:
    """The round trips made in the block on connections checked out of `engine` (not by
    the audit sequencer). PostgreSQL only: SQLite has no wire."""
    if engine.dialect.name != "postgresql":
        raise ValueError("round trips are counted on PostgreSQL")
    counted = RoundTrips()
    # libpq's trace holds the statements' bound values (phone numbers among them): the folder
    # is removed with the block.
    folder = tempfile.mkdtemp(prefix="realname-trace-")
    traced: dict[int, tuple[psycopg.Connection[Any], str, int]] = {}
    lock = threading.Lock()
    checkouts = itertools.count()  # one file per checkout: a connection checked out again
    # in the block must not append to, and have counted again, the file of its last checkout

    def checkout(dbapi_connection: Any, _record: object, _proxy: object) -> None:
        if threading.current_thread().name == SEQUENCER_THREAD:
            return
        driver = dbapi_connection  # pool events hand over the DBAPI (psycopg) connection
        path = os.path.join(folder, f"{next(checkouts)}.trace")
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        driver.pgconn.trace(handle)
        driver.pgconn.set_trace_flags(
            psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE
        )
        with lock:
            traced[id(driver)] = (driver, path, handle)

    def checkin(dbapi_connection: Any, _record: object) -> None:
        if dbapi_connection is None:
            return
        driver = dbapi_connection  # pool events hand over the DBAPI (psycopg) connection
        with lock:
            found = traced.pop(id(driver), None)
        if found is not None:
            _stop(found)

    def _stop(found: tuple[psycopg.Connection[Any], str, int]) -> None:
        driver, path, handle = found
        if not driver.closed:
            driver.pgconn.untrace()  # flushes the trace; the stream is not written again
        os.close(handle)
        with open(path, encoding="utf-8", errors="replace") as trace:
            counted.trips.extend(_parse(trace.read()))

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        yield counted
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)
        with lock:
            left = list(traced.values())
            traced.clear()
        for found in left:
            _stop(found)
        shutil.rmtree(folder, ignore_errors=True)
