"""Who may call the regulator's compliance routes, and the province each caller is confined to.

The national regulator plans rounds and reads every figure; a provincial administration does
the same within its province (its client's `province:NN` scope); an inspector reads the rounds,
sees the outlets assigned to it and records visits and purchases.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Security

from realname.compliance.inspections.service import Acting
from realname.http.errors import ApiError
from realname.http.principals import Allowed, context_of
from realname.security.principals import Permission, Principal, Role

READ, WRITE = "compliance:read", "compliance:write"

ComplianceReader = Annotated[
    Principal,
    Security(Allowed(Permission.READ_COMPLIANCE, Permission.INSPECT), scopes=[READ]),
]
FiguresReader = Annotated[Principal, Security(Allowed(Permission.READ_COMPLIANCE), scopes=[READ])]
Planner = Annotated[Principal, Security(Allowed(Permission.PLAN_INSPECTIONS), scopes=[WRITE])]
Inspector = Annotated[Principal, Security(Allowed(Permission.INSPECT), scopes=[WRITE])]


def confined_to(principal: Principal) -> str | None:
    """The caller's province (None: national). A provincial client without exactly one
    province is refused, never widened to the nation."""
    if principal.role is not Role.PROVINCIAL_REGULATOR:
        return None
    if principal.province is None:
        raise ApiError(403, "PERMISSION_DENIED", "This provincial client names no province.")
    return principal.province


def acting(principal: Principal, request: Request) -> Acting:
    return Acting(
        context_of(principal, request),
        province=confined_to(principal),
        inspector=principal.client_id if principal.role is Role.REGULATOR_INSPECTOR else None,
    )
