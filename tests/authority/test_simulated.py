"""The simulated authority: enrolling from a citizens file adds, updates and revokes (both
engines), holding blind indexes only."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from realname.authority.models import AuthorityCitizen
from realname.authority.simulated import SimulatedAuthority
from realname.identity.authority import AuthorityVerdict
from realname.security.vault import KeyRing
from tests.authority.conftest import citizens_of, people


def test_enrol_adds_then_updates_and_revokes(db_session: Session, keyring: KeyRing) -> None:
    persons = people(3, seed=77)
    authority = SimulatedAuthority(db_session, keyring)
    assert authority.enrol_citizens(citizens_of(persons)) == (3, 0)
    first = citizens_of(persons)[0]
    assert authority.verify(first.document, first.name) is AuthorityVerdict.CONFIRMED
    assert authority.enrol_citizens(citizens_of(persons[:1], revoked=0)) == (0, 1)
    assert authority.verify(first.document, first.name) is AuthorityVerdict.REVOKED
    assert authority.count() == 3
    stored = db_session.scalars(select(AuthorityCitizen)).all()
    raw = b"".join(row.number_index + row.name_index for row in stored)
    assert persons[0].document_number.encode() not in raw
