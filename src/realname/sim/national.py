"""The demo's national platform: every enterprise of the world publishes its own feed (its own
signing key, registered at the platform; a snapshot back-load, since legacy lines were
imported without events) into the platform in this instance, and a citizen with lines at three
enterprises asks 一证通查. No printing (cli/demo.py prints `NationalDemo`).

Each feed goes through the product's path: `FeedPublisher` builds and signs the batches from
the enterprise's registry, `take_batch` checks each one and applies it to the national index,
as the HTTP route would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from realname.config import Settings
from realname.db.uow import UnitOfWork
from realname.national.feeds.jobs import publish
from realname.national.feeds.keys import PlatformKeys, feed_signing_key, platform_keys
from realname.national.feeds.service import FeedIngest, FeedState, feed_status
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
    for code in codes:
        report = publish(
            uow,
            keyring=keyring,
            signing=signers[code],
            transport=transport,
            batch_size=settings.national_feed_batch_size,
            now=lambda: now,
            snapshot=True,
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
