"""The enforcement ladder over HTTP: the regulator's decisions under
/v1/regulator/enforcement, an enterprise's own actions (deadlines, appeals, rectification
reports) under /v1/enforcement."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Security
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from realname.compliance.enforcement.ladder import RoundResult
from realname.compliance.enforcement.models import EnforcementAction, EnforcementProposal
from realname.compliance.enforcement.schemas import (
    AcceptIn,
    ActionIn,
    ActionOut,
    AppealDecisionIn,
    ConsequenceOut,
    Evidence,
    EvidenceRefIn,
    FollowUpIn,
    ProposalOut,
    RoundsIn,
    TextIn,
)
from realname.compliance.enforcement.service import EnforcementService, NewAction
from realname.http.deps import RuntimeDep
from realname.http.errors import refusals
from realname.http.idempotency import run_once
from realname.http.principals import (
    READ,
    WRITE,
    Allowed,
    EnterpriseStaff,
    Staff,
    context_of,
)
from realname.security.principals import Permission, Principal

ENFORCEMENT = "enforcement:write"
Officer = Annotated[Principal, Security(Allowed(Permission.ENFORCE), scopes=[ENFORCEMENT])]
OfficerReading = Annotated[Principal, Security(Allowed(Permission.ENFORCE), scopes=[READ])]
# An enterprise's staff, on their own enterprise's actions (a regulator acts for none).
OwnReader = Annotated[Staff, Security(EnterpriseStaff(Permission.OPERATE), scopes=[READ])]
OwnAnswerer = Annotated[Staff, Security(EnterpriseStaff(Permission.OPERATE), scopes=[WRITE])]

router = APIRouter(
    prefix="/v1",
    tags=["enforcement"],
    responses=refusals(
        {
            404: "No such enterprise, action or proposal for this caller",
            409: "Refused: the action or proposal is not in a state for this",
            422: "Refused by the rules (REALNAME.* code)",
        }
    ),
)
ActionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The action's id")]
ProposalId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The proposal's id")]


def _evidence(items: list[EvidenceRefIn]) -> list[tuple[str, str]]:
    return [(e.kind, e.ref) for e in items]


def action_out(service: EnforcementService, action: EnforcementAction) -> ActionOut:
    return ActionOut(
        id=action.id,
        enterprise_id=action.enterprise_id,
        kind=action.kind,
        status=action.status,
        grounds=action.grounds,
        evidence=[Evidence(**e) for e in action.evidence],
        decided_at=action.decided_at,
        deadline=action.deadline,
        reported_at=action.reported_at,
        follow_up_outcome=action.follow_up_outcome,
        appeal_until=action.appeal_until,
        appeal_status=action.appeal_status,
        closed_at=action.closed_at,
        consequences=[
            ConsequenceOut(
                measure=c.measure,
                channel_id=c.channel_id,
                applied_at=c.applied_at,
                lifted_at=c.lifted_at,
            )
            for c in service.consequences(action.id)
        ],
    )


def proposal_out(proposal: EnforcementProposal) -> ProposalOut:
    return ProposalOut(
        id=proposal.id,
        enterprise_id=proposal.enterprise_id,
        kind=proposal.kind,
        rule=proposal.rule,
        evidence=[Evidence(**e) for e in proposal.evidence],
        status=proposal.status,
        proposed_at=proposal.proposed_at,
        action_id=proposal.action_id,
    )


# --- the regulator ---------------------------------------------------------------------------


@router.post(
    "/regulator/enforcement/actions",
    status_code=201,
    response_model=ActionOut,
    summary="Take an enforcement action",
)
def take_action(
    body: ActionIn, request: Request, rt: RuntimeDep, principal: Officer
) -> JSONResponse:
    """A notice of criticism, an interview (with its minutes), a rectification order (with
    its deadline) or a card. A card's consequences apply at once: yellow II stops new number
    blocks, yellow III also settlement and the offending channels, red also suspends the
    licence (no new registrations). Every action names its evidence."""

    def work(session: Session) -> ActionOut:
        service = rt.service(EnforcementService, session)
        action = service.take(
            context_of(principal, request),
            body.enterprise_id,
            NewAction(
                kind=body.kind,
                evidence=_evidence(body.evidence),
                grounds=body.grounds,
                minutes=body.minutes,
                deadline=body.deadline,
                channel_ids=body.channel_ids,
            ),
        )
        return action_out(service, action)

    return run_once(request, rt, principal, body, 201, work)


@router.get(
    "/regulator/enforcement/actions",
    response_model=list[ActionOut],
    summary="List enforcement actions",
)
def list_actions(
    rt: RuntimeDep,
    principal: OfficerReading,
    enterprise_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    open_only: bool = False,
) -> list[ActionOut]:
    """Every action (or one enterprise's), oldest first, with the consequences each applied."""
    with rt.transaction(readonly=True) as session:
        service = rt.service(EnforcementService, session)
        return [action_out(service, a) for a in service.actions(enterprise_id, open_only=open_only)]


@router.get(
    "/regulator/enforcement/actions/{action_id}",
    response_model=ActionOut,
    summary="Read an enforcement action",
)
def read_action(action_id: ActionId, rt: RuntimeDep, principal: OfficerReading) -> ActionOut:
    """One action with its evidence, deadlines, appeal and consequences."""
    with rt.transaction(readonly=True) as session:
        service = rt.service(EnforcementService, session)
        return action_out(service, service.action(action_id))


@router.post(
    "/regulator/enforcement/actions/{action_id}/lift",
    response_model=ActionOut,
    summary="Lift an enforcement action",
)
def lift_action(
    action_id: ActionId, body: TextIn, request: Request, rt: RuntimeDep, principal: Officer
) -> ActionOut:
    """The enterprise has put things right: the action ends and what it imposed is undone
    (blocks, settlement, its channels, the licence), unless another open action imposes the
    same. The reasons are sealed."""
    with rt.transaction() as session:
        service = rt.service(EnforcementService, session)
        action = service.lift(context_of(principal, request), action_id, body.text)
        return action_out(service, action)


@router.post(
    "/regulator/enforcement/actions/{action_id}/appeal-decision",
    response_model=ActionOut,
    summary="Decide an enterprise's appeal",
)
def decide_appeal(
    action_id: ActionId,
    body: AppealDecisionIn,
    request: Request,
    rt: RuntimeDep,
    principal: Officer,
) -> ActionOut:
    """Uphold the action (it stands) or withdraw it (its consequences are undone)."""
    with rt.transaction() as session:
        service = rt.service(EnforcementService, session)
        action = service.decide_appeal(
            context_of(principal, request), action_id, body.decision == "withdraw", body.reason
        )
        return action_out(service, action)


@router.post(
    "/regulator/enforcement/actions/{action_id}/follow-up",
    response_model=ActionOut,
    summary="Record a rectification order's follow-up",
)
def follow_up(
    action_id: ActionId, body: FollowUpIn, request: Request, rt: RuntimeDep, principal: Officer
) -> ActionOut:
    """The follow-up inspection: met (the order is closed as complied) or not (it stays open
    and the next rung is proposed)."""
    with rt.transaction() as session:
        service = rt.service(EnforcementService, session)
        action = service.follow_up(
            context_of(principal, request), action_id, body.passed, _evidence(body.evidence)
        )
        return action_out(service, action)


@router.get(
    "/regulator/enforcement/proposals",
    response_model=list[ProposalOut],
    summary="List proposed enforcement steps",
)
def list_proposals(
    rt: RuntimeDep,
    principal: OfficerReading,
    enterprise_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    status: Annotated[str | None, Query(pattern="^(pending|accepted|dismissed)$")] = None,
) -> list[ProposalOut]:
    """What the escalation rules proposed; a person accepts or dismisses each."""
    with rt.transaction(readonly=True) as session:
        service = rt.service(EnforcementService, session)
        return [proposal_out(p) for p in service.proposals(enterprise_id, status)]


@router.post(
    "/regulator/enforcement/proposals/violation-rates",
    response_model=list[ProposalOut],
    summary="Run the violation-rate rule over inspection rounds",
)
def propose_on_rounds(
    body: RoundsIn, request: Request, rt: RuntimeDep, principal: Officer
) -> list[ProposalOut]:
    """An enterprise's secret-inspection rounds, oldest first: a rate above the policy's in
    the policy's number of consecutive rounds proposes the next rung (once per rounds)."""
    rounds = [RoundResult(r.round_ref, r.inspected, r.violations) for r in body.rounds]
    with rt.transaction() as session:
        service = rt.service(EnforcementService, session)
        made = service.propose_on_rounds(context_of(principal, request), body.enterprise_id, rounds)
        return [proposal_out(made)] if made is not None else []


@router.post(
    "/regulator/enforcement/proposals/sweep",
    response_model=list[ProposalOut],
    summary="Run the standing escalation rules",
)
def sweep(request: Request, rt: RuntimeDep, principal: Officer) -> list[ProposalOut]:
    """An enterprise whose visited outlets violated above the policy's rate in the last
    national secret-inspection rounds in a row gets one proposal of the next rung, citing
    those rounds; every open rectification order past its deadline gets one (at least a
    first yellow card); with a complaint rate in the policy, every enterprise above it over
    the policy's window gets one. Each fact is proposed on once; a person decides."""
    with rt.transaction() as session:
        service = rt.service(EnforcementService, session)
        return [proposal_out(p) for p in service.sweep(context_of(principal, request))]


@router.post(
    "/regulator/enforcement/proposals/{proposal_id}/accept",
    status_code=201,
    response_model=ActionOut,
    summary="Accept a proposed step",
)
def accept_proposal(
    proposal_id: ProposalId, body: AcceptIn, request: Request, rt: RuntimeDep, principal: Officer
) -> JSONResponse:
    """Take the proposed rung with its evidence, plus what the decision adds (minutes, a
    deadline, the offending channels, more evidence)."""

    def work(session: Session) -> ActionOut:
        service = rt.service(EnforcementService, session)
        action = service.accept(
            context_of(principal, request),
            proposal_id,
            evidence=_evidence(body.evidence),
            minutes=body.minutes,
            deadline=body.deadline,
            channel_ids=body.channel_ids,
        )
        return action_out(service, action)

    return run_once(request, rt, principal, body, 201, work)


@router.post(
    "/regulator/enforcement/proposals/{proposal_id}/dismiss",
    response_model=ProposalOut,
    summary="Dismiss a proposed step",
)
def dismiss_proposal(
    proposal_id: ProposalId, body: TextIn, request: Request, rt: RuntimeDep, principal: Officer
) -> ProposalOut:
    """Not this time: the reasons are sealed and audited."""
    with rt.transaction() as session:
        service = rt.service(EnforcementService, session)
        return proposal_out(service.dismiss(context_of(principal, request), proposal_id, body.text))


# --- the enterprise --------------------------------------------------------------------------


@router.get(
    "/enforcement/actions",
    response_model=list[ActionOut],
    summary="My enterprise's enforcement actions",
)
def my_actions(rt: RuntimeDep, staff: OwnReader, open_only: bool = False) -> list[ActionOut]:
    """The actions against the caller's enterprise, with their deadlines, appeal periods and
    the measures in force."""
    with rt.transaction(readonly=True) as session:
        service = rt.service(EnforcementService, session)
        return [
            action_out(service, a)
            for a in service.actions(staff.enterprise_id, open_only=open_only)
        ]


@router.get(
    "/enforcement/actions/{action_id}",
    response_model=ActionOut,
    summary="One of my enterprise's enforcement actions",
)
def my_action(action_id: ActionId, rt: RuntimeDep, staff: OwnReader) -> ActionOut:
    """Another enterprise's action is not found (404), never shown."""
    with rt.transaction(readonly=True) as session:
        service = rt.service(EnforcementService, session)
        return action_out(service, service.action(action_id, staff.enterprise_id))


@router.post(
    "/enforcement/actions/{action_id}/appeal",
    response_model=ActionOut,
    summary="Appeal an enforcement action",
)
def appeal(action_id: ActionId, body: TextIn, rt: RuntimeDep, staff: OwnAnswerer) -> ActionOut:
    """The enterprise's answer, within the appeal period (once); the measures stay in force
    until the regulator decides. The statement is sealed."""
    with rt.transaction() as session:
        service = rt.service(EnforcementService, session)
        action = service.appeal(staff.ctx, staff.enterprise_id, action_id, body.text)
        return action_out(service, action)


@router.post(
    "/enforcement/actions/{action_id}/rectification-report",
    response_model=ActionOut,
    summary="Report a rectification",
)
def report_rectification(
    action_id: ActionId, body: TextIn, rt: RuntimeDep, staff: OwnAnswerer
) -> ActionOut:
    """What the enterprise put right under a rectification order; the regulator's follow-up
    inspection checks it. The report is sealed."""
    with rt.transaction() as session:
        service = rt.service(EnforcementService, session)
        action = service.report_rectification(staff.ctx, staff.enterprise_id, action_id, body.text)
        return action_out(service, action)
