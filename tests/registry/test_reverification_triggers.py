"""Second verification (二次实名) triggered by the risk rules, and its deadline enforced."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from realname.messaging.models import OutboxMessage
from realname.messaging.notices import reverification_sms
from realname.policy.schema import Policy
from realname.registry.commands import Actor, Context, Desk
from realname.registry.reverification import ReverificationTriggers, is_dormant_then_active
from tests.registry.conftest import NOW, World


def triggers(world: World, policy: Policy) -> ReverificationTriggers:
    return ReverificationTriggers(
        world.session,
        policy=policy,
        registry=world.service,
        tell=reverification_sms(world.session, policy),
    )


def messages(session: Session) -> list[str]:
    return list(session.scalars(select(OutboxMessage.kind)))


def test_dormant_then_active_is_a_use_after_the_silence() -> None:
    assert is_dormant_then_active(NOW - timedelta(days=200), NOW, 180)
    assert not is_dormant_then_active(NOW - timedelta(days=20), NOW, 180)
    assert not is_dormant_then_active(None, NOW, 180)  # a first use is not a waking


def test_a_fraud_complaint_asks_the_owner_once(world: World, china: Policy) -> None:
    number = world.register(world.people[0])
    line = world.service.complain(world.ctx("admin"), world.enterprise_id, number, "fraud")
    rules = triggers(world, china)
    assert rules.on_complaint(world.ctx("admin"), line, "fraud")
    assert line.reverify_deadline == NOW + timedelta(hours=24)
    assert messages(world.session) == ["reverification"]
    body = world.session.scalars(select(OutboxMessage.body)).one()
    assert "2026-11-24 17:30" in body  # the deadline in Beijing time
    # Pending already: a second complaint asks nothing more.
    assert not rules.on_complaint(world.ctx("admin"), line, "fraud")
    assert not rules.on_complaint(world.ctx("admin"), line, "harassment")


def test_usage_after_dormancy_asks_and_late_reports_are_ignored(
    world: World, china: Policy
) -> None:
    number = world.register(world.people[0])
    rules = triggers(world, china)
    first = rules.record_usage(world.ctx("admin"), world.enterprise_id, [(number, NOW)])
    assert (first.updated, first.triggered) == (1, [])
    later = NOW + timedelta(days=200)
    ctx = Context(Actor("system", "usage"), later)
    woke = rules.record_usage(
        ctx,
        world.enterprise_id,
        [
            (number, later),
            (number, NOW + timedelta(days=1)),
            ("+8613999999999", later),
            ("x", later),
        ],
    )
    line = world.service.line_by_number(world.enterprise_id, number)
    assert woke.triggered == [line.id] and woke.unknown == 2
    assert line.last_used_at == later
    assert line.reverify_deadline == later + timedelta(hours=24)


def test_one_identity_with_many_lines_is_swept_and_the_deadline_enforced(
    world: World, china: Policy
) -> None:
    numbers = [world.register(world.people[0]) for _ in range(4)]
    world.register(world.people[1])
    rules = triggers(world, china)
    assert rules.sweep_many_lines(world.ctx("system")) == 4
    assert rules.sweep_many_lines(world.ctx("system")) == 0  # pending: not asked twice
    # The owner answers one at a counter; the others pass their deadline and are suspended.
    world.service.answer_reverification(
        world.ctx(),
        desk=Desk(
            world.enterprise_id,
            world.channels[next(iter(world.channels))],
            world.clerks[next(iter(world.clerks))],
        ),
        msisdn=numbers[0],
        owner=world.people[0],
    )
    late = Context(Actor("system", "reverification"), NOW + timedelta(hours=25))
    due = world.service.due_reverifications(late.at)
    assert sorted(due) == sorted(numbers[1:])
    for number in due:
        assert world.service.expire_reverification(late, number)
    states = [world.service.line_by_number(world.enterprise_id, n).state for n in numbers]
    assert states == ["active", "suspended", "suspended", "suspended"]
    # Answered within the repeat period: the sweep does not ask again.
    assert rules.sweep_many_lines(Context(Actor("system", "x"), NOW + timedelta(days=30))) == 0


def test_a_reissued_number_starts_without_the_old_owners_usage(world: World, china: Policy) -> None:
    number = world.register(world.people[0])
    triggers(world, china).record_usage(world.ctx("admin"), world.enterprise_id, [(number, NOW)])
    world.service.cancel(world.ctx("admin"), world.enterprise_id, number, "customer request")
    later = Context(Actor("system", "release"), NOW + timedelta(days=china.cooling_days + 1))
    line = world.service.release(later, world.enterprise_id, number)
    assert line.last_used_at is None  # the next owner's first use is not a "waking"


def test_asking_numbers_in_one_go_asks_each_askable_line_once(world: World, china: Policy) -> None:
    """The daily job's batch: repeated and unknown numbers, and a line already asked, are
    skipped; each line asked gets its deadline, its event and one SMS."""
    numbers = [world.register(world.people[0]) for _ in range(3)]
    rules = triggers(world, china)
    assert rules.ask_number(world.ctx("system"), numbers[0], "many_lines")
    asked = rules.ask_numbers(
        world.ctx("system"),
        [numbers[2], numbers[1], numbers[2], numbers[0], "+8613999999999"],
        "many_lines",
    )
    assert asked == 2
    lines = [world.service.line_by_number(world.enterprise_id, n) for n in numbers]
    assert [line.reverify_deadline for line in lines] == [NOW + timedelta(hours=24)] * 3
    assert messages(world.session) == ["reverification"] * 3
