"""Complaints from the complaint centre, taken one by one or from a CSV file, traced and
acted on.

Tracing reads the line's event log up to the instant of the call or message: the owner then
(not today's, after a transfer or a reissue), the enterprise, and the channel and clerk that
put that owner on the line. What a complaint sets off goes through the registry's services:

- every complaint about a line still held by the owner it traces to is kept on the line's
  history (`complain`), where channel risk reads it; a fraud call asks the owner to re-verify
  (the registry's existing rule);
- `cluster_count` complaints about one line within `cluster_hours` ask its owner to re-verify;
- "not mine" (the person it is registered to says it is not theirs) suspends the line for a
  check and frees their cap slot (`dispute_owner`);
- an owner traced by `repeat_offender_count` complaints within `repeat_offender_days` has
  every other line they hold, at every enterprise, flagged for its enterprise.

A complaint about a line that has changed hands since is kept and traced (it counts against
the channel that sold it then) but acts on nobody who holds the line now.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from realname.compliance.complaints.errors import (
    MAX_IMPORT_ROWS,
    ComplaintError,
    ComplaintErrorCode,
)
from realname.compliance.complaints.models import Complaint, ComplaintFlag, ComplaintImport
from realname.compliance.complaints.repository import OFFENCES, ComplaintRepository
from realname.errors import CodedError
from realname.numbering.errors import NumberError
from realname.numbering.msisdn import parse_msisdn
from realname.policy.schema import Policy
from realname.registry.auditing import audit_operation
from realname.registry.commands import Context
from realname.registry.lifecycle import LineState
from realname.registry.models import LineEvent
from realname.registry.reverification import ReverificationTriggers
from realname.registry.service import RegistryService
from realname.security.vault import KeyRing

C = ComplaintErrorCode
OBJECT = "complaint"
HEADER = ("category", "msisdn", "occurred_at", "content_sha256", "centre_ref")
# A file is one transaction (its rows in savepoints): a bigger one would hold the audit chain
# and the lines it touches for minutes. The message says so (errors.py).
PROGRESS_EVERY = 500  # rows between progress reports
ImportProgress = Callable[[int, int], None]  # (rows done, rows in the file)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REF = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_OUTCOME = re.compile(r"[a-z][a-z_]{0,39}")
# A centre's clock a little ahead of ours is normal; a call days ahead is a bad report.
CLOCK_SKEW = timedelta(minutes=10)
COMPLAINABLE = (LineState.ACTIVE, LineState.RESTRICTED, LineState.SUSPENDED)
DISPUTABLE = (LineState.ACTIVE, LineState.RESTRICTED)
COMPLAINT_CLUSTER = "complaint_cluster"


class Category(StrEnum):
    SPAM_SMS = "spam_sms"
    FRAUD_CALL = "fraud_call"
    HARASSMENT_CALL = "harassment_call"
    NOT_MINE = "not_mine"
    OTHER = "other"


# The kind the registry's line history and its rules know a complaint by.
LINE_KIND = {
    Category.SPAM_SMS: "spam",
    Category.FRAUD_CALL: "fraud",
    Category.HARASSMENT_CALL: "harassment",
    Category.NOT_MINE: "not_mine",
    Category.OTHER: "other",
}


@dataclass(frozen=True)
class Intake:
    """One complaint as the centre states it."""

    category: str
    msisdn: str
    occurred_at: datetime
    content_sha256: str | None = None
    centre_ref: str | None = None


@dataclass
class ImportReport:
    import_id: int | None = None
    rows: int = 0
    accepted: list[int] = field(default_factory=list)
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (line, code, message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "rows": self.rows,
            "accepted": len(self.accepted),
            "complaint_ids": self.accepted,
            "refused": [{"line": n, "code": c, "message": m} for n, c, m in self.refused],
        }


@dataclass(frozen=True)
class Checked:
    category: Category
    e164: str
    occurred_at: datetime
    content_sha256: str | None
    centre_ref: str | None


class ComplaintService:
    def __init__(
        self,
        session: Session,
        *,
        policy: Policy,
        keyring: KeyRing,
        registry: RegistryService,
        reverification: ReverificationTriggers,
    ) -> None:
        self.session = session
        self.repo = ComplaintRepository(session)
        self.policy = policy
        self.rules = policy.complaints
        self.keyring = keyring
        self.registry = registry
        self.reverification = reverification

    # --- intake ---------------------------------------------------------------------------

    def take(self, ctx: Context, intake: Intake, *, import_id: int | None = None) -> Complaint:
        """Check, record, trace and act on one complaint."""
        checked = self.check(ctx, intake)
        complaint = Complaint(
            received_at=ctx.at,
            occurred_at=checked.occurred_at,
            category=str(checked.category),
            msisdn=checked.e164,
            content_sha256=checked.content_sha256,
            centre_ref=checked.centre_ref,
            import_id=import_id,
            recorded_by=str(ctx.actor)[:64],
            status="open",
        )
        self.repo.add(complaint)
        self.session.flush()
        self._trace(ctx, complaint)
        self._act(ctx, complaint)
        self._audit(
            ctx,
            "complaint.take",
            complaint.id,
            {
                "category": complaint.category,
                "status": complaint.status,
                "outcome": complaint.outcome,
                "enterprise_id": complaint.enterprise_id,
                "import_id": import_id,
            },
        )
        return complaint

    def check(self, ctx: Context, intake: Intake) -> Checked:
        """Everything about one complaint that can be refused, before anything is written."""
        try:
            category = Category(intake.category.strip())
        except ValueError:
            raise ComplaintError(C.CATEGORY_INVALID) from None
        try:
            e164 = parse_msisdn(intake.msisdn).e164
        except NumberError:
            raise ComplaintError(C.NUMBER_INVALID) from None
        occurred = intake.occurred_at
        if occurred.tzinfo is None:
            raise ComplaintError(C.INSTANT_INVALID)
        occurred = occurred.astimezone(UTC)
        if occurred > ctx.at + CLOCK_SKEW:
            raise ComplaintError(C.INSTANT_IN_FUTURE)
        if occurred < ctx.at - timedelta(days=self.rules.max_age_days):
            raise ComplaintError(C.INSTANT_TOO_OLD)
        digest = (intake.content_sha256 or "").strip().lower() or None
        if digest is not None and not _SHA256.fullmatch(digest):
            raise ComplaintError(C.CONTENT_HASH_INVALID)
        ref = (intake.centre_ref or "").strip() or None
        if ref is not None:
            if not _REF.fullmatch(ref):
                raise ComplaintError(C.REFERENCE_INVALID)
            if self.repo.by_reference(ref) is not None:
                raise ComplaintError(C.DUPLICATE_COMPLAINT)
        return Checked(category, e164, occurred, digest, ref)

    def import_csv(
        self, ctx: Context, data: bytes, progress: ImportProgress | None = None
    ) -> ImportReport:
        """A file from the complaint centre: every good row lands (each in its own savepoint,
        so a row that fails half-way leaves nothing), every bad one is reported with its
        line number. A file that is not the expected CSV, or holds more than MAX_IMPORT_ROWS
        rows, is refused whole before anything is written. `progress` hears (done, total)
        every PROGRESS_EVERY rows and at the end."""
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ComplaintError(C.FILE_INVALID, "not UTF-8") from None
        reader = csv.reader(io.StringIO(text))
        try:
            header = next(reader, None)
            if header is None or tuple(h.strip().lower() for h in header) != HEADER:
                raise ComplaintError(C.FILE_INVALID, "header")
            rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
        except csv.Error:  # e.g. a field past the csv module's limit (131,072 characters)
            raise ComplaintError(C.FILE_INVALID, f"not CSV at line {reader.line_num}") from None
        if len(rows) > MAX_IMPORT_ROWS:
            raise ComplaintError(C.FILE_TOO_MANY_ROWS, f"{len(rows)} rows")
        digest = hashlib.sha256(data).hexdigest()
        if self.repo.import_of(digest) is not None:
            raise ComplaintError(C.FILE_ALREADY_IMPORTED)
        batch = ComplaintImport(
            sha256=digest,
            received_at=ctx.at,
            actor=str(ctx.actor)[:64],
            rows=0,
            accepted=0,
            refused=0,
        )
        self.repo.add(batch)
        self.session.flush()
        report = ImportReport(import_id=batch.id)
        for number, row in rows:
            report.rows += 1
            if progress is not None and report.rows % PROGRESS_EVERY == 0:
                progress(report.rows, len(rows))
            try:
                intake = _intake_of(row)
                with self.session.begin_nested():
                    complaint = self.take(ctx, intake, import_id=batch.id)
                report.accepted.append(complaint.id)
            except CodedError as error:
                report.refused.append((number, str(error.code), error.message))
        if progress is not None:
            progress(report.rows, len(rows))
        batch.rows, batch.accepted, batch.refused = (
            report.rows,
            len(report.accepted),
            len(report.refused),
        )
        self.session.flush()
        self._audit(
            ctx,
            "complaint.import",
            batch.id,
            {
                "sha256": batch.sha256,
                "rows": batch.rows,
                "accepted": batch.accepted,
                "refused": batch.refused,
            },
            object_type="complaint_import",
        )
        return report

    # --- tracing and acting ---------------------------------------------------------------

    def _trace(self, ctx: Context, complaint: Complaint) -> None:
        line = self.registry.repo.line(complaint.msisdn)
        if line is None:
            complaint.status, complaint.outcome = "closed", "number_unknown"
            complaint.closed_at = ctx.at
            return
        events = self.registry.repo.events_of(line.id, until=complaint.occurred_at)
        complaint.line_id, complaint.enterprise_id = line.id, line.enterprise_id
        complaint.owner_identity_id = events[-1].owner_after_id if events else None
        origin = _origin(events, complaint.owner_identity_id)
        if origin is not None:
            complaint.channel_id = origin.channel_id
            clerk = (origin.detail or {}).get("clerk_id")
            complaint.clerk_id = int(clerk) if isinstance(clerk, int) else None
        complaint.status, complaint.traced_at = "traced", ctx.at
        self.session.flush()

    def _act(self, ctx: Context, complaint: Complaint) -> None:
        if complaint.line_id is None:
            return
        line = self.registry.repo.line_for_update(complaint.msisdn)
        assert line is not None
        owner = complaint.owner_identity_id
        done: list[str] = []
        same_owner = owner is not None and line.owner_identity_id == owner
        category = Category(complaint.category)
        if same_owner and LineState(line.state) in COMPLAINABLE:
            kind = LINE_KIND[category]
            self.registry.complain(ctx, line.enterprise_id, line.msisdn, kind)
            asked = self.reverification.on_complaint(ctx, line, kind)
            since = complaint.occurred_at - timedelta(hours=self.rules.cluster_hours)
            cluster = self.repo.on_line_since(line.id, owner, since)
            if (
                not asked
                and category is not Category.NOT_MINE
                and cluster >= (self.rules.cluster_count)
            ):
                asked = self.reverification.ask(ctx, line, COMPLAINT_CLUSTER)
            if asked:
                done.append("reverification_requested")
            if category is Category.NOT_MINE and LineState(line.state) in DISPUTABLE:
                self.registry.dispute_owner(
                    ctx, line.enterprise_id, line.msisdn, "complaint_not_mine"
                )
                done.append("line_disputed")
        if (
            owner is not None
            and category.value in OFFENCES
            and self._repeat_offender(ctx, complaint, owner)
        ):
            done.append("owner_lines_flagged")
        complaint.outcome = ",".join(done) if done else "recorded"
        complaint.status = "acted" if done else "traced"
        self.session.flush()

    def _repeat_offender(self, ctx: Context, complaint: Complaint, owner: int) -> bool:
        since = complaint.occurred_at - timedelta(days=self.rules.repeat_offender_days)
        if self.repo.against_owner_since(owner, since) < self.rules.repeat_offender_count:
            return False
        held = self.repo.held_lines_anywhere(owner)
        flagged, already = False, self.repo.flagged_lines(owner, [line.id for line in held])
        for line in held:
            if line.id == complaint.line_id or line.id in already:
                continue
            self.repo.add(
                ComplaintFlag(
                    line_id=line.id,
                    enterprise_id=line.enterprise_id,
                    identity_id=owner,
                    complaint_id=complaint.id,
                    reason="repeat_offender",
                    flagged_at=ctx.at,
                    detail={},
                )
            )
            flagged = True
        if flagged:
            self.session.flush()
            self._audit(
                ctx,
                "complaint.flag_owner_lines",
                complaint.id,
                {"identity_id": owner},
            )
        return flagged

    # --- the case ---------------------------------------------------------------------------

    def close(
        self, ctx: Context, complaint_id: int, outcome: str, enterprise_id: int | None = None
    ) -> Complaint:
        """The case ends with its outcome (a code). An enterprise closes only its own."""
        if not _OUTCOME.fullmatch(outcome):
            raise ComplaintError(C.OUTCOME_INVALID)
        complaint = self.repo.complaint(complaint_id, lock=True)
        if complaint is None or (
            enterprise_id is not None and complaint.enterprise_id != enterprise_id
        ):
            raise ComplaintError(C.COMPLAINT_NOT_FOUND)
        if complaint.status == "closed":
            raise ComplaintError(C.COMPLAINT_CLOSED)
        complaint.status, complaint.closed_at = "closed", ctx.at
        complaint.outcome = ",".join(filter(None, (complaint.outcome, outcome)))[:200]
        self.session.flush()
        self._audit(ctx, "complaint.close", complaint.id, {"outcome": outcome})
        return complaint

    def by_reference(self, centre_ref: str) -> Complaint | None:
        """The complaint taken under this reference (the centre's, or a national dispute's)."""
        return self.repo.by_reference(centre_ref)

    def complaint(self, complaint_id: int, enterprise_id: int | None = None) -> Complaint:
        complaint = self.repo.complaint(complaint_id)
        if complaint is None or (
            enterprise_id is not None and complaint.enterprise_id != enterprise_id
        ):
            raise ComplaintError(C.COMPLAINT_NOT_FOUND)
        return complaint

    def complaints(
        self,
        enterprise_id: int | None = None,
        status: str | None = None,
        limit: int = 500,
        after_id: int = 0,
    ) -> Sequence[Complaint]:
        return self.repo.complaints(enterprise_id, status, limit, after_id)

    def flags(self, enterprise_id: int | None = None) -> Sequence[ComplaintFlag]:
        return self.repo.flags(enterprise_id)

    def report(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        enterprise_id: int | None = None,
        province: str | None = None,
    ) -> list[dict[str, Any]]:
        """Per enterprise and channel: complaints by category (what the figures and
        `realname report complaints` show); one enterprise's only, or one province's
        channels only, if named (in the query)."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        counted = self.repo.counts(since, until, enterprise_id, province)
        for enterprise, channel, category, count in counted:
            key = (enterprise, channel or "")
            row = rows.setdefault(
                key,
                {"enterprise": enterprise, "channel": channel or "", "total": 0}
                | {str(c): 0 for c in Category},
            )
            row[category] += count
            row["total"] += count
        return [rows[k] for k in sorted(rows)]

    def _audit(
        self,
        ctx: Context,
        action: str,
        object_id: int,
        detail: dict[str, Any],
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
        )


def _origin(events: Sequence[LineEvent], owner: int | None) -> LineEvent | None:
    """The event that put `owner` on the line (its channel and clerk sold it to them); for a
    line nobody held, the last event at a channel (where the kit was)."""
    for event in reversed(events):
        if owner is not None:
            if event.owner_after_id == owner and event.owner_before_id != owner:
                return event
        elif event.channel_id is not None:
            return event
    return None


def _intake_of(row: list[str]) -> Intake:
    cells = [c.strip() for c in row] + [""] * (len(HEADER) - len(row))
    if len(row) > len(HEADER):
        raise ComplaintError(C.FILE_INVALID, "too many columns")
    category, msisdn, occurred, digest, ref = cells[: len(HEADER)]
    return Intake(category, msisdn, parse_instant(occurred), digest or None, ref or None)


def parse_instant(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ComplaintError(C.INSTANT_INVALID) from None
    if at.tzinfo is None:
        raise ComplaintError(C.INSTANT_INVALID)
    return at
