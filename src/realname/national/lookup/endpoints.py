"""`/v1/national/lookup`: 一证通查 for anyone, without a token. What protects a person is the
code sent to a number their identity holds, the limits per identity and per source address,
and one answer for every failure (docs/national.md)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from realname.compliance.complaints.service import ComplaintService, Intake
from realname.http.deps import Runtime, RuntimeDep
from realname.http.errors import refusals
from realname.http.principals import READ, Allowed
from realname.http.sources import request_source
from realname.national.feeds.endpoints import FeedClient, platform_keys_of
from realname.national.index.models import NationalLine
from realname.national.lookup.disputes import DisputeService
from realname.national.lookup.errors import LookupErrorCode, NationalLookupError
from realname.national.lookup.schemas import (
    AnswerIn,
    AnswerOut,
    CodeIn,
    CodeOut,
    DisputeAnswerIn,
    DisputeIn,
    DisputeOut,
    EnterpriseDisputeOut,
    ForwardedDisputeOut,
    ForwardedPageOut,
)
from realname.national.lookup.service import LookupService
from realname.registry.commands import Actor, Context
from realname.security.principals import Permission, Principal

router = APIRouter(
    prefix="/v1/national/lookup",
    tags=["一证通查"],
    responses=refusals(
        {
            403: "LOOKUP_NOT_PROVED: the code, document or name does not match, or it expired",
            404: "No such dispute",
            409: "LOOKUP_LINE_CHANGED: the line moved or has another owner since the index "
            "was told (ask for a new answer); or its case cannot be opened now",
            422: "Not a mobile number or document (REALNAME.LOOKUP_INPUT_INVALID)",
            429: "Too many lookups for this identity or from this address",
        }
    ),
)
Reference = Annotated[str, Path(min_length=1, max_length=24, pattern="^[A-Za-z]+$")]


def _service(rt: Runtime, request: Request, session: Session) -> LookupService:
    return LookupService.configured(
        session,
        keys=platform_keys_of(rt),
        keyring=rt.keyring,
        settings=rt.settings,
        policy=rt.policy,
    )


def _disputes(rt: Runtime, request: Request, session: Session) -> DisputeService:
    return DisputeService(_service(rt, request, session))


def _kept_on_not_proved(error: BaseException) -> bool:
    return (
        isinstance(error, NationalLookupError) and error.code is LookupErrorCode.LOOKUP_NOT_PROVED
    )


async def _not_before(started: float, floor_ms: int) -> None:
    """Sleep (no thread held) until `floor_ms` after `started` (time.perf_counter)."""
    left = floor_ms / 1000 - (time.perf_counter() - started)
    if left > 0:
        await asyncio.sleep(left)


@router.post("/codes", response_model=CodeOut, status_code=202, summary="Ask for a code")
async def ask_code(body: CodeIn, request: Request, rt: RuntimeDep) -> CodeOut:
    """Document, name and one of your mobile numbers: when they match the national index, a
    one-time code is sent by SMS to that number. The answer is the same either way, and so is
    its time: it comes no sooner than REALNAME_NATIONAL_LOOKUP_FLOOR_MS after the request."""
    started = time.perf_counter()
    source = request_source(request, rt.settings.trusted_proxies)

    def work() -> CodeOut:
        with rt.transaction() as session:
            issued = _service(rt, request, session).issue(
                doc_type=body.document_type,
                doc_number=body.document_number,
                name=body.name,
                msisdn=body.msisdn,
                source=source,
                at=rt.clock.now(),
            )
        return CodeOut(challenge_id=issued.challenge_id, expires_at=issued.expires_at)

    try:
        return await run_in_threadpool(work)
    finally:
        await _not_before(started, rt.settings.national_lookup_floor_ms)


@router.post("/answers", response_model=AnswerOut, summary="Your lines at every enterprise")
def answer(body: AnswerIn, request: Request, rt: RuntimeDep) -> AnswerOut:
    """The code from the SMS: the count of your lines in service at every enterprise, numbers
    masked. Every failure answers `LOOKUP_NOT_PROVED` and counts as a try."""
    with rt.transaction(keep_on=_kept_on_not_proved) as session:
        result = _service(rt, request, session).answer(
            challenge_id=body.challenge_id, code=body.code, at=rt.clock.now()
        )
    return AnswerOut.model_validate(asdict(result))


def complaint_opener(rt: Runtime, session: Session, correlator: str | None) -> object:
    """How a dispute opens its case at the enterprise: a `not_mine` complaint through the
    compliance domain (the platform in this instance holds the enterprises' registry)."""

    def open_complaint(line: NationalLine, reference: str) -> int | None:
        at = rt.clock.now()
        ctx = Context(Actor("national", "lookup"), at, correlator)
        intake = Intake("not_mine", line.msisdn, at, centre_ref=reference)
        with session.begin_nested():
            complaint = rt.service(ComplaintService, session).take(ctx, intake)
        return complaint.id

    return open_complaint


@router.post("/disputes", response_model=DisputeOut, status_code=201, summary="Not mine")
def dispute(body: DisputeIn, request: Request, rt: RuntimeDep) -> DisputeOut:
    """Within REALNAME_NATIONAL_LOOKUP_ANSWER_SECONDS of a proved answer: a line of it is not
    yours. A complaint case opens at the enterprise with the policy's answer deadline; follow
    it by its reference."""
    with rt.transaction() as session:
        state = _disputes(rt, request, session).dispute(
            challenge_id=body.challenge_id,
            line_ref=body.line_ref,
            at=rt.clock.now(),
            open_complaint=complaint_opener(rt, session, request.state.correlator),  # type: ignore[arg-type]
        )
    return DisputeOut(**asdict(state))


@router.get("/disputes/{reference}", response_model=DisputeOut, summary="A dispute's state")
def dispute_state(reference: Reference, request: Request, rt: RuntimeDep) -> DisputeOut:
    """The case the reference names: the enterprise's handling, its outcome and whether it is
    overdue. The reference is the only key (random, given only to who opened the case)."""
    with rt.transaction(readonly=True) as session:
        state = _disputes(rt, request, session).dispute_state(reference, rt.clock.now())
    return DisputeOut(**asdict(state))


# --- a separate enterprise's side: the disputes of its lines, forwarded to it ------------------

enterprise_router = APIRouter(prefix="/v1/national/feeds/disputes", tags=["national feeds"])


@enterprise_router.get(
    "",
    response_model=ForwardedPageOut,
    summary="Disputes of our lines, to trace",
    responses=refusals(
        {422: "`after` is not a cursor this platform gave you (REALNAME.DISPUTE_CURSOR_INVALID)"}
    ),
)
def forwarded_disputes(
    request: Request,
    rt: RuntimeDep,
    principal: FeedClient,
    after: Annotated[
        str | None,
        Query(description="the `next` of the page before; none for the first page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    after_id: Annotated[
        int | None,
        Query(
            ge=0,
            deprecated=True,
            description="an enterprise client from before the cursor: answered with every "
            "open dispute in one plain list, without ids",
        ),
    ] = None,
) -> Any:
    """The "not mine" disputes of the caller's enterprise's lines that this platform could not
    open as complaint cases (the enterprise's registry is its own instance), not closed yet,
    oldest first, at most `limit` a page: trace each in the registry, then post the handling.
    Page on with the page's `next` as `after` until `next` is null. The cursor is opaque and
    holds only a position among the enterprise's own disputes; one that is garbled, altered
    or another enterprise's is refused 422 `REALNAME.DISPUTE_CURSOR_INVALID`.

    An enterprise client from before the cursor sends `after_id` (deprecated): it is answered
    as a platform from before paging answered, a plain JSON list of the disputes with no id
    (which that client reads as the whole list), its oldest 5,000 at most, so the platform can
    be upgraded before its enterprises without a pull failing or the platform-wide ids
    leaking again."""
    enterprise_id = principal.enterprise_id or 0
    with rt.transaction(readonly=True) as session:
        disputes = _disputes(rt, request, session)
        if after_id is not None and after is None:
            every = disputes.oldest_forwarded(enterprise_id, rt.clock.now())
            return JSONResponse(
                jsonable_encoder([ForwardedDisputeOut.model_validate(asdict(d)) for d in every])
            )
        page = disputes.forwarded(enterprise_id, rt.clock.now(), after=after, limit=limit)
    return ForwardedPageOut.model_validate(asdict(page))


@enterprise_router.post(
    "/{reference}",
    response_model=DisputeOut,
    summary="Post a dispute's handling",
    responses=refusals(
        {
            404: "No such dispute of this enterprise (REALNAME.DISPUTE_NOT_FOUND)",
            409: "The case is closed already (REALNAME.DISPUTE_CLOSED), or the handling is "
            "behind the one it shows (REALNAME.DISPUTE_STATUS_BACKWARDS)",
            422: "Not a handling: traced, acted or closed with an outcome code "
            "(REALNAME.DISPUTE_ANSWER_INVALID)",
        }
    ),
)
def answer_forwarded_dispute(
    reference: Reference,
    body: DisputeAnswerIn,
    request: Request,
    rt: RuntimeDep,
    principal: FeedClient,
) -> DisputeOut:
    """`traced`, `acted` or `closed` (with an outcome code): the subscriber sees it, and every
    step before it, through the case's reference. Only a dispute of the caller's enterprise,
    only forward, only until closed; the handling the case already shows, posted again, is
    answered as it stands."""
    with rt.transaction() as session:
        state = _disputes(rt, request, session).answer_forwarded(
            enterprise_id=principal.enterprise_id or 0,
            reference=reference,
            status=body.status,
            outcome=body.outcome,
            at=rt.clock.now(),
            actor=f"feed_client:{principal.client_id}",
        )
    return DisputeOut(**asdict(state))


# --- an enterprise's staff (and the regulator): the disputes of its lines --------------------

# The enterprise's administrators (their own lines) and the regulator (every enterprise's).
DisputeReader = Annotated[
    Principal,
    Security(Allowed(Permission.OPERATE, Permission.ENFORCE), scopes=[READ]),
]

disputes_router = APIRouter(prefix="/v1/national/disputes", tags=["一证通查"])


@disputes_router.get(
    "", response_model=list[EnterpriseDisputeOut], summary="Disputes of our lines (一证通查)"
)
def enterprise_disputes(
    request: Request,
    rt: RuntimeDep,
    principal: DisputeReader,
    include_closed: bool = False,
    enterprise_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EnterpriseDisputeOut]:
    """The "not mine" disputes 一证通查 opened against the caller's enterprise's lines, a
    complaint case here or forwarded to its own instance: deadline, status, outcome and
    whether overdue, open ones soonest deadline first (closed ones after them with
    `include_closed`), numbers masked. The regulator reads every enterprise's, or one's with
    `enterprise_id`."""
    scope = principal.enterprise_id if principal.enterprise_id is not None else enterprise_id
    with rt.transaction(readonly=True) as session:
        rows = _disputes(rt, request, session).disputes_of(
            scope, rt.clock.now(), include_closed=include_closed, limit=limit
        )
    return [EnterpriseDisputeOut(**asdict(row)) for row in rows]
