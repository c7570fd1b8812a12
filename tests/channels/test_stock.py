"""SIM-kit stock: moves along the channel tree, returns and write-offs, where a kit is, ageing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from realname.channels.service import ChannelService
from realname.policy.schema import ChannelKind, Policy
from realname.registry.check import run_integrity_check
from realname.registry.commands import Desk, Kit
from realname.registry.errors import RegistryError
from realname.security.vault import KeyRing
from tests.registry.conftest import NOW, World, build_world, china, keyring  # noqa: F401


@pytest.fixture
def world(db_session: Session, keyring: KeyRing, china: Policy) -> World:  # noqa: F811
    return build_world(db_session, keyring, china)


@pytest.fixture
def tree(world: World) -> tuple[int, int, int]:
    """A partner hall with a kiosk under it, and the kiosk's clerk."""
    parent = world.channels[ChannelKind.PARTNER_HALL]
    kiosk = world.service.admin.create_channel(
        world.ctx("admin"),
        world.enterprise_id,
        code="K-1",
        name="报亭",
        kind=ChannelKind.SOCIAL,
        region_code="110105",
        parent_id=parent,
    )
    clerk = world.service.admin.create_clerk(
        world.ctx("admin"), world.enterprise_id, kiosk.id, code="K-K1", name="营业员"
    )
    return parent, kiosk.id, clerk.id


def channels(world: World, china: Policy) -> ChannelService:  # noqa: F811
    return ChannelService(world.session, policy=china, registry=world.service)


def test_kits_move_down_the_tree_and_are_sold_only_where_they_are(
    world: World,
    tree: tuple[int, int, int],
    china: Policy,  # noqa: F811
    keyring: KeyRing,  # noqa: F811
) -> None:
    parent, kiosk, kiosk_clerk = tree
    numbers = world.stock(3, ChannelKind.PARTNER_HALL)
    moved = world.service.stock.move_kits(
        world.ctx("admin"), world.enterprise_id, parent, kiosk, numbers
    )
    assert {line.channel_id for line in moved} == {kiosk}
    # The partner hall no longer holds them: selling one there is refused.
    with pytest.raises(RegistryError) as refused:
        world.register(world.people[0], numbers[0], ChannelKind.PARTNER_HALL)
    assert refused.value.code == "NOT_IN_CHANNEL_STOCK"
    world.service.register(
        world.ctx(),
        desk=Desk(world.enterprise_id, kiosk, kiosk_clerk),
        msisdn=numbers[0],
        person=world.people[0],
    )
    where = channels(world, china).where_is(world.enterprise_id, numbers[0])
    assert [e.operation for e in where.trail] == ["stock", "move_stock", "register"]
    assert [e.channel_id for e in where.trail] == [parent, kiosk, kiosk]
    assert where.line.state == "active" and where.channel is not None
    # Back up to the parent, then out of stock for good.
    back = world.service.stock.move_kits(
        world.ctx("admin"), world.enterprise_id, kiosk, parent, numbers[1:2]
    )
    assert back[0].channel_id == parent
    gone = world.service.stock.return_kits(
        world.ctx("admin"),
        world.enterprise_id,
        kiosk,
        numbers[2:],
        write_off=True,
        reason="damaged",
    )
    assert (gone[0].state, gone[0].channel_id, gone[0].iccid) == ("pooled", None, None)
    # The written-off kit's ICCID was freed: a new kit may use the number again.
    assert run_integrity_check(world.session, china, keyring).ok


def test_moves_off_the_tree_or_of_kits_elsewhere_change_nothing(
    world: World, tree: tuple[int, int, int]
) -> None:
    parent, kiosk, _ = tree
    numbers = world.stock(2, ChannelKind.PARTNER_HALL)
    elsewhere = world.channels[ChannelKind.OWN_HALL]
    with pytest.raises(RegistryError) as off_tree:
        world.service.stock.move_kits(
            world.ctx("admin"), world.enterprise_id, parent, elsewhere, numbers
        )
    assert off_tree.value.code == "STOCK_MOVE_NOT_ALLOWED"
    mixed = numbers + world.stock(1, ChannelKind.OWN_HALL)
    with pytest.raises(RegistryError) as not_here:
        world.service.stock.move_kits(world.ctx("admin"), world.enterprise_id, parent, kiosk, mixed)
    assert not_here.value.code == "NOT_IN_CHANNEL_STOCK"
    assert world.service.line_by_number(world.enterprise_id, numbers[0]).channel_id == parent
    with pytest.raises(RegistryError) as foreign:
        world.service.stock.move_kits(
            world.ctx("admin"), world.other_enterprise_id, parent, kiosk, numbers
        )
    assert foreign.value.code == "CHANNEL_NOT_FOUND"


def test_a_suspended_channel_receives_no_stock(world: World, tree: tuple[int, int, int]) -> None:
    parent, kiosk, _ = tree
    numbers = world.stock(1, ChannelKind.PARTNER_HALL)
    world.service.admin.set_channel_status(
        world.ctx("admin"), world.enterprise_id, kiosk, "suspended", "x"
    )
    with pytest.raises(RegistryError) as refused:
        world.service.stock.move_kits(
            world.ctx("admin"), world.enterprise_id, parent, kiosk, numbers
        )
    assert refused.value.code == "CHANNEL_NOT_AUTHORISED"


def test_stock_per_channel_with_ageing(world: World, china: Policy) -> None:  # noqa: F811
    hall = world.channels[ChannelKind.OWN_HALL]
    old = [Kit(f"+861380019{n:04d}", f"8986009{n:013d}", f"46009{n:010d}") for n in range(3)]
    world.service.stock.stock_kits(
        world.ctx(at=NOW - timedelta(days=100)), world.enterprise_id, hall, old
    )
    world.stock(2, ChannelKind.OWN_HALL)
    service = channels(world, china)
    report = {s.channel.id: s for s in service.stock(world.enterprise_id, NOW)}
    assert report[hall].count == 5
    assert report[hall].older_than == {30: 3, 90: 3, 180: 0}
    assert report[hall].oldest == NOW - timedelta(days=100)
    assert report[world.channels[ChannelKind.ONLINE]].count == 0
    aged = service.aged_kits(world.enterprise_id, NOW)
    assert sorted(line.msisdn for line in aged) == sorted(k.msisdn for k in old)
    assert service.aged_kits(world.enterprise_id, NOW, days=200) == []


def test_kits_with_a_malformed_card_are_refused_whatever_the_entry_point(world: World) -> None:
    """The API's schema checked ICCID and IMSI; `realname stock add --iccid-from 1` stocked
    kits with ICCID "1". Now the registry refuses them, and nothing of the batch lands."""
    hall = world.channels[ChannelKind.OWN_HALL]
    good = Kit("+8613800190100", "89860090000000000100", "460090000000100")
    for bad in (
        Kit("+8613800190101", "1", "460090000000101"),
        Kit("+8613800190101", "89860090000000000101", "12"),
    ):
        with pytest.raises(RegistryError) as refused:
            world.service.stock.stock_kits(
                world.ctx("admin"), world.enterprise_id, hall, [good, bad]
            )
        assert refused.value.code == "KIT_INVALID"
        assert world.service.repo.line(good.msisdn) is None
