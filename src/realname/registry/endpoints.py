"""The operator API under /v1: one endpoint per lifecycle operation, plus reads.

Lines are addressed by their id in URLs; a phone number is looked up through a POST body, so
no MSISDN or document number ever appears in a URL, an access log or a proxy's cache key.
Every line an enterprise cannot see answers 404, exactly like a line that does not exist.

Over 600 lines: one route per lifecycle operation of a line, all standing on `_operate` and
`visible_line` (one tenant check); a file per operation would scatter that one check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Security
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from realname.http.deps import Runtime, RuntimeDep
from realname.http.errors import ApiError, refusals
from realname.http.idempotency import run_once
from realname.http.params import ChannelId, LineId, ListLimit, NumberEnding
from realname.http.principals import (
    WRITE,
    AtCounter,
    ClerkAtCounter,
    Counter,
    EnterpriseOperator,
    EnterpriseQuery,
    LineCanceller,
    LineOperator,
    LineReader,
    LostReporter,
    OwnerRevealer,
    Subscriber,
    clerk_of,
    context_of,
    enterprise_of,
    enterprise_to_read,
)
from realname.registry.cardreads.endpoints import person_at
from realname.registry.commands import Context, Kit, TypedText
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.guards import e164_of
from realname.registry.identities import masked_owner
from realname.registry.models import Line, LineEvent
from realname.registry.repository import RegistryRepository
from realname.registry.schemas import (
    BarIn,
    CancelIn,
    CounterOwnerIn,
    EventOut,
    IdentityLineOut,
    IdentityLinesIn,
    LineLookupIn,
    LineOut,
    NoteIn,
    OwnerOut,
    OwnerProofIn,
    OwnerRevealedOut,
    OwnerRevealIn,
    ReasonIn,
    ReportLostIn,
    SimReplacementIn,
    StockIn,
    StockOut,
    TransferIn,
)
from realname.registry.service import RegistryService
from realname.security.principals import Permission, Principal, Role

REFUSALS = refusals(
    {
        404: "No such line for this caller",
        409: "Refused: state, cap or conflict",
        422: "Refused by the rules (REALNAME.* code)",
    }
)
router = APIRouter(prefix="/v1", tags=["registry"], responses=REFUSALS)


def visible_line(session: Session, principal: Principal, line_id: int) -> Line:
    line = session.get(Line, line_id)
    if line is None or not principal.sees_enterprise(line.enterprise_id):
        raise RegistryError(RegistryErrorCode.LINE_NOT_FOUND)
    return line


def line_out(rt: Runtime, session: Session, line: Line) -> LineOut:
    masked = masked_owner(session, rt.keyring, line)
    owner = (
        None
        if masked is None
        else OwnerOut(
            document_type=masked.document_type,
            document_number=masked.document_number,
            name=masked.name,
        )
    )
    return LineOut(
        id=line.id,
        msisdn=line.msisdn,
        enterprise_id=line.enterprise_id,
        state=line.state,
        channel_id=line.channel_id,
        barring_reason=line.barring_reason,
        owner=owner,
        activated_at=line.activated_at,
        owner_since=line.owner_since,
        sim_changed_at=line.sim_changed_at,
        reverify_deadline=line.reverify_deadline,
        cooling_until=line.cooling_until,
    )


# --- registration and stock ------------------------------------------------------------------


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


# --- reads -----------------------------------------------------------------------------------


@router.post("/lines/lookup", response_model=LineOut, summary="Find a line by phone number")
def lookup(body: LineLookupIn, rt: RuntimeDep, principal: LineReader) -> LineOut:
    """The line with this number, owner masked (404 when it is not the caller's)."""
    with rt.transaction() as session:
        line = RegistryRepository(session).line(e164_of(body.msisdn))
        if line is None or not principal.sees_enterprise(line.enterprise_id):
            raise RegistryError(RegistryErrorCode.LINE_NOT_FOUND)
        return line_out(rt, session, line)


@router.get("/lines/{line_id:id}", response_model=LineOut, summary="Read a line")
def read_line(line_id: LineId, rt: RuntimeDep, principal: LineReader) -> LineOut:
    """A line's current state, owner masked."""
    with rt.transaction() as session:
        return line_out(rt, session, visible_line(session, principal, line_id))


@router.get("/lines/{line_id}/history", response_model=list[EventOut], summary="A line's history")
def history(line_id: LineId, rt: RuntimeDep, principal: LineReader) -> list[EventOut]:
    """Every state change of the line, oldest first (who, where, when, why)."""
    with rt.transaction() as session:
        line = visible_line(session, principal, line_id)
        return [event_out(e) for e in RegistryRepository(session).events_of(line.id)]


def event_out(event: LineEvent) -> EventOut:
    return EventOut(
        seq=event.seq,
        operation=event.operation,
        from_state=event.from_state,
        to_state=event.to_state,
        owner_changed=event.owner_before_id != event.owner_after_id,
        channel_id=event.channel_id,
        actor=event.actor,
        reason=event.reason,
        occurred_at=event.occurred_at,
    )


@router.post(
    "/lines/{line_id}/owner",
    response_model=OwnerRevealedOut,
    summary="Reveal a line's owner in clear (audited)",
)
def reveal_owner(
    line_id: LineId,
    body: OwnerRevealIn,
    request: Request,
    rt: RuntimeDep,
    principal: OwnerRevealer,
) -> OwnerRevealedOut:
    """The owner's full name and document number, now or at a past instant (fraud tracing).
    Only roles that need it may ask; each read is audited with its purpose."""
    at = body.at or rt.clock.now()
    with rt.transaction() as session:
        line = visible_line(session, principal, line_id)
        owner = rt.service(RegistryService, session).identities.reveal_owner(
            context_of(principal, request), line, at, body.purpose
        )
        if owner is None:
            return OwnerRevealedOut(line_id=line.id, at=at, owned=False)
        return OwnerRevealedOut(
            line_id=line.id,
            at=at,
            owned=True,
            identity_id=owner.identity_id,
            document_type=owner.document_type,
            document_number=owner.document_number,
            name=owner.name,
            nationality=owner.nationality,
            birth_date=owner.birth_date,
            sex=owner.sex,
            purged=owner.purged,
        )


@router.post(
    "/identities/lines",
    response_model=list[IdentityLineOut],
    summary="Lines of an identity within the caller's enterprise",
)
def identity_lines(
    body: IdentityLinesIn, rt: RuntimeDep, principal: LineReader
) -> list[IdentityLineOut]:
    """Which of the caller's lines (all enterprises, for a regulator) this document holds."""
    scope = None if principal.can(Permission.READ_ALL_ENTERPRISES) else enterprise_of(principal)
    with rt.transaction() as session:
        from realname.registry.commands import Person

        person = Person(
            document_number=body.document.number,
            name="",
            document_type=body.document.type,
            nationality=body.document.nationality,
        )
        return [
            IdentityLineOut(
                line_id=line.id, msisdn=line.msisdn, enterprise_id=e.id, state=line.state
            )
            for line, e in rt.service(RegistryService, session).identities.lines_of(
                person, enterprise_id=scope
            )
        ]


@router.get(
    "/channels/{channel_id}/stock", response_model=list[LineOut], summary="A channel's stock"
)
def channel_stock(
    channel_id: ChannelId,
    rt: RuntimeDep,
    principal: LineReader,
    limit: ListLimit = 1000,
    ending: NumberEnding = None,
) -> list[LineOut]:
    """SIM kits in stock at the channel, in number order, at most `limit` (a clerk sees only
    its own channel). How many there are in all: `GET /v1/stock/summary`."""
    if principal.role is Role.CLERK and principal.channel_id != channel_id:
        raise ApiError(403, "PERMISSION_DENIED", "A clerk sees only its own channel's stock.")
    with rt.transaction() as session:
        channel = RegistryRepository(session).channel(channel_id)
        if channel is None or not principal.sees_enterprise(channel.enterprise_id):
            raise RegistryError(RegistryErrorCode.CHANNEL_NOT_FOUND)
        return [
            line_out(rt, session, line)
            for line in RegistryRepository(session).stock_of(channel_id, limit, ending)
        ]


@router.get(
    "/lines/reverification-queue",
    response_model=list[LineOut],
    summary="Lines whose owner must re-verify (二次实名)",
)
def reverification_queue(
    rt: RuntimeDep,
    principal: LineReader,
    limit: ListLimit = 100,
    enterprise_id: EnterpriseQuery = None,
) -> list[LineOut]:
    """The enterprise's lines with a re-verification pending, soonest deadline first (at most
    `limit`), owners masked; a regulator names the enterprise."""
    enterprise = enterprise_to_read(principal, enterprise_id)
    with rt.transaction(readonly=True) as session:
        lines = RegistryRepository(session).reverification_queue(enterprise, limit)
        return [line_out(rt, session, line) for line in lines]


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
