"""Complaints over HTTP under /v1/complaints: the complaint centre takes them (one by one or
a CSV file) and closes its cases; the regulator reads every case and the counts; an
enterprise reads the cases traced to its lines and the lines flagged for their owner."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Security
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from realname.compliance.complaints.errors import ComplaintError, ComplaintErrorCode
from realname.compliance.complaints.models import Complaint
from realname.compliance.complaints.schemas import (
    CloseIn,
    ComplaintCaseIn,
    ComplaintCaseOut,
    ComplaintCountOut,
    ComplaintFileIn,
    FlagOut,
    ImportOut,
    RefusedRow,
)
from realname.compliance.complaints.service import ComplaintService, Intake
from realname.compliance.reads import audit_figure_read
from realname.http.deps import RuntimeDep
from realname.http.errors import refusals
from realname.http.idempotency import run_once
from realname.http.principals import READ, Allowed, context_of
from realname.numbering.msisdn import mask_msisdn
from realname.security.principals import Permission, Principal

COMPLAINTS = "complaints:write"
Taker = Annotated[Principal, Security(Allowed(Permission.TAKE_COMPLAINTS), scopes=[COMPLAINTS])]
# The centre, the regulator and an enterprise's staff (its own cases only).
CaseReader = Annotated[
    Principal,
    Security(
        Allowed(Permission.TAKE_COMPLAINTS, Permission.ENFORCE, Permission.OPERATE),
        scopes=[READ],
    ),
]
# Flags name lines: the regulator and the enterprise holding them, not the centre.
FlagReader = Annotated[
    Principal, Security(Allowed(Permission.ENFORCE, Permission.OPERATE), scopes=[READ])
]

router = APIRouter(
    prefix="/v1",
    tags=["complaints"],
    responses=refusals(
        {
            404: "No such complaint for this caller",
            409: "Refused: a duplicate, or the case is closed",
            422: "Refused by the rules (REALNAME.* code)",
        }
    ),
)
ComplaintId = Annotated[int, Path(ge=1, le=2**62, description="The complaint's id")]


def complaint_out(complaint: Complaint) -> ComplaintCaseOut:
    return ComplaintCaseOut(
        id=complaint.id,
        category=complaint.category,
        msisdn=mask_msisdn(complaint.msisdn),
        occurred_at=complaint.occurred_at,
        received_at=complaint.received_at,
        status=complaint.status,
        outcome=complaint.outcome,
        line_id=complaint.line_id,
        enterprise_id=complaint.enterprise_id,
        channel_id=complaint.channel_id,
        clerk_id=complaint.clerk_id,
        owner_traced=complaint.owner_identity_id is not None,
    )


DAY = r"^\d{4}-\d{2}-\d{2}$"


def _day(text: str | None) -> datetime | None:
    """A day (YYYY-MM-DD) as its first instant in UTC."""
    if text is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
    except ValueError:
        raise ComplaintError(ComplaintErrorCode.DAY_INVALID) from None


def _scope(principal: Principal) -> int | None:
    """An enterprise's caller sees its own enterprise's cases; the centre and the regulator
    see all."""
    return principal.enterprise_id


@router.post(
    "/complaints", status_code=201, response_model=ComplaintCaseOut, summary="Take a complaint"
)
def take_complaint(
    body: ComplaintCaseIn, request: Request, rt: RuntimeDep, principal: Taker
) -> JSONResponse:
    """A complaint about a number: its category, the instant of the call or message and the
    content's SHA-256 (never the content). It is traced to the line's owner at that instant,
    the enterprise and the channel and clerk that sold it, and acted on: a cluster asks the
    owner to re-verify, "not mine" suspends the line for a check and frees the cap slot of
    the person it was registered to, a repeat offender's other lines are flagged."""

    def work(session: Session) -> ComplaintCaseOut:
        intake = Intake(
            body.category, body.msisdn, body.occurred_at, body.content_sha256, body.centre_ref
        )
        complaint = rt.service(ComplaintService, session).take(
            context_of(principal, request), intake
        )
        return complaint_out(complaint)

    return run_once(request, rt, principal, body, 201, work)


@router.post("/complaint-imports", response_model=ImportOut, summary="Take a file of complaints")
def import_complaints(
    body: ComplaintFileIn, request: Request, rt: RuntimeDep, principal: Taker
) -> ImportOut:
    """A CSV file from the complaint centre (header
    `category,msisdn,occurred_at,content_sha256,centre_ref`): every good row lands, every bad
    one is reported with its line number and code."""
    with rt.transaction() as session:
        report = rt.service(ComplaintService, session).import_csv(
            context_of(principal, request), body.csv.encode("utf-8")
        )
        data = report.as_dict()
        return ImportOut(
            import_id=data["import_id"],
            rows=data["rows"],
            accepted=data["accepted"],
            complaint_ids=data["complaint_ids"],
            refused=[RefusedRow(**r) for r in data["refused"]],
        )


@router.get("/complaints", response_model=list[ComplaintCaseOut], summary="List complaints")
def list_complaints(
    rt: RuntimeDep,
    principal: CaseReader,
    status: Annotated[str | None, Query(pattern="^(open|traced|acted|closed)$")] = None,
    after_id: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ComplaintCaseOut]:
    """Cases in id order (page with `after_id`); an enterprise sees those traced to its lines."""
    with rt.transaction(readonly=True) as session:
        service = rt.service(ComplaintService, session)
        return [
            complaint_out(c) for c in service.complaints(_scope(principal), status, limit, after_id)
        ]


@router.get(
    "/complaints/counts",
    response_model=list[ComplaintCountOut],
    summary="Complaints per enterprise and channel",
)
def complaint_counts(
    request: Request,
    rt: RuntimeDep,
    principal: CaseReader,
    since: Annotated[str | None, Query(pattern=DAY, description="From this day (UTC)")] = None,
    until: Annotated[str | None, Query(pattern=DAY, description="Before this day (UTC)")] = None,
) -> list[ComplaintCountOut]:
    """Traced complaints received from `since` to before `until` (days, UTC), by category,
    per enterprise and the channel that sold the line (an enterprise sees its own rows).
    Each read is audited."""
    start, end = _day(since), _day(until)
    with rt.transaction() as session:
        service = rt.service(ComplaintService, session)
        own = _scope(principal)
        rows = service.report(start, end, own)  # an enterprise's own rows, in the query
        ctx = context_of(principal, request)
        audit_figure_read(
            session,
            rt.keyring,
            ctx,
            "complaint_counts",
            None,  # all provinces
            own,  # an enterprise's own rows: the scope the entry names
            since=since,
            until=until,
        )
        return [ComplaintCountOut(**r) for r in rows]


@router.get("/complaints/flags", response_model=list[FlagOut], summary="Flagged lines")
def flagged_lines(rt: RuntimeDep, principal: FlagReader) -> list[FlagOut]:
    """Lines whose owner complaints trace as a repeat offender, for their enterprise to check."""
    with rt.transaction(readonly=True) as session:
        return [
            FlagOut(
                line_id=f.line_id,
                enterprise_id=f.enterprise_id,
                complaint_id=f.complaint_id,
                reason=f.reason,
                flagged_at=f.flagged_at,
            )
            for f in rt.service(ComplaintService, session).flags(_scope(principal))
        ]


@router.get(
    "/complaints/{complaint_id}", response_model=ComplaintCaseOut, summary="Read a complaint"
)
def read_complaint(
    complaint_id: ComplaintId, rt: RuntimeDep, principal: CaseReader
) -> ComplaintCaseOut:
    """One case: its trace, status and outcome (another enterprise's case is not found)."""
    with rt.transaction(readonly=True) as session:
        service = rt.service(ComplaintService, session)
        return complaint_out(service.complaint(complaint_id, _scope(principal)))


@router.post(
    "/complaints/{complaint_id}/close", response_model=ComplaintCaseOut, summary="Close a complaint"
)
def close_complaint(
    complaint_id: ComplaintId, body: CloseIn, request: Request, rt: RuntimeDep, principal: Taker
) -> ComplaintCaseOut:
    """The case ends with its outcome (a code, e.g. `resolved`, `no_violation`)."""
    with rt.transaction() as session:
        service = rt.service(ComplaintService, session)
        return complaint_out(
            service.close(context_of(principal, request), complaint_id, body.outcome)
        )
