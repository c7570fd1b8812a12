"""When a line's owner must verify again (二次实名): the policy's risk rules, applied.

Three triggers. A fraud complaint and a dormant line waking up are events, judged as they
arrive (a complaint, the network's usage feed); one identity holding many lines is a state,
found by the runner's sweep. Each asks at most once per `reverify_repeat_days`, never while
a deadline is pending, and announces each request (`ReverificationAsked`) to the teller the
composition root hands it (messaging queues the SMS in the same transaction: the registry
imports no messaging); the runner then enforces the 24-hour deadline
(`RegistryService.expire_reverification`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from realname.numbering.errors import NumberError
from realname.numbering.msisdn import parse_msisdn
from realname.policy.schema import Policy
from realname.registry.commands import Context
from realname.registry.lifecycle import LineState, Operation
from realname.registry.models import Line
from realname.registry.service import RegistryService

ASKABLE = (str(LineState.ACTIVE), str(LineState.RESTRICTED))
ASKED = (str(Operation.REQUEST_REVERIFICATION),)

FRAUD_COMPLAINT = "fraud_complaint"
MANY_LINES = "many_lines"
DORMANT_THEN_ACTIVE = "dormant_then_active"


@dataclass(frozen=True)
class ReverificationAsked:
    """A line's owner must be told to re-verify by `deadline` (asked at `at`)."""

    line_id: int
    enterprise_id: int
    msisdn: str
    deadline: datetime
    at: datetime


def is_dormant_then_active(
    last_used: datetime | None, used_at: datetime, dormant_days: int
) -> bool:
    """Pure: a use after at least `dormant_days` of silence (a first ever use is not)."""
    return last_used is not None and used_at - last_used >= timedelta(days=dormant_days)


# A clock a little ahead on the network side is normal; a use days ahead is a bad report and
# would make every real report after it look late.
USAGE_CLOCK_SKEW = timedelta(hours=1)


@dataclass
class UsageResult:
    updated: int = 0
    unknown: int = 0
    refused: int = 0  # reported in the future
    triggered: list[int] = field(default_factory=list)


class ReverificationTriggers:
    def __init__(
        self,
        session: Session,
        *,
        policy: Policy,
        registry: RegistryService,
        tell: Callable[[ReverificationAsked], None],
    ) -> None:
        self.session = session
        self.tell = tell
        self.policy = policy
        self.registry = registry
        self.repo = registry.repo

    def on_complaint(self, ctx: Context, line: Line, kind: str) -> bool:
        return kind == "fraud" and self.ask(ctx, line, FRAUD_COMPLAINT)

    def record_usage(
        self, ctx: Context, enterprise_id: int, uses: Sequence[tuple[str, datetime]]
    ) -> UsageResult:
        """The network's usage feed: last traffic per number. A number silent for the
        policy's dormant period that is used again is asked to re-verify."""
        result = UsageResult()
        dormant_days = self.policy.risk.reverify_dormant_days
        known: list[tuple[str, datetime]] = []
        for raw, used_at in uses:
            if used_at > ctx.at + USAGE_CLOCK_SKEW:
                result.refused += 1
                continue
            try:
                known.append((parse_msisdn(raw).e164, used_at))
            except NumberError:
                result.unknown += 1
        # Lock in number order, as every batch does, so two feeds cannot deadlock.
        for e164, used_at in sorted(known):
            line = self.repo.line_for_update(e164)
            if line is None or line.enterprise_id != enterprise_id:
                result.unknown += 1
                continue
            if line.last_used_at is not None and used_at <= line.last_used_at:
                continue  # a late or repeated report
            woke = is_dormant_then_active(line.last_used_at, used_at, dormant_days)
            line.last_used_at = used_at
            result.updated += 1
            if woke and self.ask(ctx, line, DORMANT_THEN_ACTIVE):
                result.triggered.append(line.id)
        self.session.flush()
        return result

    def many_lines_candidates(self, limit: int = 10_000) -> list[str]:
        """Numbers of lines held by an identity with `reverify_identity_lines` or more lines
        at one enterprise (read without locks; `ask_numbers` re-checks each under its lock)."""
        numbers: list[str] = []
        for identity_id, enterprise_id in self.repo.crowded_holdings(
            self.policy.risk.reverify_identity_lines
        ):
            numbers.extend(
                line.msisdn
                for line in self.repo.held_lines(identity_id, enterprise_id)
                if line.reverify_deadline is None and line.state in ASKABLE
            )
            if len(numbers) >= limit:
                break
        return numbers[:limit]

    def ask_number(self, ctx: Context, msisdn: str, reason: str) -> bool:
        line = self.repo.line_for_update(msisdn)
        return line is not None and self.ask(ctx, line, reason)

    def ask_numbers(self, ctx: Context, msisdns: Sequence[str], reason: str) -> int:
        """`ask_number` for several numbers in the caller's transaction: their lines locked
        in one statement, in number order (as every batch locks lines, so two sweeps cannot
        deadlock), the last asks read in one query; how many were asked."""
        lines = self.repo.lines_for_update(sorted(set(msisdns)))
        last = self.repo.last_events_at([line.id for line in lines], ASKED)
        return sum(self._ask(ctx, line, reason, last.get(line.id)) for line in lines)

    def sweep_many_lines(self, ctx: Context, limit: int = 10_000) -> int:
        """Ask every line of an identity holding many lines, in this one transaction (tests
        and small runs; the daily job asks them in transactions of 200, `jobs.py`)."""
        return self.ask_numbers(ctx, self.many_lines_candidates(limit), MANY_LINES)

    def ask(self, ctx: Context, line: Line, reason: str) -> bool:
        """Request re-verification of a locked line unless one is pending or recent."""
        if not self._may_ask(line):
            return False
        return self._ask(ctx, line, reason, self.repo.last_event_at(line.id, ASKED))

    @staticmethod
    def _may_ask(line: Line) -> bool:
        return (
            line.owner_identity_id is not None
            and line.state in ASKABLE
            and line.reverify_deadline is None
        )

    def _ask(self, ctx: Context, line: Line, reason: str, last: datetime | None) -> bool:
        """`ask` once the last ask is known (`last`)."""
        if not self._may_ask(line):
            return False
        if last is not None and ctx.at - last < timedelta(
            days=self.policy.risk.reverify_repeat_days
        ):
            return False
        self.registry.request_reverification_of(ctx, line, reason)
        assert line.reverify_deadline is not None
        self.tell(
            ReverificationAsked(
                line.id, line.enterprise_id, line.msisdn, line.reverify_deadline, ctx.at
            )
        )
        return True
