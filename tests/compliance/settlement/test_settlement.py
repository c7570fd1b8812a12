"""The monthly channel-commission statement, and the yellow III that suspends it: refused
with REALNAME.SETTLEMENT_SUSPENDED while in force (every month, the one before the card
included), restored in full when the card is lifted (both engines)."""

from __future__ import annotations

import pytest

from realname.compliance.enforcement.ladder import ActionKind
from realname.compliance.enforcement.service import EnforcementService, NewAction
from realname.compliance.figures.periods import parse_period
from realname.compliance.settlement.service import SettlementService, StatementLine
from realname.policy.schema import ChannelKind
from realname.registry.errors import RegistryError
from realname.registry.models import Channel, Enterprise
from tests.compliance.conftest import regulator
from tests.registry.conftest import NOW, World

MONTH = parse_period(f"{NOW:%Y-%m}")


def statement(world: World) -> list[StatementLine]:
    enterprise = world.session.get(Enterprise, world.enterprise_id)
    assert enterprise is not None
    return SettlementService(world.session, world.service.sanctions).statement(enterprise, MONTH)


def code_of(world: World, kind: ChannelKind) -> str:
    channel = world.session.get(Channel, world.channels[kind])
    assert channel is not None
    return channel.code


def test_the_statement_counts_each_channels_registrations_in_the_month(world: World) -> None:
    world.register(world.people[0])
    world.register(world.people[1])
    world.register(world.people[2], kind=ChannelKind.SOCIAL)
    lines = statement(world)
    assert [(s.month, s.channel, s.registered, s.total) for s in lines] == sorted(
        [
            (f"{NOW:%Y-%m}", code_of(world, ChannelKind.OWN_HALL), 2, 2),
            (f"{NOW:%Y-%m}", code_of(world, ChannelKind.SOCIAL), 1, 1),
        ],
        key=lambda row: row[1],
    )
    # Another month has nothing; another enterprise's sales are not in it.
    assert (
        SettlementService(world.session, world.service.sanctions).statement(
            world.session.get(Enterprise, world.other_enterprise_id),  # type: ignore[arg-type]
            MONTH,
        )
        == []
    )


def test_a_yellow_iii_suspends_it_and_lifting_restores_it(
    world: World, enforcement: EnforcementService
) -> None:
    world.register(world.people[0])
    before = statement(world)
    card = enforcement.take(
        regulator(),
        world.enterprise_id,
        NewAction(ActionKind.YELLOW_3, [("inspection_round", "2016-1")]),
    )
    with pytest.raises(RegistryError) as refused:
        statement(world)
    assert str(refused.value.code) == "SETTLEMENT_SUSPENDED"
    enforcement.lift(regulator(), card.id, "rectified")
    assert statement(world) == before and before
