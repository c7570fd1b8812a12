"""The ladder's consequences are states the registry and the channels enforce: a card
refuses what it stops with a stable code, and lifting or withdrawing it allows it again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from realname.compliance.enforcement.errors import EnforcementError
from realname.compliance.enforcement.ladder import ActionKind, RoundResult
from realname.compliance.enforcement.service import EnforcementService, NewAction
from realname.numbering.blocks import NumberBlock
from realname.policy.schema import ChannelKind
from realname.registry.errors import RegistryError
from realname.registry.models import Channel, Enterprise
from realname.registry.sanctions import Measure
from realname.security.models import AuditLog
from tests.compliance.conftest import enterprise_admin, regulator
from tests.registry.conftest import NOW, World

EVIDENCE = [("inspection_round", "2016-1"), ("figure", "2026-10")]


def card(kind: ActionKind, **changes: object) -> NewAction:
    return NewAction(kind=kind, evidence=EVIDENCE, **changes)  # type: ignore[arg-type]


def refused(code: str, call: object, *args: object, **kwargs: object) -> None:
    with pytest.raises((RegistryError, EnforcementError)) as raised:
        call(*args, **kwargs)  # type: ignore[operator]
    assert str(raised.value.code) == code


def allocate(world: World, prefix: str) -> object:
    return world.service.admin.allocate_block(
        regulator(), world.enterprise_id, NumberBlock.from_prefix(prefix)
    )


def test_a_red_card_refuses_a_registration_and_lifting_it_allows_it_again(
    world: World, enforcement: EnforcementService
) -> None:
    person = world.people[0]
    world.register(person)  # before: registrations go through
    action = enforcement.take(regulator(), world.enterprise_id, card(ActionKind.RED))
    enterprise = world.session.get(Enterprise, world.enterprise_id)
    assert enterprise is not None and enterprise.licence_status == "suspended"
    refused("LICENCE_NOT_IN_FORCE", world.register, person)
    refused("BLOCK_ALLOCATION_SUSPENDED", allocate, world, "+86138009")
    refused(
        "SETTLEMENT_SUSPENDED",
        world.service.sanctions.refuse_if_in_force,
        world.enterprise_id,
        Measure.SETTLEMENT,
    )
    # The other enterprise is not touched.
    world.service.sanctions.refuse_if_in_force(world.other_enterprise_id, Measure.SETTLEMENT)

    lifted = enforcement.lift(regulator(NOW + timedelta(days=30)), action.id, "rectified")
    assert lifted.status == "lifted"
    assert enterprise.licence_status == "official"  # the status it had before the card
    world.register(person)
    allocate(world, "+86138009")
    assert all(c.lifted_at is not None for c in enforcement.consequences(action.id))
    refused("ACTION_NOT_OPEN", enforcement.lift, regulator(), action.id, "again")


def test_a_yellow_three_suspends_the_offending_channels_and_settlement(
    world: World, enforcement: EnforcementService
) -> None:
    kiosk, hall = world.channels[ChannelKind.SOCIAL], world.channels[ChannelKind.OWN_HALL]
    action = enforcement.take(
        regulator(), world.enterprise_id, card(ActionKind.YELLOW_3, channel_ids=[kiosk])
    )
    channel = world.session.get(Channel, kiosk)
    assert channel is not None and channel.status == "suspended"
    assert channel.status_reason == "enforcement"
    refused("CHANNEL_NOT_AUTHORISED", world.register, world.people[1], kind=ChannelKind.SOCIAL)
    world.register(world.people[1])  # the other channels and the licence stay open
    assert world.session.get(Channel, hall).status == "active"  # type: ignore[union-attr]
    measures = {s.measure for s in world.service.sanctions.in_force(world.enterprise_id)}
    assert measures == {"block_allocation", "settlement"}

    enforcement.lift(regulator(), action.id, "the kiosk was retrained")
    assert channel.status == "active"
    world.register(world.people[1], kind=ChannelKind.SOCIAL)
    assert not world.service.sanctions.in_force(world.enterprise_id)


def test_lifting_undoes_only_what_the_action_did(
    world: World, enforcement: EnforcementService
) -> None:
    """A channel the enterprise suspended itself stays suspended; a measure another open
    action imposes stays in force."""
    kiosk, online = world.channels[ChannelKind.SOCIAL], world.channels[ChannelKind.ONLINE]
    world.service.admin.set_channel_status(
        enterprise_admin(), world.enterprise_id, online, "suspended", "audit"
    )
    first = enforcement.take(
        regulator(), world.enterprise_id, card(ActionKind.YELLOW_3, channel_ids=[kiosk, online])
    )
    second = enforcement.take(regulator(), world.enterprise_id, card(ActionKind.YELLOW_2))
    enforcement.lift(regulator(), first.id, "done")
    assert world.session.get(Channel, online).status_reason == "audit"  # type: ignore[union-attr]
    assert world.session.get(Channel, kiosk).status == "active"  # type: ignore[union-attr]
    refused("BLOCK_ALLOCATION_SUSPENDED", allocate, world, "+86138009")
    enforcement.lift(regulator(), second.id, "done")
    allocate(world, "+86138009")


def test_an_appeal_withdrawn_lifts_the_consequence_and_one_upheld_keeps_it(
    world: World, enforcement: EnforcementService
) -> None:
    upheld = enforcement.take(regulator(), world.enterprise_id, card(ActionKind.YELLOW_2))
    withdrawn = enforcement.take(regulator(), world.enterprise_id, card(ActionKind.YELLOW_2))
    refused("APPEAL_NOT_LODGED", enforcement.decide_appeal, regulator(), upheld.id, True, "x")
    for action in (upheld, withdrawn):
        enforcement.appeal(enterprise_admin(), world.enterprise_id, action.id, "inspected wrongly")
    refused(
        "APPEAL_NOT_OPEN",
        enforcement.appeal,
        enterprise_admin(),
        world.enterprise_id,
        upheld.id,
        "again",
    )
    # Measures stay in force while the appeal runs.
    refused("BLOCK_ALLOCATION_SUSPENDED", allocate, world, "+86138009")
    enforcement.decide_appeal(regulator(), upheld.id, False, "the findings stand")
    assert upheld.status == "open" and upheld.appeal_status == "upheld"
    refused("BLOCK_ALLOCATION_SUSPENDED", allocate, world, "+86138009")
    enforcement.decide_appeal(regulator(), withdrawn.id, True, "the sample was wrong")
    assert withdrawn.status == "withdrawn" and withdrawn.appeal_status == "withdrawn"
    refused("BLOCK_ALLOCATION_SUSPENDED", allocate, world, "+86138009")  # upheld still holds
    enforcement.lift(regulator(), upheld.id, "rectified")
    allocate(world, "+86138009")


def test_the_appeal_period_closes(world: World, enforcement: EnforcementService) -> None:
    action = enforcement.take(regulator(), world.enterprise_id, card(ActionKind.NOTICE))
    late = enterprise_admin(action.appeal_until + timedelta(seconds=1))
    refused("APPEAL_NOT_OPEN", enforcement.appeal, late, world.enterprise_id, action.id, "late")


def test_an_enterprise_cannot_see_or_answer_another_enterprises_actions(
    world: World, enforcement: EnforcementService
) -> None:
    action = enforcement.take(regulator(), world.enterprise_id, card(ActionKind.NOTICE))
    other = world.other_enterprise_id
    refused("ACTION_NOT_FOUND", enforcement.action, action.id, other)
    refused("ACTION_NOT_FOUND", enforcement.appeal, enterprise_admin(), other, action.id, "no")
    assert enforcement.actions(other) == []
    assert [a.id for a in enforcement.actions(world.enterprise_id)] == [action.id]


def test_bad_decisions_are_refused_and_change_nothing(
    world: World, enforcement: EnforcementService
) -> None:
    take = enforcement.take
    refused(
        "EVIDENCE_REQUIRED", take, regulator(), world.enterprise_id, NewAction(ActionKind.RED, [])
    )
    refused(
        "EVIDENCE_INVALID",
        take,
        regulator(),
        world.enterprise_id,
        NewAction(ActionKind.RED, [("rumour", "x")]),
    )
    refused(
        "EVIDENCE_INVALID",  # a complaint that does not exist (or is another enterprise's)
        take,
        regulator(),
        world.enterprise_id,
        NewAction(ActionKind.NOTICE, [("complaint", "12345")]),
    )
    refused("MINUTES_REQUIRED", take, regulator(), world.enterprise_id, card(ActionKind.INTERVIEW))
    refused(
        "DEADLINE_INVALID",
        take,
        regulator(),
        world.enterprise_id,
        card(ActionKind.RECTIFICATION, deadline=NOW - timedelta(days=1)),
    )
    refused(
        "CHANNEL_NOT_FOUND",
        take,
        regulator(),
        world.enterprise_id,
        card(ActionKind.YELLOW_3, channel_ids=[world.other_channel_id]),
    )
    refused("ENTERPRISE_NOT_FOUND", take, regulator(), 99_999, card(ActionKind.NOTICE))
    assert enforcement.actions() == []
    assert world.session.get(Enterprise, world.enterprise_id).licence_status == "official"  # type: ignore[union-attr]
    assert world.session.get(Channel, world.other_channel_id).status == "active"  # type: ignore[union-attr]


def test_an_interview_keeps_its_minutes_sealed(
    world: World, enforcement: EnforcementService
) -> None:
    minutes = "约谈总经理：整改渠道管理"
    action = enforcement.take(
        regulator(), world.enterprise_id, card(ActionKind.INTERVIEW, minutes=minutes)
    )
    assert action.minutes_note_id is not None
    details = world.session.scalars(
        select(AuditLog.detail).where(AuditLog.object_type == "enforcement_action")
    ).all()
    assert details and all(minutes not in str(d) for d in details)


def test_rectification_reported_then_followed_up(
    world: World, enforcement: EnforcementService
) -> None:
    order = enforcement.take(regulator(), world.enterprise_id, card(ActionKind.RECTIFICATION))
    assert order.deadline == NOW + timedelta(days=30)  # the policy's default
    notice = enforcement.take(regulator(), world.enterprise_id, card(ActionKind.NOTICE))
    refused(
        "NOT_A_RECTIFICATION",
        enforcement.report_rectification,
        enterprise_admin(),
        world.enterprise_id,
        notice.id,
        "x",
    )
    enforcement.report_rectification(
        enterprise_admin(NOW + timedelta(days=10)), world.enterprise_id, order.id, "retrained"
    )
    assert order.reported_at == NOW + timedelta(days=10)
    enforcement.follow_up(regulator(), order.id, True, [("inspection_round", "follow-1")])
    assert order.status == "complied" and order.follow_up_outcome == "passed"
    assert enforcement.proposals() == []


def test_a_failed_follow_up_and_an_overdue_order_propose_a_card_a_person_accepts(
    world: World, enforcement: EnforcementService
) -> None:
    failed = enforcement.take(regulator(), world.enterprise_id, card(ActionKind.RECTIFICATION))
    enforcement.follow_up(regulator(), failed.id, False, [("inspection_round", "follow-1")])
    assert failed.status == "open"
    (proposal,) = enforcement.proposals(world.enterprise_id, "pending")
    assert (proposal.kind, proposal.rule) == ("yellow_1", "rectification_failed")

    overdue = enforcement.take(
        regulator(),
        world.other_enterprise_id,
        card(ActionKind.RECTIFICATION, deadline=NOW + timedelta(days=5)),
    )
    assert enforcement.sweep(regulator(NOW + timedelta(days=4))) == []
    made = enforcement.sweep(regulator(NOW + timedelta(days=6)))
    assert [(p.enterprise_id, p.kind, p.rule) for p in made] == [
        (world.other_enterprise_id, "yellow_1", "rectification_overdue")
    ]
    assert made[0].evidence == [{"kind": "action", "ref": str(overdue.id)}]
    assert enforcement.sweep(regulator(NOW + timedelta(days=7))) == []  # once

    action = enforcement.accept(regulator(), made[0].id, evidence=[("document", "MIIT-17")])
    assert action.kind == "yellow_1" and action.proposal_id == made[0].id
    assert {"kind": "document", "ref": "MIIT-17"} in action.evidence
    refused("PROPOSAL_DECIDED", enforcement.accept, regulator(), made[0].id)
    enforcement.dismiss(regulator(), proposal.id, "the follow-up was too early")
    assert proposal.status == "dismissed"


def test_violation_rates_over_rounds_propose_the_next_rung_once(
    world: World, enforcement: EnforcementService
) -> None:
    enforcement.take(regulator(), world.enterprise_id, card(ActionKind.NOTICE))
    rounds = [RoundResult("2016-1", 109, 37), RoundResult("2016-2", 186, 22)]
    proposal = enforcement.propose_on_rounds(regulator(), world.enterprise_id, rounds)
    assert proposal is not None and proposal.kind == "interview"
    assert enforcement.propose_on_rounds(regulator(), world.enterprise_id, rounds) is None
    good = [RoundResult("2017-1", 100, 3), RoundResult("2017-2", 100, 2)]
    assert enforcement.propose_on_rounds(regulator(), world.enterprise_id, good) is None


def test_every_decision_is_audited(world: World, enforcement: EnforcementService) -> None:
    action = enforcement.take(regulator(), world.enterprise_id, card(ActionKind.YELLOW_2))
    enforcement.appeal(enterprise_admin(), world.enterprise_id, action.id, "no")
    enforcement.decide_appeal(regulator(), action.id, True, "withdrawn")
    actions = world.session.scalars(
        select(AuditLog.action).where(AuditLog.action.like("enforcement.%")).order_by(AuditLog.id)
    ).all()
    assert actions == ["enforcement.take", "enforcement.appeal", "enforcement.appeal_decide"]
    sanctions = world.session.scalar(
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.action.like("enterprise.sanction_%"))
    )
    assert sanctions == 2  # imposed, lifted


def test_the_report_shows_each_enterprise(world: World, enforcement: EnforcementService) -> None:
    enforcement.take(regulator(), world.enterprise_id, card(ActionKind.YELLOW_2))
    rows = {r["enterprise"]: r for r in enforcement.report()}
    assert rows["CMCC"]["open"] == 1 and rows["CMCC"]["highest_open"] == "yellow_2"
    assert rows["CMCC"]["measures"] == "block_allocation"
    assert rows["MVNO1"]["actions"] == 0


def test_the_report_reads_set_based_whatever_the_number_of_enterprises(
    world: World, enforcement: EnforcementService
) -> None:
    """It read the open rungs and the measures once per enterprise (N+1); now a fixed
    number of queries, and a lifted card's measure is gone from it."""
    from sqlalchemy import event

    action = enforcement.take(regulator(), world.enterprise_id, card(ActionKind.YELLOW_2))

    def statements() -> int:
        seen: list[str] = []
        engine = world.session.get_bind()
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            enforcement.report()
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    before = statements()
    for n in range(5):
        world.service.admin.create_enterprise(
            regulator(), code=f"EXTRA{n}", name=f"extra {n}", kind="mvno", licence_no=f"L-{n}"
        )
    world.session.flush()
    assert statements() == before
    enforcement.lift(regulator(), action.id, "rectified")
    rows = {r["enterprise"]: r for r in enforcement.report()}
    assert rows["CMCC"]["measures"] == "" and rows["CMCC"]["highest_open"] == ""


def test_the_ministrys_block_files_are_refused_too_while_allocation_is_suspended(
    world: World, enforcement: EnforcementService
) -> None:
    """Provisioning (files, the API's POST /v1/blocks) is a second path to number blocks:
    the same measure refuses it, on the row, with the same code."""
    from realname.provisioning.document import BlockSpec
    from realname.provisioning.errors import ProvisioningError
    from realname.provisioning.service import ProvisioningService

    provisioning = ProvisioningService(world.session, world.service.keyring)
    action = enforcement.take(regulator(), world.enterprise_id, card(ActionKind.YELLOW_2))
    with pytest.raises(ProvisioningError) as raised:
        provisioning.add_block(regulator(), BlockSpec("CMCC", prefix="+86138008"))
    assert raised.value.code == "BLOCK_ALLOCATION_SUSPENDED"
    provisioning.add_block(regulator(), BlockSpec("MVNO1", prefix="+86170008"))  # not MVNO1
    enforcement.lift(regulator(), action.id, "done")
    provisioning.add_block(regulator(), BlockSpec("CMCC", prefix="+86138008"))


def test_a_complaint_rate_above_the_policys_proposes_a_step_once(world: World) -> None:
    from realname.compliance.complaints.service import Intake
    from tests.compliance.conftest import centre, complaints_of, enforcement_of

    policy = world.service.policy.with_changes(
        enforcement={**world.service.policy.enforcement.model_dump(), "complaints_per_10k": 5000}
    )
    enforcement = enforcement_of(world, policy)
    msisdn = world.register(world.people[0])
    world.register(world.people[1])
    complaints_of(world, policy).take(centre(), Intake("spam_sms", msisdn, NOW))
    # One complaint on two lines is 5,000 per 10,000: not above.
    assert enforcement.sweep(regulator(NOW + timedelta(hours=1))) == []
    complaints_of(world, policy).take(centre(), Intake("spam_sms", msisdn, NOW))
    made = enforcement.sweep(regulator(NOW + timedelta(hours=1)))
    assert [(p.enterprise_id, p.kind, p.rule) for p in made] == [
        (world.enterprise_id, "notice", "complaint_rate")
    ]
    assert enforcement.sweep(regulator(NOW + timedelta(hours=2))) == []
    assert enforcement.sweep(regulator(NOW + timedelta(days=1))) == []  # one still pending


def test_the_sweep_reads_set_based_whatever_the_number_of_enterprises(world: World) -> None:
    """The complaint-rate rule read pending proposals, complaints, lines and open actions
    once per enterprise (N+1); now the same statements for 2 enterprises or 7."""
    from sqlalchemy import event

    from tests.compliance.conftest import enforcement_of

    policy = world.service.policy.with_changes(
        enforcement={**world.service.policy.enforcement.model_dump(), "complaints_per_10k": 5000}
    )
    enforcement = enforcement_of(world, policy)
    engine = world.session.get_bind()

    def statements(at_hours: int) -> int:
        seen: list[str] = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert enforcement.sweep(regulator(NOW + timedelta(hours=at_hours))) == []
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    before = statements(1)
    for n in range(5):
        world.service.admin.create_enterprise(
            regulator(), code=f"EXTRA{n}", name=f"extra {n}", kind="mvno", licence_no=f"L-{n}"
        )
    world.session.flush()
    assert statements(2) == before
