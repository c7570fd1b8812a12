"""Who may call a route, declared in its signature: each role is a dependency that refuses
everyone else (403 `PERMISSION_DENIED`) and returns what the endpoint acts with.

    def register(counter: ClerkAtCounter, ...)       # a clerk at a channel: its counter
    def stock(staff: EnterpriseOperator, ...)         # an enterprise's staff: its enterprise
    def read_line(principal: LineReader, ...)         # anyone granted READ_LINES
    def kyc_match(principal: Annotated[Principal, relying_party("kyc-match", ...)], ...)

The scope a route needs is its `Security(..., scopes=[...])`, so the OpenAPI document carries
it in the route's security requirement (`deps.bearer`: the client-credentials scheme of
`POST /oauth/token`), and `access_of(route)` tells which roles get through (the app adds them to
each operation as `x-roles`; the roles table in docs/api.md is tested against them).

Checks that need the request's resource (a line of the caller's enterprise, the bound line of
a subscriber's token) stay in the endpoint: only the resource can say.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import SecurityScopes

from realname.http.deps import PrincipalDep, runtime
from realname.http.errors import ApiError
from realname.registry.commands import Actor, Context, Desk
from realname.security.principals import GRANTS, Permission, Principal, Role

WRITE, READ, SELF = "registry:write", "registry:read", "registry:self"
REVEAL = "registry:reveal"
LICENSING = "licensing:write"


def _denied(message: str = "This caller may not do this.", chinese: str | None = None) -> ApiError:
    return ApiError(403, "PERMISSION_DENIED", message, chinese or "当前调用方无权执行此操作。")


def context_of(principal: Principal, request: Request) -> Context:
    """Who acts, and when by the runtime's clock (never the machine's directly)."""
    at = runtime(request).clock.now()
    return Context(Actor(*principal.actor.split(":", 1)), at, request.state.correlator)


def enterprise_of(principal: Principal) -> int:
    if principal.enterprise_id is None:
        raise ApiError(403, "PERMISSION_DENIED", "This caller acts for no enterprise.")
    return principal.enterprise_id


EnterpriseQuery = Annotated[
    int | None,
    Query(ge=1, le=2**31 - 1, description="Regulators: the enterprise to look at"),
]


def enterprise_to_read(principal: Principal, enterprise_id: int | None) -> int:
    """An enterprise's own staff read their enterprise; a regulator names the one it reads
    (the route's `LineReader` has authorised the caller)."""
    if principal.enterprise_id is not None:
        if enterprise_id not in (None, principal.enterprise_id):
            raise ApiError(404, "NOT_FOUND", "No such enterprise for this caller.")
        return principal.enterprise_id
    if enterprise_id is None or not principal.can(Permission.READ_ALL_ENTERPRISES):
        raise ApiError(400, "INVALID_ARGUMENT", "Name the enterprise: ?enterprise_id=…")
    return enterprise_id


@dataclass(frozen=True)
class Counter:
    """A clerk at its channel's counter: where a registration, a SIM replacement or a transfer
    happens, and who does it."""

    principal: Principal
    enterprise_id: int
    channel_id: int
    clerk_id: int
    ctx: Context

    @property
    def desk(self) -> Desk:
        """(enterprise, channel, clerk) as one value, as the registry's counter operations
        take them."""
        return Desk(self.enterprise_id, self.channel_id, self.clerk_id)


def clerk_of(principal: Principal) -> Desk:
    if principal.role is not Role.CLERK or None in (
        principal.enterprise_id,
        principal.channel_id,
        principal.clerk_id,
    ):
        raise ApiError(403, "PERMISSION_DENIED", "Only a clerk at a channel may do this.")
    return Desk(principal.enterprise_id, principal.channel_id, principal.clerk_id)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Staff:
    """An enterprise's own staff, acting for that enterprise."""

    principal: Principal
    enterprise_id: int
    ctx: Context


class Access:
    """A role check: the callers granted any of `permissions` (and holding the route's
    scopes), narrowed to `only` roles when given."""

    def __init__(self, *permissions: Permission, only: frozenset[Role] | None = None) -> None:
        self.permissions = permissions
        self.only = only

    @property
    def roles(self) -> frozenset[Role]:
        granted = {r for r in Role if any(p in GRANTS[r] for p in self.permissions)}
        return frozenset(granted if self.only is None else granted & self.only)

    def check(self, principal: Principal, scopes: SecurityScopes) -> None:
        if not any(principal.can(p) for p in self.permissions) or any(
            scope not in principal.scopes for scope in scopes.scopes
        ):
            raise _denied()


class Allowed(Access):
    """Anyone granted the permission, with the route's scopes: returns the caller."""

    async def __call__(self, scopes: SecurityScopes, principal: PrincipalDep) -> Principal:
        self.check(principal, scopes)
        return principal


class AtCounter(Access):
    """A clerk of a channel. `role_first`: a non-clerk hears "only a clerk" before it hears
    that it lacks the permission (the re-verification answer's order, kept)."""

    def __init__(self, permission: Permission, *, role_first: bool = False) -> None:
        super().__init__(permission, only=frozenset({Role.CLERK}))
        self.role_first = role_first

    async def __call__(
        self, scopes: SecurityScopes, principal: PrincipalDep, request: Request
    ) -> Counter:
        if self.role_first:
            clerk_of(principal)
        self.check(principal, scopes)
        desk = clerk_of(principal)
        ctx = context_of(principal, request)
        return Counter(principal, desk.enterprise_id, desk.channel_id, desk.clerk_id, ctx)


class EnterpriseStaff(Access):
    """A caller with the permission who acts for an enterprise (not a regulator)."""

    async def __call__(
        self, scopes: SecurityScopes, principal: PrincipalDep, request: Request
    ) -> Staff:
        self.check(principal, scopes)
        return Staff(principal, enterprise_of(principal), context_of(principal, request))


class RelyingPartyAccess(Access):
    """A relying party holding the operation's scope (SIM Swap also takes its API-wide scope).
    Refused in CAMARA's words: this is the CAMARA APIs' gate."""

    def __init__(self, api: str, scope: str) -> None:
        super().__init__(Permission.VERIFY)
        self.api, self.scope = api, scope

    async def __call__(self, principal: PrincipalDep) -> Principal:
        return self.admit(principal)

    def admit(self, principal: Principal) -> Principal:
        """The check itself (also for a route served ahead of FastAPI's routing)."""
        held = self.scope in principal.scopes or (
            self.api == "sim-swap" and "sim-swap" in principal.scopes
        )
        if not principal.can(Permission.VERIFY) or not held:
            raise _denied(
                "Client does not have sufficient permissions to perform this action.",
                "调用方无权执行此操作。",
            )
        return principal


def relying_party(api: str, scope: str, access: RelyingPartyAccess | None = None) -> Any:
    """`Annotated[Principal, relying_party("kyc-match", "kyc-match:match")]`; `access`: the
    check object itself, when the caller also uses it outside FastAPI."""
    return Security(access or RelyingPartyAccess(api, scope), scopes=[scope])


LineReader = Annotated[Principal, Security(Allowed(Permission.READ_LINES), scopes=[READ])]
OwnerRevealer = Annotated[Principal, Security(Allowed(Permission.READ_PII), scopes=[REVEAL])]
LineOperator = Annotated[Principal, Security(Allowed(Permission.OPERATE), scopes=[WRITE])]
# A clerk (with the owner present) or the back office: the endpoint tells them apart.
LostReporter = Annotated[Principal, Security(Allowed(Permission.REPORT_LOST), scopes=[WRITE])]
LineCanceller = Annotated[
    Principal, Security(Allowed(Permission.OPERATE, Permission.REGISTER), scopes=[WRITE])
]
# The registration's check, also called by the registration served ahead of FastAPI.
CLERK_AT_COUNTER = AtCounter(Permission.REGISTER)
ClerkAtCounter = Annotated[Counter, Security(CLERK_AT_COUNTER, scopes=[WRITE])]
EnterpriseOperator = Annotated[Staff, Security(EnterpriseStaff(Permission.OPERATE), scopes=[WRITE])]
Provisioner = Annotated[Staff, Security(EnterpriseStaff(Permission.PROVISION), scopes=[WRITE])]
ProvisioningReader = Annotated[
    Staff, Security(EnterpriseStaff(Permission.PROVISION), scopes=[READ])
]
Regulator = Annotated[Principal, Security(Allowed(Permission.LICENSE), scopes=[LICENSING])]
Subscriber = Annotated[Principal, Security(Allowed(Permission.OWNER_SELF_SERVICE), scopes=[SELF])]


def _accesses(dependant: Dependant) -> Iterator[Access]:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Access):
            yield dependency.call
        yield from _accesses(dependency)


def access_of(route: APIRoute) -> Access | None:
    """The role check a route declares (None: public, or any authenticated caller)."""
    found = list(_accesses(route.dependant))
    assert len(found) <= 1, f"{route.path}: one role dependency per route"
    return found[0] if found else None


def api_routes(app: FastAPI) -> Iterator[APIRoute]:
    """Every operation of the app, as declared (the routers are included without a prefix)."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context.original_route
