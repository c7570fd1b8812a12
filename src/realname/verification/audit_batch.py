"""Group commit for the audit entries of the relying parties' calls: one writer per worker.

A call's answer is a read; its audit entry is the only row it writes. Committing each entry in
its own transaction costs every call a write transaction (its statements and a WAL flush).
Here the calls of one worker hand their entries to one writer thread, which appends every
entry waiting at that moment in ONE transaction (one INSERT of pending entries when the
process appends deferred; else `append_audit` for each, sorted by chain so two batches lock
chain heads in one order) and commits; each call waits for the commit of
the batch holding its entry before it answers. So no answer is ever returned whose audit
entry is not committed: a batch that fails fails every call in it (503, nothing answered),
and a process killed mid-batch has answered none of that batch's calls.

There is no timer: while one batch commits, the next one gathers (the busier the worker, the
larger the batches), and an idle worker's single call is written at once.

A batch carries one `concurrent.futures.Future`, resolved by the writer when the batch is
committed (or failed). A thread waits on it (`append`); the async KYC Match read awaits it
(`submit` + `asyncio.wrap_future`), so the event loop hands nothing to a thread per call: the
writer wakes once per batch and resolves every call of it at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool
from sqlalchemy.orm import Session

from realname.db.uow import UnitOfWork
from realname.security.audit import (
    AuditDeferral,
    PendingEntry,
    append_audit,
    append_pending,
    chain_for,
    deferral_of,
    pending_entry,
)
from realname.security.repository import insert_pending_async
from realname.security.vault import KeyRing


@dataclass
class _Batch:
    """The entries gathering for one transaction, and the future every call in it waits on."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    done: Future[None] = field(default_factory=Future)

    def __post_init__(self) -> None:
        # Running from the start: a waiter that gives up (a timeout, a client gone: asyncio
        # cancels the awaited wrapper, which cancels its source) cannot cancel the future
        # every other call of the batch waits on.
        self.done.set_running_or_notify_cancel()


class AuditBatcher:
    """`append(entries)` returns once they are committed, or raises what the commit raised;
    `submit(entries)` returns the future of the batch they joined (an async caller awaits it
    with `asyncio.wrap_future`: no thread of its own per call)."""

    def __init__(
        self,
        uow: UnitOfWork,
        keyring: KeyRing,
        *,
        max_entries: int = 500,
        timeout_seconds: float = 30.0,
        one_statement: Callable[[], Session] | None = None,
    ) -> None:
        """`one_statement`: sessions in autocommit that append deferred (PostgreSQL): a batch
        is then one multi-row INSERT, its own transaction, in one round trip."""
        self.uow = uow
        self.one_statement = one_statement
        self.timeout_seconds = timeout_seconds
        self.keyring = keyring
        self.max_entries = max_entries
        self._queue: list[_Batch] = []  # the last one gathers; the writer takes the first
        self._wakeup = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.batches = 0  # committed batches (tests, metrics)

    def append(self, entries: Sequence[dict[str, Any]]) -> None:
        """`entries`: keyword arguments of `append_audit` (without session and keyring)."""
        if not entries:
            return
        try:
            self.submit(entries).result(self.timeout_seconds)
        except FutureTimeout:
            raise TimeoutError("the audit writer did not answer") from None  # nothing answered

    def submit(self, entries: Sequence[dict[str, Any]]) -> Future[None]:
        """Hand these entries to the writer; the future is done when their batch is committed
        (or failed: then it raises what the commit raised)."""
        if any("notes" in entry for entry in entries):
            # Sealed notes need the vault in the batch's transaction: refused here, alone,
            # rather than failing a whole batch of other callers' entries.
            raise ValueError("the audit writer takes coded details only, no sealed notes")
        with self._wakeup:
            if self._closed:
                raise RuntimeError("the audit writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="realname-audit-writer", daemon=True
                )
                self._thread.start()
            if not entries:
                done: Future[None] = Future()
                done.set_result(None)
                return done
            if not self._queue or len(self._queue[-1].entries) >= self.max_entries:
                self._queue.append(_Batch())
                self._wakeup.notify()
            batch = self._queue[-1]
            batch.entries.extend(entries)
            return batch.done

    def close(self) -> None:
        """Write what is waiting, then stop the writer."""
        with self._wakeup:
            self._closed = True
            self._wakeup.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._queue and not self._closed:
                    self._wakeup.wait()
                if not self._queue:
                    return
                batch = self._queue.pop(0)  # later calls gather in a new one meanwhile
            self._write(batch)

    def _pending(self, entries: Sequence[dict[str, Any]]) -> list[PendingEntry]:
        return [pending_entry(self.keyring, **entry) for entry in entries]

    def _write(self, batch: _Batch) -> None:
        # One order of chain heads for every batch (and the entries of a chain in arrival
        # order): two writers never wait on each other's heads in a cycle.
        entries = sorted(batch.entries, key=lambda e: chain_for(e["object_type"], e["object_id"]))
        try:
            if self.one_statement is not None:
                with self.one_statement() as session:  # committed by the statement itself
                    append_pending(session, self._pending(entries))
            else:
                with self.uow.transaction() as session:
                    # Deferred: the batch is one INSERT of pending entries; inline (SQLite):
                    # each entry takes its chain's head lock.
                    if deferral_of(session) is not None:
                        append_pending(session, self._pending(entries))
                    else:
                        for entry in entries:
                            append_audit(session, self.keyring, **entry)
        except BaseException as error:  # every call of the batch fails; none is answered
            batch.done.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        self.batches += 1
        batch.done.set_result(None)


class AsyncAuditBatcher:
    """Group commit on the event loop, for the async KYC Match route (PostgreSQL, audit
    appends deferred): a call's entries join the batch that is filling; a task of the loop
    inserts it (one multi-row INSERT of pending entries on the async pool, its own
    transaction) and resolves the batch's future. Up to `max_in_flight` batches are written at
    once (PostgreSQL flushes their commits together), so a call waits for about one commit,
    not for the one before it as well; past that, the filling batch waits for the first
    insert to end. No thread: a call costs the loop no hand-off, and the writer never waits
    for the GIL the loop holds.

    `append(entries)` returns once they are committed, or raises what the insert raised (every
    call of that batch fails; none is answered)."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        keyring: KeyRing,
        deferral: AuditDeferral,
        *,
        max_entries: int = 500,
        max_in_flight: int = 4,
        timeout_seconds: float = 30.0,
    ) -> None:
        self.pool = pool
        self.keyring = keyring
        self.deferral = deferral
        self.max_entries = max_entries
        self.max_in_flight = max_in_flight
        self.timeout_seconds = timeout_seconds
        self._filling: tuple[list[dict[str, Any]], asyncio.Future[None]] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self.batches = 0  # committed batches (tests, metrics)

    async def append(self, entries: Sequence[dict[str, Any]]) -> None:
        if not entries:
            return
        if any("notes" in entry for entry in entries):
            raise ValueError("the audit writer takes coded details only, no sealed notes")
        loop = asyncio.get_running_loop()
        if self._filling is None or len(self._filling[0]) >= self.max_entries:
            if self._filling is not None:  # full: it goes as soon as a writer is free
                self._start(loop, force=True)
            self._filling = ([], loop.create_future())
        batch, done = self._filling
        batch.extend(entries)
        self._start(loop)
        # Shielded: a call that gives up (its client gone) does not cancel its batch's future.
        await asyncio.wait_for(asyncio.shield(done), self.timeout_seconds)

    def _start(self, loop: asyncio.AbstractEventLoop, force: bool = False) -> None:
        """Write the filling batch now if a writer is free (or `force`)."""
        if self._filling is None or not (force or len(self._in_flight) < self.max_in_flight):
            return
        batch, done = self._filling
        self._filling = None
        task = loop.create_task(self._run(batch, done))
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if self._filling is not None:
            self._start(asyncio.get_running_loop())

    async def _run(self, batch: list[dict[str, Any]], done: asyncio.Future[None]) -> None:
        try:
            await self._write(batch)
        except Exception as error:  # every call of the batch fails; none is answered
            done.set_exception(error)
        else:
            self.batches += 1
            done.set_result(None)

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        entries = sorted(batch, key=lambda e: chain_for(e["object_type"], e["object_id"]))
        rows = [pending_entry(self.keyring, **entry).columns() for entry in entries]
        async with self.pool.connection() as connection:
            await insert_pending_async(connection, rows)
        self.deferral.note_append()
