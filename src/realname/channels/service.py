"""Channels: where every unsold kit is, which channels look risky, and suspending them.

Kit movements are line operations and live in the registry service (they append to the
line's history); this service reads that history and acts on channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from realname.channels.models import RegistrationRefusal
from realname.channels.repository import ChannelRepository
from realname.channels.risk import ChannelRisk, assess_channels, over_threshold, ranked
from realname.policy.schema import Policy
from realname.registry.commands import Context
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.models import Channel, Line, LineEvent
from realname.registry.service import RegistryService

E = RegistryErrorCode

# Complaints that say a line was registered to someone who did not buy it, or used for fraud:
# the channel that registered it answers for both.
DISPUTE_KINDS = frozenset({"fraud", "not_mine"})


@dataclass(frozen=True)
class ChannelStock:
    channel: Channel
    count: int
    oldest: datetime | None
    older_than: dict[int, int]


@dataclass(frozen=True)
class AssessedChannel:
    channel: Channel
    risk: ChannelRisk
    over_threshold: bool


@dataclass(frozen=True)
class KitWhereabouts:
    line: Line
    channel: Channel | None
    trail: Sequence[LineEvent]


class ChannelService:
    def __init__(self, session: Session, *, policy: Policy, registry: RegistryService) -> None:
        self.session = session
        self.repo = ChannelRepository(session)
        self.policy = policy
        self.registry = registry

    # --- stock ----------------------------------------------------------------------------------

    def stock(self, enterprise_id: int, at: datetime) -> list[ChannelStock]:
        counts = self.repo.stock_by_channel(enterprise_id, at)
        empty: dict[str, Any] = {"count": 0, "oldest": None, "older_than": {}}
        return [
            ChannelStock(channel, **counts.get(channel.id, empty))
            for channel in self.repo.channels(enterprise_id)
        ]

    def aged_kits(
        self, enterprise_id: int, at: datetime, days: int | None = None, limit: int = 1000
    ) -> Sequence[Line]:
        """Kits unsold for longer than `days` (the policy's ageing limit by default)."""
        cutoff = at - timedelta(days=days or self.policy.risk.stock_ageing_days)
        return self.repo.aged_kits(enterprise_id, cutoff, limit)

    def where_is(self, enterprise_id: int, msisdn: str) -> KitWhereabouts:
        line = self.registry.line_by_number(enterprise_id, msisdn)
        channel = self.repo.channel(line.channel_id) if line.channel_id is not None else None
        return KitWhereabouts(line, channel, self.repo.stock_trail(line.id))

    # --- risk -----------------------------------------------------------------------------------

    def assess(self, enterprise_id: int, at: datetime) -> list[AssessedChannel]:
        """Every channel with activity in the policy's window, riskiest first."""
        rules = self.policy.risk
        since = at - timedelta(days=rules.window_days)
        disputed = [
            line
            for line, kind in self.repo.complaints(enterprise_id, since)
            if kind in DISPUTE_KINDS
        ]
        report = assess_channels(
            rules,
            self.repo.registrations(enterprise_id, since),
            self.repo.refusals(enterprise_id, since),
            disputed,
            self.repo.failed_proofs(enterprise_id, since),
            self.repo.backfills(enterprise_id, since),
        )
        channels = {c.id: c for c in self.repo.channels(enterprise_id)}
        return [
            AssessedChannel(channels[risk.channel_id], risk, over_threshold(rules, risk))
            for risk in ranked(report)
            if risk.channel_id in channels
        ]

    def suspend(
        self, ctx: Context, enterprise_id: int, channel_id: int, reason: str | None
    ) -> Channel:
        """Stop a channel registering. Without a reason given, only a channel over the
        policy's risk threshold, and the reason is the signals it tripped."""
        channel = self.registry.channel(enterprise_id, channel_id)
        if not reason:
            assessed = next(
                (a for a in self.assess(enterprise_id, ctx.at) if a.channel.id == channel_id),
                None,
            )
            if assessed is None or not assessed.over_threshold:
                raise RegistryError(E.CHANNEL_NOT_RISKY)
            return self.suspend_over_threshold(ctx, enterprise_id, [assessed])[0]
        return self.registry.admin.set_channel_status(
            ctx, enterprise_id, channel.id, "suspended", reason
        )

    def suspend_over_threshold(
        self, ctx: Context, enterprise_id: int, assessed: list[AssessedChannel]
    ) -> list[Channel]:
        """Suspend every active channel of an assessment that is over the threshold, with
        its tripped signals as the reason (the assessment is not run again)."""
        suspended = []
        for item in assessed:
            if item.over_threshold and item.channel.status == "active":
                # A coded reason (no typed text): it stays readable on the channel.
                reason = "risk:" + ",".join(s.name for s in item.risk.signals if s.tripped)
                suspended.append(
                    self.registry.admin.set_channel_status(
                        ctx, enterprise_id, item.channel.id, "suspended", reason
                    )
                )
        return suspended

    def resume(self, ctx: Context, enterprise_id: int, channel_id: int, reason: str) -> Channel:
        return self.registry.admin.set_channel_status(
            ctx, enterprise_id, channel_id, "active", reason
        )

    def record_refusal(
        self, channel_id: int, clerk_id: int | None, code: str, at: datetime
    ) -> None:
        """Called by the entry point after it rolled a refused registration back."""
        self.repo.add(
            RegistrationRefusal(channel_id=channel_id, clerk_id=clerk_id, code=code, occurred_at=at)
        )
        self.session.flush()
