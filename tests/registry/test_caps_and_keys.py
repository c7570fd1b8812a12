"""National caps, block allocation, and key rotation of sealed identities."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from realname.numbering.blocks import NumberBlock
from realname.policy.schema import CapScope, LineCap, Policy
from realname.registry.check import run_integrity_check
from realname.registry.commands import Desk, Kit
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.models import Identity
from realname.registry.rotation import reseal_batch
from realname.registry.service import RegistryService
from realname.security.audit_keys import AuditKeys
from realname.security.vault import KeyRing, Sealed, VaultError, generate_key
from tests.registry.conftest import World, build_world

E = RegistryErrorCode


def register_at_other_enterprise(world: World, serial: int) -> None:
    kit = Kit(f"+86170001{serial:05d}", f"89860099{serial:012d}", f"46009{serial:010d}")
    world.service.stock.stock_kits(
        world.ctx(), world.other_enterprise_id, world.other_channel_id, [kit]
    )
    world.service.register(
        world.ctx(),
        desk=Desk(world.other_enterprise_id, world.other_channel_id, world.other_clerk_id),
        msisdn=kit.msisdn,
        person=world.people[0],
    )


def test_a_national_cap_counts_lines_at_every_enterprise(
    db_session: object, keyring: KeyRing, china: Policy
) -> None:
    national = china.with_changes(line_caps=[{"scope": CapScope.NATIONAL, "max_active_lines": 3}])
    world = build_world(db_session, keyring, national)  # type: ignore[arg-type]
    world.register(world.people[0])
    world.register(world.people[0])
    register_at_other_enterprise(world, 1)
    with pytest.raises(RegistryError) as raised:
        register_at_other_enterprise(world, 2)
    assert raised.value.code == E.NATIONAL_CAP_EXCEEDED
    with pytest.raises(RegistryError) as raised:
        world.register(world.people[0])
    assert raised.value.code == E.NATIONAL_CAP_EXCEEDED
    assert national.cap(CapScope.NATIONAL) == 3
    assert isinstance(national.line_caps[0], LineCap)


def test_overlapping_blocks_are_refused(world: World) -> None:
    with pytest.raises(RegistryError) as raised:
        world.service.admin.allocate_block(
            world.ctx(), world.other_enterprise_id, NumberBlock.from_prefix("+8613800123")
        )
    assert raised.value.code == E.BLOCK_OVERLAPS


def test_rotation_moves_every_identity_to_the_new_key(db_session: object, china: Policy) -> None:
    k1, k2, index_key = generate_key(), generate_key(), generate_key()
    audit = AuditKeys.generate()
    old = KeyRing({"k1": k1}, "k1", index_key, audit=audit)
    world = build_world(db_session, old, china)  # type: ignore[arg-type]
    for person in world.people[:4]:
        world.register(person)
    rotated = KeyRing({"k1": k1, "k2": k2}, "k2", index_key, audit=audit)
    count, last = reseal_batch(world.session, rotated, 0, 2)
    assert count == 2
    count, last = reseal_batch(world.session, rotated, last, 100)
    assert count == 2
    assert reseal_batch(world.session, rotated, last, 100)[0] == 0
    identities = world.session.scalars(select(Identity)).all()
    assert {i.key_id for i in identities} == {"k2"}
    # The new ring opens everything and the check is clean; the old ring no longer can.
    assert run_integrity_check(world.session, china, rotated).ok
    with pytest.raises(VaultError):
        old.open(Sealed(identities[0].key_id, identities[0].number_sealed), "identity.number")
    # Look-ups keep working across the rotation: the blind index key did not change.
    book = RegistryService(
        world.session, policy=china, keyring=rotated, authority=world.service.authority
    ).identities
    assert len(book.lines_of(world.people[0], enterprise_id=world.enterprise_id)) == 1


def _holding_rows(world: World) -> list[tuple[int, int, int]]:
    from realname.registry.models import Holding

    return [
        (h.identity_id, h.enterprise_id, h.active_count)
        for h in world.session.scalars(select(Holding).order_by(Holding.identity_id))
    ]


def test_refusals_write_nothing_even_without_a_rollback(
    db_session: object, keyring: KeyRing, china: Policy
) -> None:
    """The service raises before it writes, so even a caller that forgets to roll back
    (and commits) leaves consistent data."""
    national = china.with_changes(line_caps=[{"scope": CapScope.NATIONAL, "max_active_lines": 1}])
    world = build_world(db_session, keyring, national)  # type: ignore[arg-type]
    msisdn = world.register(world.people[0])
    before = _holding_rows(world)
    # Transfer to the current owner.
    from realname.policy.schema import ChannelKind

    hall = ChannelKind.OWN_HALL
    with pytest.raises(RegistryError):
        world.service.transfer(
            world.ctx(),
            desk=Desk(world.enterprise_id, world.channels[hall], world.clerks[hall]),
            msisdn=msisdn,
            owner=world.people[0],
            receiver=world.people[0],
        )
    # National cap at another enterprise: no empty holding row left behind.
    with pytest.raises(RegistryError) as raised:
        register_at_other_enterprise(world, 7)
    assert raised.value.code == E.NATIONAL_CAP_EXCEEDED
    # A stock batch with one bad kit stocks none of them.
    with pytest.raises(RegistryError):
        world.service.stock.stock_kits(
            world.ctx(),
            world.enterprise_id,
            world.channels[hall],
            [
                Kit("+8613800190001", "89860000000000190001", "460000000190001"),
                Kit("+8613800190002", "89860000000000190001", "460000000190002"),
            ],
        )
    world.session.flush()
    assert _holding_rows(world) == before
    from realname.registry.models import Line

    assert (
        world.session.scalars(select(Line).where(Line.msisdn == "+8613800190001")).first() is None
    )
    assert run_integrity_check(world.session, national, keyring).ok
