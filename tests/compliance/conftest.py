"""The compliance services on the registry tests' small world (one MNO with a channel of
each kind, an MVNO with one hall, citizens known to the simulated authority)."""

from __future__ import annotations

from datetime import datetime

import pytest

from realname.channels.service import ChannelService
from realname.compliance.complaints.service import ComplaintService
from realname.compliance.enforcement.service import EnforcementService
from realname.policy.schema import Policy
from realname.provisioning.service import ProvisioningService
from realname.registry.commands import Actor, Context
from realname.registry.reverification import ReverificationAsked, ReverificationTriggers
from tests.registry.conftest import NOW, World, china, keyring, world

__all__ = ["china", "keyring", "world"]


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
