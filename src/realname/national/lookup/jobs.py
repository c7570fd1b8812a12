"""The enterprise's side of 一证通查's forwarded disputes (`realname national disputes pull`):
at an enterprise instance that feeds a separate platform, a "not mine" dispute of one of its
lines cannot open a case at the platform (the registry is here). This job pulls them
(`GET /v1/national/feeds/disputes`, as the enterprise's feed_client), opens each as a
`not_mine` complaint case in this registry (the dispute's reference is the case's centre
reference), and posts the case's handling back (`traced`, `acted`, `closed` with its
outcome) whenever it is ahead of what the platform shows. Idempotent: a dispute already
taken is not taken again, a handling the platform has is not posted again.

Owns its transactions (one per dispute), as the feeds' jobs do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from realname.compliance.complaints.errors import ComplaintError
from realname.compliance.complaints.models import Complaint
from realname.compliance.complaints.service import ComplaintService, Intake
from realname.db.uow import UnitOfWork
from realname.national.feeds.errors import FeedError, FeedErrorCode
from realname.registry.commands import Actor, Context

HANDLED = ("traced", "acted", "closed")  # the case's states the platform is told of
OUTCOME = re.compile(r"[a-z][a-z_]{0,39}")  # the platform's outcome code


class DisputeSource(Protocol):
    """The platform as the enterprise's feed_client sees it (transport.HttpPush)."""

    def forwarded_disputes(self) -> Iterable[dict[str, Any]]: ...

    def answer_dispute(self, reference: str, status: str, outcome: str | None) -> None: ...


@dataclass
class DisputesReport:
    pulled: int = 0  # open disputes the platform listed
    opened: int = 0  # complaint cases opened here by this run
    posted: int = 0  # handlings posted back
    refused: list[tuple[str, str]] = field(default_factory=list)  # (reference, code)


def _handling(complaint: Complaint) -> tuple[str, str | None] | None:
    """What to tell the platform of the case: its state, and its last outcome code (the
    closing one when closed); None while it is only open."""
    if complaint.status not in HANDLED:
        return None
    codes = [c for c in (complaint.outcome or "").split(",") if OUTCOME.fullmatch(c)]
    outcome = codes[-1] if codes else None
    if complaint.status == "closed" and outcome is None:
        outcome = "closed"
    return complaint.status, outcome


def pull_disputes(
    uow: UnitOfWork,
    source: DisputeSource,
    complaints: Callable[[Session], ComplaintService],
    *,
    now: Callable[[], datetime],
) -> DisputesReport:
    report = DisputesReport()
    for dispute in source.forwarded_disputes():
        report.pulled += 1
        reference, shown = str(dispute["reference"]), str(dispute["status"])
        with uow.transaction() as session:
            service = complaints(session)
            case = service.by_reference(reference)
            if case is None:
                at = now()
                intake = Intake("not_mine", str(dispute["msisdn"]), at, centre_ref=reference)
                try:
                    with session.begin_nested():
                        case = service.take(Context(Actor("national", "disputes"), at), intake)
                except ComplaintError as error:
                    report.refused.append((reference, str(error.code)))
                    continue
                report.opened += 1
            handling = _handling(case)
        if handling is not None and handling[0] != shown:
            try:
                source.answer_dispute(reference, *handling)
            except FeedError as error:  # this case's answer refused: the others go on
                if error.code is FeedErrorCode.FEED_PLATFORM_UNREACHABLE:
                    raise
                report.refused.append((reference, str(error.code)))
                continue
            report.posted += 1
    return report
