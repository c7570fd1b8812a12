"""`Idempotency-Key` on creating POSTs: a retry gets the first answer and changes nothing;
the same key with a different body is 422.

**The key is claimed before the work.** In the transaction that does the work, the key's row
is inserted first (status 0, pending), then the work runs, then the row takes the answer; all
three commit together, so after a crash a retry finds either both or neither. A concurrent
twin with the same key finds no committed row and tries the same insert: it waits on the
unique index until the first transaction ends (PostgreSQL; SQLite serialises writers
outright). If the first committed, the twin's insert fails and it replays the stored answer;
if the first rolled back or its process died, the database dropped the uncommitted claim and
the twin does the work itself. So a crashed request never blocks its key, and no claim needs
to expire. The wait is bounded (`WAIT_SECONDS`): a twin still waiting then gets 409
`REALNAME.IDEMPOTENCY_IN_PROGRESS` with `Retry-After`.

A domain refusal (a `REALNAME.*` answer) is an answer too: the work is rolled back (to a
savepoint when the transaction holds the key's claim or what `before` counted; otherwise the
whole transaction, which then held nothing else), the refusal is stored under the key
together with whatever the caller records about it (`on_refusal`, e.g. channel-risk
evidence), and replayed to retries. A twin never
re-runs a request, so it never meets the first one's result as a state conflict, and one
refused request is one piece of evidence.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from fastapi import Request
from fastapi.responses import JSONResponse
from psycopg.types.json import Json
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, make_transient_to_detached

from realname.errors import CodedError
from realname.http.deps import Runtime
from realname.http.errors import ApiError, coded_error_body
from realname.security.models import IdempotentRequest
from realname.security.principals import Principal
from realname.security.vault import KeyRing

KEY_HEADER = "idempotency-key"
PENDING = 0  # a claim whose work has not finished (only ever seen inside its transaction)
WAIT_SECONDS = 10.0  # how long a twin waits for the first request before 409 in progress
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout expired
# The server's setting kept aside (in this transaction), the claim's bound on its wait, and the
# setting restored after the claim.
_KEEP_LOCK_WAIT = (
    "SELECT set_config('realname.lock_timeout', current_setting('lock_timeout'), true)"
)
_BOUND_LOCK_WAIT = "SELECT set_config('lock_timeout', %s, true)"
_CLAIM = (
    "INSERT INTO idempotent_request (client_id, key, route, body_hash, status, response, "
    "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
_RESTORE_LOCK_WAIT = (
    "SELECT set_config('lock_timeout', current_setting('realname.lock_timeout'), true)"
)


class IdempotencyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, client_id: str, key: str) -> IdempotentRequest | None:
        return self.session.scalars(
            select(IdempotentRequest).where(
                IdempotentRequest.client_id == client_id, IdempotentRequest.key == key
            )
        ).first()

    def claim(self, row: IdempotentRequest, wait_seconds: float) -> None:
        """Insert the key's row now, waiting at most `wait_seconds` for a twin's uncommitted
        claim of the same key (IntegrityError once the twin commits, or at once when the key
        was answered before).

        On PostgreSQL the wait is bounded by `lock_timeout` for the INSERT alone (the work's
        own lock waits keep the server's setting): keeping the setting aside, the bound, the
        INSERT and the restore go in one pipeline, one round trip where they were three."""
        if self.session.get_bind().dialect.name != "postgresql":
            self.session.add(row)
            self.session.flush()
            return
        self.session.flush()  # anything the ORM holds goes before the raw statements
        driver = self.session.connection().connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        bound = f"{max(1, int(wait_seconds * 1000))}ms"
        try:
            with driver.pipeline():
                driver.execute(_KEEP_LOCK_WAIT)
                driver.execute(_BOUND_LOCK_WAIT, (bound,))
                inserted = driver.execute(
                    _CLAIM,
                    (row.client_id, row.key, row.route, row.body_hash, row.status,
                     Json(row.response), row.created_at),
                )  # fmt: skip
                driver.execute(_RESTORE_LOCK_WAIT)
        except psycopg.Error as error:
            # As SQLAlchemy would have raised it (IntegrityError for the unique index,
            # OperationalError for the lock bound or a lost connection, ...), so the unit of
            # work replays, the twin gets 409 and a database failure 503, as on any statement.
            broken = driver.broken or driver.closed
            raise DBAPIError.instance(
                _CLAIM, None, error, psycopg.Error, hide_parameters=True,
                connection_invalidated=broken,
            ) from None  # fmt: skip
        fetched = inserted.fetchone()
        assert fetched is not None
        row.id = int(fetched[0])
        make_transient_to_detached(row)  # the row exists: the ORM tracks it, no INSERT
        self.session.add(row)


def _fingerprint(route: str, body: BaseModel, keyring: KeyRing) -> bytes:
    """Keyed (the blind-index HMAC): bodies hold ID numbers and names, and a plain SHA-256 of
    a registration could be confirmed by hashing guesses, as vault.py explains for IDs."""
    canonical = json.dumps(
        {"route": route, "body": body.model_dump(mode="json")}, sort_keys=True, ensure_ascii=False
    )
    return keyring.blind_index(canonical, "api.idempotency")


def _in_progress() -> ApiError:
    return ApiError(
        409,
        "REALNAME.IDEMPOTENCY_IN_PROGRESS",
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        "使用该 Idempotency-Key 的请求仍在处理中，请稍后重试。",
        headers={"Retry-After": "1"},
    )


@dataclass
class _Answer:
    status: int
    body: dict[str, Any]
    refusal: CodedError | None = None
    replayed: bool = False

    def respond(self) -> JSONResponse:
        if self.replayed:
            headers = {"idempotent-replay": "true"}
            return JSONResponse(self.body, status_code=self.status, headers=headers)
        if self.refusal is not None:
            raise self.refusal  # rendered by the error handler, exactly as stored
        return JSONResponse(self.body, status_code=self.status)


@dataclass
class _KeyStore:
    """The unit of work's `once` store for one client's Idempotency-Key."""

    client_id: str
    key: str
    route: str
    fingerprint: bytes
    at: datetime
    row: IdempotentRequest | None = None

    def earlier(self, session: Session) -> _Answer | None:
        row = IdempotencyRepository(session).find(self.client_id, self.key)
        if row is None:
            return None
        if row.body_hash != self.fingerprint:
            raise ApiError(
                422,
                "REALNAME.IDEMPOTENCY_KEY_REUSED",
                "This Idempotency-Key was used with a different request.",
                "该 Idempotency-Key 已用于另一个不同的请求。",
            )
        if row.status == PENDING:
            raise _in_progress()
        return _Answer(row.status, row.response, replayed=True)

    def claim(self, session: Session) -> None:
        self.row = IdempotentRequest(
            client_id=self.client_id,
            key=self.key,
            route=self.route,
            body_hash=self.fingerprint,
            status=PENDING,
            response={},
            created_at=self.at,
        )
        IdempotencyRepository(session).claim(self.row, WAIT_SECONDS)

    def keep(self, session: Session, answer: _Answer) -> None:
        assert self.row is not None
        self.row.status, self.row.response = answer.status, answer.body


OnRefusal = Callable[[Session, CodedError], None]
# Runs ahead of the work; True when it wrote something a refusal of the work must not undo.
Before = Callable[[Session], bool]


def _attempt(
    session: Session,
    request: Request,
    status: int,
    work: Callable[[Session], BaseModel],
    on_refusal: OnRefusal | None,
    before: Before | None = None,
    *,
    claimed: bool = False,
) -> _Answer:
    """The work; a domain refusal undoes it and becomes the answer. `before` runs first: what
    it writes stays even when the request is refused (e.g. an attempt at a one-time code,
    counted before the code is compared), and its refusal is an answer like the work's.

    When the transaction holds something the refusal must keep (the Idempotency-Key's claim,
    `claimed`, or what `before` wrote), the work runs in a savepoint, rolled back alone. In
    the common case it holds nothing: the work runs without one (two round trips fewer on
    every request), and a refusal rolls the whole transaction back; `on_refusal` then writes
    in the fresh one the unit of work commits."""
    keep = claimed
    try:
        if before is not None:
            keep = before(session) or keep
        if keep:
            with session.begin_nested():
                body = work(session).model_dump(mode="json")
        else:
            body = _alone(session, work)
    except ApiError:
        raise  # the HTTP layer's own refusal is not an answer to the request
    except CodedError as error:
        if error.transient:
            # e.g. the identity authority is down: not an answer to this request, so nothing
            # is stored (a retry with the same key runs again) and nothing is recorded.
            raise
        if on_refusal is not None:
            on_refusal(session, error)
        refused_status, rendered = coded_error_body(request, error)
        return _Answer(refused_status, rendered, error)
    return _Answer(status, body)


def _alone(session: Session, work: Callable[[Session], BaseModel]) -> dict[str, Any]:
    """The work alone in its transaction: a domain refusal rolls the transaction back (the
    caller records the refusal in the next one); anything else is the unit of work's."""
    try:
        return work(session).model_dump(mode="json")
    except CodedError as error:
        if not error.transient and not isinstance(error, ApiError):
            session.rollback()
        raise


def run_once(
    request: Request,
    rt: Runtime,
    principal: Principal,
    body: BaseModel,
    status: int,
    work: Callable[[Session], BaseModel],
    on_refusal: OnRefusal | None = None,
    before: Before | None = None,
) -> JSONResponse:
    """Run `work` in one transaction, once per Idempotency-Key (if the client sent one).
    `on_refusal` records what a domain refusal means (in the same transaction), once.
    `before` runs in the same transaction ahead of the work, not undone by its refusal (a
    replayed request runs neither)."""
    key = request.headers.get(KEY_HEADER)

    def attempt(session: Session) -> _Answer:
        claimed = key is not None  # the unit of work has claimed the key in this transaction
        return _attempt(session, request, status, work, on_refusal, before, claimed=claimed)

    if key is None:  # the common case: no fingerprint, no claim
        return rt.uow.run(attempt).respond()
    if not 1 <= len(key) <= 128:
        raise ApiError(400, "INVALID_ARGUMENT", "Idempotency-Key must be 1 to 128 characters.")
    route = getattr(request.scope.get("route"), "path", request.url.path)
    store = _KeyStore(
        principal.client_id, key, route, _fingerprint(route, body, rt.keyring), rt.clock.now()
    )
    try:
        answer = rt.uow.run(attempt, once=store)
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            raise _in_progress() from None
        raise
    return answer.respond()
