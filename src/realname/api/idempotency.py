"""`Idempotency-Key` on creating POSTs: a retry gets the first answer and changes nothing;
the same key with a different body is 422.

The first answer is stored in the same transaction as the work it describes, so after a
crash a retry finds either both or neither. Two concurrent requests with one key meet at the
unique constraint; the loser replays the winner's answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from realname.api.deps import Runtime
from realname.api.errors import ApiError
from realname.security.models import IdempotentRequest
from realname.security.principals import Principal
from realname.security.vault import KeyRing

KEY_HEADER = "idempotency-key"


class IdempotencyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, client_id: str, key: str) -> IdempotentRequest | None:
        return self.session.scalars(
            select(IdempotentRequest).where(
                IdempotentRequest.client_id == client_id, IdempotentRequest.key == key
            )
        ).first()

    def add(self, row: IdempotentRequest) -> None:
        self.session.add(row)


def _fingerprint(route: str, body: BaseModel, keyring: KeyRing) -> bytes:
    """Keyed (the blind-index HMAC): bodies hold ID numbers and names, and a plain SHA-256 of
    a registration could be confirmed by hashing guesses, as vault.py explains for IDs."""
    canonical = json.dumps(
        {"route": route, "body": body.model_dump(mode="json")}, sort_keys=True, ensure_ascii=False
    )
    return keyring.blind_index(canonical, "api.idempotency")


def _replay(row: IdempotentRequest, fingerprint: bytes) -> JSONResponse:
    if row.body_hash != fingerprint:
        raise ApiError(
            422,
            "REALNAME.IDEMPOTENCY_KEY_REUSED",
            "This Idempotency-Key was used with a different request.",
            "该 Idempotency-Key 已用于另一个不同的请求。",
        )
    return JSONResponse(row.response, status_code=row.status, headers={"idempotent-replay": "true"})


def run_once(
    request: Request,
    rt: Runtime,
    principal: Principal,
    body: BaseModel,
    status: int,
    work: Callable[[Session], BaseModel],
) -> JSONResponse:
    """Run `work` in one transaction, once per Idempotency-Key (if the client sent one)."""
    key = request.headers.get(KEY_HEADER)
    if key is None:  # the common case: no fingerprint, no look-up
        with rt.transaction() as session:
            result = work(session).model_dump(mode="json")
        return JSONResponse(result, status_code=status)
    if not 1 <= len(key) <= 128:
        raise ApiError(400, "INVALID_ARGUMENT", "Idempotency-Key must be 1 to 128 characters.")
    route = getattr(request.scope.get("route"), "path", request.url.path)
    fingerprint = _fingerprint(route, body, rt.keyring)
    try:
        with rt.transaction() as session:
            earlier = IdempotencyRepository(session).find(principal.client_id, key)
            if earlier is not None:
                return _replay(earlier, fingerprint)
            result = work(session).model_dump(mode="json")
            IdempotencyRepository(session).add(
                IdempotentRequest(
                    client_id=principal.client_id,
                    key=key,
                    route=route,
                    body_hash=fingerprint,
                    status=status,
                    response=result,
                    created_at=rt.clock.now(),
                )
            )
    except IntegrityError:
        with rt.transaction() as session:  # a concurrent twin committed first
            earlier = IdempotencyRepository(session).find(principal.client_id, key)
            if earlier is None:
                raise
            return _replay(earlier, fingerprint)
    return JSONResponse(result, status_code=status)
