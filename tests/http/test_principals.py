"""The role dependencies on their own, without an app: who gets through, in which order the
refusals come, and the roles each one declares (what `x-roles` shows)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.security import SecurityScopes

from realname.http.errors import ApiError
from realname.http.principals import Allowed, AtCounter, RelyingPartyAccess
from realname.security.principals import Permission, Principal, Role

WRITE = SecurityScopes(["registry:write"])
CLERK = Principal("c", Role.CLERK, 1, 2, 3, frozenset({"registry:write"}))
ADMIN = Principal("a", Role.ENTERPRISE_ADMIN, 1, scopes=frozenset({"registry:write"}))


def run(dependency: Any, *args: Any) -> Any:
    """A role dependency called as FastAPI calls it (they are `async def`: no thread hop)."""
    return asyncio.run(dependency(*args))


def _message(error: pytest.ExceptionInfo[ApiError]) -> str:
    return error.value.message_in("en")


def test_a_permission_without_the_route_scope_is_refused() -> None:
    operate = Allowed(Permission.OPERATE)
    assert run(operate, WRITE, ADMIN) is ADMIN
    with pytest.raises(ApiError) as refused:
        run(operate, SecurityScopes(["registry:read"]), ADMIN)
    assert refused.value.http_status == 403
    assert _message(refused) == "This caller may not do this."
    with pytest.raises(ApiError):
        run(operate, WRITE, CLERK)


def test_either_permission_lets_through_and_the_roles_follow_the_grants() -> None:
    cancel = Allowed(Permission.OPERATE, Permission.REGISTER)
    assert run(cancel, WRITE, CLERK) is CLERK and run(cancel, WRITE, ADMIN) is ADMIN
    assert cancel.roles == {Role.CLERK, Role.ENTERPRISE_ADMIN}
    assert AtCounter(Permission.REGISTER).roles == {Role.CLERK}


def test_a_counter_route_says_which_refusal_comes_first() -> None:
    with pytest.raises(ApiError) as permission_first:
        AtCounter(Permission.REGISTER).check(ADMIN, WRITE)
    assert _message(permission_first) == "This caller may not do this."
    unbound = Principal("c", Role.CLERK, 1, None, 3, frozenset({"registry:write"}))
    with pytest.raises(ApiError) as role_first:
        run(AtCounter(Permission.REGISTER, role_first=True), WRITE, unbound, None)
    assert _message(role_first) == "Only a clerk at a channel may do this."


def test_sim_swap_takes_its_api_wide_scope_for_either_operation() -> None:
    check = RelyingPartyAccess("sim-swap", "sim-swap:check")
    wide = Principal("b", Role.RELYING_PARTY, scopes=frozenset({"sim-swap"}))
    assert run(check, wide) is wide
    kyc = RelyingPartyAccess("kyc-match", "kyc-match:match")
    with pytest.raises(ApiError) as refused:
        run(kyc, Principal("b", Role.RELYING_PARTY, scopes=frozenset({"kyc-match"})))
    assert (refused.value.wire_code, refused.value.http_status) == ("PERMISSION_DENIED", 403)
    assert (
        _message(refused) == "Client does not have sufficient permissions to perform this action."
    )
    with pytest.raises(ApiError):
        run(check, Principal("s", Role.SUBSCRIBER, scopes=frozenset({"sim-swap:check"})))
