"""FastAPI dependencies: the process's primitives (`Runtime`) and the caller.

The Runtime holds only what every domain shares (settings, engine, sessions, policy, key
rings, clock, identity authority); each domain's endpoints build their services from it, so
this kit imports no domain.

Endpoints own their transaction explicitly (`with rt.transaction() as session:`, the process's
unit of work), so the commit happens before the response is sent: a client that saw 201 can
rely on the row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar

import jwt
from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from realname.authority.source import AuthoritySource
from realname.clock import Clock
from realname.config import Settings
from realname.db.uow import KeepOn, UnitOfWork
from realname.http.errors import ApiError
from realname.policy.schema import Policy
from realname.security.clients import (
    ISSUED_AT_LEEWAY_SECONDS,
    ClientStatusCache,
    InvalidToken,
    client_is_active,
    principal_from_token,
)
from realname.security.keys import TokenKeys
from realname.security.principals import Principal
from realname.security.vault import KeyRing

ServiceT = TypeVar("ServiceT")


class VerifiedTokens:
    """Tokens this worker has verified (signature, issuer, claims), so a client's next call
    with the same token skips the HMAC and the JSON: the times are still checked against the
    clock on every call. The token keys are fixed for the process's life, so a verification
    stays true; bounded, and emptied when full."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Principal, int, int]] = {}

    def principal(self, token: str, keys: TokenKeys, now: datetime) -> Principal:
        entry = self._entries.get(token)
        if entry is not None:
            caller, issued, expires = entry
            instant = now.timestamp()
            if instant >= expires or issued > instant + ISSUED_AT_LEEWAY_SECONDS:
                raise InvalidToken("ExpiredSignatureError")
            return caller
        caller = principal_from_token(token, keys, now)  # raises InvalidToken
        claims = jwt.decode(token, options={"verify_signature": False})
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[token] = (caller, int(claims["iat"]), int(claims["exp"]))
        return caller


ServiceFactory = Callable[["Runtime", Session], object]


@dataclass
class Runtime:
    """Everything built once per process by the app factory: primitives, no domain service."""

    settings: Settings
    engine: Engine
    uow: UnitOfWork  # the only way an endpoint opens a transaction (`transaction()`)
    policy: Policy
    keyring: KeyRing
    token_keys: TokenKeys
    clock: Clock
    client_status: ClientStatusCache = field(default_factory=lambda: ClientStatusCache(2.0))
    # The identity authority (REALNAME_AUTHORITY): the http one's connection pool and circuit
    # breaker live as long as the process. None: chosen from `settings` on first use.
    authority: AuthoritySource | None = None
    # How each domain's service is built from these primitives on a unit of work's session,
    # by its class: filled in by the app factory (realname.api.app.http_factories), so
    # this kit names no domain.
    factories: Mapping[type[Any], ServiceFactory] = field(default_factory=dict)
    # Process-wide objects a domain's routes need but this kit cannot name (the national
    # platform's keys), by their class: filled in by the app factory, built when first asked.
    providers: Mapping[type[Any], Callable[[], object]] = field(default_factory=dict)
    tokens: VerifiedTokens = field(default_factory=VerifiedTokens)

    def provided(self, kind: type[ServiceT]) -> ServiceT:
        """The process's `kind` (e.g. `PlatformKeys`), as the composition root built it."""
        built = self.providers[kind]()
        if not isinstance(built, kind):
            raise TypeError(f"the provider of {kind.__name__} built a {type(built).__name__}")
        return built

    def service(self, kind: type[ServiceT], session: Session) -> ServiceT:
        """The `kind` service on this unit of work's session, built from this runtime as the
        composition root says: an endpoint names the service it needs, never how to build it."""
        built = self.factories[kind](self, session)
        if not isinstance(built, kind):
            raise TypeError(f"the factory for {kind.__name__} built a {type(built).__name__}")
        return built

    def transaction(
        self, *, readonly: bool = False, keep_on: KeepOn | None = None
    ) -> AbstractContextManager[Session]:
        return self.uow.transaction(readonly=readonly, keep_on=keep_on)

    def client_is_active(self, client_id: str) -> bool:
        """Is the client still active? Per process, looked up at most every
        REALNAME_CLIENT_STATUS_CACHE_SECONDS (a plain read: no write lock on SQLite)."""

        def lookup(wanted: str) -> bool:
            with self.transaction(readonly=True) as session:
                return client_is_active(session, wanted)

        return self.client_status.is_active(client_id, self.clock.now(), lookup)


def runtime(request: Request) -> Runtime:
    value = request.app.state.runtime
    assert isinstance(value, Runtime)
    return value


async def runtime_dependency(request: Request) -> Runtime:
    """`runtime` as a dependency. The dependencies of this kit are `async def` because they
    never block (the client status look-up, once per cache period, goes to a thread):
    FastAPI runs a plain `def` dependency in its thread pool, a thread hand-off each, which
    py-spy showed costing more than the dependencies themselves (docs/benchmarks.md)."""
    return runtime(request)


# How the OpenAPI document describes the token (`principal` below does the checking): the
# scopes a route's role dependency declares become its security requirement's scopes.
bearer = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl="/oauth/token")),
    scheme_name="OAuth2",
    description="A bearer token from `POST /oauth/token` (client credentials). An operation's "
    "scopes are all required; its `x-roles` names the roles allowed.",
    auto_error=False,
)


async def principal(
    rt: Annotated[Runtime, Depends(runtime_dependency)],
    authorization: Annotated[str | None, Security(bearer)],
) -> Principal:
    return await authenticate(rt, authorization)


async def authenticate(rt: Runtime, authorization: str | None) -> Principal:
    """The caller of an `Authorization` header (the `principal` dependency's check, also
    called by routes served ahead of FastAPI's routing): a bearer token this worker verified
    or verifies now, of a client still active."""
    header = authorization or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "UNAUTHENTICATED", "A bearer token is required.", "需要 Bearer 令牌。")
    try:
        caller = rt.tokens.principal(token.strip(), rt.token_keys, rt.clock.now())
    except InvalidToken:
        raise ApiError(
            401, "UNAUTHENTICATED", "The token is invalid or expired.", "令牌无效或已过期。"
        ) from None
    # A token outlives nothing: its client revoked or disabled since it was issued, it stops
    # working (within the status cache's few seconds).
    active = rt.client_status.known(caller.client_id, rt.clock.now())
    if active is None:  # not looked at within the cache period: a database read, in a thread
        active = await run_in_threadpool(rt.client_is_active, caller.client_id)
    if not active:
        raise ApiError(
            401, "UNAUTHENTICATED", "The token is invalid or expired.", "令牌无效或已过期。"
        )
    return caller


RuntimeDep = Annotated[Runtime, Depends(runtime_dependency)]
PrincipalDep = Annotated[Principal, Depends(principal)]
