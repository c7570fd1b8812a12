"""The sender: claims due outbox messages, sends them through a gateway, records the result.

One batch is three kinds of short transaction: claim (commit: the rows are leased to this
worker), then, after the gateway answered, mark_failed_attempt per failed message and
mark_many_sent for the messages sent since the last record (commit). Nothing is held open
while the gateway talks. Sent messages are recorded in groups that double from 1 up to
`RECORD_EVERY` (1, 2, 4, …): a batch whose database has gone away finds out after its
first message, not after hundreds sent and unrecorded, and a healthy one pays one commit
per few hundred messages instead of one each (the demo's 68,605 reminders took 301 s at one
transaction per SMS).

Crash safety. Killed at any point, a sender loses nothing: its claimed rows are still pending
and come back when their lease (`REALNAME_SMS_LEASE_SECONDS`) runs out. The one window the
database cannot close is "the gateway accepted, the sender died before mark_sent committed"
(with grouped records: before the group's record committed): the messages are sent again by
whoever takes them over, and the gateway recognises each re-send by the reference derived
from the outbox id and does not deliver it twice (see `gateways`).
Before sending each message the sender checks that its lease has a quarter of its length
left; if not, it hands the rest of the batch back instead of racing another sender for them.

Stopping. `run(stop_event=…)` finishes the message in hand, hands back the rest of its batch
and returns; `stop_on_signals` turns SIGTERM/SIGINT into that event.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
import secrets
import signal
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from sqlalchemy.exc import DBAPIError

from realname.db.uow import UnitOfWork
from realname.messaging.errors import OutboxError, PermanentGatewayError, TemporaryGatewayError
from realname.messaging.gateways import Gateway
from realname.messaging.schemas import FailureOutcome, OutgoingMessage, SendStats
from realname.messaging.service import (
    DEFAULT_MAX_ATTEMPTS,
    claim,
    earliest_lease_expiry,
    mark_failed_attempt,
    mark_many_sent,
    open_body,
    release,
)
from realname.security.vault import KeyRing

log = logging.getLogger("realname.messaging.sender")

# The most sent messages recorded in one transaction (the group doubles up to it).
RECORD_EVERY = 256


def default_worker_id() -> str:
    """host:pid:random — unique per sender process, at most 64 characters."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class Sender:
    """Drains the outbox through `gateway`. `close()` closes the gateway (and whatever else
    was handed over in `closers`, e.g. the engine `realname.wiring.build_sender` created)."""

    def __init__(
        self,
        uow: UnitOfWork,
        gateway: Gateway,
        *,
        lease_seconds: float = 60.0,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        worker_id: str | None = None,
        clock: Callable[[], datetime],
        rng: random.Random | None = None,
        gateway_pause: float = 1.0,
        max_gateway_pauses: int = 3,
        closers: Sequence[Callable[[], Any]] = (),
        keyring: KeyRing | None = None,
    ) -> None:
        self.uow = uow
        self.gateway = gateway
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.worker_id = (worker_id or default_worker_id())[:64]
        self.clock = clock
        self.rng = rng
        self.gateway_pause = gateway_pause
        self.max_gateway_pauses = max_gateway_pauses
        self._closers = list(closers)
        self.keyring = keyring  # opens sealed bodies (one-time codes)

    def run(
        self,
        *,
        forever: bool = False,
        batch: int = 50,
        poll_interval: float = 2.0,
        stop_event: threading.Event | None = None,
    ) -> SendStats:
        """Send until nothing is due (`forever=False`) or until stopped (`forever=True`).

        Drained means no pending message is due: messages leased to another (perhaps dead)
        sender are waited for until that sender records them or its lease runs out; messages
        waiting out a back-off are not. When the gateway is down or pushing back the sender
        pauses (1 s, 2 s, 4 s … up to 60 s); without `forever` it gives up after
        `max_gateway_pauses` pauses and the result says `gateway_down`.
        """
        stop = stop_event or threading.Event()
        total = SendStats()
        pauses = 0
        while not stop.is_set():
            try:
                stats = self.run_batch(batch, stop)
            except DBAPIError as error:
                if not forever:
                    raise
                # A long-running sender outlives a database restart: pause, then go on.
                pauses += 1
                delay = min(self.gateway_pause * 2 ** (pauses - 1), 60.0)
                log.warning(
                    "database unavailable (%s); pausing %.1f s", type(error).__name__, delay
                )
                stop.wait(delay)
                continue
            total.add(stats)
            if stats.gateway_down:
                pauses += 1
                if not forever and pauses > self.max_gateway_pauses:
                    break
                delay = min(self.gateway_pause * 2 ** (pauses - 1), 60.0)
                log.warning("gateway unavailable; pausing %.1f s", delay)
                stop.wait(delay)
                continue
            pauses = 0
            if stats.claimed:
                continue
            now = self.clock()
            with self.uow.transaction(readonly=True) as session:  # SQLite: plain BEGIN
                expiry = earliest_lease_expiry(session, now)
            if expiry is None:
                if not forever:
                    break
                stop.wait(poll_interval)
                continue
            wait = (expiry - now).total_seconds() + 0.05
            stop.wait(min(max(wait, 0.05), poll_interval))
        log.info("sender %s done: %s", self.worker_id, total.summary())
        return total

    def run_batch(self, batch: int, stop_event: threading.Event | None = None) -> SendStats:
        """Claim up to `batch` due messages and send them; one pass, no waiting."""
        stats = SendStats(batches=1)
        with self.uow.transaction() as session:
            messages = claim(session, self.worker_id, self.clock(), batch, self.lease_seconds)
        stats.claimed = len(messages)
        margin = timedelta(seconds=self.lease_seconds / 4)
        waiting = deque(messages)  # neither attempted nor handed back yet
        unrecorded: list[tuple[int, str]] = []  # sent, (id, gateway id), not yet recorded
        group = 1
        try:
            while waiting:
                message = waiting[0]
                assert message.claimed_until is not None
                stopping = stop_event is not None and stop_event.is_set()
                if stopping or self.clock() >= message.claimed_until - margin:
                    break
                waiting.popleft()
                up = self._send_one(message, stats, unrecorded)
                if len(unrecorded) >= group:
                    self._record_sent(unrecorded, stats)
                    group = min(group * 2, RECORD_EVERY)
                if not up:
                    stats.gateway_down = True
                    break
            self._record_sent(unrecorded, stats)
            stats.released += self._release(list(waiting))
            waiting.clear()
        finally:
            if waiting:
                # Something unforeseen (the database went away mid-batch): hand back what
                # was not attempted rather than leave it locked until the lease runs out.
                with contextlib.suppress(Exception):
                    stats.released += self._release(list(waiting))
        if stats.claimed:
            log.debug("batch of %d: %s", stats.claimed, stats.summary())
        return stats

    def close(self) -> None:
        try:
            self.gateway.close()
        finally:
            for closer in self._closers:
                closer()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- one message ------------------------------------------------------------------------

    def _send_one(
        self, message: OutgoingMessage, stats: SendStats, sent: list[tuple[int, str]]
    ) -> bool:
        """Send; a failure is recorded at once, a success appended to `sent` for the next
        `_record_sent`. False when the gateway as a whole is unavailable."""
        try:
            message = dataclasses.replace(message, body=open_body(self.keyring, message.body))
        except OutboxError:
            self._record_failure(message, "error: sealed body does not open", stats, permanent=True)
            return True
        try:
            gateway_id = self.gateway.send(message)
        except PermanentGatewayError as error:
            self._record_failure(message, error.record, stats, permanent=True)
            return True
        except TemporaryGatewayError as error:
            self._record_failure(message, error.record, stats)
            return not error.gateway_down
        except Exception as error:  # never let one message wedge the outbox: count it
            # Only the type: a library's text might quote the number or the body.
            log.error("gateway raised %s on outbox message %d", type(error).__name__, message.id)
            self._record_failure(message, f"error: {type(error).__name__}", stats)
            return True
        sent.append((message.id, gateway_id))
        return True

    def _record_sent(self, sent: list[tuple[int, str]], stats: SendStats) -> None:
        """Record the sent messages in one transaction and empty the list; a message whose
        claim another sender took over meanwhile is counted lost (it re-sends it, and the
        gateway answers that as a duplicate)."""
        if not sent:
            return
        with self.uow.transaction() as session:
            recorded = mark_many_sent(session, sent, self.worker_id, self.clock())
        stats.sent += len(recorded)
        for message_id, _gateway_id in sent:
            if message_id not in recorded:
                stats.lost += 1
                log.warning("outbox message %d was taken over before it was recorded", message_id)
        sent.clear()

    def _record_failure(
        self, message: OutgoingMessage, error: str, stats: SendStats, *, permanent: bool = False
    ) -> None:
        with self.uow.transaction() as session:
            outcome = mark_failed_attempt(
                session,
                message.id,
                self.worker_id,
                error,
                self.clock(),
                permanent=permanent,
                max_attempts=self.max_attempts,
                rng=self.rng,
            )
        if outcome is FailureOutcome.RETRY:
            stats.retried += 1
        elif outcome is FailureOutcome.FAILED:
            stats.failed += 1
            log.warning("outbox message %d failed: %s", message.id, error)
        else:
            stats.lost += 1

    def _release(self, messages: Sequence[OutgoingMessage]) -> int:
        if not messages:
            return 0
        with self.uow.transaction() as session:
            return release(session, [m.id for m in messages], self.worker_id)


@contextmanager
def stop_on_signals(
    stop_event: threading.Event, signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT)
) -> Iterator[threading.Event]:
    """Within the block, SIGTERM/SIGINT set `stop_event` (the sender then stops after the
    message in hand); the previous handlers come back afterwards. Main thread only; elsewhere
    a no-op."""

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the message in hand", signum)
        stop_event.set()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in signals:
            previous[signum] = signal.signal(signum, on_signal)
    try:
        yield stop_event
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
