"""`realname check` finds each kind of corruption, and nothing in a healthy registry."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from realname.policy.schema import Policy
from realname.registry.check import IntegrityReport, run_integrity_check
from realname.registry.lifecycle import BarringReason
from realname.registry.models import Holding, Identity, Line, LineEvent
from realname.security.models import AuditLog
from tests.registry.conftest import NOW, World

AUDIT = "audit chains are intact, keyed, and extend the checkpoints"


def populated(world: World) -> list[str]:
    numbers = [world.register(world.people[i % 4]) for i in range(6)]
    world.service.report_lost(world.ctx(), world.enterprise_id, numbers[1])
    world.service.cancel(world.ctx(), world.enterprise_id, numbers[2], "customer request")
    world.service.restrict(world.ctx(), world.enterprise_id, numbers[3], BarringReason.BACKFILL)
    world.stock(3)
    world.session.flush()
    return numbers


def check(world: World, policy: Policy) -> IntegrityReport:
    world.session.expire_all()
    return run_integrity_check(world.session, policy, world.service.keyring)


def failing(report: IntegrityReport) -> dict[str, list[str]]:
    return {r.name: r.violations for r in report.results if r.violations}


def test_healthy_registry_has_no_violations(world: World, china: Policy) -> None:
    from realname.security.clients import ClientService
    from realname.security.principals import Role

    populated(world)
    ClientService(world.session, world.service.keyring).create(role=Role.REGULATOR, at=NOW)
    world.session.flush()
    report = check(world, china)
    assert report.ok, failing(report)
    assert all(r.examined > 0 for r in report.results)


def _edit_state(s: Session, numbers: list[str]) -> None:
    s.execute(update(Line).where(Line.msisdn == numbers[0]).values(state="suspended"))


def _delete_event(s: Session, numbers: list[str]) -> None:
    line_id = s.scalar(select(Line.id).where(Line.msisdn == numbers[4]))
    s.execute(delete(LineEvent).where(LineEvent.line_id == line_id, LineEvent.seq == 1))


def _change_audit(s: Session, numbers: list[str]) -> None:
    first = s.scalar(select(AuditLog.id).order_by(AuditLog.id).limit(1))
    s.execute(update(AuditLog).where(AuditLog.id == first).values(actor="clerk:999"))


def _delete_audit(s: Session, numbers: list[str]) -> None:
    last = s.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1))
    s.execute(delete(AuditLog).where(AuditLog.id == last))


def _edit_holding(s: Session, numbers: list[str]) -> None:
    s.execute(update(Holding).values(active_count=Holding.active_count + 1))


def _unverify_owner(s: Session, numbers: list[str]) -> None:
    s.execute(update(Identity).values(verified_at=None))


def _pii_in_clear(s: Session, numbers: list[str]) -> None:
    s.execute(update(LineEvent).where(LineEvent.seq == 1).values(reason="11010519491231002X"))


def _break_seal(s: Session, numbers: list[str]) -> None:
    s.execute(update(Identity).values(name_sealed=b"\x00" * 40))


def _change_owner(s: Session, numbers: list[str]) -> None:
    other = s.scalar(select(Line.owner_identity_id).where(Line.msisdn == numbers[5]))
    s.execute(update(Line).where(Line.msisdn == numbers[0]).values(owner_identity_id=other))


@pytest.mark.parametrize(
    ("corrupt", "check_name", "words"),
    [
        (_edit_state, "line state equals the replay of its events", "replay to active"),
        (_delete_event, "line state equals the replay of its events", "missing"),
        (_change_audit, AUDIT, "content altered"),
        (_delete_audit, AUDIT, "head does not match"),
        (_edit_holding, "holdings equal the real counts", "holding says"),
        (_unverify_owner, "held lines have verified owners", "never verified"),
        (_pii_in_clear, "line events carry their keyed MAC and no PII", "holds an ID"),
        (_break_seal, "PII is sealed and opens", "does not open"),
        (_change_owner, "line state equals the replay of its events", "owner is"),
    ],
)
def test_each_corruption_is_reported(
    world: World,
    china: Policy,
    corrupt: Callable[[Session, list[str]], None],
    check_name: str,
    words: str,
) -> None:
    numbers = populated(world)
    corrupt(world.session, numbers)
    report = check(world, china)
    assert not report.ok
    found = failing(report)
    assert check_name in found, found
    assert any(words in v for v in found[check_name]), found[check_name]
    # Reports never print a full phone number.
    assert not any(n in v for v in found[check_name] for n in numbers)


def test_a_number_in_any_text_column_is_reported_by_row(world: World, china: Policy) -> None:
    """The text scan reads each column's distinct values once (set-based); a value holding a
    number is traced back to every row that carries it, column by column, in key order."""
    from realname.registry.models import Channel

    populated(world)
    channels = world.session.scalars(select(Channel.id).order_by(Channel.id)).all()
    world.session.execute(
        update(Channel).values(name="渠道 138 0013 8000", status_reason="11010519491231002X")
    )
    report = check(world, china)
    found = failing(report)["no text column holds an ID or phone number"]
    expected = []
    for channel_id in channels:
        expected += [
            f"channel {channel_id}: name holds an ID or phone number",
            f"channel {channel_id}: status_reason holds an ID or phone number",
        ]
    assert found == expected
    assert "13800138000" not in " ".join(found)
