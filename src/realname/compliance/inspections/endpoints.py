"""The secret inspections under /v1/regulator/inspections: rounds, their plans, assignments,
visits, test purchases and their check against the registry, violation rates."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field
from sqlalchemy.orm import Session

from realname.compliance.inspections.access import ComplianceReader, Inspector, Planner, acting
from realname.compliance.inspections.evidence import EvidenceStore
from realname.compliance.inspections.models import (
    InspectionRound,
    InspectionVisit,
    TestPurchase,
)
from realname.compliance.inspections.places import province_name
from realname.compliance.inspections.schemas import (
    AssignedOut,
    AssignIn,
    EvidenceOut,
    PlanOut,
    PurchaseIn,
    PurchaseOut,
    RateOut,
    RoundIn,
    RoundOut,
    TargetOut,
    VisitIn,
    VisitOut,
)
from realname.compliance.inspections.service import (
    EvidenceFile,
    InspectionService,
    PurchaseSpec,
    RoundSpec,
    VisitSpec,
)
from realname.compliance.reads import audit_figure_read
from realname.http.deps import Runtime, RuntimeDep
from realname.http.errors import refusals
from realname.http.idempotency import run_once
from realname.numbering.msisdn import mask_msisdn

router = APIRouter(
    prefix="/v1/regulator/inspections",
    tags=["compliance"],
    responses=refusals(
        {
            404: "No such round, outlet, visit or purchase for this caller",
            409: "Refused: already done, or not yet possible",
            422: "Refused by the rules (REALNAME.* code)",
        }
    ),
)
RoundId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The round's id")]
VisitId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The visit's id")]


def service(rt: Runtime, session: Session) -> InspectionService:
    return InspectionService(session, rt.keyring, EvidenceStore(FilePath(rt.settings.evidence_dir)))


def round_out(row: InspectionRound) -> RoundOut:
    return RoundOut(
        id=row.id,
        code=row.code,
        name=row.name,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        scope={k: list(v) for k, v in row.scope.items()},
        province=row.province,
        margin=row.margin,
        confidence=row.confidence,
        expected_rate=row.expected_rate,
        min_per_stratum=row.min_per_stratum,
        seed=row.seed,
        population=row.population,
        target_size=row.target_size,
        planned_at=row.planned_at,
    )


def visit_out(svc: InspectionService, visit: InspectionVisit) -> VisitOut:
    return VisitOut(
        id=visit.id,
        target_id=visit.target_id,
        inspector=visit.inspector,
        visited_at=visit.visited_at,
        place_region=visit.place_region,
        latitude=visit.latitude,
        longitude=visit.longitude,
        outcome=visit.outcome,
        violation=visit.violation,
        evidence=[
            EvidenceOut(sha256=e.sha256, size=e.size, media_type=e.media_type)
            for e in svc.repo.evidence_of(visit.id)
        ],
    )


def purchase_out(p: TestPurchase) -> PurchaseOut:
    return PurchaseOut(
        id=p.id,
        visit_id=p.visit_id,
        msisdn_masked=mask_msisdn(p.msisdn),
        bought_at=p.bought_at,
        with_document=p.buyer_number_index is not None,
        checked_at=p.checked_at,
        finding=p.finding,
        violation=p.violation,
        line_id=p.line_id,
        registration_event_id=p.registration_event_id,
        registered_channel_id=p.registered_channel_id,
        registered_clerk_id=p.registered_clerk_id,
        registered_at=p.registered_at,
        document_type=p.document_type,
        entry_method=p.entry_method,
    )


def plan_out(svc: InspectionService, row: InspectionRound, inspector: str | None) -> PlanOut:
    targets = [
        TargetOut(
            id=t.id,
            channel_id=t.channel_id,
            channel=channel,
            enterprise=enterprise,
            channel_kind=t.channel_kind,
            province=t.province,
            province_name=province_name(t.province),
            inspector=t.inspector,
            visit_id=visit_id,
            outcome=outcome,
            violation=violation,
        )
        for t, channel, enterprise, visit_id, outcome, violation in svc.repo.targets(row.id)
        if inspector is None or t.inspector == inspector
    ]
    return PlanOut(round=round_out(row), targets=targets)


@router.post("/rounds", status_code=201, response_model=RoundOut, summary="Create a round")
def create_round(body: RoundIn, request: Request, rt: RuntimeDep, who: Planner) -> JSONResponse:
    """A round of secret inspections: its dates, the outlets it covers (enterprises, channel
    kinds, provinces; empty means all), the precision its sample is sized for and the seed
    its plan is drawn from. A provincial administration's rounds cover its province."""
    by = acting(who, request)
    spec = RoundSpec(
        code=body.code,
        name=body.name,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        seed=body.seed,
        enterprises=body.enterprises,
        kinds=[str(k) for k in body.kinds],
        provinces=body.provinces,
        margin=body.margin,
        confidence=body.confidence,
        expected_rate=body.expected_rate,
        min_per_stratum=body.min_per_stratum,
    )

    def work(session: Session) -> RoundOut:
        return round_out(service(rt, session).create_round(by, spec))

    return run_once(request, rt, who, body, 201, work)


@router.get("/rounds", response_model=list[RoundOut], summary="List rounds")
def list_rounds(request: Request, rt: RuntimeDep, who: ComplianceReader) -> list[RoundOut]:
    """Every round this caller may see, by start date (a province: its own)."""
    by = acting(who, request)
    with rt.transaction(readonly=True) as session:
        return [round_out(r) for r in service(rt, session).rounds(by)]


@router.get("/rounds/{round_id}", response_model=RoundOut, summary="One round")
def get_round(
    round_id: RoundId, request: Request, rt: RuntimeDep, who: ComplianceReader
) -> RoundOut:
    by = acting(who, request)
    with rt.transaction(readonly=True) as session:
        return round_out(service(rt, session).round(by, round_id))


@router.post(
    "/rounds/{round_id}/plan", status_code=201, response_model=PlanOut, summary="Draw the plan"
)
def draw_plan(round_id: RoundId, request: Request, rt: RuntimeDep, who: Planner) -> PlanOut:
    """Draw the round's outlets: a stratified random sample (enterprise × channel kind ×
    province), sized for the round's precision with the finite-population correction,
    allocated in proportion with a minimum per stratum, drawn from the round's seed. Drawn
    once; the same seed on the same outlets draws the same plan."""
    by = acting(who, request)
    with rt.transaction() as session:
        svc = service(rt, session)
        svc.plan(by, round_id)
        return plan_out(svc, svc.round(by, round_id), None)


@router.get("/rounds/{round_id}/plan", response_model=PlanOut, summary="The round's plan")
def get_plan(round_id: RoundId, request: Request, rt: RuntimeDep, who: ComplianceReader) -> PlanOut:
    """The outlets drawn, with their inspector and visit; an inspector sees only the outlets
    assigned to it (the others stay secret from it too)."""
    by = acting(who, request)
    with rt.transaction(readonly=True) as session:
        svc = service(rt, session)
        return plan_out(svc, svc.round(by, round_id), by.inspector)


@router.post(
    "/rounds/{round_id}/assignments",
    response_model=AssignedOut,
    summary="Assign outlets to an inspector",
)
def assign(
    round_id: RoundId, body: AssignIn, request: Request, rt: RuntimeDep, who: Planner
) -> AssignedOut:
    """Give outlets of the plan to an inspector (an active `regulator_inspector` client);
    without `target_ids`, every outlet not yet assigned."""
    by = acting(who, request)
    ids = None if body.target_ids is None else list(body.target_ids)
    with rt.transaction() as session:
        chosen = service(rt, session).assign(by, round_id, body.inspector, ids)
        return AssignedOut(inspector=body.inspector, target_ids=[t.id for t in chosen])


@router.post(
    "/rounds/{round_id}/visits", status_code=201, response_model=VisitOut, summary="Record a visit"
)
def record_visit(
    round_id: RoundId, body: VisitIn, request: Request, rt: RuntimeDep, who: Inspector
) -> JSONResponse:
    """What the inspector found at an outlet assigned to it: the outcome (a fixed
    vocabulary), when and where, and evidence files, stored by their SHA-256 outside the
    database. One visit per outlet."""
    by = acting(who, request)
    spec = VisitSpec(
        target_id=body.target_id,
        visited_at=body.visited_at,
        place_region=body.place_region,
        outcome=body.outcome,
        latitude=body.latitude,
        longitude=body.longitude,
        evidence=[EvidenceFile(e.content_base64, e.media_type, e.sha256) for e in body.evidence],
    )

    def work(session: Session) -> VisitOut:
        svc = service(rt, session)
        return visit_out(svc, svc.record_visit(by, round_id, spec))

    return run_once(request, rt, who, body, 201, work)


@router.get("/rounds/{round_id}/visits/{visit_id}", response_model=VisitOut, summary="One visit")
def get_visit(
    round_id: RoundId, visit_id: VisitId, request: Request, rt: RuntimeDep, who: ComplianceReader
) -> VisitOut:
    by = acting(who, request)
    with rt.transaction(readonly=True) as session:
        svc = service(rt, session)
        return visit_out(svc, svc.visit(by, round_id, visit_id))


@router.get(
    "/rounds/{round_id}/visits/{visit_id}/evidence/{sha256}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
    summary="An evidence file",
)
def get_evidence(
    round_id: RoundId,
    visit_id: VisitId,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="The file's SHA-256")],
    request: Request,
    rt: RuntimeDep,
    who: ComplianceReader,
) -> Response:
    """The file as the inspector attached it, with its media type; verified against its hash
    before it is sent."""
    by = acting(who, request)
    with rt.transaction(readonly=True) as session:
        row, content = service(rt, session).evidence(by, round_id, visit_id, sha256)
    return Response(
        content,
        media_type=row.media_type,
        headers={"Content-Disposition": f'attachment; filename="{sha256}"'},
    )


@router.post(
    "/rounds/{round_id}/purchases",
    status_code=201,
    response_model=PurchaseOut,
    summary="Record a test purchase",
)
def record_purchase(
    round_id: RoundId, body: PurchaseIn, request: Request, rt: RuntimeDep, who: Inspector
) -> JSONResponse:
    """The line the inspector bought at a visited outlet, when, and the document it showed
    (kept only as the registry's blind index), or none if the outlet did not ask for one."""
    by = acting(who, request)
    spec = PurchaseSpec(
        visit_id=body.visit_id,
        msisdn=body.msisdn,
        bought_at=body.bought_at,
        document_number=body.document_number,
        document_type=body.document_type,
    )

    def work(session: Session) -> PurchaseOut:
        return purchase_out(service(rt, session).record_purchase(by, round_id, spec))

    return run_once(request, rt, who, body, 201, work)


@router.get(
    "/rounds/{round_id}/purchases", response_model=list[PurchaseOut], summary="Test purchases"
)
def list_purchases(
    round_id: RoundId, request: Request, rt: RuntimeDep, who: ComplianceReader
) -> list[PurchaseOut]:
    by = acting(who, request)
    with rt.transaction(readonly=True) as session:
        return [purchase_out(p) for p in service(rt, session).purchases(by, round_id)]


@router.post(
    "/rounds/{round_id}/purchase-checks",
    response_model=list[PurchaseOut],
    summary="Check the test purchases against the registry",
)
def check_purchases(
    round_id: RoundId, request: Request, rt: RuntimeDep, who: Planner
) -> list[PurchaseOut]:
    """Trace each unchecked purchase of the round through the registry: who the line is
    registered to (the inspector's document or someone else's), by which channel and clerk,
    when (before the sale: pre-activated). A violating finding makes the visit a violation,
    proven by the registry's own record."""
    by = acting(who, request)
    with rt.transaction() as session:
        return [purchase_out(p) for p in service(rt, session).check_purchases(by, round_id)]


@router.get("/rates", response_model=list[RateOut], summary="Violation rates")
def rates(
    request: Request,
    rt: RuntimeDep,
    who: ComplianceReader,
    round_id: Annotated[
        list[Annotated[int, Field(ge=1, le=2**31 - 1)]],
        Query(min_length=1, max_length=50, description="Rounds"),
    ],
    by: Annotated[Literal["enterprise", "kind", "province"], Query()] = "enterprise",
) -> list[RateOut]:
    """Violation rates per round and enterprise, channel kind or province, each with its
    Wilson 95 % interval: rounds side by side compare over time. Each read is audited."""
    who_acts = acting(who, request)
    with rt.transaction() as session:
        rows = service(rt, session).rates(who_acts, round_id, by)
        rounds = ",".join(str(r) for r in round_id)
        audit_figure_read(
            session, rt.keyring, who_acts.ctx, "inspection_rates", who_acts.province,
            rounds=rounds, by=by,
        )  # fmt: skip
    return [
        RateOut(
            round_id=r.round_id,
            group=province_name(r.group) if by == "province" else r.group,
            kind=r.kind,
            inspected=r.rate.n,
            violations=r.rate.hits,
            violation_rate=r.rate.rate,
            violation_rate_low=r.rate.low,
            violation_rate_high=r.rate.high,
        )
        for r in rows
    ]
