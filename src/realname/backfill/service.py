"""The back-fill campaign: create it, sweep its legacy lines down the ladder, report progress.

A sweep is a batch of lines in one transaction with the campaign row locked, so two runners
(cron on two hosts, or an operator's manual run) take turns instead of acting twice, and a
killed run loses only its uncommitted batch, which the next run does again. Every decision is
a function of the date and the line's state, so running twice in a day changes nothing more.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from realname.backfill.errors import BackfillError, BackfillErrorCode
from realname.backfill.models import BackfillCampaign
from realname.backfill.phases import (
    default_deadline,
    move_for,
    phase_dates,
    phase_on,
    project,
    reminder_text,
)
from realname.backfill.repository import BackfillRepository
from realname.messaging.service import enqueue
from realname.policy.schema import BackfillPhase, Policy
from realname.registry.commands import Context
from realname.registry.lifecycle import LineState, Operation
from realname.registry.service import RegistryService
from realname.security.audit import append_audit

E = BackfillErrorCode

PACE_DAYS = 7  # the projection runs at the pace of the last week


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def campaign_dates(campaign: BackfillCampaign) -> dict[BackfillPhase, date]:
    return {BackfillPhase(k): date.fromisoformat(v) for k, v in campaign.phase_dates.items()}


@dataclass
class SweepResult:
    phase: BackfillPhase | None
    lines: int = 0
    moves: Counter[str] = field(default_factory=Counter)
    reminders: int = 0
    refunds: int = 0
    done: bool = False


@dataclass(frozen=True)
class ProgressRow:
    group: str
    total: int
    registered: int
    terminated: int
    unregistered: int
    barred_outgoing: int
    barred_both: int

    @property
    def share_registered(self) -> float:
        return self.registered / self.total if self.total else 1.0


@dataclass(frozen=True)
class CampaignProgress:
    enterprise_id: int
    starts_on: date
    deadline: date
    phase: BackfillPhase | None
    phase_dates: dict[BackfillPhase, date]
    overall: ProgressRow
    by_region: list[ProgressRow]
    by_channel: list[ProgressRow]
    rate_per_day: float
    projected_completion: date | None
    on_track: bool
    refunds_due: int
    refunds_due_minor: int


class CampaignService:
    def __init__(self, session: Session, *, policy: Policy, registry: RegistryService) -> None:
        self.session = session
        self.repo = BackfillRepository(session)
        self.policy = policy
        self.registry = registry

    def create_campaign(
        self,
        ctx: Context,
        enterprise_id: int,
        *,
        starts_on: date,
        deadline: date | None = None,
        backdate: bool = False,
    ) -> BackfillCampaign:
        """`backdate` lets a simulation start a campaign whose bars have already begun; for
        subscribers that would mean bars with no reminder first, so it is refused otherwise."""
        if self.repo.enterprise(enterprise_id) is None:
            raise BackfillError(E.ENTERPRISE_NOT_FOUND)
        if not self.policy.backfill_steps:
            raise BackfillError(E.NO_BACKFILL_STEPS)
        if self.repo.campaign(enterprise_id) is not None:
            raise BackfillError(E.CAMPAIGN_EXISTS)
        try:
            dates = phase_dates(self.policy.backfill_steps, starts_on)
        except OverflowError:
            raise BackfillError(E.DATE_OUT_OF_RANGE) from None
        first_bar = min(
            (d for p, d in dates.items() if p is not BackfillPhase.REMIND), default=None
        )
        if not backdate and first_bar is not None and first_bar <= ctx.at.date():
            raise BackfillError(E.START_TOO_EARLY)
        deadline = deadline or default_deadline(dates)
        if deadline < starts_on:
            raise BackfillError(E.DEADLINE_BEFORE_START)
        campaign = BackfillCampaign(
            enterprise_id=enterprise_id,
            starts_on=starts_on,
            deadline=deadline,
            phase_dates={str(p): d.isoformat() for p, d in dates.items()},
            policy_code=self.policy.code,
            legacy_at_start=self.repo.unregistered_count(enterprise_id),
            sweep_phase=None,
            sweep_after_line_id=0,
            created_by=str(ctx.actor),
            created_at=ctx.at,
        )
        self.repo.add(campaign)
        self.session.flush()
        self._audit(
            ctx,
            "backfill.campaign.create",
            campaign.id,
            {"enterprise_id": enterprise_id, "deadline": deadline.isoformat()},
        )
        return campaign

    def campaign(self, enterprise_id: int) -> BackfillCampaign:
        campaign = self.repo.campaign(enterprise_id)
        if campaign is None:
            raise BackfillError(E.CAMPAIGN_NOT_FOUND)
        return campaign

    def sweep(self, ctx: Context, campaign_id: int, batch_size: int = 500) -> SweepResult:
        """Move the next batch of lines to the phase today calls for and queue their reminders.
        `done` once nothing is left to sweep in the current phase."""
        campaign = self.repo.campaign_for_update(campaign_id)
        if campaign is None:
            raise BackfillError(E.CAMPAIGN_NOT_FOUND)
        dates = campaign_dates(campaign)
        phase = phase_on(dates, ctx.at.date())
        result = SweepResult(phase)
        if phase is None:
            result.done = True
            return result
        if campaign.sweep_phase != str(phase):
            campaign.sweep_phase, campaign.sweep_after_line_id = str(phase), 0
        lines = self.repo.sweep_batch(
            campaign.enterprise_id, campaign.sweep_after_line_id, batch_size
        )
        language = "zh" if self.policy.jurisdiction == "CN" else "en"
        text = reminder_text(phase, dates, campaign.deadline, language)
        for line in lines:
            operation = move_for(phase, LineState(line.state))
            balance = line.prepaid_balance_minor
            if operation is not None:
                self.registry.apply_backfill_move(ctx, line, operation)
                result.moves[str(operation)] += 1
            if operation is Operation.BACKFILL_TERMINATE and balance:
                self.repo.record_refund(line.id, campaign.id, balance, ctx.at)
                result.refunds += 1
            result.reminders += enqueue(
                self.session,
                dedupe_key=f"backfill:{campaign.id}:{line.id}:{phase}",
                enterprise_id=campaign.enterprise_id,
                line_id=line.id,
                destination=line.msisdn,
                kind=f"backfill.{phase}",
                body=text,
                at=ctx.at,
            )
        result.lines = len(lines)
        if lines:
            campaign.sweep_after_line_id = lines[-1].id
            self._audit(
                ctx,
                "backfill.sweep",
                campaign.id,
                {"phase": str(phase), "lines": len(lines), **result.moves},
            )
        result.done = len(lines) < batch_size
        self.session.flush()
        return result

    def progress(self, enterprise_id: int, at: datetime) -> CampaignProgress:
        campaign = self.campaign(enterprise_id)
        since = _midnight(campaign.starts_on)
        rows = {key: self._rows(enterprise_id, key, since) for key in ("region", "channel")}
        overall = _sum_rows("all", rows["region"])
        recent = self.repo.registered_between(
            enterprise_id, max(since, at - timedelta(days=PACE_DAYS)), at
        )
        days = max(1, min(PACE_DAYS, (at - since).days or 1))
        projection = project(overall.unregistered, recent, days, at.date(), campaign.deadline)
        refunds, refund_total = self.repo.refunds_due(campaign.id)
        dates = campaign_dates(campaign)
        return CampaignProgress(
            enterprise_id=enterprise_id,
            starts_on=campaign.starts_on,
            deadline=campaign.deadline,
            phase=phase_on(dates, at.date()),
            phase_dates=dates,
            overall=overall,
            by_region=rows["region"],
            by_channel=rows["channel"],
            rate_per_day=projection.rate_per_day,
            projected_completion=projection.projected_completion,
            on_track=projection.on_track,
            refunds_due=refunds,
            refunds_due_minor=refund_total,
        )

    def _rows(self, enterprise_id: int, key: str, since: datetime) -> list[ProgressRow]:
        remaining = self.repo.remaining_by(enterprise_id, key)
        registered = self.repo.outcomes_by(enterprise_id, key, since, Operation.REGISTER_LEGACY)
        terminated = self.repo.outcomes_by(enterprise_id, key, since, Operation.BACKFILL_TERMINATE)
        names = self.repo.channel_names(enterprise_id) if key == "channel" else {}
        rows = []
        for group in set(remaining) | set(registered) | set(terminated):
            states = remaining.get(group, {})
            left = sum(states.values())
            done, ended = registered.get(group, 0), terminated.get(group, 0)
            label = names.get(group, str(group)) if key == "channel" else group
            rows.append(
                ProgressRow(
                    group=str(label) if label is not None else "unknown",
                    total=left + done + ended,
                    registered=done,
                    terminated=ended,
                    unregistered=left,
                    barred_outgoing=states.get(str(LineState.RESTRICTED), 0),
                    barred_both=states.get(str(LineState.SUSPENDED), 0),
                )
            )
        return sorted(rows, key=lambda r: (r.share_registered, -r.total, r.group))

    def _audit(self, ctx: Context, action: str, campaign_id: int, detail: dict[str, Any]) -> None:
        append_audit(
            self.session,
            self.registry.keyring,
            actor=str(ctx.actor),
            action=action,
            object_type="backfill_campaign",
            object_id=str(campaign_id),
            at=ctx.at,
            detail={k: str(v) for k, v in detail.items()},
            correlation_id=ctx.correlation_id,
        )


def _sum_rows(group: str, rows: list[ProgressRow]) -> ProgressRow:
    return ProgressRow(
        group=group,
        total=sum(r.total for r in rows),
        registered=sum(r.registered for r in rows),
        terminated=sum(r.terminated for r in rows),
        unregistered=sum(r.unregistered for r in rows),
        barred_outgoing=sum(r.barred_outgoing for r in rows),
        barred_both=sum(r.barred_both for r in rows),
    )
