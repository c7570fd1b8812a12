"""A registration decides on plain reads, asks the identity authority without a row lock, and
writes in one statement that takes the locks only if the line and the identity are still as
read (PostgreSQL). What commits in between is found there, and the registration locks, reads
again and decides again. Each test commits a change from another session while the authority
is being asked (SQLite serialises writers from BEGIN, so nothing can commit in between there).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from realname.authority.simulated import SimulatedAuthority
from realname.identity.authority import AuthorityVerdict
from realname.identity.documents import ParsedDocument
from realname.policy.loader import load_policy
from realname.policy.schema import ChannelKind
from realname.possession.service import PossessionService
from realname.registry.check import run_integrity_check
from realname.registry.commands import Actor, Context, Desk, OtpClaim, Person
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.guards import O
from realname.registry.models import Holding, Identity, Line, LineEvent
from realname.registry.registration_repository import RegistrationRepository
from realname.registry.service import RegistryService
from realname.security.vault import KeyRing
from tests.backfill.test_campaign import add_legacy
from tests.registry.conftest import NOW, World, build_world

CHINA = load_policy("china")


class Meanwhile:
    """The simulated authority, which first runs `change` in a session of its own and commits
    it (once): what another request does while this one waits for the authority."""

    def __init__(self, session: Session, keyring: KeyRing, change: Callable[[Session], None]):
        self.inner = SimulatedAuthority(session, keyring)
        self.change: Callable[[Session], None] | None = change
        self.sessions = sessionmaker(bind=session.get_bind())

    def verify(self, document: ParsedDocument, name: str) -> AuthorityVerdict:
        if self.change is not None:
            change, self.change = self.change, None
            with self.sessions() as other, other.begin():
                change(other)
        return self.inner.verify(document, name)


def service(session: Session, keyring: KeyRing, authority: object | None = None) -> RegistryService:
    return RegistryService(
        session,
        policy=CHINA,
        keyring=keyring,
        authority=authority or SimulatedAuthority(session, keyring),  # type: ignore[arg-type]
    )


def at_counter(world: World) -> Desk:
    kind = ChannelKind.OWN_HALL
    return Desk(world.enterprise_id, world.channels[kind], world.clerks[kind])


def ctx(hours: int = 0) -> Context:
    return Context(Actor("clerk", "1"), NOW + timedelta(hours=hours), "race")


@pytest.fixture
def postgres(fresh_engine: Engine) -> Engine:
    if fresh_engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers: nothing can commit between read and write")
    return fresh_engine


@pytest.fixture
def relocked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the registration had to lock and read again (its slow path), in order."""
    taken: list[str] = []
    lock_line, lock_identity = (
        RegistrationRepository.lock_line,
        RegistrationRepository.lock_identity_row,
    )

    def line(self: RegistrationRepository, line_id: int) -> object:
        taken.append("line")
        return lock_line(self, line_id)

    def identity(self: RegistrationRepository, identity_id: int) -> object:
        taken.append("identity")
        return lock_identity(self, identity_id)

    monkeypatch.setattr(RegistrationRepository, "lock_line", line)
    monkeypatch.setattr(RegistrationRepository, "lock_identity_row", identity)
    return taken


def checked(engine: Engine, keyring: KeyRing) -> None:
    with Session(engine) as session:
        report = run_integrity_check(session, CHINA, keyring)
        assert report.ok, {r.name: r.violations for r in report.results if r.violations}


def test_a_twin_that_registered_the_kit_meanwhile_wins(
    postgres: Engine, keyring: KeyRing, relocked: list[str]
) -> None:
    with Session(postgres) as session, session.begin():
        world = build_world(session, keyring, CHINA)
        kit = world.stock(1)[0]
    desk, first, second = at_counter(world), world.people[0], world.people[1]

    def twin(other: Session) -> None:
        service(other, keyring).register(ctx(), desk=desk, msisdn=kit, person=second)

    with Session(postgres) as session, session.begin():
        racing = service(session, keyring, Meanwhile(session, keyring, twin))
        with pytest.raises(RegistryError) as refused:
            racing.register(ctx(), desk=desk, msisdn=kit, person=first)
    assert refused.value.code is RegistryErrorCode.ILLEGAL_TRANSITION
    assert relocked == ["line"]
    with Session(postgres) as session:
        line = session.scalars(select(Line).where(Line.msisdn == kit)).one()
        events = session.scalars(select(LineEvent.operation).where(LineEvent.line_id == line.id))
        assert line.state == "active" and list(events) == ["stock", "register"]
        assert session.scalars(select(Holding.active_count)).all() == [1]
    checked(postgres, keyring)


def test_a_legacy_line_barred_meanwhile_is_registered_and_the_bar_lifted(
    postgres: Engine, keyring: KeyRing, relocked: list[str]
) -> None:
    with Session(postgres) as session, session.begin():
        world = build_world(session, keyring, CHINA)
        line = add_legacy(world, 1)[0]
        line_id, msisdn = line.id, line.msisdn
        desk = at_counter(world)
        where = {"enterprise_id": desk.enterprise_id, "channel_id": desk.channel_id}
        issued = PossessionService(
            session, policy=CHINA, keyring=keyring, registry=world.service
        ).issue_backfill_code(ctx(), clerk_id=desk.clerk_id, line_id=line_id, **where)
    person = world.people[0]

    def bar(other: Session) -> None:
        barred = other.get(Line, line_id)
        assert barred is not None
        service(other, keyring).apply_backfill_move(ctx(), barred, O.BACKFILL_RESTRICT)

    with Session(postgres) as session, session.begin():
        racing = service(session, keyring, Meanwhile(session, keyring, bar))
        proof = PossessionService(
            session, policy=CHINA, keyring=keyring, registry=racing
        ).prove_for_backfill(
            ctx(),
            clerk_id=desk.clerk_id,
            msisdn=msisdn,
            claim=OtpClaim(issued.challenge_id, issued.code),
            **where,
        )
        registered = racing.register(
            ctx(), desk=desk, msisdn=msisdn, person=person, possession=proof
        )
        assert registered.state == "active" and registered.barring_reason is None
    with Session(postgres) as session:
        events = session.scalars(
            select(LineEvent).where(LineEvent.line_id == line_id).order_by(LineEvent.seq)
        ).all()
        assert [e.operation for e in events] == ["backfill_restrict", "register_legacy"]
        assert events[-1].detail["lifted"] == "backfill"
        assert events[-1].from_state == "restricted"
    checked(postgres, keyring)


def test_the_same_person_registered_elsewhere_meanwhile(
    postgres: Engine, keyring: KeyRing, relocked: list[str]
) -> None:
    """The identity row changed (verified again, its MAC with it) between the registration's
    read of it (with the counter and line) and its write: the write finds another MAC, locks
    the row, reads it again."""
    with Session(postgres) as session, session.begin():
        world = build_world(session, keyring, CHINA)
        person: Person = world.people[0]
        world.register(person)
        first, second = world.stock(2)
    desk = at_counter(world)

    def register_elsewhere(other: Session) -> None:
        service(other, keyring).register(ctx(hours=1), desk=desk, msisdn=second, person=person)

    with Session(postgres) as session, session.begin():
        racing = service(session, keyring, Meanwhile(session, keyring, register_elsewhere))
        racing.register(ctx(hours=2), desk=desk, msisdn=first, person=person)
    assert relocked == ["identity"]
    with Session(postgres) as session:
        owners = session.scalars(
            select(func.count(func.distinct(Line.owner_identity_id))).where(
                Line.msisdn.in_([first, second])
            )
        ).one()
        assert owners == 1
        assert session.scalars(select(Holding.active_count)).all() == [3]
    checked(postgres, keyring)


def test_a_refusal_after_a_new_identity_leaves_nothing(
    postgres: Engine, keyring: KeyRing, relocked: list[str]
) -> None:
    """A person seen for the first time gets an identity row before the write; if the line
    then turns out taken (a twin registered the kit meanwhile), the refusal removes it again,
    so even a caller that does not roll back keeps no row without its MAC."""
    with Session(postgres) as session, session.begin():
        world = build_world(session, keyring, CHINA)
        kit = world.stock(1)[0]
    desk, first, second = at_counter(world), world.people[0], world.people[1]

    def twin(other: Session) -> None:
        service(other, keyring).register(ctx(), desk=desk, msisdn=kit, person=second)

    with Session(postgres) as session, session.begin():
        racing = service(session, keyring, Meanwhile(session, keyring, twin))
        with pytest.raises(RegistryError):
            racing.register(ctx(), desk=desk, msisdn=kit, person=first)
    assert relocked == ["line"]
    with Session(postgres) as session:
        assert session.scalar(select(func.count()).select_from(Identity)) == 1
    checked(postgres, keyring)
