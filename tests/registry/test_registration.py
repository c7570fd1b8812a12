from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import func, select

from realname.policy.schema import ChannelKind, EntryMethod
from realname.registry.commands import Desk, Person
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.models import Holding, Identity, Line, LineEvent
from realname.security.models import AuditLog
from realname.sim.documents import corrupt, random_resident_id
from tests.registry.conftest import NOW, World

E = RegistryErrorCode


def refused(
    world: World,
    code: RegistryErrorCode,
    person: Person,
    msisdn: str | None = None,
    kind: ChannelKind = ChannelKind.OWN_HALL,
) -> None:
    msisdn = msisdn or world.stock(1, kind)[0]
    before = snapshot(world)
    with pytest.raises(RegistryError) as raised:
        world.register(person, msisdn, kind)
    assert raised.value.code == code
    assert snapshot(world) == before, "a refused registration must change nothing"


def snapshot(world: World) -> tuple[int, ...]:
    s = world.session
    counts = [
        s.scalar(select(func.count()).select_from(t)) or 0 for t in (Identity, LineEvent, AuditLog)
    ]
    held = s.scalar(select(func.coalesce(func.sum(Holding.active_count), 0))) or 0
    return (*counts, held)


def test_register_activates_a_stocked_line(world: World) -> None:
    person = world.people[0]
    msisdn = world.register(person)
    line = world.session.scalars(select(Line).where(Line.msisdn == msisdn)).one()
    assert line.state == "active"
    assert line.activated_at == NOW and line.owner_since == NOW
    identity = world.session.get(Identity, line.owner_identity_id)
    assert identity is not None and identity.verified_at == NOW
    # PII is sealed: the plaintext number appears nowhere in the row.
    assert person.document_number.encode() not in identity.number_sealed
    assert person.name.encode() not in identity.name_sealed
    assert identity.birth_date is not None and identity.region_code is not None
    events = world.session.scalars(select(LineEvent).where(LineEvent.line_id == line.id)).all()
    assert [e.operation for e in events] == ["stock", "register"]
    assert events[-1].owner_after_id == identity.id and events[-1].actor == "clerk:1"
    holding = world.session.get(Holding, (identity.id, world.enterprise_id))
    assert holding is not None and holding.active_count == 1


def test_same_person_twice_reuses_one_identity(world: World) -> None:
    world.register(world.people[0])
    world.register(
        replace(world.people[0], document_number=world.people[0].document_number.lower())
    )
    assert world.session.scalar(select(func.count()).select_from(Identity)) == 1


def test_sixth_line_is_refused_at_the_cap(world: World) -> None:
    person = world.people[1]
    for _ in range(5):
        world.register(person)
    refused(world, E.CAP_EXCEEDED, person)


def test_cap_is_per_enterprise_in_china(world: World) -> None:
    from realname.registry.commands import Kit

    person = world.people[1]
    for _ in range(5):
        world.register(person)
    kit = Kit("+8617000100001", "89860099000000000001", "460099000000001")
    world.service.stock.stock_kits(
        world.ctx(), world.other_enterprise_id, world.other_channel_id, [kit]
    )
    world.service.register(
        world.ctx(),
        desk=Desk(world.other_enterprise_id, world.other_channel_id, world.other_clerk_id),
        msisdn=kit.msisdn,
        person=person,
    )


def test_invalid_document_is_refused(world: World) -> None:
    person = replace(
        world.people[0],
        document_number=corrupt(__import__("random").Random(1), world.people[0].document_number),
    )
    refused(world, E.DOCUMENT_INVALID, person)


def test_fabricated_identity_is_refused_by_the_authority(world: World) -> None:
    import random

    fabricated = Person(
        random_resident_id(random.Random(99), today=NOW.date()), "假名字", face_score=0.95
    )
    refused(world, E.AUTHORITY_UNKNOWN_DOCUMENT, fabricated)


def test_borrowed_identity_with_another_name_is_refused(world: World) -> None:
    borrowed = replace(world.people[0], name="李四")
    refused(world, E.AUTHORITY_NAME_MISMATCH, borrowed)


def test_face_below_threshold_or_missing_is_refused(world: World) -> None:
    refused(world, E.FACE_MISMATCH, replace(world.people[0], face_score=0.5))
    refused(world, E.FACE_MISSING, replace(world.people[0], face_score=None))


def test_manual_entry_refused_at_a_hall_but_not_online(world: World) -> None:
    typed = replace(world.people[0], entry_method=EntryMethod.MANUAL)
    refused(world, E.MANUAL_ENTRY_REFUSED, typed)
    world.register(typed, kind=ChannelKind.ONLINE)


def test_underage_customer_is_refused(world: World) -> None:
    import random

    from realname.authority.simulated import SimulatedAuthority
    from realname.identity.documents import parse_document

    child_number = random_resident_id(random.Random(3), today=NOW.date(), born=date(2015, 1, 1))
    child = Person(child_number, "小明", face_score=0.95)
    SimulatedAuthority(world.session, world.service.keyring).enrol(
        [(parse_document(child_number, today=NOW.date()), "小明")]
    )
    refused(world, E.UNDERAGE, child)


def test_document_not_accepted_at_a_social_channel(world: World) -> None:
    passport = Person(
        "E12345678",
        "John Smith",
        document_type="passport",
        nationality="GB",  # type: ignore[arg-type]
        birth_date=date(1980, 1, 1),
        face_score=0.95,
    )
    refused(world, E.DOCUMENT_NOT_ACCEPTED, passport, kind=ChannelKind.SOCIAL)


def test_expired_document_is_refused(world: World) -> None:
    refused(
        world, E.DOCUMENT_INVALID, replace(world.people[0], document_expires_on=date(2020, 1, 1))
    )


def test_kit_of_another_channel_is_refused(world: World) -> None:
    msisdn = world.stock(1, ChannelKind.PARTNER_HALL)[0]
    refused(world, E.NOT_IN_CHANNEL_STOCK, world.people[0], msisdn)


def test_unknown_number_is_refused(world: World) -> None:
    refused(world, E.NOT_IN_CHANNEL_STOCK, world.people[0], "+8613800199999")


def test_suspended_channel_cannot_register(world: World) -> None:
    msisdn = world.stock(1)[0]
    world.service.admin.set_channel_status(
        world.ctx(),
        world.enterprise_id,
        world.channels[ChannelKind.OWN_HALL],
        "suspended",
        "bulk fake IDs",
    )
    refused(world, E.CHANNEL_NOT_AUTHORISED, world.people[0], msisdn)


def test_clerk_of_another_channel_cannot_register(world: World) -> None:
    msisdn = world.stock(1)[0]
    with pytest.raises(RegistryError) as raised:
        world.service.register(
            world.ctx(),
            desk=Desk(
                world.enterprise_id,
                world.channels[ChannelKind.OWN_HALL],
                world.clerks[ChannelKind.PARTNER_HALL],
            ),
            msisdn=msisdn,
            person=world.people[0],
        )
    assert raised.value.code == E.CLERK_NOT_AUTHORISED


def test_registering_an_active_line_again_is_an_illegal_transition(world: World) -> None:
    msisdn = world.register(world.people[0])
    with pytest.raises(RegistryError) as raised:
        world.register(world.people[1], msisdn)
    assert raised.value.code == E.ILLEGAL_TRANSITION


def test_stocking_outside_the_enterprise_blocks_is_refused(world: World) -> None:
    from realname.registry.commands import Kit

    with pytest.raises(RegistryError) as raised:
        world.service.stock.stock_kits(
            world.ctx(),
            world.enterprise_id,
            world.channels[ChannelKind.OWN_HALL],
            [Kit("+8617000100001", "8986000000000000000999", "460000000000999")],
        )
    assert raised.value.code == E.NUMBER_NOT_ALLOCATED


def test_error_messages_carry_no_pii(world: World) -> None:
    person = replace(world.people[0], name="李四")
    with pytest.raises(RegistryError) as raised:
        world.register(person)
    text = str(raised.value) + raised.value.message + raised.value.message_zh
    assert person.document_number not in text and "李四" not in text


@pytest.mark.parametrize("code", list(RegistryErrorCode))
def test_every_refusal_has_english_and_chinese_words(code: RegistryErrorCode) -> None:
    error = RegistryError(code)
    assert error.message and error.message_zh and error.message != error.message_zh
    if error.transient:  # the authority is down: not the caller's fault, retry later
        assert error.http_status == 503
    else:
        assert 400 <= error.http_status < 500
