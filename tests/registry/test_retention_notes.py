"""The retention job destroys the sealed notes typed with operations on a purged identity's
lines (a cancel reason naming the customer): afterwards they no longer open, other people's
notes still do, `check` accepts exactly such a purged note, and a re-run changes nothing (on
both engines)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from realname.db.uow import UnitOfWork
from realname.policy.loader import load_policy
from realname.policy.schema import Policy
from realname.registry.check import run_integrity_check
from realname.registry.commands import TypedText
from realname.registry.lifecycle import BarringReason
from realname.registry.models import Identity, Line, LineEvent
from realname.registry.retention import purge_batch, purge_identity, run_retention
from realname.security.audit import open_note
from realname.security.audit_keys import AuditKeys
from realname.security.models import AuditLog, SealedNote
from realname.security.vault import KeyRing, VaultError, generate_key
from tests.registry.conftest import NOW, World, build_world

RETENTION = timedelta(days=730)
ENDED = NOW + timedelta(days=1)
DUE_AT = ENDED + RETENTION + timedelta(seconds=1)
REASON = "customer 陈静 ID 44030519850612004X asked"


def _owner(world: World, number: str) -> int:
    owner = world.session.scalar(select(Line.owner_identity_id).where(Line.msisdn == number))
    assert owner is not None
    return owner


def _ended_with_notes(world: World, person: int, ended_at: datetime = ENDED) -> tuple[int, str]:
    """A line registered at NOW, suspended with a typed note, cancelled with a typed reason."""
    number = world.register(world.people[person])
    owner = _owner(world, number)
    world.service.suspend(
        world.ctx(at=NOW + timedelta(hours=1)),
        world.enterprise_id,
        number,
        BarringReason.ENFORCEMENT,
        TypedText(f"police asked about {world.people[person].name}"),
    )
    world.service.cancel(
        world.ctx("admin", at=ended_at),
        world.enterprise_id,
        number,
        TypedText(REASON),
    )
    world.session.flush()
    return owner, number


def _note_ids(session: Session, number: str) -> list[int]:
    line_id = session.scalar(select(Line.id).where(Line.msisdn == number))
    details = session.scalars(select(LineEvent.detail).where(LineEvent.line_id == line_id))
    return sorted(d["note"]["note"] for d in details if d and "note" in d)


def _violations(session: Session, policy: Policy, keyring: KeyRing) -> dict[str, list[str]]:
    session.expire_all()
    report = run_integrity_check(session, policy, keyring)
    return {r.name: r.violations for r in report.results if r.violations}


def _opens(session: Session, keyring: KeyRing, note_id: int) -> str | None:
    note = session.get(SealedNote, note_id, populate_existing=True)
    assert note is not None  # the row stays: references still resolve
    try:
        return open_note(keyring, note)
    except VaultError:
        return None


def test_a_purged_identitys_notes_no_longer_open_and_others_do(world: World, china: Policy) -> None:
    keyring = world.service.keyring
    owner, number = _ended_with_notes(world, 4)
    # another subscriber whose line ended recently: not due, their note stays
    _, kept = _ended_with_notes(world, 5, NOW + RETENTION)
    mine, theirs = _note_ids(world.session, number), _note_ids(world.session, kept)
    assert len(mine) == 2 and len(theirs) == 2
    assert _opens(world.session, keyring, mine[1]) == REASON
    digests = {i: world.session.get(SealedNote, i).digest for i in mine}  # type: ignore[union-attr]

    assert purge_batch(world.session, keyring, china, DUE_AT, 50) == [owner]
    world.session.flush()
    assert [_opens(world.session, keyring, i) for i in mine] == [None, None]
    for note_id in mine:
        note = world.session.get(SealedNote, note_id)
        assert note is not None and note.blob == b"" and note.digest == digests[note_id]
    assert _opens(world.session, keyring, theirs[1]) == REASON
    assert _opens(world.session, keyring, theirs[0]) == f"police asked about {world.people[5].name}"
    entry = world.session.scalars(select(AuditLog).where(AuditLog.action == "identity.purge")).one()
    assert (entry.detail["ids"], entry.detail["notes"]) == ([owner], 2)
    # the event skeleton stays, with its reason code and the note's reference
    events = world.session.scalars(
        select(LineEvent).where(LineEvent.owner_before_id == owner).order_by(LineEvent.id)
    ).all()
    assert [e.operation for e in events][-1] == "cancel"
    assert _violations(world.session, china, keyring) == {}

    # a re-run finds nothing: no identity, no note, no new audit entry
    assert purge_batch(world.session, keyring, china, DUE_AT + timedelta(days=1), 50) == []
    assert _opens(world.session, keyring, theirs[1]) == REASON
    count = world.session.scalars(
        select(AuditLog).where(AuditLog.action.in_(["identity.purge", "note.purge"]))
    ).all()
    assert len(count) == 1
    assert _violations(world.session, china, keyring) == {}


def test_check_flags_a_purged_note_whose_identity_is_not_purged(
    world: World, china: Policy
) -> None:
    keyring = world.service.keyring
    _ended_with_notes(world, 6)
    _, kept = _ended_with_notes(world, 7, NOW + RETENTION)
    purge_batch(world.session, keyring, china, DUE_AT, 50)
    world.session.flush()
    victim = _note_ids(world.session, kept)[1]
    world.session.execute(
        update(SealedNote).where(SealedNote.id == victim).values(key_id="-", blob=b"")
    )
    violations = _violations(world.session, china, keyring)
    assert violations == {
        "sealed notes are intact": [
            f"sealed note {victim} is purged but no event of a purged identity refers to it"
        ]
    }


@pytest.mark.parametrize("half", [{"blob": b""}, {"key_id": "-"}])
def test_check_flags_a_note_purged_in_part(
    world: World, china: Policy, half: dict[str, object]
) -> None:
    keyring = world.service.keyring
    _, number = _ended_with_notes(world, 8)
    purge_batch(world.session, keyring, china, DUE_AT, 50)
    world.session.flush()
    note_id = _note_ids(world.session, number)[1]
    # a purged note with a key id again, or a live one with its ciphertext gone
    values = {"key_id": "k1"} if "blob" in half else {"key_id": "-", "blob": b"\x01" * 40}
    world.session.execute(update(SealedNote).where(SealedNote.id == note_id).values(**values))
    assert _violations(world.session, china, keyring) == {
        "sealed notes are intact": [f"sealed note {note_id} is purged only in part"]
    }


def test_check_flags_a_purged_identitys_note_that_still_opens_and_a_run_sweeps_it(
    fresh_engine: Engine,
) -> None:
    """An identity purged by a release that left its notes behind: `check` reports the note,
    and the next run destroys it (one `note.purge` entry), along with the notes of the
    identities it purges itself; a re-run changes nothing."""
    keyring = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())
    china = load_policy("china")
    sessions = sessionmaker(bind=fresh_engine, expire_on_commit=False)
    with sessions() as session, session.begin():
        world = build_world(session, keyring, china)
        old, old_number = _ended_with_notes(world, 0)
        due, due_number = _ended_with_notes(world, 1)
        _, kept_number = _ended_with_notes(world, 2, NOW + RETENTION)
        # the old release: the record purged, its notes left
        identity = session.get(Identity, old)
        assert identity is not None
        purge_identity(keyring, identity, DUE_AT - timedelta(days=1))
    with sessions() as session:
        left = _note_ids(session, old_number)
        assert _violations(session, china, keyring) == {
            "sealed notes are intact": [
                f"sealed note {i} of a purged identity still holds its text" for i in left
            ]
        }

    report = run_retention(UnitOfWork(sessions), keyring, china, DUE_AT, batch_size=1)
    assert (report.purged, report.notes) == ([due], 4)
    with sessions() as session:
        gone = _note_ids(session, old_number) + _note_ids(session, due_number)
        assert [_opens(session, keyring, i) for i in gone] == [None] * 4
        assert _opens(session, keyring, _note_ids(session, kept_number)[1]) == REASON
        swept = session.scalars(select(AuditLog.detail).where(AuditLog.action == "note.purge"))
        assert [d["ids"] for d in swept] == [[left[0]], [left[1]]]
        assert _violations(session, china, keyring) == {}

    again = run_retention(
        UnitOfWork(sessions), keyring, china, DUE_AT + timedelta(days=1), batch_size=1
    )
    assert (again.purged, again.notes) == ([], 0)
    with sessions() as session:
        assert _opens(session, keyring, _note_ids(session, kept_number)[1]) == REASON
