"""Subscriber self-service under /v1/me: the lines of the identity behind the caller's line.

A subscriber token bound to a line (a one-time code sent to it, or the network's own
authentication) reaches, through that line's current registration, every line its owner
holds at this operator; any other line answers 404 like a line that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from realname.http.deps import Runtime, RuntimeDep
from realname.http.errors import ApiError, refusals
from realname.http.params import LineId
from realname.http.principals import Subscriber, context_of
from realname.numbering.msisdn import mask_msisdn
from realname.registry.models import Line
from realname.registry.reverification import ReverificationTriggers
from realname.registry.service import RegistryService
from realname.security.principals import Principal
from realname.selfservice.models import Dispute
from realname.selfservice.schemas import DisputeOut, MyLineOut, OnlineReverificationIn, UnlockIn
from realname.selfservice.service import Scope, SelfService

router = APIRouter(
    prefix="/v1/me",
    tags=["self-service"],
    responses=refusals(
        {
            403: "Not a subscriber token bound to a line",
            404: "Not one of your lines",
            409: "Refused by the line's state",
            422: "Refused by the rules (REALNAME.* code)",
        }
    ),
)
T = TypeVar("T")


def _as_subscriber(
    rt: Runtime, principal: Principal, work: Callable[[Session, SelfService, Scope], T]
) -> T:
    if principal.line_id is None:  # the route's `Subscriber` has authorised the caller
        raise ApiError(
            403,
            "PERMISSION_DENIED",
            "Self-service needs a token bound to one of your lines (prove a number first).",
            "自助服务须使用绑定本人号码的令牌（请先验证号码）。",
        )
    with rt.transaction() as session:
        service = SelfService(
            session,
            policy=rt.policy,
            registry=rt.service(RegistryService, session),
            reverification=rt.service(ReverificationTriggers, session),
        )
        scope = service.scope(principal)
        return work(session, service, scope)


def my_line(line: Line, scope: Scope) -> MyLineOut:
    return MyLineOut(
        id=line.id,
        msisdn=line.msisdn,
        state=line.state,
        barring_reason=line.barring_reason,
        activated_at=line.activated_at,
        owner_since=line.owner_since,
        reverify_deadline=line.reverify_deadline,
        proved=line.id == scope.proved_line.id,
        registered=line.owner_identity_id is not None
        and line.owner_identity_id == scope.identity_id,
    )


def dispute_out(session: Session, dispute: Dispute, rt: Runtime) -> DisputeOut:
    line = session.get(Line, dispute.line_id)
    assert line is not None
    if line.owner_identity_id != dispute.identity_id:
        status = "resolved"
    elif rt.clock.now() > dispute.due_at:
        status = "overdue"
    else:
        status = "open"
    return DisputeOut(
        id=dispute.id,
        line_id=line.id,
        msisdn=mask_msisdn(line.msisdn),
        opened_at=dispute.opened_at,
        due_at=dispute.due_at,
        status=status,
        reverification_requested=dispute.reverification_requested,
    )


@router.get("/lines", response_model=list[MyLineOut], summary="Your lines at this operator")
def lines(rt: RuntimeDep, principal: Subscriber) -> list[MyLineOut]:
    """Every line registered to your identity at this operator, full numbers, no personal
    data. A line with no registered owner shows only itself."""
    return _as_subscriber(
        rt, principal, lambda s, svc, scope: [my_line(x, scope) for x in svc.lines(scope)]
    )


@router.post(
    "/lines/{line_id}/report-lost",
    response_model=MyLineOut,
    summary="Report one of your phones lost",
)
def report_lost(
    line_id: LineId, request: Request, rt: RuntimeDep, principal: Subscriber
) -> MyLineOut:
    """Bar one of your lines both ways at once; prove another of your lines if the phone is
    gone. Service comes back with a SIM replacement at a hall."""
    ctx = context_of(principal, request)
    return _as_subscriber(
        rt, principal, lambda s, svc, scope: my_line(svc.report_lost(ctx, scope, line_id), scope)
    )


@router.post("/lines/{line_id}/lock", response_model=MyLineOut, summary="Lock one of your lines")
def lock(line_id: LineId, request: Request, rt: RuntimeDep, principal: Subscriber) -> MyLineOut:
    """Bar one of your lines both ways until you unlock it."""
    ctx = context_of(principal, request)
    return _as_subscriber(
        rt, principal, lambda s, svc, scope: my_line(svc.lock(ctx, scope, line_id), scope)
    )


@router.post(
    "/lines/{line_id}/unlock", response_model=MyLineOut, summary="Unlock one of your lines"
)
def unlock(
    line_id: LineId, body: UnlockIn, request: Request, rt: RuntimeDep, principal: Subscriber
) -> MyLineOut:
    """Lift your lock; `owner` (document and name, as registered) must match the line's
    registered owner."""
    ctx = context_of(principal, request)
    return _as_subscriber(
        rt,
        principal,
        lambda s, svc, scope: my_line(
            svc.unlock(ctx, scope, line_id, body.owner.to_person()), scope
        ),
    )


@router.post(
    "/lines/{line_id}/reverification-answers",
    response_model=MyLineOut,
    summary="Re-verify one of your lines in the app (二次实名)",
)
def answer_reverification(
    line_id: LineId,
    body: OnlineReverificationIn,
    request: Request,
    rt: RuntimeDep,
    principal: Subscriber,
) -> MyLineOut:
    """Answer a pending re-verification online: the document accepted online and confirmed by
    the identity authority, the name as registered, and the app's face and liveness scores at
    or above the policy's threshold. An overdue suspension is lifted."""
    ctx = context_of(principal, request)
    return _as_subscriber(
        rt,
        principal,
        lambda s, svc, scope: my_line(
            svc.answer_reverification(
                ctx, scope, line_id, body.owner.to_person(), body.liveness_score
            ),
            scope,
        ),
    )


@router.post(
    "/lines/{line_id}/disputes",
    status_code=201,
    response_model=DisputeOut,
    summary='Dispute a line registered to you as "not mine"',
)
def dispute(
    line_id: LineId, request: Request, rt: RuntimeDep, principal: Subscriber
) -> JSONResponse:
    """A line registered to your identity that you do not hold: a complaint on its history
    (it counts against the channel that registered it), a case the operator answers by
    `due_at`, and a re-verification request to whoever holds the line. Asking again while the
    case runs returns the same case."""
    ctx = context_of(principal, request)
    out = _as_subscriber(
        rt,
        principal,
        lambda s, svc, scope: dispute_out(s, svc.dispute(ctx, scope, line_id), rt),
    )
    return JSONResponse(out.model_dump(mode="json"), status_code=201)


@router.get("/disputes", response_model=list[DisputeOut], summary="Your disputes")
def disputes(rt: RuntimeDep, principal: Subscriber) -> list[DisputeOut]:
    """Your "not mine" cases at this operator, oldest first, with their status."""
    return _as_subscriber(
        rt, principal, lambda s, svc, scope: [dispute_out(s, d, rt) for d in svc.disputes(scope)]
    )
