"""The demo's national platform: every enterprise of the world publishes its own feed (its own
signing key, registered at the platform; a snapshot back-load, since legacy lines were
imported without events) into the platform in this instance, and a citizen with lines at three
enterprises asks 一证通查. No printing (cli/demo.py prints `NationalDemo`).

Each feed goes through the product's path: `FeedPublisher` builds and signs the batches from
the enterprise's registry, `take_batch` checks each one and applies it to the national index,
as the HTTP route would.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from realname.config import Settings
from realname.db.engine import readonly
from realname.db.uow import UnitOfWork
from realname.national.feeds.jobs import publish
from realname.national.feeds.keys import (
    PlatformKeys,
    SealingKey,
    feed_signing_key,
    platform_keys,
)
from realname.national.feeds.repository import UNPUBLISHED_STATES, FeedRepository
from realname.national.feeds.service import (
    FeedIngest,
    FeedState,
    OwnerSealer,
    feed_status,
    seal_owners,
)
from realname.national.feeds.transport import InProcess
from realname.national.index.repository import IndexRepository
from realname.national.lookup.service import Answer, LookupService
from realname.policy.schema import Policy
from realname.registry.identities import opened_fields
from realname.registry.lifecycle import HELD_STATES
from realname.registry.models import Enterprise, Identity, Line
from realname.security.vault import KeyRing
from realname.sim.state import unit_of

HELD = sorted(str(s) for s in HELD_STATES)
# The enterprises' side of a feed (owners opened and sealed to the platform: half the feed's
# CPU) runs in a forked process a few batches ahead of this one, which builds, signs, takes
# and applies them: the machine the demo targets has two cores. Small worlds seal inline.
SEAL_AHEAD_FROM = 20_000  # lines in the world
SEAL_AHEAD = 6  # batches sealed ahead of the one being built
_FORKED: dict[str, Any] = {}  # what the forked sealer inherits (key ring, sealing key, URL)


@dataclass(frozen=True)
class EnterprisePicture:
    code: str
    kind: str
    name: str
    in_service: int
    real_name: int

    @property
    def rate(self) -> float:
        return self.real_name / self.in_service if self.in_service else 0.0


@dataclass
class NationalDemo:
    feeds: list[FeedState] = field(default_factory=list)
    batches: int = 0
    items: int = 0
    picture: list[EnterprisePicture] = field(default_factory=list)
    citizen_enterprises: int = 0
    answer: Answer | None = None
    seconds: float = 0.0
    sealed_ahead: int = 0  # batches whose owners the forked sealer sealed

    def by_kind(self) -> dict[str, tuple[int, int]]:
        """(lines in service, with a registered owner) per enterprise kind."""
        totals: dict[str, tuple[int, int]] = {}
        for row in self.picture:
            lines, named = totals.get(row.kind, (0, 0))
            totals[row.kind] = (lines + row.in_service, named + row.real_name)
        return totals


def run_national(
    engine: Engine, settings: Settings, keyring: KeyRing, policy: Policy, now: datetime
) -> NationalDemo:
    started = time.perf_counter()
    result = NationalDemo()
    keys = platform_keys(settings)
    uow = unit_of(engine)
    with uow.transaction() as session:
        codes = list(session.scalars(select(Enterprise.code).order_by(Enterprise.id)))
        ingest = FeedIngest(session, keys)
        signers = {code: feed_signing_key(settings, code) for code in codes}
        for code, signer in signers.items():
            ingest.register_key(code, signer.key_id, signer.public_raw, now)
    transport = InProcess(uow, keys, lambda: now)
    batch_size = settings.national_feed_batch_size
    with _sealed_ahead(engine, keyring, transport.sealing_key(), batch_size, result) as sealers:
        for code in codes:
            report = publish(
                uow,
                keyring=keyring,
                signing=signers[code],
                transport=transport,
                batch_size=batch_size,
                now=lambda: now,
                snapshot=True,
                sealer=sealers.get(code),
            )
            result.batches += report.sent
            result.items += report.items
    with uow.transaction(readonly=True) as session:
        result.feeds = feed_status(session, now, late_after=now - now)
        result.picture = [
            EnterprisePicture(code, kind, name, in_service, named)
            for code, kind, name, in_service, named, _ in IndexRepository(session).picture()
        ]
        citizen = _citizen(session)
    if citizen is not None:
        identity_id, result.citizen_enterprises = citizen
        result.answer = _lookup(uow, keys, keyring, settings, policy, now, identity_id)
    result.seconds = time.perf_counter() - started
    return result


def _citizen(session: Session) -> tuple[int, int] | None:
    """The citizen holding lines in service at the most enterprises (three or more if any)."""
    spread = func.count(func.distinct(Line.enterprise_id))
    row = session.execute(
        select(Line.owner_identity_id, spread)
        .where(Line.owner_identity_id.is_not(None), Line.state.in_(HELD))
        .group_by(Line.owner_identity_id)
        .order_by(spread.desc(), Line.owner_identity_id)
        .limit(1)
    ).first()
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


def _lookup(
    uow: UnitOfWork,
    keys: PlatformKeys,
    keyring: KeyRing,
    settings: Settings,
    policy: Policy,
    now: datetime,
    identity_id: int,
) -> Answer:
    """The citizen's own steps: ID, name and one of their numbers; the code read off the
    phone (the outbox holds it sealed); the answer."""
    with uow.transaction() as session:
        identity = session.get(Identity, identity_id)
        assert identity is not None
        clear = opened_fields(
            keyring, identity.key_id, identity.number_sealed, identity.name_sealed
        )
        msisdn = session.scalars(
            select(Line.msisdn)
            .where(Line.owner_identity_id == identity_id, Line.state.in_(HELD))
            .order_by(Line.id)
            .limit(1)
        ).one()
        service = LookupService.configured(
            session, keys=keys, keyring=keyring, settings=settings, policy=policy
        )
        issued = service.issue(
            doc_type=identity.doc_type,
            doc_number=clear.document_number or "",
            name=clear.name or "",
            msisdn=msisdn,
            source="demo",
            at=now,
        )
    with uow.transaction() as session:
        service = LookupService.configured(
            session, keys=keys, keyring=keyring, settings=settings, policy=policy
        )
        return service.answer(challenge_id=issued.challenge_id, code=issued.code or "", at=now)


@contextmanager
def _sealed_ahead(
    engine: Engine, keyring: KeyRing, sealing: SealingKey, batch_size: int, result: NationalDemo
) -> Iterator[dict[str, OwnerSealer]]:
    """Per enterprise code, a sealer that hands the publisher each snapshot batch's owners
    sealed by a forked process, which works through every enterprise's batches (the same
    `seal_owners`, on its own connection) a few batches ahead. A batch whose owners are not the
    ones sealed ahead (none is expected: the registry does not change while the feeds run) is
    sealed here. Empty for a small world or an in-memory database."""
    url = engine.url
    with Session(readonly(engine)) as session:
        lines = session.scalar(select(func.count()).select_from(Line)) or 0
        starts = _snapshot_batches(session, batch_size) if lines >= SEAL_AHEAD_FROM else {}
    in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    if not starts or in_memory:
        yield {}
        return
    _FORKED.update(url=url, keyring=keyring, sealing=sealing)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        jobs = iter(
            [
                (code, enterprise_id, after)
                for code, (enterprise_id, afters) in starts.items()
                for after in afters
            ]
        )
        ahead: deque[tuple[str, Future[tuple[list[int], dict[int, dict[str, str]]]]]] = deque()

        def top_up() -> None:
            while len(ahead) < SEAL_AHEAD:
                job = next(jobs, None)
                if job is None:
                    return
                code, enterprise_id, after = job
                ahead.append((code, pool.submit(_seal_batch, enterprise_id, after, batch_size)))

        order = {code: n for n, code in enumerate(starts)}  # the enterprises publish so

        def sealer_of(code: str) -> OwnerSealer:
            def sealed(ids: Sequence[int]) -> dict[int, dict[str, str]]:
                top_up()
                # an earlier enterprise's batches it did not build (its publish stopped
                # early): dropped, or they would hold the queue for every later one
                while ahead and order[ahead[0][0]] < order[code]:
                    ahead.popleft()[1].cancel()
                    top_up()
                if ahead and ahead[0][0] == code:
                    future = ahead.popleft()[1]
                    top_up()
                    try:
                        sealed_ids, owners = future.result()
                    except Exception:  # the sealer process failed: seal here
                        sealed_ids = None
                    if sealed_ids is not None and sealed_ids == sorted(set(ids)):
                        result.sealed_ahead += 1
                        return owners
                with Session(readonly(engine)) as session:  # not the one sealed ahead
                    return seal_owners(FeedRepository(session), keyring, sealing, ids)

            return sealed

        try:
            yield {code: sealer_of(code) for code in starts}
        finally:
            for _code, future in ahead:
                future.cancel()


def _snapshot_batches(session: Session, batch_size: int) -> dict[str, tuple[int, list[int]]]:
    """Per enterprise code, its id and where each of its snapshot batches starts (the line id
    before its first line), as `FeedPublisher.build` cuts them."""
    starts: dict[str, tuple[int, list[int]]] = {}
    for code, enterprise_id in session.execute(
        select(Enterprise.code, Enterprise.id).order_by(Enterprise.id)
    ):
        ids = session.scalars(
            select(Line.id)
            .where(Line.enterprise_id == enterprise_id, Line.state.not_in(UNPUBLISHED_STATES))
            .order_by(Line.id)
        ).all()
        afters = [0, *(int(i) for i in ids[batch_size - 1 : -1 : batch_size])] if ids else []
        starts[code] = (int(enterprise_id), afters)
    return starts


def _seal_batch(
    enterprise_id: int, after: int, limit: int
) -> tuple[list[int], dict[int, dict[str, str]]]:
    """In the forked sealer: one snapshot batch's owners (their ids, sorted) and their sealed
    boxes, read on the process's own connection."""
    engine = _FORKED.get("engine")
    if engine is None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        engine = _FORKED["engine"] = create_engine(_FORKED["url"], poolclass=NullPool)
    with Session(engine) as session:
        repo = FeedRepository(session)
        rows = repo.lines_after(enterprise_id, after, limit)
        ids = sorted({int(r[4]) for r in rows if r[4] is not None})
        return ids, seal_owners(repo, _FORKED["keyring"], _FORKED["sealing"], ids)
