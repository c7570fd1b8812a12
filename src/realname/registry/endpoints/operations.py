"""The registry's writes: stocking SIM kits, then one route per lifecycle operation of a
line (suspend, resume, restrict, report lost, cancel, re-verify, lock, replace the SIM,
transfer, ...). Each stands on `_operate` (a line of the caller's own enterprise, through
`visible_line`'s one tenant check) or `_self_service` (the one line a subscriber's token is
bound to), and answers with the line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Body, Request, Security
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from realname.http.deps import Runtime, RuntimeDep
from realname.http.errors import ApiError
from realname.http.idempotency import run_once
from realname.http.params import LineId
from realname.http.principals import (
    WRITE,
    AtCounter,
    ClerkAtCounter,
    Counter,
    EnterpriseOperator,
    LineCanceller,
    LineOperator,
    LostReporter,
    Subscriber,
    clerk_of,
    context_of,
)
from realname.registry.cardreads.endpoints import person_at
from realname.registry.commands import Context, Kit, TypedText
from realname.registry.endpoints.visibility import line_out, registry_router, visible_line
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.models import Line
from realname.registry.schemas import (
    BarIn,
    CancelIn,
    CounterOwnerIn,
    LineOut,
    NoteIn,
    OwnerProofIn,
    ReasonIn,
    ReportLostIn,
    SimReplacementIn,
    StockIn,
    StockOut,
    TransferIn,
)
from realname.registry.service import RegistryService
from realname.security.principals import Permission, Principal, Role

router = registry_router()


@router.post("/stock", status_code=201, response_model=StockOut, summary="Stock SIM kits")
def stock(
    body: StockIn, request: Request, rt: RuntimeDep, staff: EnterpriseOperator
) -> JSONResponse:
    """Put SIM kits (number, ICCID, IMSI) into one of the enterprise's channels."""

    def work(session: Session) -> StockOut:
        kits = [Kit(k.msisdn, k.iccid, k.imsi) for k in body.kits]
        lines = rt.service(RegistryService, session).stock.stock_kits(
            staff.ctx, staff.enterprise_id, body.channel_id, kits
        )
        return StockOut(stocked=len(lines), line_ids=[line.id for line in lines])

    return run_once(request, rt, staff.principal, body, 201, work)


# --- lifecycle operations --------------------------------------------------------------------


def _operate(
    request: Request,
    rt: Runtime,
    principal: Principal,
    line_id: int,
    act: Callable[[RegistryService, Context, int, str], Any],
) -> LineOut:
    """One lifecycle operation on a line of the caller's own enterprise (regulators read but
    do not operate), in one transaction, answered with the line. The route's dependency has
    authorised the caller."""
    with rt.transaction() as session:
        line = visible_line(session, principal, line_id)
        if principal.enterprise_id != line.enterprise_id:
            raise RegistryError(RegistryErrorCode.LINE_NOT_FOUND)
        act(
            rt.service(RegistryService, session),
            context_of(principal, request),
            line.enterprise_id,
            line.msisdn,
        )
        return line_out(rt, session, line)


@router.post("/lines/{line_id}/suspend", response_model=LineOut, summary="Suspend a line")
def suspend(
    line_id: LineId, body: BarIn, request: Request, rt: RuntimeDep, principal: LineOperator
) -> LineOut:
    """Bar the line both ways, with the reason that decides who may lift it."""
    return _operate(
        request,
        rt,
        principal,
        line_id,
        lambda s, c, e, m: s.suspend(c, e, m, body.reason, body.note),
    )


@router.post("/lines/{line_id}/resume", response_model=LineOut, summary="Resume a suspended line")
def resume(
    line_id: LineId, body: NoteIn, request: Request, rt: RuntimeDep, principal: LineOperator
) -> LineOut:
    """Lift an enforcement suspension (a lost or locked line needs its owner instead)."""
    return _operate(
        request,
        rt,
        principal,
        line_id,
        lambda s, c, e, m: s.resume(c, e, m, body.note),
    )


@router.post("/lines/{line_id}/restrict", response_model=LineOut, summary="Bar outgoing service")
def restrict(
    line_id: LineId, body: BarIn, request: Request, rt: RuntimeDep, principal: LineOperator
) -> LineOut:
    """Bar outgoing calls and data (back-fill or re-verification overdue)."""
    return _operate(
        request,
        rt,
        principal,
        line_id,
        lambda s, c, e, m: s.restrict(c, e, m, body.reason, body.note),
    )


@router.post("/lines/{line_id}/unrestrict", response_model=LineOut, summary="Lift an outgoing bar")
def unrestrict(
    line_id: LineId, body: NoteIn, request: Request, rt: RuntimeDep, principal: LineOperator
) -> LineOut:
    """Restore outgoing service."""
    return _operate(
        request,
        rt,
        principal,
        line_id,
        lambda s, c, e, m: s.unrestrict(c, e, m, body.note),
    )


@router.post("/lines/{line_id}/report-lost", response_model=LineOut, summary="Report a line lost")
def report_lost(
    line_id: LineId,
    request: Request,
    rt: RuntimeDep,
    principal: LostReporter,
    body: Annotated[ReportLostIn | None, Body()] = None,
) -> LineOut:
    """Bar a lost phone at once; service returns with a SIM replacement for the owner.

    An enterprise admin (the back office) may bar any line of its enterprise. A clerk may only
    at an active own or partner hall, with the owner present: `owner` (document and name) must
    match the line's registered owner."""
    if principal.role is not Role.CLERK:  # the back office (REPORT_LOST comes with OPERATE)
        return _operate(request, rt, principal, line_id, lambda s, c, e, m: s.report_lost(c, e, m))
    desk = clerk_of(principal)
    if body is None or body.owner is None:
        raise ApiError(
            403,
            "PERMISSION_DENIED",
            "A clerk reports a line lost only with its owner present: send owner.",
            "营业员办理挂失须机主本人到场：请提供 owner。",
        )
    owner = body.owner
    return _operate(
        request,
        rt,
        principal,
        line_id,
        lambda s, c, e, m: s.report_lost_at_counter(
            c,
            desk=desk,
            msisdn=m,
            owner=person_at(s, c, desk.channel_id, owner),
        ),
    )


@router.post("/lines/{line_id}/cancel", response_model=LineOut, summary="Cancel a line")
def cancel(
    line_id: LineId, body: CancelIn, request: Request, rt: RuntimeDep, principal: LineCanceller
) -> LineOut:
    """End service: the owner's link closes and the number cools down before reissue.

    An enterprise admin (the back office) may cancel any line of its enterprise. A clerk may
    only at an active own or partner hall, with the owner present: `owner` (document and name)
    must match the line's registered owner."""
    if principal.role is not Role.CLERK:
        return _operate(
            request,
            rt,
            principal,
            line_id,
            lambda s, c, e, m: s.cancel(c, e, m, TypedText(body.reason)),
        )
    desk = clerk_of(principal)
    if body.owner is None:
        raise ApiError(
            403,
            "PERMISSION_DENIED",
            "A clerk cancels a line only with its owner present: send owner.",
            "营业员办理销户须机主本人到场：请提供 owner。",
        )
    owner = body.owner
    return _operate(
        request,
        rt,
        principal,
        line_id,
        lambda s, c, e, m: s.cancel_at_counter(
            c,
            desk=desk,
            msisdn=m,
            owner=person_at(s, c, desk.channel_id, owner),
            reason=TypedText(body.reason),
        ),
    )


@router.post("/lines/{line_id}/release", response_model=LineOut, summary="Return a cooled number")
def release(line_id: LineId, request: Request, rt: RuntimeDep, principal: LineOperator) -> LineOut:
    """Return a number whose cooling period is over to the enterprise's pool."""
    return _operate(
        request,
        rt,
        principal,
        line_id,
        lambda s, c, e, m: s.release(c, e, m),
    )


@router.post(
    "/lines/{line_id}/reverification-requests",
    response_model=LineOut,
    summary="Ask the owner to re-verify (二次实名)",
)
def request_reverification(
    line_id: LineId, body: ReasonIn, request: Request, rt: RuntimeDep, principal: LineOperator
) -> LineOut:
    """Start the re-verification deadline (24 hours in China); then the line is suspended."""
    return _operate(
        request,
        rt,
        principal,
        line_id,
        lambda s, c, e, m: s.request_reverification(c, e, m, TypedText(body.reason)),
    )


@router.post(
    "/lines/{line_id}/reverification-answers",
    response_model=LineOut,
    summary="The owner re-verifies at a counter",
)
def answer_reverification(
    line_id: LineId,
    body: CounterOwnerIn,
    request: Request,
    rt: RuntimeDep,
    counter: Annotated[
        Counter, Security(AtCounter(Permission.REGISTER, role_first=True), scopes=[WRITE])
    ],
) -> LineOut:
    """The owner shows the document again at the clerk's counter; an overdue suspension is
    lifted."""
    desk = counter.desk
    return _operate(
        request,
        rt,
        counter.principal,
        line_id,
        lambda s, c, e, m: s.answer_reverification(
            c,
            desk=desk,
            msisdn=m,
            owner=person_at(s, c, desk.channel_id, body.owner),
        ),
    )


def _self_service(
    request: Request,
    rt: Runtime,
    principal: Principal,
    line_id: int,
    act: Callable[[RegistryService, Context, int, str], Any],
) -> LineOut:
    """A subscriber's operation on the one line its token is bound to (the network's
    authentication, `amr: network`, or a one-time code sent to it, `amr: otp`), while the owner
    who proved it still holds it. A token bound to no line may do nothing here; another line,
    or a line that changed hands since, reads as missing."""
    if principal.line_id is None:
        raise ApiError(
            403,
            "PERMISSION_DENIED",
            "A subscriber acts only on the line its token is bound to (network authentication "
            "or a one-time code sent to it).",
            "用户只能操作其令牌所绑定的号码（须经移动网络认证或该号码收到的验证码）。",
        )
    if not principal.holds_line(line_id):
        raise RegistryError(RegistryErrorCode.LINE_NOT_FOUND)
    with rt.transaction() as session:
        line = session.get(Line, line_id)
        if (
            line is None
            or principal.enterprise_id not in (None, line.enterprise_id)
            or not principal.stands_for(line.owner_identity_id, line.owner_since)
        ):
            raise RegistryError(RegistryErrorCode.LINE_NOT_FOUND)
        act(
            rt.service(RegistryService, session),
            context_of(principal, request),
            line.enterprise_id,
            line.msisdn,
        )
        return line_out(rt, session, line)


@router.post("/lines/{line_id}/lock", response_model=LineOut, summary="Owner locks the line")
def lock(
    line_id: LineId, body: OwnerProofIn, request: Request, rt: RuntimeDep, principal: Subscriber
) -> LineOut:
    """Lock the line by its verified owner (self-service): the token must be bound to this
    line (network authentication or a one-time code), and `owner` must match the registered
    owner."""
    return _self_service(
        request, rt, principal, line_id, lambda s, c, e, m: s.lock(c, e, m, body.owner.to_person())
    )


@router.post("/lines/{line_id}/unlock", response_model=LineOut, summary="Owner unlocks the line")
def unlock(
    line_id: LineId, body: OwnerProofIn, request: Request, rt: RuntimeDep, principal: Subscriber
) -> LineOut:
    """Lift a remote lock; only the verified owner, holding the line, can."""
    return _self_service(
        request,
        rt,
        principal,
        line_id,
        lambda s, c, e, m: s.unlock(c, e, m, body.owner.to_person()),
    )


@router.post(
    "/lines/{line_id}/sim-replacements",
    status_code=201,
    response_model=LineOut,
    summary="Replace the SIM for the verified owner",
)
def replace_sim(
    line_id: LineId,
    body: SimReplacementIn,
    request: Request,
    rt: RuntimeDep,
    counter: ClerkAtCounter,
) -> JSONResponse:
    """A new SIM card for the same number; the swap time is recorded (CAMARA SIM Swap)."""
    principal = counter.principal
    desk = counter.desk

    def work(session: Session) -> LineOut:
        line = visible_line(session, principal, line_id)
        registry = rt.service(RegistryService, session)
        registry.replace_sim(
            counter.ctx,
            desk=desk,
            msisdn=line.msisdn,
            owner=person_at(registry, counter.ctx, desk.channel_id, body.owner),
            iccid=body.iccid,
            imsi=body.imsi,
        )
        return line_out(rt, session, line)

    return run_once(request, rt, principal, body, 201, work)


@router.post(
    "/lines/{line_id}/transfers",
    status_code=201,
    response_model=LineOut,
    summary="Transfer the line to another person",
)
def transfer(
    line_id: LineId, body: TransferIn, request: Request, rt: RuntimeDep, counter: ClerkAtCounter
) -> JSONResponse:
    """Both parties verified at the counter; the receiver's caps apply."""
    principal = counter.principal
    desk = counter.desk

    def work(session: Session) -> LineOut:
        line = visible_line(session, principal, line_id)
        registry = rt.service(RegistryService, session)
        registry.transfer(
            counter.ctx,
            desk=desk,
            msisdn=line.msisdn,
            owner=person_at(registry, counter.ctx, desk.channel_id, body.owner),
            receiver=person_at(registry, counter.ctx, desk.channel_id, body.receiver),
        )
        return line_out(rt, session, line)

    return run_once(request, rt, principal, body, 201, work)
