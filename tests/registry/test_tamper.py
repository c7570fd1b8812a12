"""Tampering is evident: each single SQL edit an attacker with database access could make is
reported by `realname check` (both engines). Issue 11 part 4: every edit here used to pass."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from realname.policy.schema import Policy
from realname.registry.check import (
    IntegrityReport,
    append_only_marks,
    run_integrity_check,
)
from realname.registry.lifecycle import BarringReason
from realname.registry.models import Identity, Line, LineEvent
from realname.security.audit import legacy_entry_hash
from realname.security.audit_keys import AuditKeys
from realname.security.checkpoint import (
    append_checkpoint,
    current_checkpoint,
    signed_line,
)
from realname.security.models import AuditChainHead, AuditLog, SealedNote
from realname.security.repository import GENESIS
from tests.registry.conftest import NOW, World

EVENT_MAC = "line events carry their keyed MAC and no PII"
IDENTITY_MAC = "identities carry their keyed MAC"
AUDIT = "audit chains are intact, keyed, and extend the checkpoints"
REPLAY = "line state equals the replay of its events"
NOTES = "sealed notes are intact"


def populated(world: World) -> list[str]:
    numbers = [world.register(world.people[i % 4]) for i in range(6)]
    world.service.report_lost(world.ctx(), world.enterprise_id, numbers[1])
    world.service.cancel(world.ctx(), world.enterprise_id, numbers[2], "customer says so")
    world.service.restrict(world.ctx(), world.enterprise_id, numbers[3], BarringReason.BACKFILL)
    world.service.suspend(
        world.ctx(), world.enterprise_id, numbers[4], BarringReason.ENFORCEMENT, "typed note"
    )
    world.stock(2)
    world.session.flush()
    return numbers


def check(world: World, policy: Policy, checkpoints: Path | None = None) -> IntegrityReport:
    world.session.expire_all()
    return run_integrity_check(
        world.session, policy, world.service.keyring, checkpoints=checkpoints
    )


def failing(report: IntegrityReport) -> dict[str, list[str]]:
    return {r.name: r.violations for r in report.results if r.violations}


def register_event(s: Session, msisdn: str) -> int:
    line_id = s.scalar(select(Line.id).where(Line.msisdn == msisdn))
    event_id = s.scalar(
        select(LineEvent.id).where(LineEvent.line_id == line_id, LineEvent.operation == "register")
    )
    assert event_id is not None
    return event_id


def _actor(s: Session, n: list[str]) -> None:
    s.execute(update(LineEvent).where(LineEvent.id == register_event(s, n[0])).values(actor="x"))


def _reason(s: Session, n: list[str]) -> None:
    s.execute(update(LineEvent).where(LineEvent.reason == "lost").values(reason="enforcement"))


def _occurred_at(s: Session, n: list[str]) -> None:
    event = s.get(LineEvent, register_event(s, n[0]))
    assert event is not None
    s.execute(
        update(LineEvent)
        .where(LineEvent.id == event.id)
        .values(occurred_at=event.occurred_at - timedelta(days=365))
    )


def _channel(s: Session, n: list[str]) -> None:
    event_id = register_event(s, n[0])
    other = s.scalar(select(func.max(LineEvent.channel_id)))
    s.execute(update(LineEvent).where(LineEvent.id == event_id).values(channel_id=other + 1))


def _clerk(s: Session, n: list[str]) -> None:
    event = s.get(LineEvent, register_event(s, n[0]))
    assert event is not None
    s.execute(
        update(LineEvent)
        .where(LineEvent.id == event.id)
        .values(detail=event.detail | {"clerk_id": event.detail["clerk_id"] + 1})
    )


def _correlation(s: Session, n: list[str]) -> None:
    s.execute(update(LineEvent).values(correlation_id="other"))


def _operation(s: Session, n: list[str]) -> None:
    s.execute(update(LineEvent).where(LineEvent.reason == "lost").values(operation="suspend"))


def _move_event(s: Session, n: list[str]) -> None:
    """The lost report moved onto another line (its seq slot made free first)."""
    target = s.scalar(select(Line.id).where(Line.msisdn == n[5]))
    s.execute(update(LineEvent).where(LineEvent.reason == "lost").values(line_id=target, seq=99))


def _birth_date(s: Session, n: list[str]) -> None:
    identity = s.scalars(select(Identity).limit(1)).one()
    assert identity.birth_date is not None
    s.execute(
        update(Identity)
        .where(Identity.id == identity.id)
        .values(birth_date=identity.birth_date - timedelta(days=365 * 20))
    )


def _sex(s: Session, n: list[str]) -> None:
    s.execute(update(Identity).values(sex="x"))


def _region(s: Session, n: list[str]) -> None:
    s.execute(update(Identity).values(region_code="999999"))


def _doc_type(s: Session, n: list[str]) -> None:
    s.execute(update(Identity).values(doc_type="passport"))


def _swap_owners(s: Session, n: list[str]) -> None:
    """Two active lines' owners swapped, in the line table and in their last events."""
    first, second = (s.scalars(select(Line).where(Line.msisdn == m)).one() for m in (n[0], n[5]))
    a, b = first.owner_identity_id, second.owner_identity_id
    assert a != b
    for line, owner in ((first, b), (second, a)):
        s.execute(update(Line).where(Line.id == line.id).values(owner_identity_id=owner))
        s.execute(
            update(LineEvent)
            .where(LineEvent.line_id == line.id, LineEvent.seq == line.event_count)
            .values(owner_after_id=owner)
        )


def _line_column(**values: object) -> Callable[[Session, list[str]], None]:
    """One of the line row's cached columns edited (it has no MAC: its events say the truth).
    A review found these passed; `owner_since` is what Tenure answers from."""

    def corrupt(s: Session, n: list[str]) -> None:
        s.execute(update(Line).where(Line.msisdn == n[0]).values(**values))

    corrupt.__name__ = "_line_" + "_".join(values)
    return corrupt


def _swap_identities(s: Session, n: list[str]) -> None:
    """Two identities' whole contents swapped, MACs included: every line of one person now
    reads as the other's (the sealed values open under any id). A review found this passed."""
    first, second = (
        s.scalars(select(Line.owner_identity_id).where(Line.msisdn == m)).one() for m in n[:2]
    )
    assert first != second
    columns = [c.name for c in Identity.__table__.columns if c.name != "id"]
    rows = {
        i: dict(s.execute(select(*(Identity.__table__.c[c] for c in columns)).where(
            Identity.id == i)).one()._mapping)
        for i in (first, second)
    }  # fmt: skip
    s.execute(update(Identity).where(Identity.id == first).values(number_index=b"swap"))
    s.execute(update(Identity).where(Identity.id == second).values(**rows[first]))
    s.execute(update(Identity).where(Identity.id == first).values(**rows[second]))


def _forge_with_sha256(s: Session, n: list[str]) -> None:
    """An entry edited and every later link recomputed as the old chain computed them."""
    chain = s.scalar(select(AuditLog.chain).order_by(AuditLog.id).limit(1))
    entries = s.scalars(
        select(AuditLog).where(AuditLog.chain == chain).order_by(AuditLog.position)
    ).all()
    entries[0].actor = "clerk:999"
    prev = GENESIS
    for entry in entries:
        entry.prev_hash = prev
        entry.hash = legacy_entry_hash(prev, entry)
        prev = entry.hash
    head = s.get(AuditChainHead, chain)
    assert head is not None
    head.head_hash = prev
    s.flush()


def _unkey(s: Session, n: list[str]) -> None:
    s.execute(update(AuditLog).values(key_id=None))


def _note(s: Session, n: list[str]) -> None:
    s.execute(update(SealedNote).values(blob=b"\x00" * 40))


def _strip_mac(s: Session, n: list[str]) -> None:
    s.execute(update(LineEvent).values(mac=None, mac_key_id=None))


@pytest.mark.parametrize(
    ("corrupt", "check_name", "words"),
    [
        (_actor, EVENT_MAC, "MAC mismatch"),
        (_reason, EVENT_MAC, "MAC mismatch"),
        (_occurred_at, EVENT_MAC, "MAC mismatch"),
        (_channel, EVENT_MAC, "MAC mismatch"),
        (_clerk, EVENT_MAC, "MAC mismatch"),
        (_correlation, EVENT_MAC, "MAC mismatch"),
        (_operation, EVENT_MAC, "MAC mismatch"),
        (_move_event, EVENT_MAC, "MAC mismatch"),
        (_strip_mac, EVENT_MAC, "carries no MAC"),
        (_birth_date, IDENTITY_MAC, "MAC mismatch"),
        (_sex, IDENTITY_MAC, "MAC mismatch"),
        (_region, IDENTITY_MAC, "MAC mismatch"),
        (_doc_type, IDENTITY_MAC, "MAC mismatch"),
        (_swap_owners, EVENT_MAC, "MAC mismatch"),
        (_swap_identities, IDENTITY_MAC, "MAC mismatch"),
        (_line_column(owner_since=NOW - timedelta(days=3650)), REPLAY, "owner-since time"),
        (_line_column(activated_at=NOW - timedelta(days=3650)), REPLAY, "activation time"),
        (_line_column(sim_changed_at=NOW - timedelta(days=1)), REPLAY, "SIM-change time"),
        (_line_column(channel_id=None), REPLAY, "channel"),
        (_forge_with_sha256, AUDIT, "content altered"),
        (_unkey, AUDIT, "not keyed"),
        (_note, NOTES, "does not open"),
    ],
)
def test_each_tampering_is_reported(
    world: World,
    china: Policy,
    corrupt: Callable[[Session, list[str]], None],
    check_name: str,
    words: str,
) -> None:
    numbers = populated(world)
    assert check(world, china).ok, failing(check(world, china))
    corrupt(world.session, numbers)
    report = check(world, china)
    found = failing(report)
    assert check_name in found, found
    assert any(words in v for v in found[check_name]), found[check_name]


def _checkpoint(world: World, path: Path) -> None:
    world.session.flush()
    checkpoint = current_checkpoint(world.session, NOW, append_only_marks(world.session))
    append_checkpoint(path, signed_line(checkpoint, world.service.keyring.audit))


def test_truncation_since_a_checkpoint_is_reported(
    world: World, china: Policy, tmp_path: Path
) -> None:
    """The newest entry deleted and its chain's head rewound: the chain verifies on its own,
    but is shorter than the signed checkpoint."""
    populated(world)
    path = tmp_path / "checkpoints.jsonl"
    _checkpoint(world, path)
    assert check(world, china, path).ok
    s = world.session
    last = s.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(1)).one()
    chain, position, prev = last.chain, last.position, last.prev_hash
    s.execute(delete(AuditLog).where(AuditLog.id == last.id))
    s.execute(
        update(AuditChainHead)
        .where(AuditChainHead.chain == chain)
        .values(position=position - 1, head_hash=prev)
    )
    assert check(world, china).ok  # without the checkpoint it cannot be seen
    found = failing(check(world, china, path))
    assert any("truncated" in v for v in found[AUDIT]), found


def test_a_rewrite_since_a_checkpoint_is_reported_even_with_the_key(
    world: World, china: Policy, tmp_path: Path
) -> None:
    """Someone holding the MAC key rebuilds a chain: it verifies, but not against the
    checkpoint signed before."""
    populated(world)
    path = tmp_path / "checkpoints.jsonl"
    _checkpoint(world, path)
    s = world.session
    keys = world.service.keyring.audit
    chain = s.scalar(select(AuditLog.chain).order_by(AuditLog.id).limit(1))
    entries = s.scalars(
        select(AuditLog).where(AuditLog.chain == chain).order_by(AuditLog.position)
    ).all()
    entries[0].actor = "clerk:999"
    from realname.security.audit import entry_hash

    prev = GENESIS
    for entry in entries:
        entry.prev_hash = prev
        entry.hash = entry_hash(keys, prev, entry)
        prev = entry.hash
    head = s.get(AuditChainHead, chain)
    assert head is not None
    head.head_hash = prev
    s.flush()
    assert check(world, china).ok  # the key holder's forgery verifies on its own
    found = failing(check(world, china, path))
    assert any("rewritten" in v for v in found[AUDIT]), found


def test_a_deleted_event_below_the_checkpoint_mark_is_reported(
    world: World, china: Policy, tmp_path: Path
) -> None:
    """A line's newest event deleted and the line rolled back to match: the replay agrees,
    but line_event lost a row under the checkpointed mark."""
    numbers = populated(world)
    path = tmp_path / "checkpoints.jsonl"
    _checkpoint(world, path)
    s = world.session
    line = s.scalars(select(Line).where(Line.msisdn == numbers[1])).one()  # reported lost
    s.execute(delete(LineEvent).where(LineEvent.line_id == line.id, LineEvent.seq == 2))
    s.execute(
        update(Line)
        .where(Line.id == line.id)
        .values(state="active", event_count=1, barring_reason=None)
    )
    found = failing(check(world, china, path))
    assert any("line_event had" in v for v in found[AUDIT]), found


def test_a_forged_or_unknown_checkpoint_is_reported(
    world: World, china: Policy, tmp_path: Path
) -> None:
    populated(world)
    path = tmp_path / "checkpoints.jsonl"
    _checkpoint(world, path)
    document = json.loads(path.read_text())
    document["chains"][0][1] += 1  # claim a longer chain
    other = AuditKeys.generate()  # signed by a key nobody trusts
    path.write_text(path.read_text() + json.dumps(document) + "\n")
    checkpoint = current_checkpoint(world.session, NOW, append_only_marks(world.session))
    append_checkpoint(path, signed_line(checkpoint, other))
    found = failing(check(world, china, path))
    assert sum("signature does not verify" in v for v in found[AUDIT]) == 2, found


CLIENTS = "API clients are what the audit chain says"


def test_a_client_row_changed_behind_the_service_is_reported(world: World, china: Policy) -> None:
    """A review found `UPDATE api_client SET role = 'regulator'` (or a revoked client set
    active again, or a row inserted) passed `check`: clients now enter the chain."""
    from realname.security.clients import ClientService
    from realname.security.models import ApiClient
    from realname.security.principals import Role

    clients = ClientService(world.session, world.service.keyring)
    admin, _ = clients.create(role=Role.ENTERPRISE_ADMIN, at=NOW, enterprise_id=world.enterprise_id)
    revoked, _ = clients.create(role=Role.REGULATOR, at=NOW)
    assert clients.revoke(revoked.client_id, NOW)
    world.session.flush()
    assert check(world, china).ok, failing(check(world, china))
    s = world.session
    s.execute(update(ApiClient).where(ApiClient.id == admin.id).values(role="regulator"))
    s.execute(update(ApiClient).where(ApiClient.id == revoked.id).values(status="active"))
    s.add(
        ApiClient(
            client_id="regulator-forged",
            secret_hash="scrypt$x$y",
            role="regulator",
            scopes="registry:read registry:reveal",
            status="active",
            created_at=NOW,
        )
    )
    s.flush()
    found = failing(check(world, china))[CLIENTS]
    assert any(admin.client_id in v and "role" in v for v in found), found
    assert any(revoked.client_id in v and "status" in v for v in found), found
    assert any("regulator-forged has no audit record" in v for v in found), found
