"""The front desk's registration (`POST /v1/registrations`): the registry's `register`, with
the proof of possession a back-fill needs and the refusal kept as channel-risk evidence.

It composes three domains (registry, possession, channels), so it lives with the entry point,
the only layer allowed to reach all three; each domain's own routes stay in its package.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import SecurityScopes
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from realname.channels.service import ChannelService
from realname.errors import CodedError
from realname.http.ahead import ServedAhead, header, json_document, validated
from realname.http.deps import RuntimeDep, authenticate, runtime
from realname.http.errors import ErrorInfo
from realname.http.idempotency import run_once
from realname.http.principals import CLERK_AT_COUNTER, WRITE, ClerkAtCounter
from realname.possession.errors import PossessionError
from realname.possession.service import CheckedCode, PossessionService
from realname.registry.cardreads.endpoints import person_at
from realname.registry.commands import PossessionProof
from realname.registry.endpoints import REFUSALS, line_view
from realname.registry.errors import RegistryError
from realname.registry.rows import LineRow
from realname.registry.schemas import LineOut, RegistrationIn
from realname.registry.service import RegistryService

router = APIRouter(prefix="/v1", tags=["registry"], responses=REFUSALS)
REGISTRATIONS_PATH = "/v1/registrations"


@router.post(
    "/registrations",
    status_code=status.HTTP_201_CREATED,
    response_model=LineOut,
    summary="Register a customer and activate a line",
    responses={429: {"model": ErrorInfo, "description": "Too many failed proofs for the line"}},
)
def register(
    body: RegistrationIn, request: Request, rt: RuntimeDep, counter: ClerkAtCounter
) -> JSONResponse:
    """Verify the customer (document, authority, face, age, caps) and activate a SIM kit from
    the clerk's channel stock, or back-fill a legacy line: that needs `possession`, proof
    that the customer holds the line (by policy: a one-time code from
    `POST /v1/lines/{id}/possession-challenges`, the SIM's ICCID, or recent usage); without
    a valid one 403 `REALNAME.POSSESSION_NOT_PROVEN`, and the failure counts against the
    channel. 201 with the line."""
    principal = counter.principal
    desk = counter.desk

    claim = body.possession.to_claim() if body.possession is not None else None
    checked: list[CheckedCode | None] = [None]

    def count_attempt(session: Session) -> bool:
        # A one-time code's attempt is counted (under a lock on the challenge row) before the
        # code is compared, outside the registration's savepoint: a refusal cannot undo it,
        # so concurrent wrong guesses never exceed the code's attempt limit. True when it
        # counted one (the registration then runs in a savepoint, rolled back alone).
        try:
            checked[0] = rt.service(PossessionService, session).check_backfill_code(
                counter.ctx,
                enterprise_id=desk.enterprise_id,
                channel_id=desk.channel_id,
                clerk_id=desk.clerk_id,
                msisdn=body.msisdn,
                claim=claim,
            )
        except PossessionError as error:
            request.app.state.metrics.registrations.labels(str(error.code)).inc()
            raise
        return checked[0] is not None

    def work(session: Session) -> LineOut:
        ctx = counter.ctx

        def prove(line: LineRow | None) -> PossessionProof | None:
            # Asked first, with the line the registration read under its lock: the proof
            # (or its refusal) comes before any other check, and the line is read once.
            return rt.service(PossessionService, session).prove_for_backfill(
                ctx,
                enterprise_id=desk.enterprise_id,
                channel_id=desk.channel_id,
                clerk_id=desk.clerk_id,
                line=line,
                claim=claim,
                checked=checked[0],
            )

        try:
            registry = rt.service(RegistryService, session)
            line = registry.register(
                ctx,
                desk=desk,
                msisdn=body.msisdn,
                person=person_at(registry, ctx, desk.channel_id, body.customer),
                prove=prove,
            )
        except (RegistryError, PossessionError) as error:
            request.app.state.metrics.registrations.labels(str(error.code)).inc()
            raise
        request.app.state.metrics.registrations.labels("registered").inc()
        return registered_out(line)

    def evidence(session: Session, error: CodedError) -> None:
        # The refused work is undone; the refusal itself is channel-risk evidence, recorded
        # once per request (a retry or a concurrent twin replays it, never re-runs it), and a
        # failed proof of possession is counted (and its code's attempt with it).
        rt.service(ChannelService, session).record_refusal(
            desk.channel_id, desk.clerk_id, str(error.code), rt.clock.now()
        )
        if isinstance(error, PossessionError) and error.failure is not None:
            rt.service(PossessionService, session).record_failure(error.failure, rt.clock.now())

    return run_once(
        request, rt, principal, body, 201, work, on_refusal=evidence, before=count_attempt
    )


def registered_out(line: LineRow) -> LineOut:
    """A registration's answer, from the row it wrote and the owner it masked (not re-read)."""
    return line_view(line, line.owner)


class RegistrationAhead(ServedAhead):
    """`POST /v1/registrations` served ahead of FastAPI (`http.ahead`), while
    `app.state.registration_ahead` is true: what FastAPI does for the route, in its order,
    with the route's own objects (the runtime; the bearer token, `deps.authenticate`; the
    clerk's check, `CLERK_AT_COUNTER` with the route's scope; the body validated by
    `RegistrationIn`), then the route function itself in the thread pool, as FastAPI runs a
    sync route. py-spy put FastAPI's routing and dependency solving at about 40 % of a
    worker's Python time per registration (docs/benchmarks.md)."""

    method = "POST"
    path = REGISTRATIONS_PATH
    flag = "registration_ahead"

    async def serve(
        self, fastapi_app: Any, scope: Scope, receive: Receive, send: Send, raw: bytes
    ) -> None:
        document = json_document(raw, header(scope, b"content-type"))
        request = Request(scope, receive)
        rt = runtime(request)
        principal = await authenticate(rt, header(scope, b"authorization") or None)
        counter = await CLERK_AT_COUNTER(SecurityScopes(scopes=[WRITE]), principal, request)
        body = validated(RegistrationIn, document)
        response = await run_in_threadpool(register, body, request, rt, counter)
        await response(scope, receive, send)
