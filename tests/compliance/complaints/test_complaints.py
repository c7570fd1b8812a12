"""Complaints as cases: traced to the owner at the instant, and the clusters that act."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from realname.compliance.complaints.errors import ComplaintError
from realname.compliance.complaints.models import Complaint
from realname.compliance.complaints.service import ComplaintService, Intake
from realname.compliance.enforcement.errors import EnforcementError
from realname.compliance.enforcement.ladder import ActionKind
from realname.compliance.enforcement.service import NewAction
from realname.policy.schema import ChannelKind, Policy
from realname.registry.check import run_integrity_check
from realname.registry.commands import Desk, Kit
from realname.registry.errors import RegistryError
from realname.registry.models import Holding, Line
from realname.registry.reverification import ReverificationAsked
from tests.compliance.conftest import centre, complaints_of, enforcement_of, regulator
from tests.registry.conftest import NOW, World

DIGEST = hashlib.sha256(b"a recorded call").hexdigest()


def line(world: World, msisdn: str) -> Line:
    found = world.service.repo.line(msisdn)
    assert found is not None
    return found


def intake(msisdn: str, category: str = "harassment_call", minutes: int = 60, **kw: str) -> Intake:
    return Intake(category, msisdn, NOW + timedelta(minutes=minutes), **kw)  # type: ignore[arg-type]


def later(days: int = 3):  # type: ignore[no-untyped-def]
    return centre(NOW + timedelta(days=days))


def test_traced_to_the_owner_at_that_instant_not_todays(
    world: World, complaints: ComplaintService
) -> None:
    giver, receiver = world.people[0], world.people[1]
    msisdn = world.register(giver)  # at NOW, at the own hall, by its clerk
    first_owner = line(world, msisdn).owner_identity_id
    hall = ChannelKind.PARTNER_HALL
    world.service.transfer(
        world.ctx(at=NOW + timedelta(days=1)),
        desk=Desk(world.enterprise_id, world.channels[hall], world.clerks[hall]),
        msisdn=msisdn,
        owner=giver,
        receiver=receiver,
    )
    second_owner = line(world, msisdn).owner_identity_id
    assert second_owner != first_owner

    before = complaints.take(later(), intake(msisdn, minutes=60))  # the giver's time
    after = complaints.take(later(), intake(msisdn, minutes=60 * 30))  # the receiver's
    assert before.owner_identity_id == first_owner
    assert before.channel_id == world.channels[ChannelKind.OWN_HALL]
    assert before.clerk_id == world.clerks[ChannelKind.OWN_HALL]
    assert after.owner_identity_id == second_owner
    assert after.channel_id == world.channels[hall] and after.clerk_id == world.clerks[hall]
    assert before.enterprise_id == after.enterprise_id == world.enterprise_id
    # Only the complaint in the current owner's time acts on the line.
    assert before.status == "traced" and before.outcome == "recorded"
    events = [e.operation for e in world.service.repo.events_of(line(world, msisdn).id)]
    assert events.count("complain") == 1


def test_a_number_nobody_has_is_closed_as_unknown(
    world: World, complaints: ComplaintService
) -> None:
    complaint = complaints.take(later(), intake("+8613900000000"))
    assert (complaint.status, complaint.outcome, complaint.line_id) == (
        "closed",
        "number_unknown",
        None,
    )


def test_not_mine_suspends_the_line_and_frees_the_cap_slot(
    world: World, complaints: ComplaintService, china: Policy
) -> None:
    victim = world.people[2]
    numbers = [world.register(victim) for _ in range(5)]  # the enterprise cap
    with pytest.raises(RegistryError) as capped:
        world.register(victim)
    assert capped.value.code == "CAP_EXCEEDED"
    identity = line(world, numbers[0]).owner_identity_id
    complaint = complaints.take(later(), intake(numbers[0], "not_mine", content_sha256=DIGEST))
    assert complaint.status == "acted" and "line_disputed" in (complaint.outcome or "")
    assert complaint.owner_identity_id == identity  # traced to the person it named
    disputed = line(world, numbers[0])
    assert (disputed.state, disputed.owner_identity_id, disputed.barring_reason) == (
        "suspended",
        None,
        "disputed",
    )
    holding = world.session.get(Holding, (identity, world.enterprise_id))
    assert holding is not None and holding.active_count == 4
    world.register(victim)  # the freed slot
    report = run_integrity_check(world.session, china, world.service.keyring)
    assert report.ok, [r.violations for r in report.results if r.violations]
    # The check ends with whoever holds the SIM registering it, with proof of possession.
    holder = world.people[3]
    world.register(holder, msisdn=numbers[0])
    taken = line(world, numbers[0])
    assert taken.state == "active" and taken.owner_identity_id not in (None, identity)
    assert run_integrity_check(world.session, china, world.service.keyring).ok


def test_a_cluster_of_complaints_asks_the_owner_to_reverify(world: World, china: Policy) -> None:
    told: list[ReverificationAsked] = []
    service = complaints_of(world, told=told)
    msisdn = world.register(world.people[3])
    quiet = world.register(world.people[4])
    for i in range(4):  # below the policy's five
        service.take(later(), intake(msisdn, minutes=60 + i))
        service.take(later(6), intake(quiet, minutes=60 + i * 1500))  # 25 hours apart
    assert line(world, msisdn).reverify_deadline is None and not told
    fifth = service.take(later(), intake(msisdn, minutes=70))
    assert fifth.status == "acted" and fifth.outcome == "reverification_requested"
    assert line(world, msisdn).reverify_deadline is not None
    assert [t.msisdn for t in told] == [msisdn]
    service.take(later(6), intake(quiet, minutes=60 + 4 * 1500))
    assert line(world, quiet).reverify_deadline is None  # five, but three within 72 hours


def test_a_repeat_offenders_other_lines_are_flagged_at_every_enterprise(
    world: World, complaints: ComplaintService
) -> None:
    spammer = world.people[5]
    numbers = [world.register(spammer) for _ in range(2)]
    kit = Kit("+8617000100001", "89860077000000000101", "460770000000101")
    world.service.stock.stock_kits(
        world.ctx(), world.other_enterprise_id, world.other_channel_id, [kit]
    )
    world.service.register(
        world.ctx(),
        desk=Desk(world.other_enterprise_id, world.other_channel_id, world.other_clerk_id),
        msisdn=kit.msisdn,
        person=spammer,
    )
    for i in range(2):
        complaints.take(later(), intake(numbers[0], "spam_sms", minutes=60 + i))
    assert complaints.flags() == []
    third = complaints.take(later(), intake(numbers[0], "fraud_call", minutes=90))
    assert "owner_lines_flagged" in (third.outcome or "")
    flagged = {(f.line_id, f.enterprise_id) for f in complaints.flags()}
    assert flagged == {
        (line(world, numbers[1]).id, world.enterprise_id),
        (line(world, kit.msisdn).id, world.other_enterprise_id),
    }
    assert [f.line_id for f in complaints.flags(world.other_enterprise_id)] == [
        line(world, kit.msisdn).id
    ]
    # Flagged once; the flags already made are read once, not once per line held (N+1).
    from sqlalchemy import event

    seen: list[str] = []
    engine = world.session.get_bind()
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        complaints.take(later(), intake(numbers[0], "spam_sms", minutes=100))
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(complaints.flags()) == 2
    assert sum("FROM complaint_flag" in sql for sql in seen) == 1


def test_bad_complaints_are_refused_and_change_nothing(
    world: World, complaints: ComplaintService
) -> None:
    msisdn = world.register(world.people[6])
    bad = [
        (Intake("phishing", msisdn, NOW), "CATEGORY_INVALID"),
        (Intake("other", "12345", NOW), "NUMBER_INVALID"),
        (Intake("other", msisdn, NOW.replace(tzinfo=None)), "INSTANT_INVALID"),
        (Intake("other", msisdn, NOW + timedelta(days=9)), "INSTANT_IN_FUTURE"),
        (Intake("other", msisdn, NOW - timedelta(days=400)), "INSTANT_TOO_OLD"),
        (Intake("other", msisdn, NOW, content_sha256="the message text"), "CONTENT_HASH_INVALID"),
        (Intake("other", msisdn, NOW, centre_ref="案件 1"), "REFERENCE_INVALID"),
    ]
    for item, code in bad:
        with pytest.raises(ComplaintError) as raised:
            complaints.take(later(), item)
        assert raised.value.code == code
    assert world.session.scalars(select(Complaint)).all() == []
    complaints.take(later(), Intake("other", msisdn, NOW, centre_ref="C-1"))
    with pytest.raises(ComplaintError) as duplicate:
        complaints.take(later(), Intake("other", msisdn, NOW, centre_ref="C-1"))
    assert duplicate.value.code == "DUPLICATE_COMPLAINT"


def test_a_csv_file_lands_its_good_rows_and_reports_the_bad_by_line(
    world: World, complaints: ComplaintService
) -> None:
    msisdn = world.register(world.people[7])
    at = (NOW + timedelta(hours=1)).isoformat()
    text = "\n".join(
        [
            "category,msisdn,occurred_at,content_sha256,centre_ref",
            f"spam_sms,{msisdn},{at},{DIGEST},C-100",
            f"phishing,{msisdn},{at},,C-101",
            f"harassment_call,{msisdn},yesterday,,C-102",
            "",
            f"fraud_call,{msisdn},{at},,C-103",
            f"other,{msisdn},{at},,C-100",
        ]
    )
    report = complaints.import_csv(later(), text.encode())
    assert report.rows == 5 and len(report.accepted) == 2
    assert [(n, code) for n, code, _ in report.refused] == [
        (3, "CATEGORY_INVALID"),
        (4, "INSTANT_INVALID"),
        (7, "DUPLICATE_COMPLAINT"),
    ]
    landed = world.session.scalars(select(Complaint).order_by(Complaint.id)).all()
    assert [c.centre_ref for c in landed] == ["C-100", "C-103"]
    assert all(c.import_id == report.import_id for c in landed)
    assert all(msisdn not in m for _, _, m in report.refused)  # no number in the messages
    with pytest.raises(ComplaintError) as header:
        complaints.import_csv(later(), b"number,when\n1,2\n")
    assert header.value.code == "FILE_INVALID"
    # The same file sent again (a retry, a resend) is refused whole: nothing counts twice.
    with pytest.raises(ComplaintError) as again:
        complaints.import_csv(later(), text.encode())
    assert again.value.code == "FILE_ALREADY_IMPORTED"
    assert len(world.session.scalars(select(Complaint)).all()) == 2


def test_closing_a_case_and_the_counts_per_enterprise_and_channel(
    world: World, complaints: ComplaintService
) -> None:
    msisdn = world.register(world.people[8], kind=ChannelKind.SOCIAL)
    complaint = complaints.take(later(), intake(msisdn, "spam_sms"))
    complaints.take(later(), intake(msisdn, "harassment_call", minutes=61))
    complaints.close(later(4), complaint.id, "resolved")
    assert complaint.status == "closed" and complaint.outcome == "recorded,resolved"
    with pytest.raises(ComplaintError) as closed:
        complaints.close(later(5), complaint.id, "again")
    assert closed.value.code == "COMPLAINT_CLOSED"
    with pytest.raises(ComplaintError) as other:
        complaints.complaint(complaint.id, world.other_enterprise_id)
    assert other.value.code == "COMPLAINT_NOT_FOUND"
    (row,) = complaints.report()
    assert row["enterprise"] == "CMCC" and row["channel"] == f"C-{ChannelKind.SOCIAL}"
    assert (row["total"], row["spam_sms"], row["harassment_call"]) == (2, 1, 1)
    # One enterprise's rows come from the query itself (they were filtered in Python).
    assert complaints.report(enterprise_id=world.enterprise_id) == [row]
    assert complaints.report(enterprise_id=world.other_enterprise_id) == []
    # By the selling channel's province: the registry world's CMCC channels are in Beijing.
    assert complaints.report(province="11") == [row]
    assert complaints.report(province="44") == []


def test_complaints_are_evidence_for_an_action_against_their_enterprise_only(
    world: World, complaints: ComplaintService
) -> None:
    msisdn = world.register(world.people[9])
    complaint = complaints.take(later(), intake(msisdn))
    enforcement = enforcement_of(world)
    action = enforcement.take(
        regulator(),
        world.enterprise_id,
        NewAction(ActionKind.NOTICE, [("complaint", str(complaint.id))]),
    )
    assert action.evidence == [{"kind": "complaint", "ref": str(complaint.id)}]
    with pytest.raises(EnforcementError) as refused:
        enforcement.take(
            regulator(),
            world.other_enterprise_id,
            NewAction(ActionKind.NOTICE, [("complaint", str(complaint.id))]),
        )
    assert refused.value.code == "EVIDENCE_INVALID"
