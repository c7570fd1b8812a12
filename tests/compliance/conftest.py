"""The compliance tests' worlds: the registry tests' world (an MNO with a hall of each kind in
Beijing, an MVNO with a hall in Shanghai, citizens known to the simulated authority), grown by
outlets in Guangdong for the inspections; and the inspection, enforcement and complaint
services over it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from realname.channels.service import ChannelService
from realname.compliance.complaints.service import ComplaintService
from realname.compliance.enforcement.service import EnforcementService
from realname.compliance.inspections.evidence import EvidenceStore
from realname.compliance.inspections.service import Acting, InspectionService
from realname.policy.schema import ChannelKind, Policy
from realname.provisioning.service import ProvisioningService
from realname.registry.commands import Actor, Context
from realname.registry.reverification import ReverificationAsked, ReverificationTriggers
from realname.security.vault import KeyRing
from tests.registry.conftest import NOW, World, build_world, china, keyring, world

__all__ = ["china", "keyring", "world"]

GUANGDONG = "440106"  # 广州市天河区


def grow(world: World) -> dict[str, list[int]]:
    """Ten more outlets per enterprise in Guangdong, of two kinds: channel ids by enterprise."""
    ctx = world.ctx("system")
    added: dict[str, list[int]] = {"CMCC": [], "MVNO1": []}
    for code, enterprise in (("CMCC", world.enterprise_id), ("MVNO1", world.other_enterprise_id)):
        for i in range(10):
            kind = ChannelKind.SOCIAL if i % 2 else ChannelKind.ONLINE
            channel = world.service.admin.create_channel(
                ctx,
                enterprise,
                code=f"G-{code}-{i}",
                name=f"outlet {i}",
                kind=kind,
                region_code=GUANGDONG,
            )
            added[code].append(channel.id)
    world.session.flush()
    return added


@pytest.fixture
def sector(db_session: Session, keyring: KeyRing, china: Policy) -> World:
    world = build_world(db_session, keyring, china)
    grow(world)
    return world


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EvidenceStore]:
    return EvidenceStore(tmp_path / "evidence")


@pytest.fixture
def inspections(db_session: Session, keyring: KeyRing, store: EvidenceStore) -> InspectionService:
    return InspectionService(db_session, keyring, store)


def national(at: object = NOW) -> Acting:
    return Acting(Context(Actor("regulator", "r1"), at, "corr"))  # type: ignore[arg-type]


def inspector(client_id: str, at: object = NOW) -> Acting:
    return Acting(
        Context(Actor("regulator_inspector", client_id), at, "corr"),  # type: ignore[arg-type]
        inspector=client_id,
    )


def provincial(province: str, at: object = NOW) -> Acting:
    return Acting(
        Context(Actor("provincial_regulator", "p1"), at, "corr"),  # type: ignore[arg-type]
        province=province,
    )


def regulator(at: datetime = NOW) -> Context:
    return Context(Actor("regulator", "miit"), at, "test-correlator")


def centre(at: datetime = NOW) -> Context:
    return Context(Actor("complaint_centre", "12321"), at, "test-correlator")


def enterprise_admin(at: datetime = NOW) -> Context:
    return Context(Actor("enterprise_admin", "cmcc"), at, "test-correlator")


def enforcement_of(world: World, policy: Policy | None = None) -> EnforcementService:
    policy = policy or world.service.policy
    return EnforcementService(
        world.session,
        policy=policy,
        keyring=world.service.keyring,
        registry=world.service,
        channels=ChannelService(world.session, policy=policy, registry=world.service),
        provisioning=ProvisioningService(world.session, world.service.keyring),
    )


def complaints_of(
    world: World, policy: Policy | None = None, told: list[ReverificationAsked] | None = None
) -> ComplaintService:
    policy = policy or world.service.policy
    sink: list[ReverificationAsked] = told if told is not None else []
    return ComplaintService(
        world.session,
        policy=policy,
        keyring=world.service.keyring,
        registry=world.service,
        reverification=ReverificationTriggers(
            world.session, policy=policy, registry=world.service, tell=sink.append
        ),
    )


@pytest.fixture
def enforcement(world: World) -> EnforcementService:
    return enforcement_of(world)


@pytest.fixture
def complaints(world: World) -> ComplaintService:
    return complaints_of(world)
