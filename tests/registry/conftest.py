"""A small world for registry tests: one MNO, a block, channels of each kind, clerks,
citizens known to the simulated authority, and SIM kits in stock."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from realname.authority.simulated import SimulatedAuthority
from realname.identity.documents import parse_document
from realname.numbering.blocks import NumberBlock
from realname.policy.loader import load_policy
from realname.policy.schema import ChannelKind, Policy
from realname.possession.service import PossessionService
from realname.registry.commands import (
    Actor,
    Context,
    Desk,
    Kit,
    OtpClaim,
    Person,
    PossessionProof,
)
from realname.registry.lifecycle import is_unregistered_legacy
from realname.registry.service import RegistryService
from realname.security.audit_keys import AuditKeys
from realname.security.vault import KeyRing, generate_key
from realname.sim.documents import random_resident_id

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴霞"]


@pytest.fixture(scope="session")
def keyring() -> KeyRing:
    return KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())


@dataclass
class World:
    session: Session
    service: RegistryService
    enterprise_id: int
    other_enterprise_id: int
    channels: dict[ChannelKind, int]
    clerks: dict[ChannelKind, int]
    other_channel_id: int
    other_clerk_id: int
    people: list[Person]
    next_number: int = 0
    kits: list[Kit] = field(default_factory=list)

    def ctx(self, actor: str = "clerk", at: datetime = NOW) -> Context:
        return Context(Actor(actor, "1"), at, "test-correlator")

    def stock(self, count: int = 1, kind: ChannelKind = ChannelKind.OWN_HALL) -> list[str]:
        kits = []
        for _ in range(count):
            self.next_number += 1
            n = self.next_number
            kits.append(Kit(f"+86138001{n:05d}", f"8986001{n:013d}", f"46000{n:010d}"))
        self.service.stock.stock_kits(self.ctx(), self.enterprise_id, self.channels[kind], kits)
        self.kits.extend(kits)
        return [k.msisdn for k in kits]

    def register(
        self, person: Person, msisdn: str | None = None, kind: ChannelKind = ChannelKind.OWN_HALL
    ) -> str:
        number = msisdn or self.stock(1, kind)[0]
        self.service.register(
            self.ctx(),
            desk=Desk(self.enterprise_id, self.channels[kind], self.clerks[kind]),
            msisdn=number,
            person=person,
            possession=self.prove(number, kind) if msisdn else None,
        )
        return number

    def possession(self) -> PossessionService:
        return PossessionService(
            self.session,
            policy=self.service.policy,
            keyring=self.service.keyring,
            registry=self.service,
        )

    def prove(
        self, msisdn: str, kind: ChannelKind = ChannelKind.OWN_HALL
    ) -> PossessionProof | None:
        """The customer holds the line: for a legacy line, a one-time code sent to it and read
        back at the counter (what the clerk's app does); None for any other line."""
        line = self.service.repo.line(msisdn)
        if line is None or not is_unregistered_legacy(line.state, line.owner_identity_id):
            return None
        possession = self.possession()
        where = {
            "enterprise_id": self.enterprise_id,
            "channel_id": self.channels[kind],
            "clerk_id": self.clerks[kind],
        }
        issued = possession.issue_backfill_code(self.ctx(), line_id=line.id, **where)
        claim = OtpClaim(issued.challenge_id, issued.code)
        return possession.prove_for_backfill(self.ctx(), msisdn=msisdn, claim=claim, **where)


def build_world(session: Session, keyring: KeyRing, policy: Policy) -> World:
    authority = SimulatedAuthority(session, keyring)
    service = RegistryService(session, policy=policy, keyring=keyring, authority=authority)
    ctx = Context(Actor("system", "setup"), NOW)
    mno = service.admin.create_enterprise(ctx, code="CMCC", name="中国移动", kind="mno")
    mvno = service.admin.create_enterprise(ctx, code="MVNO1", name="某虚拟运营商", kind="mvno")
    service.admin.allocate_block(ctx, mno.id, NumberBlock.from_prefix("+86138001"))
    service.admin.allocate_block(ctx, mvno.id, NumberBlock.from_prefix("+86170001"))
    channels, clerks = {}, {}
    for kind in ChannelKind:
        channel = service.admin.create_channel(
            ctx, mno.id, code=f"C-{kind}", name=f"{kind} 1", kind=kind, region_code="110105"
        )
        channels[kind] = channel.id
        clerks[kind] = service.admin.create_clerk(
            ctx, mno.id, channel.id, code=f"K-{kind}", name="营业员"
        ).id
    other = service.admin.create_channel(
        ctx, mvno.id, code="V-1", name="mvno hall", kind=ChannelKind.OWN_HALL, region_code="310101"
    )
    other_clerk = service.admin.create_clerk(ctx, mvno.id, other.id, code="K-V1", name="营业员")
    rng = random.Random(5)
    people = []
    for i, name in enumerate(NAMES):
        number = random_resident_id(
            rng, today=NOW.date(), born=datetime(1960 + i * 3, 5, 17).date()
        )
        people.append(Person(document_number=number, name=name, face_score=0.93))
    authority.enrol((parse_document(p.document_number, today=NOW.date()), p.name) for p in people)
    session.flush()
    return World(
        session, service, mno.id, mvno.id, channels, clerks, other.id, other_clerk.id, people
    )


@pytest.fixture
def china() -> Policy:
    return load_policy("china")


@pytest.fixture
def world(db_session: Session, keyring: KeyRing, china: Policy) -> World:
    return build_world(db_session, keyring, china)
