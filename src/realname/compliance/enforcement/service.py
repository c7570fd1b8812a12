"""The enforcement ladder's use cases: actions taken, their consequences applied and lifted,
appeals, rectification reports and follow-ups, and the escalation rules' proposals.

Consequences are states the layers below own and enforce, set through their services: the
registry's sanctions (no new number blocks, no settlement), channel suspension (the channel
refuses every registration: CHANNEL_NOT_AUTHORISED), the licence (LICENCE_NOT_IN_FORCE for
every new customer). Each is recorded against the action that applied it, so lifting or
withdrawing the action undoes exactly that, and never what another open action still imposes
or what someone else did (a channel already suspended, a licence already suspended).

Every change is audited in the caller's transaction; the service flushes, never commits.

Over 600 lines: the ladder's use cases share one piece of bookkeeping (the consequences each
action applied, which lifting, withdrawal on appeal and a proposal's acceptance all read), and
the invariant that lifting undoes exactly what its action did is easier to hold in one file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from realname.channels.service import ChannelService
from realname.compliance.complaints.repository import ComplaintRepository
from realname.compliance.enforcement import ladder
from realname.compliance.enforcement.errors import EnforcementError, EnforcementErrorCode
from realname.compliance.enforcement.ladder import ActionKind, Consequence, RoundResult
from realname.compliance.enforcement.models import (
    EnforcementAction,
    EnforcementConsequence,
    EnforcementProposal,
)
from realname.compliance.enforcement.repository import EnforcementRepository
from realname.policy.schema import Policy
from realname.provisioning.service import ProvisioningService
from realname.registry.auditing import audit_operation
from realname.registry.commands import Context
from realname.registry.models import Enterprise
from realname.registry.sanctions import Measure
from realname.registry.service import RegistryService
from realname.security.audit import seal_note
from realname.security.vault import KeyRing

C = EnforcementErrorCode
EVIDENCE_KINDS = frozenset({"inspection_round", "figure", "complaint", "action", "document"})
_REF = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_GROUNDS = re.compile(r"[a-z][a-z_]{0,31}")
OBJECT = "enforcement_action"
# A channel this ladder suspended says so (a code, no text): only those are resumed by it.
CHANNEL_REASON = "enforcement"


def reference(action_id: int) -> str:
    """How the layers below name the action behind a measure (registry sanctions)."""
    return f"{OBJECT}:{action_id}"


@dataclass(frozen=True)
class NewAction:
    """What the regulator decides. `channel_ids`: the offending channels a card stops (none
    named: the channels over the policy's risk threshold)."""

    kind: ActionKind
    evidence: Sequence[tuple[str, str]]
    grounds: str = "finding"
    minutes: str | None = None
    deadline: datetime | None = None
    channel_ids: Sequence[int] = ()
    proposal_id: int | None = None


class EnforcementService:
    def __init__(
        self,
        session: Session,
        *,
        policy: Policy,
        keyring: KeyRing,
        registry: RegistryService,
        channels: ChannelService,
        provisioning: ProvisioningService,
    ) -> None:
        self.session = session
        self.repo = EnforcementRepository(session)
        self.policy = policy
        self.rules = policy.enforcement
        self.keyring = keyring
        self.registry = registry
        self.channels = channels
        self.provisioning = provisioning

    # --- actions --------------------------------------------------------------------------

    def take(self, ctx: Context, enterprise_id: int, new: NewAction) -> EnforcementAction:
        """Record the decision and apply its consequences at once."""
        enterprise = self._enterprise(enterprise_id, lock=True)
        evidence = self._evidence(enterprise_id, new.evidence)
        if not _GROUNDS.fullmatch(new.grounds):
            raise EnforcementError(C.EVIDENCE_INVALID, "grounds is a lower-case code")
        if new.kind is ActionKind.INTERVIEW and not (new.minutes or "").strip():
            raise EnforcementError(C.MINUTES_REQUIRED)
        deadline = None
        if new.kind is ActionKind.RECTIFICATION:
            deadline = new.deadline or ctx.at + timedelta(days=self.rules.rectification_days)
            if deadline <= ctx.at:
                raise EnforcementError(C.DEADLINE_INVALID)
        channels = self._offending_channels(ctx, enterprise_id, new)
        action = EnforcementAction(
            enterprise_id=enterprise_id,
            kind=str(new.kind),
            status="open",
            grounds=new.grounds,
            evidence=evidence,
            decided_at=ctx.at,
            decided_by=str(ctx.actor)[:64],
            proposal_id=new.proposal_id,
            deadline=deadline,
            appeal_until=ctx.at + timedelta(days=self.rules.appeal_days),
            appeal_status="none",
        )
        if new.minutes and new.minutes.strip():
            action.minutes_note_id = self._seal(new.minutes, ctx)
        self.repo.add(action)
        self.session.flush()
        self._audit(
            ctx,
            "enforcement.take",
            action.id,
            {
                "enterprise_id": enterprise_id,
                "kind": action.kind,
                "grounds": action.grounds,
                "evidence": ";".join(f"{e['kind']}={e['ref']}" for e in evidence),
                "deadline": deadline.isoformat() if deadline else None,
            },
        )
        self._apply(ctx, action, enterprise, channels)
        return action

    def _offending_channels(self, ctx: Context, enterprise_id: int, new: NewAction) -> list[int]:
        if Consequence.CHANNELS not in ladder.consequences_of(new.kind):
            return []
        for channel_id in new.channel_ids:
            channel = self.repo.channel(channel_id)
            if channel is None or channel.enterprise_id != enterprise_id:
                raise EnforcementError(C.CHANNEL_NOT_FOUND, f"channel {channel_id}")
        if new.channel_ids:
            return sorted(set(new.channel_ids))
        return [
            a.channel.id
            for a in self.channels.assess(enterprise_id, ctx.at)
            if a.over_threshold and a.channel.status == "active"
        ]

    def _apply(
        self,
        ctx: Context,
        action: EnforcementAction,
        enterprise: Enterprise,
        channel_ids: Sequence[int],
    ) -> None:
        ref = reference(action.id)
        for consequence in sorted(ladder.consequences_of(ActionKind(action.kind))):
            if consequence is Consequence.BLOCK_ALLOCATION:
                self.registry.sanctions.impose(ctx, enterprise.id, Measure.BLOCK_ALLOCATION, ref)
                self._consequence(ctx, action, consequence)
            elif consequence is Consequence.SETTLEMENT:
                self.registry.sanctions.impose(ctx, enterprise.id, Measure.SETTLEMENT, ref)
                self._consequence(ctx, action, consequence)
            elif consequence is Consequence.CHANNELS:
                for channel_id in channel_ids:
                    channel = self.repo.channel(channel_id)
                    assert channel is not None
                    if channel.status == "active":
                        self.channels.suspend(ctx, enterprise.id, channel_id, CHANNEL_REASON)
                    elif channel.status_reason != CHANNEL_REASON:
                        continue  # suspended by someone else: not ours to lift later
                    # (suspended by another action too: both must end before it resumes)
                    self._consequence(ctx, action, consequence, channel_id=channel_id)
            elif consequence is Consequence.LICENCE:
                prior = enterprise.licence_status
                if prior in ("suspended", "revoked"):
                    continue  # already not in force: the ministry's decision stands alone
                self.provisioning.set_licence(ctx, enterprise.code, "suspended", ctx.at.date())
                self._consequence(ctx, action, consequence, prior=prior)

    def _consequence(
        self,
        ctx: Context,
        action: EnforcementAction,
        measure: Consequence,
        *,
        channel_id: int | None = None,
        prior: str | None = None,
    ) -> None:
        self.repo.add(
            EnforcementConsequence(
                action_id=action.id,
                measure=str(measure),
                channel_id=channel_id,
                prior=prior,
                applied_at=ctx.at,
            )
        )
        self.session.flush()

    def lift(self, ctx: Context, action_id: int, reason: str) -> EnforcementAction:
        """The enterprise has put things right: the action ends and what it imposed is
        undone (a lifting is an action too, audited with its sealed reasons)."""
        action = self._open(action_id)
        if not reason.strip():
            raise EnforcementError(C.TEXT_REQUIRED)
        self._close(ctx, action, "lifted")
        self._audit(ctx, "enforcement.lift", action.id, {}, {"reason": reason})
        return action

    def _close(self, ctx: Context, action: EnforcementAction, status: str) -> None:
        action.status = status
        action.closed_at, action.closed_by = ctx.at, str(ctx.actor)[:64]
        self.session.flush()
        self._undo(ctx, action)

    def _undo(self, ctx: Context, action: EnforcementAction) -> None:
        enterprise = self._enterprise(action.enterprise_id, lock=True)
        self.registry.sanctions.lift(ctx, reference(action.id))
        for consequence in self.repo.consequences(action.id):
            if consequence.lifted_at is not None:
                continue
            consequence.lifted_at = ctx.at
            if consequence.measure == Consequence.CHANNELS:
                channel = self.repo.channel(consequence.channel_id or 0)
                still = [
                    c
                    for c in self.repo.consequences_in_force(
                        enterprise.id, str(Consequence.CHANNELS), except_action=action.id
                    )
                    if c.channel_id == consequence.channel_id
                ]
                if (
                    channel is not None
                    and channel.status == "suspended"
                    and channel.status_reason == CHANNEL_REASON
                    and not still
                ):
                    self.channels.resume(ctx, enterprise.id, channel.id, "enforcement_lifted")
            elif consequence.measure == Consequence.LICENCE:
                others = self.repo.consequences_in_force(
                    enterprise.id, str(Consequence.LICENCE), except_action=action.id
                )
                if enterprise.licence_status == "suspended" and not others and consequence.prior:
                    self.provisioning.set_licence(
                        ctx, enterprise.code, consequence.prior, ctx.at.date()
                    )
        self.session.flush()

    # --- the enterprise's side ------------------------------------------------------------

    def appeal(
        self, ctx: Context, enterprise_id: int, action_id: int, statement: str
    ) -> EnforcementAction:
        """The enterprise answers the action within the appeal period; its consequences stay
        in force until the regulator decides."""
        action = self._own(enterprise_id, action_id)
        if action.status != "open":
            raise EnforcementError(C.ACTION_NOT_OPEN)
        if action.appeal_status != "none" or ctx.at > action.appeal_until:
            raise EnforcementError(C.APPEAL_NOT_OPEN)
        if not statement.strip():
            raise EnforcementError(C.TEXT_REQUIRED)
        action.appeal_status, action.appeal_lodged_at = "lodged", ctx.at
        action.appeal_note_id = self._seal(statement, ctx)
        self.session.flush()
        self._audit(ctx, "enforcement.appeal", action.id, {"enterprise_id": enterprise_id})
        return action

    def decide_appeal(
        self, ctx: Context, action_id: int, withdraw: bool, reason: str
    ) -> EnforcementAction:
        """The regulator upholds the action (it stands) or withdraws it (its consequences
        are undone, as if lifted)."""
        action = self._action(action_id, lock=True)
        if action.appeal_status != "lodged":
            raise EnforcementError(C.APPEAL_NOT_LODGED)
        if not reason.strip():
            raise EnforcementError(C.TEXT_REQUIRED)
        action.appeal_status = "withdrawn" if withdraw else "upheld"
        action.appeal_decided_at, action.appeal_decided_by = ctx.at, str(ctx.actor)[:64]
        if withdraw and action.status == "open":
            self._close(ctx, action, "withdrawn")
        self.session.flush()
        self._audit(
            ctx,
            "enforcement.appeal_decide",
            action.id,
            {"decision": action.appeal_status},
            {"reason": reason},
        )
        return action

    def report_rectification(
        self, ctx: Context, enterprise_id: int, action_id: int, report: str
    ) -> EnforcementAction:
        """The enterprise says what it put right; the regulator's follow-up checks it."""
        action = self._own(enterprise_id, action_id)
        if action.kind != ActionKind.RECTIFICATION:
            raise EnforcementError(C.NOT_A_RECTIFICATION)
        if action.status != "open":
            raise EnforcementError(C.ACTION_NOT_OPEN)
        if not report.strip():
            raise EnforcementError(C.TEXT_REQUIRED)
        action.reported_at = ctx.at
        action.report_note_id = self._seal(report, ctx)
        self.session.flush()
        self._audit(
            ctx,
            "enforcement.rectification_report",
            action.id,
            {"on_time": str(action.deadline is None or ctx.at <= action.deadline)},
        )
        return action

    def follow_up(
        self, ctx: Context, action_id: int, passed: bool, evidence: Sequence[tuple[str, str]]
    ) -> EnforcementAction:
        """The follow-up inspection of an order: met (the order is closed as complied) or not
        (it stays open and the next rung is proposed)."""
        action = self._open(action_id)
        if action.kind != ActionKind.RECTIFICATION:
            raise EnforcementError(C.NOT_A_RECTIFICATION)
        checked = self._evidence(action.enterprise_id, evidence)
        action.follow_up_at = ctx.at
        action.follow_up_outcome = "passed" if passed else "failed"
        action.evidence = [*action.evidence, *checked]
        if passed:
            self._close(ctx, action, "complied")
        self.session.flush()
        self._audit(
            ctx,
            "enforcement.follow_up",
            action.id,
            {"outcome": action.follow_up_outcome},
        )
        if not passed:
            draft = ladder.propose_on_overdue(
                self._highest_open(action.enterprise_id), action.id, failed=True
            )
            self._propose(ctx, action.enterprise_id, draft, f"action:{action.id}")
        return action

    # --- proposals --------------------------------------------------------------------------

    def propose_on_rounds(
        self, ctx: Context, enterprise_id: int, rounds: Sequence[RoundResult]
    ) -> EnforcementProposal | None:
        """The violation-rate rule over an enterprise's inspection rounds (oldest first)."""
        self._enterprise(enterprise_id)
        draft = ladder.propose_on_rounds(self.rules, self._highest_open(enterprise_id), rounds)
        if draft is None:
            return None
        basis = ",".join(ref for _, ref in draft.evidence)
        return self._propose(ctx, enterprise_id, draft, basis)

    def sweep(self, ctx: Context) -> list[EnforcementProposal]:
        """The standing rules over every enterprise: the violation-rate rule over the national
        secret-inspection rounds recorded here (each enterprise's visited outlets per round,
        oldest first); each open order past its deadline gets one proposal of the next rung;
        when the policy sets a complaint rate, an enterprise above it over the policy's
        window gets one (not while one waits for a decision). Each fact is proposed once."""
        made = []
        # Read once for every enterprise (a sweep does not change what is open).
        open_kinds = self.repo.open_kinds_by_enterprise()

        def highest(enterprise_id: int) -> ActionKind | None:
            return ladder.highest(open_kinds.get(enterprise_id, []))

        for enterprise_id, rounds in self.repo.national_round_results().items():
            drafted = ladder.propose_on_rounds(self.rules, highest(enterprise_id), rounds)
            if drafted is None:
                continue
            basis = ",".join(ref for _, ref in drafted.evidence)
            proposal = self._propose(ctx, enterprise_id, drafted, basis)
            if proposal is not None:
                made.append(proposal)
        for order in self.repo.overdue_orders(ctx.at):
            if order.follow_up_outcome == "failed":
                continue  # its follow-up already proposed
            draft = ladder.propose_on_overdue(highest(order.enterprise_id), order.id, failed=False)
            proposal = self._propose(ctx, order.enterprise_id, draft, f"action:{order.id}")
            if proposal is not None:
                made.append(proposal)
        if self.rules.complaints_per_10k > 0:
            window = timedelta(days=self.rules.complaint_window_days)
            # The basis names the window, so the same day's rerun proposes nothing new.
            start = ctx.at - window
            period = f"complaints:{start.date().isoformat()}/{ctx.at.date().isoformat()}"
            waiting = {
                p.enterprise_id
                for p in self.repo.proposals(None, "pending")
                if p.rule == ladder.COMPLAINT_RATE
            }
            counts = self.repo.complaints_and_lines_by_enterprise(start, ctx.at)
            for enterprise in self.repo.enterprises():
                if enterprise.id in waiting:
                    continue  # one waiting for a decision is enough
                complaints, lines = counts.get(enterprise.id, (0, 0))
                rated = ladder.propose_on_complaints(
                    self.rules, highest(enterprise.id), complaints, lines, period
                )
                if rated is None:
                    continue
                proposal = self._propose(ctx, enterprise.id, rated, period)
                if proposal is not None:
                    made.append(proposal)
        return made

    def _propose(
        self, ctx: Context, enterprise_id: int, draft: ladder.Draft, basis: str
    ) -> EnforcementProposal | None:
        if self.repo.proposed_on(enterprise_id, draft.rule, basis):
            return None
        proposal = EnforcementProposal(
            enterprise_id=enterprise_id,
            kind=str(draft.kind),
            rule=draft.rule,
            evidence=[{"kind": k, "ref": r} for k, r in draft.evidence],
            basis=basis[:200],
            status="pending",
            proposed_at=ctx.at,
            detail={},
        )
        self.repo.add(proposal)
        self.session.flush()
        self._audit(
            ctx,
            "enforcement.propose",
            proposal.id,
            {"enterprise_id": enterprise_id, "kind": proposal.kind, "rule": draft.rule},
            object_type="enforcement_proposal",
        )
        return proposal

    def accept(
        self,
        ctx: Context,
        proposal_id: int,
        *,
        evidence: Sequence[tuple[str, str]] = (),
        minutes: str | None = None,
        deadline: datetime | None = None,
        channel_ids: Sequence[int] = (),
    ) -> EnforcementAction:
        """A person takes the proposed step: the proposal's rung and evidence, with what the
        decision adds (minutes, a deadline, the channels, more evidence)."""
        proposal = self._pending(proposal_id)
        proposed = [(e["kind"], e["ref"]) for e in proposal.evidence]
        new = NewAction(
            kind=ActionKind(proposal.kind),
            evidence=[*proposed, *evidence],
            grounds=proposal.rule,
            minutes=minutes,
            deadline=deadline,
            channel_ids=channel_ids,
            proposal_id=proposal.id,
        )
        action = self.take(ctx, proposal.enterprise_id, new)
        proposal.status, proposal.action_id = "accepted", action.id
        proposal.decided_at, proposal.decided_by = ctx.at, str(ctx.actor)[:64]
        self.session.flush()
        return action

    def dismiss(self, ctx: Context, proposal_id: int, reason: str) -> EnforcementProposal:
        proposal = self._pending(proposal_id)
        if not reason.strip():
            raise EnforcementError(C.TEXT_REQUIRED)
        proposal.status = "dismissed"
        proposal.decided_at, proposal.decided_by = ctx.at, str(ctx.actor)[:64]
        self.session.flush()
        self._audit(
            ctx,
            "enforcement.dismiss",
            proposal.id,
            {"enterprise_id": proposal.enterprise_id},
            {"reason": reason},
            object_type="enforcement_proposal",
        )
        return proposal

    # --- reads ------------------------------------------------------------------------------

    def actions(
        self, enterprise_id: int | None = None, *, open_only: bool = False
    ) -> Sequence[EnforcementAction]:
        return self.repo.actions(enterprise_id, open_only=open_only)

    def action(self, action_id: int, enterprise_id: int | None = None) -> EnforcementAction:
        """One action; for an enterprise's caller only its own (others are not found)."""
        if enterprise_id is not None:
            return self._own(enterprise_id, action_id, lock=False)
        return self._action(action_id)

    def consequences(self, action_id: int) -> Sequence[EnforcementConsequence]:
        return self.repo.consequences(action_id)

    def proposals(
        self, enterprise_id: int | None = None, status: str | None = None
    ) -> Sequence[EnforcementProposal]:
        return self.repo.proposals(enterprise_id, status)

    def enterprise_by_code(self, code: str) -> Enterprise:
        enterprise = self.repo.enterprise_by_code(code)
        if enterprise is None:
            raise EnforcementError(C.ENTERPRISE_NOT_FOUND, code)
        return enterprise

    def report(self) -> list[dict[str, Any]]:
        """Per enterprise: actions by rung, open ones, the highest open rung, measures in
        force and the rungs proposed and waiting for a decision (what `realname report
        enforcement` prints). Four queries whatever the number of enterprises."""
        counts: dict[int, list[tuple[str, str, int]]] = {}
        for enterprise_id, kind, status, n in self.repo.counts_by_enterprise():
            counts.setdefault(enterprise_id, []).append((kind, status, n))
        measures = self.repo.measures_in_force()
        pending = self.repo.pending_by_enterprise()
        rows = []
        for enterprise in self.repo.enterprises():
            mine = counts.get(enterprise.id, [])
            highest = ladder.highest(k for k, s, n in mine if s == "open" and n)
            row: dict[str, Any] = {
                "enterprise": enterprise.code,
                "kind": enterprise.kind,
                "licence": enterprise.licence_status,
                "actions": sum(n for _, _, n in mine),
                "open": sum(n for _, s, n in mine if s == "open"),
                "highest_open": str(highest) if highest else "",
                "measures": ",".join(sorted(measures.get(enterprise.id, ()))),
                "proposed": ",".join(pending.get(enterprise.id, [])),
            }
            for kind in ladder.LADDER:
                row[str(kind)] = sum(n for k, _, n in mine if k == kind)
            rows.append(row)
        return rows

    # --- internals --------------------------------------------------------------------------

    def _highest_open(self, enterprise_id: int) -> ActionKind | None:
        return ladder.highest(self.repo.open_kinds(enterprise_id))

    def _evidence(
        self, enterprise_id: int, evidence: Sequence[tuple[str, str]]
    ) -> list[dict[str, str]]:
        if not evidence:
            raise EnforcementError(C.EVIDENCE_REQUIRED)
        checked = []
        complaints = ComplaintRepository(self.session)
        for kind, ref in evidence:
            if kind not in EVIDENCE_KINDS or not _REF.fullmatch(ref):
                raise EnforcementError(C.EVIDENCE_INVALID)
            if kind in ("complaint", "action"):
                if not ref.isdigit() or int(ref) > 2**62:
                    raise EnforcementError(C.EVIDENCE_INVALID, f"{kind} {ref}")
                if kind == "complaint":
                    complaint = complaints.complaint(int(ref))
                    owner = complaint.enterprise_id if complaint else None
                else:
                    found = self.repo.action(int(ref))
                    owner = found.enterprise_id if found else None
                if owner != enterprise_id:
                    raise EnforcementError(C.EVIDENCE_INVALID, f"{kind} {ref}")
            checked.append({"kind": kind, "ref": ref})
        return checked

    def _enterprise(self, enterprise_id: int, *, lock: bool = False) -> Enterprise:
        enterprise = self.repo.enterprise(enterprise_id, lock=lock)
        if enterprise is None:
            raise EnforcementError(C.ENTERPRISE_NOT_FOUND)
        return enterprise

    def _action(self, action_id: int, *, lock: bool = False) -> EnforcementAction:
        action = self.repo.action(action_id, lock=lock)
        if action is None:
            raise EnforcementError(C.ACTION_NOT_FOUND)
        return action

    def _open(self, action_id: int) -> EnforcementAction:
        action = self._action(action_id, lock=True)
        if action.status != "open":
            raise EnforcementError(C.ACTION_NOT_OPEN)
        return action

    def _own(self, enterprise_id: int, action_id: int, *, lock: bool = True) -> EnforcementAction:
        """Locked to act on it (an appeal, a report); a read takes no lock (it runs in a
        read-only transaction, where PostgreSQL refuses FOR UPDATE)."""
        action = self.repo.action(action_id, lock=lock)
        if action is None or action.enterprise_id != enterprise_id:
            raise EnforcementError(C.ACTION_NOT_FOUND)  # never a probe of another tenant's
        return action

    def _pending(self, proposal_id: int) -> EnforcementProposal:
        proposal = self.repo.proposal(proposal_id, lock=True)
        if proposal is None:
            raise EnforcementError(C.PROPOSAL_NOT_FOUND)
        if proposal.status != "pending":
            raise EnforcementError(C.PROPOSAL_DECIDED)
        return proposal

    def _seal(self, text: str, ctx: Context) -> int:
        return int(seal_note(self.session, self.keyring, text, ctx.at)["note"])

    def _audit(
        self,
        ctx: Context,
        action: str,
        object_id: int,
        detail: dict[str, Any],
        notes: dict[str, str | None] | None = None,
        *,
        object_type: str = OBJECT,
    ) -> None:
        audit_operation(
            self.session,
            self.keyring,
            ctx,
            action=action,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
            notes=notes,
        )
