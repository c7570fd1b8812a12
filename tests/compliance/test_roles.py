"""The provincial administration's role: its province is part of who it is, on the client and
in every token it gets, and what each compliance role may do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from realname.security.clients import (
    DEFAULT_SCOPES,
    ClientService,
    issue_token,
    principal_from_token,
)
from realname.security.keys import TokenKeys
from realname.security.principals import Permission, Principal, Role
from realname.security.vault import KeyRing, generate_key
from tests.registry.conftest import NOW


def test_a_provincial_token_always_names_its_province(
    db_session: Session, keyring: KeyRing
) -> None:
    clients = ClientService(db_session, keyring)
    client, _ = clients.create(
        role=Role.PROVINCIAL_REGULATOR,
        at=NOW,
        scopes=[*DEFAULT_SCOPES[Role.PROVINCIAL_REGULATOR], "province:44"],
    )
    keys = TokenKeys({"t1": generate_key()}, "t1")
    # A client asking for a narrower token still gets its province: leaving it out would
    # otherwise read as "no province".
    token = issue_token(client, keys, 900, ["compliance:read"], now=NOW)
    caller = principal_from_token(token.access_token, keys, NOW + timedelta(seconds=1))
    assert caller.province == "44" and "compliance:write" not in caller.scopes
    for bad in (["province:99"], ["province:44", "province:11"], []):
        with pytest.raises(ValueError, match="needs one province"):
            clients.create(role=Role.PROVINCIAL_REGULATOR, at=NOW, scopes=["compliance:read", *bad])
    with pytest.raises(ValueError, match="acts for no province"):
        clients.create(role=Role.REGULATOR, at=NOW, scopes=["province:44"])


def test_what_each_compliance_role_may_do() -> None:
    regulator, inspector = Principal("r", Role.REGULATOR), Principal("i", Role.REGULATOR_INSPECTOR)
    provincial = Principal("p", Role.PROVINCIAL_REGULATOR, scopes=frozenset({"province:44"}))
    assert regulator.can(Permission.PLAN_INSPECTIONS) and regulator.can(Permission.READ_COMPLIANCE)
    assert not regulator.can(Permission.INSPECT)
    assert inspector.can(Permission.INSPECT) and not inspector.can(Permission.PLAN_INSPECTIONS)
    assert provincial.can(Permission.PLAN_INSPECTIONS) and not provincial.can(Permission.READ_LINES)
    assert not provincial.can(Permission.READ_PII) and provincial.province == "44"
    assert regulator.province is None


@pytest.mark.parametrize(
    ("role", "old_scopes", "carried"),
    [
        (
            Role.REGULATOR,
            ["registry:read", "registry:reveal", "licensing:write"],
            {"compliance:read", "compliance:write", "enforcement:write"},
        ),
        (Role.REGULATOR_INSPECTOR, ["registry:read"], {"compliance:read", "compliance:write"}),
    ],
)
def test_clients_made_before_the_compliance_scopes_get_them_from_their_role(
    db_session: Session, keyring: KeyRing, role: Role, old_scopes: list[str], carried: set[str]
) -> None:
    """A regulator or inspector client whose row predates the compliance scopes (the row is
    what the audit chain says; it is not rewritten, migration 0025 marks it): its tokens
    carry them from its role. A client made since with the same scopes does not."""
    client, _ = ClientService(db_session, keyring).create(role=role, at=NOW, scopes=old_scopes)
    keys = TokenKeys({"t1": generate_key()}, "t1")
    made_since = issue_token(client, keys, 900, None, now=NOW)
    assert set(made_since.scope.split()) == set(old_scopes)
    client.implied_role_scopes = True  # as migration 0025 marks the rows it finds
    token = issue_token(client, keys, 900, None, now=NOW)
    caller = principal_from_token(token.access_token, keys, NOW + timedelta(seconds=1))
    assert carried <= set(caller.scopes) and set(old_scopes) <= set(caller.scopes)
    # A narrower token is still narrower.
    narrow = issue_token(client, keys, 900, ["compliance:read"], now=NOW)
    assert principal_from_token(narrow.access_token, keys, NOW).scopes == frozenset(
        {"compliance:read"}
    )


def test_the_province_scope_has_one_parser() -> None:
    from realname.security.principals import province_scope, provinces_named

    assert province_scope("44") == "province:44"
    assert provinces_named(["compliance:read", "province:44", "province:11"]) == ["44", "11"]
