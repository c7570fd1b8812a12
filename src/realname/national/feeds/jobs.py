"""The feeds' units of work: taking one batch at the platform (each in its own transaction, and
a refusal reported in another), publishing an enterprise's batches through a transport until
the platform has them all, and taking a directory of dropped files.

These own their transactions (through the unit of work handed in), as the registry's and the
back-fill's jobs do: the CLI, the API route and the demo call them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from realname.db.uow import UnitOfWork
from realname.national.feeds.drop import pending_files, read_batch
from realname.national.feeds.envelope import Envelope, sign
from realname.national.feeds.errors import FeedError, FeedErrorCode
from realname.national.feeds.keys import FeedSigningKey, PlatformKeys, SealingKey
from realname.national.feeds.repository import FeedRepository
from realname.national.feeds.service import FeedIngest, FeedPublisher, OwnerSealer, Taken
from realname.security.vault import KeyRing

F = FeedErrorCode
# Refusals that a resend of the same batch cannot cure: the file is set aside.
FINAL = frozenset(
    {
        F.FEED_MALFORMED,
        F.FEED_ENTERPRISE_UNKNOWN,
        F.FEED_UNSIGNED,
        F.FEED_KEY_UNKNOWN,
        F.FEED_SIGNATURE_INVALID,
        F.FEED_BATCH_CONFLICT,
        F.FEED_SEALED_TO_UNKNOWN_KEY,
        F.FEED_ITEM_INVALID,
    }
)


def take_batch(
    uow: UnitOfWork,
    keys: PlatformKeys,
    envelope: Envelope | None,
    *,
    at: datetime,
    transport: str,
    client_enterprise_id: int | None = None,
) -> Taken:
    """Take one batch in one transaction; a refusal is rolled back, reported in a transaction
    of its own, and raised."""
    try:
        with uow.transaction() as session:
            return FeedIngest(session, keys).take(
                envelope, at=at, transport=transport, client_enterprise_id=client_enterprise_id
            )
    except FeedError as error:
        with uow.transaction() as session:
            FeedIngest(session, keys).record_refusal(
                envelope,
                error,
                at=at,
                transport=transport,
                client_enterprise_id=client_enterprise_id,
            )
        raise


class Transport(Protocol):
    """How batches reach the platform: in this process, over HTTP, or as dropped files."""

    name: str

    def sealing_key(self) -> SealingKey: ...

    def push(self, envelope: Envelope) -> Taken | None:
        """The platform's acknowledgement (None: a file drop, acknowledged by its writing);
        FeedError when refused or unreachable."""
        ...


@dataclass
class PublishReport:
    enterprise: str
    built: int = 0
    sent: int = 0
    duplicates: int = 0
    items: int = 0
    refused: str | None = None  # the code that stopped the feed
    expected: int | None = None
    numbers: list[int] = field(default_factory=list)


# What a long job tells a watcher: (phase, done, total or None when not known ahead).
Progress = Callable[[str, int, int | None], None]


def _quiet(_phase: str, _done: int, _total: int | None) -> None:
    return None


def publish(
    uow: UnitOfWork,
    *,
    keyring: KeyRing,
    signing: FeedSigningKey,
    transport: Transport,
    batch_size: int,
    now: Callable[[], datetime],
    snapshot: bool = False,
    progress: Progress | None = None,
    sealer: OwnerSealer | None = None,
) -> PublishReport:
    """Send what an earlier run left unacknowledged, then build the batches since the cursor
    one at a time, each committed and sent as soon as it is built (a 100 M-line snapshot no
    longer holds one transaction for hours and sends nothing until its end; a run stopped
    midway resumes from the last batch stored).

    One run per enterprise at a time: a second run while one holds the enterprise's publisher
    lock is refused FEED_PUBLISH_RUNNING (two cron runs built the same batch numbers and the
    second ended in an IntegrityError). Memory is bounded: each batch is stored as it is built
    and dropped, and read back by id to be sent.

    A platform that says it expects an earlier batch (it lost some: restored from a backup)
    gets them again from there; one that expects a later one has them already, and answers
    each resent batch as a duplicate. Stops at the first refusal it cannot cure, reporting it.
    `sealer`: how each batch's owners are sealed (`OwnerSealer`; default: here, one by one)."""
    report = PublishReport(signing.enterprise)
    try:
        sealing = transport.sealing_key()
    except FeedError as error:  # the platform unreachable, or refusing this client
        report.refused = str(error.code)
        return report
    with uow.transaction(readonly=True) as session:
        enterprise_id = FeedPublisher(
            session, keyring=keyring, signing=signing, sealing=sealing, batch_size=batch_size
        ).enterprise_id()
        lockable = FeedRepository(session).has_publishing_lock()
    with ExitStack() as run:
        if lockable:  # the publisher lock, held to the end of the run
            held = run.enter_context(uow.transaction(readonly=True))
            if not FeedRepository(held).try_lock_publishing(enterprise_id):
                raise FeedError(F.FEED_PUBLISH_RUNNING)
        _publish_locked(
            uow, report, enterprise_id, keyring, signing, sealing, transport, batch_size, now,
            snapshot, progress or _quiet, sealer,
        )  # fmt: skip
    return report


def _publish_locked(
    uow: UnitOfWork,
    report: PublishReport,
    enterprise_id: int,
    keyring: KeyRing,
    signing: FeedSigningKey,
    sealing: SealingKey,
    transport: Transport,
    batch_size: int,
    now: Callable[[], datetime],
    snapshot: bool,
    progress: Progress,
    sealer: OwnerSealer | None = None,
) -> None:
    try:
        with uow.transaction() as session:
            high = FeedRepository(session).high_water_mark()  # commits at once: brief lock
    except FeedError as error:  # FEED_BUSY: a long writer; nothing built, run again later
        report.refused = str(error.code)
        return
    sender = _Sender(uow, report, enterprise_id, signing, transport, now, progress)
    if not sender.send_pending():  # what an earlier run built and did not get through
        return
    channels: dict[int, tuple[str, str]] = {}  # read once for the run, not once per batch
    while True:  # build one batch, commit it, send it: the platform has each at once
        with uow.transaction() as session:
            publisher = FeedPublisher(
                session,
                keyring=keyring,
                signing=signing,
                sealing=sealing,
                batch_size=batch_size,
                channels=channels,
                sealer=sealer,
            )
            built = next(publisher.build(high, now(), snapshot=snapshot), None)
        if built is None:
            return
        report.built += 1
        progress("built", report.built, None)
        if not sender.send_pending():
            return


@dataclass
class _Sender:
    """Sends an enterprise's unacknowledged batches in order, each read back by id."""

    uow: UnitOfWork
    report: PublishReport
    enterprise_id: int
    signing: FeedSigningKey
    transport: Transport
    now: Callable[[], datetime]
    progress: Progress
    rewinds: int = 0

    def send_pending(self) -> bool:
        """Every batch not acknowledged yet; False when the feed stopped on a refusal (in the
        report). A platform expecting an earlier batch gets them again from there (3 times
        per run at most)."""
        while True:
            with self.uow.transaction(readonly=True) as session:
                pending = FeedRepository(session).pending_numbers(self.enterprise_id)
            rewound = False
            for publication_id, number in pending:
                outcome = self._send(publication_id, number)
                if outcome == "stopped":
                    return False
                if outcome == "rewound":
                    rewound = True
                    break
            if not rewound:
                return True

    def _send(self, publication_id: int, number: int) -> str:
        with self.uow.transaction(readonly=True) as session:
            data = FeedRepository(session).envelope_bytes(publication_id)
        envelope = Envelope.from_bytes(data)
        assert envelope is not None  # we built it
        if envelope.key_id != self.signing.key_id:
            # Built under a key since rotated or retired (a leak cannot wait for the feed to
            # catch up): the same body, so the same digest and number, signed with the active
            # key and stored so. The platform refused it for ever, FEED_KEY_RETIRED.
            envelope = sign(envelope.body, self.signing.key_id, self.signing)
            with self.uow.transaction() as session:
                FeedRepository(session).replace_envelope(publication_id, envelope.to_bytes())
        try:
            taken = self.transport.push(envelope)
        except FeedError as error:
            if (
                error.code is F.FEED_BATCH_GAP
                and error.expected is not None
                and error.expected < number
                and self.rewinds < 3
            ):
                self.rewinds += 1
                with self.uow.transaction() as session:
                    FeedRepository(session).unack_from(self.enterprise_id, error.expected)
                return "rewound"  # resend from the number the platform expects
            self.report.refused, self.report.expected = str(error.code), error.expected
            return "stopped"
        with self.uow.transaction() as session:
            FeedRepository(session).ack(publication_id, self.now())
        report = self.report
        report.sent += 1
        report.numbers.append(number)
        report.items += len(envelope.items)
        if taken is not None and taken.duplicate:
            report.duplicates += 1
        self.progress("sent", report.sent, None)
        return "sent"


@dataclass
class DropReport:
    taken: int = 0
    duplicates: int = 0
    waiting: int = 0  # ahead of the expected batch: left for a later run
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file, code)


def take_drop(
    uow: UnitOfWork,
    keys: PlatformKeys,
    directory: str | Path,
    *,
    now: Callable[[], datetime],
    progress: Progress | None = None,
) -> DropReport:
    """Take every dropped file in order: taken ones move to `done/`, refused ones (beyond a
    gap) to `refused/`; a file ahead of its feed waits for the next run."""
    report, progress = DropReport(), progress or _quiet
    folder = Path(directory)
    files = pending_files(folder)
    for done, path in enumerate(files):
        progress("taken", done, len(files))
        envelope = read_batch(path)
        try:
            taken = take_batch(uow, keys, envelope, at=now(), transport="file")
        except FeedError as error:
            if error.code in FINAL:
                report.refused.append((path.name, str(error.code)))
                _move(path, folder / "refused")
            else:
                report.waiting += 1
            continue
        report.taken += 1
        report.duplicates += int(taken.duplicate)
        _move(path, folder / "done")
    progress("taken", len(files), len(files))
    return report


def _move(path: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), folder / path.name)
