"""Every lifecycle operation, its success and its refusals, through the service."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from realname.policy.schema import ChannelKind, Policy
from realname.registry.commands import Desk
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.lifecycle import BarringReason
from realname.registry.models import Holding, Line, LineEvent
from realname.security.audit import open_note
from realname.security.models import AuditLog, SealedNote
from realname.security.vault import KeyRing
from tests.registry.conftest import NOW, World, build_world

E = RegistryErrorCode
HALL = ChannelKind.OWN_HALL


def line_of(world: World, msisdn: str) -> Line:
    return world.session.scalars(select(Line).where(Line.msisdn == msisdn)).one()


def expect(code: RegistryErrorCode, call: object, *args: object, **kwargs: object) -> None:
    with pytest.raises(RegistryError) as raised:
        call(*args, **kwargs)  # type: ignore[operator]
    assert raised.value.code == code


def at_counter(world: World, msisdn: str, owner: object) -> dict[str, object]:
    return {
        "desk": Desk(world.enterprise_id, world.channels[HALL], world.clerks[HALL]),
        "msisdn": msisdn,
        "owner": owner,
    }


def held(world: World, msisdn: str) -> int:
    line = line_of(world, msisdn)
    holding = world.session.get(Holding, (line.owner_identity_id, world.enterprise_id))
    return holding.active_count if holding else 0


def test_suspend_and_resume(world: World) -> None:
    msisdn = world.register(world.people[0])
    s = world.service
    s.suspend(world.ctx("enterprise"), world.enterprise_id, msisdn, BarringReason.ENFORCEMENT)
    assert line_of(world, msisdn).state == "suspended"
    expect(
        E.ILLEGAL_TRANSITION,
        s.suspend,
        world.ctx(),
        world.enterprise_id,
        msisdn,
        BarringReason.ENFORCEMENT,
    )
    s.resume(world.ctx("enterprise"), world.enterprise_id, msisdn)
    assert line_of(world, msisdn).state == "active"
    assert held(world, msisdn) == 1  # barring does not change what a person holds


def test_lost_line_is_not_resumed_by_enforcement_resume(world: World) -> None:
    msisdn = world.register(world.people[0])
    world.service.report_lost(world.ctx(), world.enterprise_id, msisdn)
    assert line_of(world, msisdn).barring_reason == "lost"
    expect(E.ILLEGAL_TRANSITION, world.service.resume, world.ctx(), world.enterprise_id, msisdn)


def test_restrict_and_unrestrict(world: World) -> None:
    msisdn = world.register(world.people[0])
    world.service.restrict(world.ctx(), world.enterprise_id, msisdn, BarringReason.BACKFILL)
    assert line_of(world, msisdn).state == "restricted"
    world.service.unrestrict(world.ctx(), world.enterprise_id, msisdn)
    assert line_of(world, msisdn).state == "active"


def test_remote_lock_and_unlock_only_by_the_owner(world: World) -> None:
    owner, stranger = world.people[0], world.people[1]
    msisdn = world.register(owner)
    expect(
        E.NOT_OWNER,
        world.service.lock,
        world.ctx("subscriber"),
        world.enterprise_id,
        msisdn,
        stranger,
    )
    assert line_of(world, msisdn).state == "active"
    world.service.lock(world.ctx("subscriber"), world.enterprise_id, msisdn, owner)
    assert line_of(world, msisdn).barring_reason == "locked"
    expect(
        E.NOT_OWNER,
        world.service.unlock,
        world.ctx("subscriber"),
        world.enterprise_id,
        msisdn,
        stranger,
    )
    world.service.unlock(world.ctx("subscriber"), world.enterprise_id, msisdn, owner)
    assert line_of(world, msisdn).state == "active"


def test_sim_replacement_for_the_owner_records_the_swap(world: World) -> None:
    owner = world.people[0]
    msisdn = world.register(owner)
    world.service.report_lost(world.ctx(), world.enterprise_id, msisdn)
    later = NOW + timedelta(days=2)
    kwargs = {
        "desk": Desk(world.enterprise_id, world.channels[HALL], world.clerks[HALL]),
        "msisdn": msisdn,
        "iccid": "89860000000000009999",
        "imsi": "460000000009999",
    }
    expect(
        E.NOT_OWNER, world.service.replace_sim, world.ctx(at=later), owner=world.people[1], **kwargs
    )
    world.service.replace_sim(world.ctx(at=later), owner=owner, **kwargs)
    line = line_of(world, msisdn)
    assert line.state == "active" and line.sim_changed_at == later
    assert line.iccid == "89860000000000009999"
    expect(
        E.KIT_IN_USE,
        world.service.replace_sim,
        world.ctx(at=later),
        owner=owner,
        **(kwargs | {"iccid": "89860000000000009999"}),
    )


def test_transfer_moves_the_holding_and_checks_the_receivers_cap(world: World) -> None:
    giver, receiver = world.people[0], world.people[1]
    msisdn = world.register(giver)
    for _ in range(5):
        world.register(receiver)
    kwargs = {
        "desk": Desk(world.enterprise_id, world.channels[HALL], world.clerks[HALL]),
        "msisdn": msisdn,
    }
    expect(
        E.CAP_EXCEEDED,
        world.service.transfer,
        world.ctx(),
        owner=giver,
        receiver=receiver,
        **kwargs,
    )
    third = world.people[2]
    expect(E.NOT_OWNER, world.service.transfer, world.ctx(), owner=third, receiver=giver, **kwargs)
    giver_identity = line_of(world, msisdn).owner_identity_id
    world.service.transfer(world.ctx(), owner=giver, receiver=third, **kwargs)
    line = line_of(world, msisdn)
    assert line.owner_identity_id != giver_identity
    assert world.session.get(Holding, (giver_identity, world.enterprise_id)).active_count == 0  # type: ignore[union-attr]
    assert held(world, msisdn) == 1
    event = world.session.scalars(
        select(LineEvent).where(LineEvent.line_id == line.id).order_by(LineEvent.seq.desc())
    ).first()
    assert event is not None and event.operation == "transfer"
    assert (
        event.owner_before_id == giver_identity and event.owner_after_id == line.owner_identity_id
    )


def test_reverification_deadline_then_suspension_then_answer(world: World) -> None:
    owner = world.people[0]
    msisdn = world.register(owner)
    s = world.service
    expect(
        E.REVERIFICATION_NOT_PENDING,
        s.answer_reverification,
        world.ctx(),
        **at_counter(world, msisdn, owner),
    )
    s.request_reverification(world.ctx(), world.enterprise_id, msisdn, "fraud complaint")
    assert line_of(world, msisdn).reverify_deadline == NOW + timedelta(hours=24)
    assert list(s.due_reverifications(NOW + timedelta(hours=23))) == []
    later = world.ctx(at=NOW + timedelta(hours=25))
    assert [s.expire_reverification(later, m) for m in s.due_reverifications(later.at)] == [True]
    line = line_of(world, msisdn)
    assert line.state == "suspended" and line.barring_reason == "reverification_overdue"
    expect(
        E.NOT_OWNER,
        s.answer_reverification,
        world.ctx(),
        **at_counter(world, msisdn, world.people[1]),
    )
    s.answer_reverification(world.ctx(), **at_counter(world, msisdn, owner))
    assert line_of(world, msisdn).state == "active"


def test_cancel_cools_down_then_returns_to_the_pool(world: World) -> None:
    owner = world.people[0]
    msisdn = world.register(owner)
    s = world.service
    s.cancel(world.ctx(), world.enterprise_id, msisdn, "customer request")
    line = line_of(world, msisdn)
    assert line.state == "cooling" and line.owner_identity_id is None
    assert line.cooling_until == NOW + timedelta(days=90)
    expect(
        E.COOLING_NOT_OVER,
        s.release,
        world.ctx(at=NOW + timedelta(days=89)),
        world.enterprise_id,
        msisdn,
    )
    assert list(s.due_releases(NOW + timedelta(days=91))) == [msisdn]
    s.release(world.ctx(at=NOW + timedelta(days=91)), world.enterprise_id, msisdn)
    assert line_of(world, msisdn).state == "pooled"
    # The old owner's link is history, not state: the number can be stocked and sold again.
    from realname.registry.commands import Kit

    s.stock.stock_kits(
        world.ctx(),
        world.enterprise_id,
        world.channels[HALL],
        [Kit(msisdn, "89860000000000077777", "460000000077777")],
    )
    world.register(world.people[1], msisdn)
    assert world.service.identities.owner_at(msisdn, NOW, enterprise_id=None) is not None


def test_owner_at_an_instant(world: World) -> None:
    giver, receiver = world.people[0], world.people[1]
    msisdn = world.register(giver)
    giver_id = line_of(world, msisdn).owner_identity_id
    later = NOW + timedelta(days=30)
    world.service.transfer(
        world.ctx(at=later),
        desk=Desk(world.enterprise_id, world.channels[HALL], world.clerks[HALL]),
        msisdn=msisdn,
        owner=giver,
        receiver=receiver,
    )
    s = world.service
    assert s.identities.owner_at(msisdn, NOW - timedelta(seconds=1), enterprise_id=None) is None
    assert s.identities.owner_at(msisdn, NOW + timedelta(days=1), enterprise_id=None) == giver_id
    assert (
        s.identities.owner_at(msisdn, later + timedelta(days=1), enterprise_id=None)
        == line_of(world, msisdn).owner_identity_id
    )
    expect(
        E.LINE_NOT_FOUND,
        s.identities.owner_at,
        msisdn,
        NOW,
        enterprise_id=world.other_enterprise_id,
    )


def test_lines_of_an_identity_with_enterprise_and_state(world: World) -> None:
    person = world.people[3]
    a = world.register(person)
    b = world.register(person)
    world.service.report_lost(world.ctx(), world.enterprise_id, b)
    found = {
        (line.msisdn, e.code, line.state)
        for line, e in world.service.identities.lines_of(person, enterprise_id=None)
    }
    assert found == {(a, "CMCC", "active"), (b, "CMCC", "suspended")}
    assert world.service.identities.lines_of(person, enterprise_id=world.other_enterprise_id) == []
    assert (
        world.service.identities.lines_of(
            replace(person, document_number=world.people[4].document_number), enterprise_id=None
        )
        == []
    )


def test_another_enterprise_cannot_touch_a_line(world: World) -> None:
    msisdn = world.register(world.people[0])
    expect(
        E.LINE_NOT_FOUND,
        world.service.suspend,
        world.ctx(),
        world.other_enterprise_id,
        msisdn,
        BarringReason.ENFORCEMENT,
    )
    expect(
        E.LINE_NOT_FOUND, world.service.cancel, world.ctx(), world.other_enterprise_id, msisdn, "x"
    )


def test_answering_reverification_does_not_lift_a_backfill_restriction(
    world: World, china: object
) -> None:
    from realname.registry.check import run_integrity_check

    owner = world.people[0]
    msisdn = world.register(owner)
    s = world.service
    s.restrict(world.ctx(), world.enterprise_id, msisdn, BarringReason.BACKFILL)
    s.request_reverification(world.ctx(), world.enterprise_id, msisdn, "dormant then active")
    s.answer_reverification(world.ctx(), **at_counter(world, msisdn, owner))
    line = line_of(world, msisdn)
    assert line.state == "restricted" and line.barring_reason == "backfill"
    assert line.reverify_deadline is None
    world.session.flush()
    assert run_integrity_check(world.session, china, s.keyring).ok  # type: ignore[arg-type]


def test_typed_reasons_are_sealed_and_only_their_reference_is_stored(world: World) -> None:
    """Free text never enters an append-only record in clear: not masked by pattern (names
    would slip through) but sealed in the vault, the event keeping a coded reason and the
    sealed note's id and digest."""
    msisdn = world.register(world.people[0])
    typed = "caller 13912345678 says ID 11010519491231002X, 王小明 not hers"
    world.service.cancel(world.ctx(), world.enterprise_id, msisdn, typed)
    event = world.session.scalars(select(LineEvent).where(LineEvent.operation == "cancel")).one()
    assert event.reason == "manual"
    stored = f"{event.reason} {event.detail}"
    assert "13912345678" not in stored and "王小明" not in stored and "1101051949" not in stored
    note = world.session.get(SealedNote, event.detail["note"]["note"])
    assert note is not None and open_note(world.service.keyring, note) == typed
    audit_text = " ".join(str(d) for d in world.session.scalars(select(AuditLog.detail)))
    assert "王小明" not in audit_text and "13912345678" not in audit_text


@pytest.mark.parametrize("suspension", ["report_lost", "lock", "overdue"])
def test_a_suspension_on_top_of_a_backfill_restriction_falls_back_to_it(
    world: World, china: object, suspension: str
) -> None:
    """Lost, locked or overdue, then lifted: the back-fill restriction is still there."""
    from realname.registry.check import run_integrity_check

    owner = world.people[0]
    msisdn = world.register(owner)
    s, e = world.service, world.enterprise_id
    s.restrict(world.ctx(), e, msisdn, BarringReason.BACKFILL)
    if suspension == "report_lost":
        s.report_lost(world.ctx(), e, msisdn)
        s.replace_sim(
            world.ctx(),
            desk=Desk(e, world.channels[HALL], world.clerks[HALL]),
            msisdn=msisdn,
            owner=owner,
            iccid="89860000000000555555",
            imsi="460000000555555",
        )
    elif suspension == "lock":
        s.lock(world.ctx("subscriber"), e, msisdn, owner)
        s.unlock(world.ctx("subscriber"), e, msisdn, owner)
    else:
        s.request_reverification(world.ctx(), e, msisdn, "dormant then active")
        assert s.expire_reverification(world.ctx(at=NOW + timedelta(hours=25)), msisdn)
        assert line_of(world, msisdn).state == "suspended"
        s.answer_reverification(world.ctx(), **at_counter(world, msisdn, owner))
    line = line_of(world, msisdn)
    assert (line.state, line.barring_reason, line.restriction_reason) == (
        "restricted",
        "backfill",
        None,
    )
    world.session.flush()
    assert run_integrity_check(world.session, china, s.keyring).ok  # type: ignore[arg-type]
    s.unrestrict(world.ctx(), e, msisdn)
    assert line_of(world, msisdn).state == "active"


def test_a_reason_must_fit_the_bar(world: World) -> None:
    msisdn = world.register(world.people[0])
    expect(
        E.ILLEGAL_TRANSITION,
        world.service.restrict,
        world.ctx(),
        world.enterprise_id,
        msisdn,
        BarringReason.REVERIFICATION_OVERDUE,
    )
    expect(
        E.ILLEGAL_TRANSITION,
        world.service.suspend,
        world.ctx(),
        world.enterprise_id,
        msisdn,
        BarringReason.BACKFILL,
    )
    assert line_of(world, msisdn).state == "active"


def test_a_loss_at_the_counter_needs_the_owners_document_and_recorded_name(
    db_session: Session, keyring: KeyRing, china: Policy
) -> None:
    """Without an authority check the name would go unchecked; the sealed identity's name
    index is the proof then (the owner's document with another name is no owner)."""
    policy = china.model_copy(update={"authority_check_required": False})
    world = build_world(db_session, keyring, policy)
    owner = world.people[0]
    number = world.register(owner)
    impostor = replace(owner, name=world.people[1].name)  # the right ID number, another name
    expect(
        E.NOT_OWNER,
        world.service.report_lost_at_counter,
        world.ctx(),
        **at_counter(world, number, impostor),
    )
    social = at_counter(world, number, owner) | {
        "desk": Desk(
            world.enterprise_id,
            world.channels[ChannelKind.SOCIAL],
            world.clerks[ChannelKind.SOCIAL],
        )
    }
    expect(E.CHANNEL_NOT_AUTHORISED, world.service.report_lost_at_counter, world.ctx(), **social)
    assert line_of(world, number).state == "active"
    line = world.service.report_lost_at_counter(world.ctx(), **at_counter(world, number, owner))
    assert (line.state, line.barring_reason) == ("suspended", BarringReason.LOST)
    event = world.session.scalars(
        select(LineEvent).where(LineEvent.line_id == line.id).order_by(LineEvent.seq.desc())
    ).first()
    assert event is not None
    assert (event.channel_id, event.detail["clerk_id"]) == (
        world.channels[HALL],
        world.clerks[HALL],
    )


def test_kit_numbers_are_unique_per_enterprise_only(world: World) -> None:
    """Another enterprise's ICCID or IMSI is no refusal (that would be a cross-tenant oracle),
    at stocking and at SIM replacement; the enterprise's own still are."""
    from realname.registry.commands import Kit

    theirs = Kit("+8617000199001", "89860077000000199001", "460770000199001")
    world.service.stock.stock_kits(
        world.ctx(), world.other_enterprise_id, world.other_channel_id, [theirs]
    )
    mine = Kit("+8613800199001", theirs.iccid, theirs.imsi)
    [line] = world.service.stock.stock_kits(
        world.ctx(), world.enterprise_id, world.channels[HALL], [mine]
    )
    assert (line.iccid, line.imsi) == (theirs.iccid, theirs.imsi)
    expect(
        E.KIT_IN_USE,
        world.service.stock.stock_kits,
        world.ctx(),
        world.enterprise_id,
        world.channels[HALL],
        [Kit("+8613800199002", theirs.iccid, "460000000199002")],
    )
    other = Kit("+8617000199003", "89860077000000199003", "460770000199003")
    world.service.stock.stock_kits(
        world.ctx(), world.other_enterprise_id, world.other_channel_id, [other]
    )
    owner = world.people[0]
    msisdn = world.register(owner)
    later = NOW + timedelta(days=1)
    swapped = world.service.replace_sim(
        world.ctx(at=later), iccid=other.iccid, imsi=other.imsi, **at_counter(world, msisdn, owner)
    )
    assert swapped.iccid == other.iccid
