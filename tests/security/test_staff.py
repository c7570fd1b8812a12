"""Staff accounts: one that could never sign in is refused when it is made, with what to fix
(an empty or over-long name, a revoked client, a role with no pages, a name taken: each was
created, or ended on a raw database error)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from realname.security.audit_keys import AuditKeys
from realname.security.clients import ClientService
from realname.security.principals import Role
from realname.security.staff import MAX_USERNAME_LENGTH, STAFF_ROLES, StaffService
from realname.security.vault import KeyRing, generate_key
from realname.web.base import HOME

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
KEYRING = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())
PASSWORD = "correct horse battery"


def test_the_roles_with_pages_are_the_roles_staff_may_act_as() -> None:
    assert set(HOME) == STAFF_ROLES


@pytest.mark.parametrize(
    ("username", "role", "revoked", "says"),
    [
        ("", Role.REGULATOR, False, "user name"),
        ("x" * (MAX_USERNAME_LENGTH + 1), Role.REGULATOR, False, "user name"),
        ("ana", Role.REGULATOR, True, "active API client"),
        ("ana", Role.RELYING_PARTY, False, "has no pages"),
    ],
)
def test_an_account_that_could_never_sign_in_is_refused(
    db_session: Session, username: str, role: Role, revoked: bool, says: str
) -> None:
    clients = ClientService(db_session, KEYRING)
    client, _ = clients.create(role=role, at=NOW)
    if revoked:
        clients.revoke(client.client_id, NOW)
    staff = StaffService(db_session, KEYRING)
    with pytest.raises(ValueError, match=says):
        staff.create_account(username, PASSWORD, client.client_id, NOW)
    assert staff.accounts() == []


def test_a_taken_user_name_is_refused_before_the_database_is(db_session: Session) -> None:
    client, _ = ClientService(db_session, KEYRING).create(role=Role.REGULATOR, at=NOW)
    staff = StaffService(db_session, KEYRING)
    staff.create_account("ana", PASSWORD, client.client_id, NOW)
    with pytest.raises(ValueError, match="taken"):
        staff.create_account("ana", PASSWORD, client.client_id, NOW)
    assert staff.authenticate("ana", PASSWORD) is not None
