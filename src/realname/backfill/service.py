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
from sqlalchemy.orm.util import identity_key

from realname.backfill.errors import BackfillError, BackfillErrorCode
from realname.backfill.models import BackfillAmendment, BackfillCampaign
from realname.backfill.phases import (
    Dates,
    Ladder,
    Milestone,
    MilestoneStatus,
    dates_from_json,
    dates_to_json,
    milestone_status,
    phase_on,
    project,
    reminder_text,
)
from realname.backfill.repository import BackfillRepository
from realname.backfill.sweep import (
    CampaignView,
    LinePlan,
    Notice,
    batch_audit_detail,
    cooling_until,
    event_rows,
    move_of,
    plan_batch,
)
from realname.messaging.service import Queued, enqueue_many
from realname.policy.schema import BackfillPhase, Policy
from realname.registry.auditing import audit_operation
from realname.registry.commands import Context
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.integrity import seal_event_row
from realname.registry.lifecycle import LineState, Operation, is_unregistered_legacy
from realname.registry.models import Line
from realname.registry.recorder import allowed
from realname.registry.service import RegistryService
from realname.security.redact import redact_pii

E = BackfillErrorCode

PACE_DAYS = 7  # the projection runs at the pace of the last week
# Lines per sweep transaction: the per-batch statements and audit entry amortised, the
# batch's line locks held well under a second (a clerk registering one of them waits).
SWEEP_BATCH = 2000


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def campaign_dates(campaign: BackfillCampaign) -> Dates:
    return dates_from_json(campaign.phase_dates)


def campaign_ladder(campaign: BackfillCampaign) -> Ladder:
    """The ladder as the campaign stored it: a later policy change does not reshape it."""
    dates = campaign_dates(campaign)
    bars = [p for p in BackfillPhase if p in dates and p is not BackfillPhase.REMIND]
    first = bars[0]
    return Ladder(
        first_bar=first,
        notice_days=campaign.notice_days,
        gaps={p: (dates[p] - dates[first]).days for p in bars},
    )


MAX_MILESTONES = 20


def check_milestones(
    milestones: list[tuple[date, int]], starts_on: date, deadline: date
) -> list[tuple[date, int]]:
    """Increasing dates within the campaign (start, deadline], increasing shares 1..100."""
    ordered = sorted(milestones)
    if len(ordered) > MAX_MILESTONES:
        raise BackfillError(E.MILESTONES_INVALID, f"at most {MAX_MILESTONES}")
    previous_day, previous_share = starts_on, 0
    for day, percent in ordered:
        if not starts_on < day <= deadline:
            raise BackfillError(E.MILESTONES_INVALID, f"{day} is outside {starts_on} .. {deadline}")
        if day == previous_day or not previous_share < percent <= 100:
            raise BackfillError(E.MILESTONES_INVALID, f"{day}: {percent} %")
        previous_day, previous_share = day, percent
    return ordered


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
class CampaignSchedule:
    """What `backfill show` prints: the campaign's dates and what has changed them."""

    enterprise_id: int
    starts_on: date
    deadline: date
    notice_days: int
    phase_dates: Dates
    final_notice_on: date | None
    milestones: list[Milestone]
    amendments: list[BackfillAmendment]
    lines_told: int
    lines_on_later_dates: int  # reminded late (imported mid-campaign): their own dates


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
    milestones: list[MilestoneStatus] = field(default_factory=list)


class CampaignService:
    def __init__(self, session: Session, *, policy: Policy, registry: RegistryService) -> None:
        self.session = session
        self.repo = BackfillRepository(session)
        self.policy = policy
        self.registry = registry
        # SMS texts by (phase, dates, amended): a batch's lines mostly share their dates.
        self._texts: dict[tuple[Any, ...], str] = {}

    def create_campaign(
        self,
        ctx: Context,
        enterprise_id: int,
        *,
        starts_on: date,
        deadline: date | None = None,
        milestones: list[tuple[date, int]] | None = None,
    ) -> BackfillCampaign:
        """The policy gives the ladder's shape, the campaign its length: reminders from
        `starts_on`, the first bar on `deadline` (default: the policy's shortest campaign),
        the later steps the policy's gaps after it."""
        if self.repo.enterprise(enterprise_id) is None:
            raise BackfillError(E.ENTERPRISE_NOT_FOUND)
        if not self.policy.backfill_steps:
            raise BackfillError(E.NO_BACKFILL_STEPS)
        if self.repo.campaign(enterprise_id) is not None:
            raise BackfillError(E.CAMPAIGN_EXISTS)
        ladder = Ladder.of(self.policy.backfill_steps)
        try:
            deadline = deadline or ladder.minimum_deadline(starts_on)
            dates = ladder.campaign_dates(starts_on, deadline)
            earliest = ladder.minimum_deadline(max(starts_on, ctx.at.date()))
        except OverflowError:
            raise BackfillError(E.DATE_OUT_OF_RANGE) from None
        if deadline < starts_on:
            raise BackfillError(E.DEADLINE_BEFORE_START)
        if deadline < ladder.minimum_deadline(starts_on):
            raise BackfillError(E.DEADLINE_TOO_SOON, f"{ladder.notice_days} days")
        if deadline < earliest:
            # Started in the past: lines reminded today could not get their notice in time.
            raise BackfillError(E.START_TOO_EARLY, f"earliest deadline {earliest}")
        targets = check_milestones(milestones or [], starts_on, deadline)
        campaign = BackfillCampaign(
            enterprise_id=enterprise_id,
            starts_on=starts_on,
            deadline=deadline,
            phase_dates=dates_to_json(dates),
            policy_code=self.policy.code,
            notice_days=ladder.notice_days,
            version=0,
            legacy_at_start=self.repo.unregistered_count(enterprise_id),
            sweep_phase=None,
            sweep_on=None,
            sweep_after_line_id=0,
            created_by=str(ctx.actor),
            created_at=ctx.at,
        )
        self.repo.add(campaign)
        self.session.flush()
        self.repo.replace_milestones(campaign.id, targets)
        self._audit(
            ctx,
            "backfill.campaign.create",
            campaign.id,
            {
                "enterprise_id": enterprise_id,
                "deadline": deadline.isoformat(),
                "milestones": _milestones_text(targets),
            },
        )
        self.session.flush()
        return campaign

    def amend(
        self,
        ctx: Context,
        enterprise_id: int,
        *,
        reason: str,
        deadline: date | None = None,
        milestones: list[tuple[date, int]] | None = None,
    ) -> BackfillCampaign:
        """A new deadline and/or milestones. Never earlier than a subscriber was told: once
        any line has its dates, a deadline may only move later (`EARLIER_THAN_TOLD`). Lines
        already told are told their new dates by the next run (their dates only move later,
        and a step a line has been through keeps its date)."""
        reason = " ".join(reason.split())
        if not reason or len(reason) > 500:
            raise BackfillError(E.REASON_REQUIRED)
        if deadline is None and milestones is None:
            raise BackfillError(E.NOTHING_TO_AMEND)
        campaign = self.campaign(enterprise_id)
        locked = self.repo.campaign_for_update(campaign.id)
        assert locked is not None
        campaign = locked
        ladder = campaign_ladder(campaign)
        before, new_deadline = campaign.deadline, deadline or campaign.deadline
        try:
            dates = ladder.campaign_dates(campaign.starts_on, new_deadline)
            earliest = ladder.minimum_deadline(max(campaign.starts_on, ctx.at.date()))
        except OverflowError:
            raise BackfillError(E.DATE_OUT_OF_RANGE) from None
        if new_deadline < ladder.minimum_deadline(campaign.starts_on):
            raise BackfillError(E.DEADLINE_TOO_SOON, f"{ladder.notice_days} days")
        if new_deadline < before:
            if self.repo.any_told(campaign.id):
                raise BackfillError(E.EARLIER_THAN_TOLD, f"deadline {before}")
            if new_deadline < earliest:
                raise BackfillError(E.DEADLINE_TOO_SOON, f"earliest deadline {earliest}")
        current = [(m.due_on, m.percent) for m in self.repo.milestones(campaign.id)]
        targets = check_milestones(
            current if milestones is None else milestones, campaign.starts_on, new_deadline
        )
        campaign.version += 1
        if new_deadline != before:
            campaign.deadline = new_deadline
            campaign.phase_dates = dates_to_json(dates)
            self.repo.reschedule_all(campaign.id, ctx.at.date())
        self.repo.replace_milestones(campaign.id, targets)
        self.repo.add(
            BackfillAmendment(
                campaign_id=campaign.id,
                version=campaign.version,
                actor=str(ctx.actor),
                # Free text: whatever looks like an ID or a phone number is masked here; the
                # audit entry keeps the reason whole, sealed.
                reason=redact_pii(reason),
                deadline_before=before,
                deadline_after=new_deadline,
                milestones=[[d.isoformat(), p] for d, p in targets],
                amended_at=ctx.at,
            )
        )
        self._audit(
            ctx,
            "backfill.campaign.amend",
            campaign.id,
            {
                "version": campaign.version,
                "deadline_before": before.isoformat(),
                "deadline_after": new_deadline.isoformat(),
                "milestones": _milestones_text(targets),
            },
            notes={"reason": reason},
        )
        self.session.flush()
        return campaign

    def schedule(self, enterprise_id: int) -> CampaignSchedule:
        campaign = self.campaign(enterprise_id)
        ladder = campaign_ladder(campaign)
        dates = campaign_dates(campaign)
        told, late = self.repo.told_counts(
            campaign.id, dates[ladder.first_bar] - timedelta(days=ladder.notice_days)
        )
        return CampaignSchedule(
            enterprise_id=enterprise_id,
            starts_on=campaign.starts_on,
            deadline=campaign.deadline,
            notice_days=campaign.notice_days,
            phase_dates=dates,
            final_notice_on=ladder.final_notice_on(dates),
            milestones=[Milestone(m.due_on, m.percent) for m in self.repo.milestones(campaign.id)],
            amendments=list(self.repo.amendments(campaign.id)),
            lines_told=told,
            lines_on_later_dates=late,
        )

    def campaign(self, enterprise_id: int) -> BackfillCampaign:
        campaign = self.repo.campaign(enterprise_id)
        if campaign is None:
            raise BackfillError(E.CAMPAIGN_NOT_FOUND)
        return campaign

    def sweep(self, ctx: Context, campaign_id: int, batch_size: int = SWEEP_BATCH) -> SweepResult:
        """Do today's work for the next batch of lines: a first reminder with the line's own
        dates, a final notice, a new-dates notice after an amendment, or the move its date
        calls for with its SMS. `done` once nothing due today is left.

        Set-based: the batch is read in one query (locked), decided in memory
        (`sweep.plan_batch`), and applied with one statement per kind of write: the
        schedules, ONE UPDATE moving every line, the events in one bulk insert (each with
        its MAC), the refunds, the notices, and ONE audit entry naming the batch's lines."""
        campaign = self.repo.campaign_for_update(campaign_id)
        if campaign is None:
            raise BackfillError(E.CAMPAIGN_NOT_FOUND)
        today = ctx.at.date()
        dates = campaign_dates(campaign)
        phase = phase_on(dates, today)
        result = SweepResult(phase)
        if phase is None:
            result.done = True
            return result
        if campaign.sweep_on != today:
            campaign.sweep_on, campaign.sweep_after_line_id = today, 0
        self.session.flush()
        rows = self.repo.due_lines(
            campaign.enterprise_id, campaign.id, ctx.at, campaign.sweep_after_line_id, batch_size
        )
        ladder = campaign_ladder(campaign)
        view = CampaignView(campaign.id, campaign.starts_on, campaign.version)
        plans = plan_batch(view, ladder, dates, rows, today)
        notices = self._apply(ctx, campaign, plans, result)
        result.lines = len(plans)
        if plans:
            campaign.sweep_after_line_id = plans[-1].line.id
            self._audit(
                ctx,
                "backfill.sweep",
                campaign.id,
                batch_audit_detail(phase, plans, result.moves, notices),
            )
        result.done = len(plans) < batch_size
        self.session.flush()
        return result

    def _apply(
        self,
        ctx: Context,
        campaign: BackfillCampaign,
        plans: list[LinePlan],
        result: SweepResult,
    ) -> int:
        """The batch's writes, each kind in one statement (or one bulk write); returns how
        many notices it planned."""
        self.repo.insert_schedules(
            campaign.id, [(p.line.id, p.schedule) for p in plans if p.new_schedule]
        )
        self.repo.update_schedules(
            campaign.id, [(p.line.id, p.schedule) for p in plans if not p.new_schedule]
        )
        moved = [p for p in plans if p.operation is not None]
        if moved:
            self._move(ctx, campaign, moved, result)
        # A batch's lines share their plans' notices (`plan_batch`): one text per notice.
        queued = [
            Queued(
                dedupe_key=f"backfill:{campaign.id}:{p.line.id}:{n.key}",
                enterprise_id=campaign.enterprise_id,
                line_id=p.line.id,
                destination=p.line.msisdn,
                kind=f"backfill.{n.kind}",
                body=self._body(n),
            )
            for p in plans
            for n in p.notices
        ]
        result.reminders += enqueue_many(self.session, queued, ctx.at)
        return len(queued)

    def _move(
        self, ctx: Context, campaign: BackfillCampaign, plans: list[LinePlan], result: SweepResult
    ) -> None:
        moves = []
        # The lifecycle's verdict per (operation, state, barring): a batch has a few.
        verdicts: dict[tuple[Any, ...], LineState] = {}
        for plan in plans:
            assert plan.operation is not None
            line = plan.line
            key = (plan.operation, line.state, line.barring_reason)
            after = verdicts.get(key)
            if after is None:
                if not is_unregistered_legacy(line.state, None):
                    raise RegistryError(RegistryErrorCode.ILLEGAL_TRANSITION, "only a legacy line")
                after = verdicts[key] = allowed(
                    plan.operation, LineState(line.state), line.barring_reason
                )
            moves.append(move_of(line, plan.operation, after))
        until = cooling_until(ctx.at, self.policy.cooling_days)
        if self.repo.move_lines(moves, ctx.at, until) != len(moves):
            # Read locked a moment ago: a line that moved meanwhile means the lock failed.
            raise RuntimeError("a swept line changed under its lock; the batch is undone")
        keys = self.registry.keyring.audit
        events = []
        for plan, move in zip(plans, moves, strict=True):
            for row in event_rows(
                move,
                plan.line.event_count,  # read locked: the move's events follow it
                actor=str(ctx.actor),
                at=ctx.at,
                correlation_id=ctx.correlation_id,
                cooling_until=until,
            ):
                events.append(seal_event_row(keys, row))
            result.moves[str(move.operation)] += 1
        self.repo.insert_events(events)
        refunds = [
            {
                "line_id": p.line.id,
                "campaign_id": campaign.id,
                "amount_minor": p.refund_minor,
                "status": "due",
                "recorded_at": ctx.at,
            }
            for p in plans
            if p.refund_minor
        ]
        self.repo.record_refunds(refunds)
        result.refunds += len(refunds)
        # Lines of this batch the session holds as objects are stale: read them again.
        for move in moves:
            held = self.session.identity_map.get(identity_key(Line, move.line_id))
            if held is not None:
                self.session.expire(held)

    def _body(self, notice: Notice) -> str:
        key = (notice.phase, tuple(notice.dates.items()), notice.amended)
        body = self._texts.get(key)
        if body is None:
            language = "zh" if self.policy.jurisdiction == "CN" else "en"
            body = reminder_text(notice.phase, notice.dates, language, amended=notice.amended)
            self._texts[key] = body
        return body

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
        targets = []
        for m in self.repo.milestones(campaign.id):
            by = overall.registered
            if m.due_on < at.date():  # over: registered by the end of its day
                until = _midnight(m.due_on + timedelta(days=1))
                by = self.repo.registered_between(enterprise_id, since, until)
            targets.append(
                milestone_status(
                    Milestone(m.due_on, m.percent),
                    overall.total,
                    by,
                    projection.rate_per_day,
                    at.date(),
                )
            )
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
            milestones=targets,
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

    def _audit(
        self,
        ctx: Context,
        action: str,
        campaign_id: int,
        detail: dict[str, Any],
        notes: dict[str, str | None] | None = None,
    ) -> None:
        audit_operation(
            self.session,
            self.registry.keyring,
            ctx,
            action=action,
            object_type="backfill_campaign",
            object_id=campaign_id,
            detail=detail,
            notes=notes,
        )


def _milestones_text(milestones: list[tuple[date, int]]) -> str:
    return ", ".join(f"{d.isoformat()}:{p}%" for d, p in milestones) or "-"


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
