"""FastAPI dependencies: the database, the caller, and the services built on both.

Endpoints own their transaction explicitly (`with rt.transaction() as session:`, the process's
unit of work), so the commit happens before the response is sent: a client that saw 201 can
rely on the row.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from realname.api.errors import ApiError
from realname.clock import Clock
from realname.config import Settings
from realname.db.uow import KeepOn, UnitOfWork
from realname.policy.schema import Policy
from realname.registry.service import RegistryService
from realname.security.clients import (
    ClientStatusCache,
    InvalidToken,
    client_is_active,
    principal_from_token,
)
from realname.security.keys import TokenKeys
from realname.security.principals import Permission, Principal
from realname.security.vault import KeyRing
from realname.wiring import AuthoritySource, Services, registry_service, services


@dataclass
class Runtime:
    """Everything built once per process by the app factory."""

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

    def registry(self, session: Session) -> RegistryService:
        return registry_service(session, self.settings, self.keyring, self.policy, self.authority)

    def services(self, session: Session) -> Services:
        return services(session, self.settings, self.keyring, self.policy, self.authority)


def runtime(request: Request) -> Runtime:
    value = request.app.state.runtime
    assert isinstance(value, Runtime)
    return value


def principal(request: Request, rt: Annotated[Runtime, Depends(runtime)]) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "UNAUTHENTICATED", "A bearer token is required.", "需要 Bearer 令牌。")
    try:
        caller = principal_from_token(token.strip(), rt.token_keys, rt.clock.now())
    except InvalidToken:
        raise ApiError(
            401, "UNAUTHENTICATED", "The token is invalid or expired.", "令牌无效或已过期。"
        ) from None
    # A token outlives nothing: its client revoked or disabled since it was issued, it stops
    # working (within the status cache's few seconds).
    if not rt.client_is_active(caller.client_id):
        raise ApiError(
            401, "UNAUTHENTICATED", "The token is invalid or expired.", "令牌无效或已过期。"
        )
    return caller


def require(principal: Principal, permission: Permission, scope: str | None = None) -> None:
    if not principal.can(permission) or (scope is not None and scope not in principal.scopes):
        raise ApiError(
            403, "PERMISSION_DENIED", "This caller may not do this.", "当前调用方无权执行此操作。"
        )


RuntimeDep = Annotated[Runtime, Depends(runtime)]
PrincipalDep = Annotated[Principal, Depends(principal)]
