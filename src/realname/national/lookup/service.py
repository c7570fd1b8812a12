"""一证通查: a subscriber learns, at once, how many lines every enterprise holds under their
document, and disputes one that is not theirs.

1. **Ask for a code** with a document type and number, a name and one of their mobile numbers.
   When the national index holds that document, the name matches (by the platform's keyed
   name index) and the identity holds that number, a six-digit code is queued in the outbox
   (body sealed) to that number. Whatever the case, the answer is the same: a challenge id.
   The per-identity limit counts requests by the index of what was typed, known or not; the
   per-source limit by the caller's address (keyed too).
2. **Answer with the code**: the lines in service per enterprise, numbers masked. A wrong
   code, an expired or used-up challenge and a challenge for nobody answer the one refusal,
   `LOOKUP_NOT_PROVED`, and each try counts.
3. **Dispute** a line of the answer as "not mine" while the answer is fresh: a complaint case
   (category `not_mine`) is opened at the enterprise with the policy's answer deadline; the
   subscriber follows it by the case reference.

Every step is audited (keys and counts only). Services flush; entry points commit.

Over 600 lines: the lookup and its disputes share the proved-answer check, the platform's
keys, the limits and the audit; the disputes (opening, their state and history, the
enterprise's side) are the candidate to move to a `disputes.py` of their own.
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import ceil

from sqlalchemy.orm import Session

from realname.compliance.complaints.models import Complaint
from realname.config import Settings
from realname.messaging.service import enqueue, seal_body
from realname.national.feeds.keys import PlatformKeys
from realname.national.index.models import NationalLine
from realname.national.index.repository import IndexRepository
from realname.national.lookup.errors import LookupErrorCode, NationalLookupError
from realname.national.lookup.models import (
    NationalDispute,
    NationalDisputeAnswer,
    NationalLookupChallenge,
)
from realname.national.lookup.repository import FORWARDED, LookupRepository
from realname.numbering.errors import NumberError
from realname.numbering.msisdn import mask_msisdn, parse_msisdn
from realname.policy.schema import Policy
from realname.possession.service import new_code, new_public_id
from realname.security.audit import append_audit
from realname.security.vault import KeyRing

L = LookupErrorCode
OBJECT = "national_lookup"
CODE_CONTEXT = b"national.lookup.code\x00"
SOURCE_CONTEXT = b"national.lookup.source\x00"
DISPUTE_CONTEXT = b"national.lookup.dispute\x00"
_DAY, _HOUR = timedelta(days=1), timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ANSWER_STATUSES = frozenset({"traced", "acted", "closed"})  # the complaints' vocabulary
# A case only moves forward: a handling behind the one shown (an `acted` case posted `traced`
# again, by a client replaying an old state) would show the subscriber a case going back.
STAGE = {FORWARDED: 0, "open": 0, "traced": 1, "acted": 2, "closed": 3}
OUTCOME_CODE = re.compile(r"[a-z][a-z_]{0,39}")  # a code, as a complaint's: never free text


# The longest window a lookup row still counts in: the per-identity day (the per-source hour,
# a code's life, at most 30 minutes, and a proved answer's disputes, at most an hour, are
# shorter: config.py bounds them).
LONGEST_WINDOW = _DAY


def purge_lookup_rows(session: Session, at: datetime) -> tuple[int, int]:
    """Housekeeping (`realname backfill run`): the challenges issued, and the limit-lock rows
    last used, before the longest window: no limit counts them, no answer or dispute can use
    them. (challenges, locks) deleted. Only flushes."""
    return LookupRepository(session).purge_before(at - LONGEST_WINDOW)


@dataclass(frozen=True)
class LookupLimits:
    code_ttl_seconds: int = 300
    max_attempts: int = 3
    per_identity_per_day: int = 3
    per_source_per_hour: int = 10
    answer_seconds: int = 900
    dispute_days: int = 15

    @classmethod
    def from_settings(cls, settings: Settings, policy: Policy) -> LookupLimits:
        return cls(
            code_ttl_seconds=settings.national_lookup_code_ttl_seconds,
            max_attempts=settings.national_lookup_max_attempts,
            per_identity_per_day=settings.national_lookup_per_identity_per_day,
            per_source_per_hour=settings.national_lookup_per_source_per_hour,
            answer_seconds=settings.national_lookup_answer_seconds,
            dispute_days=policy.risk.dispute_answer_days,
        )


@dataclass(frozen=True)
class Issued:
    challenge_id: str
    expires_at: datetime
    code: str | None = field(default=None, repr=False)  # for the SMS only (and the demo)


@dataclass(frozen=True)
class LineShown:
    line_ref: int
    msisdn_masked: str
    state: str


@dataclass(frozen=True)
class EnterpriseLines:
    enterprise: str
    name: str
    kind: str
    active_lines: int
    lines: list[LineShown]


@dataclass(frozen=True)
class Answer:
    total: int
    enterprises: list[EnterpriseLines]
    answered_at: datetime


@dataclass(frozen=True)
class DisputeStep:
    """One step of a case as the subscriber sees it: a status, its outcome code, when."""

    status: str
    outcome: str | None
    at: datetime


@dataclass(frozen=True)
class ForwardedDispute:
    reference: str
    msisdn: str
    line_seq: int
    owner_since: datetime | None
    opened_at: datetime
    due_at: datetime
    status: str
    outcome: str | None
    overdue: bool


@dataclass(frozen=True)
class ForwardedPage:
    """A page of an enterprise's forwarded disputes, and the cursor of the next one (None:
    this is the last)."""

    disputes: list[ForwardedDispute]
    next: str | None


@dataclass(frozen=True)
class EnterpriseDispute:
    """A dispute as the enterprise whose line it names sees it (its console)."""

    reference: str
    enterprise: str
    msisdn_masked: str
    opened_at: datetime
    due_at: datetime
    status: str
    outcome: str | None
    overdue: bool
    forwarded: bool  # no complaint case here: the enterprise's own instance traces it
    complaint_id: int | None


@dataclass(frozen=True)
class DisputeState:
    reference: str
    enterprise: str
    msisdn_masked: str
    opened_at: datetime
    due_at: datetime
    status: str
    outcome: str | None
    overdue: bool
    history: list[DisputeStep] = field(default_factory=list)


class DisputeCursors:
    """The opaque `after` of an enterprise's forwarded-disputes pages (`next` in a page).

    A position in the enterprise's own order, (opened_at, reference) of the last dispute
    given, and not the platform-wide dispute id: the ids between two of an enterprise's
    disputes counted every other enterprise's, so paging by them told each enterprise how many
    disputes the others get. Its own dispute's time and reference tell it nothing it has not
    been given. The position is signed (HMAC under the platform's index key, bound to the
    enterprise) rather than encrypted, which is all it needs: there is nothing in it to hide
    from its enterprise, and the tag makes a garbled, forged or another enterprise's cursor a
    clear DISPUTE_CURSOR_INVALID (never a 500, never another position). It is deterministic:
    the same page gives the same cursor, whatever else the platform holds."""

    CONTEXT = b"national.lookup.cursor\x00"
    TAG = 16  # bytes of HMAC-SHA256 kept
    LONGEST = 128  # characters: a cursor is some 64; anything much longer is not one

    def __init__(self, key: bytes) -> None:
        self.key = key

    def _tag(self, enterprise_id: int, position: bytes) -> bytes:
        bound = self.CONTEXT + enterprise_id.to_bytes(8, "big") + position
        return hmac.digest(self.key, bound, "sha256")[: self.TAG]

    def seal(self, enterprise_id: int, opened_at: datetime, reference: str) -> str:
        micros = (opened_at - _EPOCH) // timedelta(microseconds=1)
        position = micros.to_bytes(8, "big", signed=True) + reference.encode("ascii")
        token = base64.urlsafe_b64encode(position + self._tag(enterprise_id, position))
        return token.rstrip(b"=").decode("ascii")

    def open(self, enterprise_id: int, cursor: str) -> tuple[datetime, str]:
        """The position a cursor names, if this platform sealed it for this enterprise."""
        try:
            if len(cursor) > self.LONGEST:
                raise ValueError("too long")
            padded = (cursor + "=" * (-len(cursor) % 4)).encode("ascii")
            raw = base64.b64decode(padded, altchars=b"-_", validate=True)
            position, tag = raw[: -self.TAG], raw[-self.TAG :]
            if len(position) <= 8 or not hmac.compare_digest(
                tag, self._tag(enterprise_id, position)
            ):
                raise ValueError("not sealed here")
            micros = int.from_bytes(position[:8], "big", signed=True)
            return _EPOCH + timedelta(microseconds=micros), position[8:].decode("ascii")
        except (ValueError, OverflowError):  # binascii.Error is a ValueError
            raise NationalLookupError(L.DISPUTE_CURSOR_INVALID) from None


class LookupService:
    def __init__(
        self,
        session: Session,
        *,
        keys: PlatformKeys,
        keyring: KeyRing,
        limits: LookupLimits,
    ) -> None:
        self.session = session
        self.keys = keys
        self.keyring = keyring
        self.limits = limits
        self.index = IndexRepository(session)
        self.repo = LookupRepository(session)
        self.cursors = DisputeCursors(keys.index_key)

    @classmethod
    def configured(
        cls,
        session: Session,
        *,
        keys: PlatformKeys,
        keyring: KeyRing,
        settings: Settings,
        policy: Policy,
    ) -> LookupService:
        """The one way every entry point (the API, the CLI, the demo) builds it: the limits
        from the settings, the dispute deadline from the policy."""
        return cls(
            session,
            keys=keys,
            keyring=keyring,
            limits=LookupLimits.from_settings(settings, policy),
        )

    def _mac(self, context: bytes, value: str) -> bytes:
        return hmac.digest(self.keys.index_key, context + value.encode(), "sha256")

    def issue(
        self,
        *,
        doc_type: str,
        doc_number: str,
        name: str,
        msisdn: str,
        source: str,
        at: datetime,
    ) -> Issued:
        doc_type, doc_number, name = doc_type.strip(), doc_number.strip(), name.strip()
        if not doc_type or not doc_number or not name:
            raise NationalLookupError(L.LOOKUP_INPUT_INVALID)
        try:
            e164 = parse_msisdn(msisdn).e164
        except NumberError:
            raise NationalLookupError(L.LOOKUP_INPUT_INVALID) from None
        requested = self.keys.identity_key(doc_type, doc_number)
        source_key = self._mac(SOURCE_CONTEXT, source)
        # Counted under each key's lock: exact when requests come at once (PostgreSQL's READ
        # COMMITTED let every concurrent request count the same total below the limit).
        self.repo.lock_keys([("source", source_key), ("identity", requested)], at)
        for column, key, window, limit in (
            (
                NationalLookupChallenge.source_key,
                source_key,
                _HOUR,
                self.limits.per_source_per_hour,
            ),
            (
                NationalLookupChallenge.requested_key,
                requested,
                _DAY,
                self.limits.per_identity_per_day,
            ),
        ):
            count, oldest = self.repo.window(column, key, at - window)
            if count >= limit:
                # when the oldest counted request leaves the window (the per-identity window
                # is a day: "an hour" sent the caller back to another 429)
                wait = (oldest + window - at).total_seconds() if oldest else window.total_seconds()
                raise NationalLookupError(L.LOOKUP_RATE_LIMITED, retry_after=max(1, ceil(wait)))
        identity = self.index.identity(requested)
        line = None
        if identity is not None:
            # document + name + number, on the line that holds the number: the name is the one
            # that line's enterprise registered it under (another enterprise's feed cannot
            # change it)
            typed = self.keys.name_key(name)
            line = next(
                (
                    held
                    for held in self.index.held_numbers(identity.id, e164)
                    if held.name_key is not None and hmac.compare_digest(held.name_key, typed)
                ),
                None,
            )
        public_id = new_public_id()
        code = new_code() if line is not None else None
        expires = at + timedelta(seconds=self.limits.code_ttl_seconds)
        self.repo.add(
            NationalLookupChallenge(
                public_id=public_id,
                requested_key=requested,
                identity_id=identity.id if line is not None and identity is not None else None,
                source_key=source_key,
                code_digest=self._mac(CODE_CONTEXT, f"{public_id}:{code}") if code else None,
                sent=line is not None,
                issued_at=at,
                expires_at=expires,
                attempts=0,
            )
        )
        if line is not None and code is not None:
            minutes = max(1, self.limits.code_ttl_seconds // 60)
            text = (
                f"【一证通查】验证码 {code}，{minutes} 分钟内有效，用于查询您名下的电话号码。"
                f"如非本人操作，请勿告诉他人。 Code {code}: a lookup of the numbers under "
                "your ID. If that is not you, tell no one."
            )
            enqueue(
                self.session,
                dedupe_key=f"national-lookup:{public_id}",
                enterprise_id=line.enterprise_id,
                line_id=None,
                destination=e164,
                kind="national_lookup",
                body=seal_body(self.keyring, text),
                at=at,
            )
        self.session.flush()
        self._audit("national.lookup.code", public_id, at, {"sent": line is not None})
        return Issued(public_id, expires, code)

    def answer(self, *, challenge_id: str, code: str, at: datetime) -> Answer:
        """The lines, or LOOKUP_NOT_PROVED for every kind of failure (the try is counted:
        the entry point keeps this transaction on that refusal)."""
        challenge = self.repo.challenge(challenge_id)
        if challenge is None:
            raise NationalLookupError(L.LOOKUP_NOT_PROVED)
        challenge.attempts += 1
        self.session.flush()
        right = challenge.code_digest is not None and hmac.compare_digest(
            challenge.code_digest, self._mac(CODE_CONTEXT, f"{challenge.public_id}:{code}")
        )
        if (
            not right
            or challenge.identity_id is None
            or challenge.proved_at is not None
            or challenge.expires_at <= at
            or challenge.attempts > self.limits.max_attempts
        ):
            self._audit("national.lookup.refused", challenge.public_id, at, {})
            raise NationalLookupError(L.LOOKUP_NOT_PROVED)
        challenge.proved_at = at
        answer = self._lines(challenge.identity_id, at)
        self._audit(
            "national.lookup.answer",
            challenge.public_id,
            at,
            {"lines": answer.total, "enterprises": len(answer.enterprises)},
        )
        return answer

    def _lines(self, identity_id: int, at: datetime) -> Answer:
        grouped: dict[str, EnterpriseLines] = {}
        for line, enterprise in self.index.held_lines(identity_id):
            entry = grouped.get(enterprise.code)
            if entry is None:
                entry = grouped[enterprise.code] = EnterpriseLines(
                    enterprise.code, enterprise.name, enterprise.kind, 0, []
                )
            entry.lines.append(LineShown(line.id, mask_msisdn(line.msisdn), line.state))
        enterprises = [
            EnterpriseLines(e.enterprise, e.name, e.kind, len(e.lines), e.lines)
            for e in grouped.values()
        ]
        return Answer(sum(e.active_lines for e in enterprises), enterprises, at)

    def proved_identity(self, challenge_id: str, at: datetime) -> int:
        challenge = self.repo.challenge(challenge_id)
        window = timedelta(seconds=self.limits.answer_seconds)
        if (
            challenge is None
            or challenge.proved_at is None
            or challenge.identity_id is None
            or challenge.proved_at + window <= at
        ):
            raise NationalLookupError(L.LOOKUP_NOT_PROVED)
        return challenge.identity_id

    def dispute(
        self,
        *,
        challenge_id: str,
        line_ref: int,
        at: datetime,
        open_complaint: Callable[[NationalLine, str], int | None],
    ) -> DisputeState:
        """Open a "not mine" case on a line of a fresh answer; `open_complaint(line,
        reference)` opens the complaint at the enterprise (the entry point composes it)."""
        identity_id = self.proved_identity(challenge_id, at)
        line = self.index.line(line_ref)
        if (
            line is None
            or line.identity_id != identity_id
            or self.index.holds(identity_id, line.msisdn) is None
        ):
            raise NationalLookupError(L.LOOKUP_NOT_PROVED)
        # The enterprise's registry in this instance: its complaint case opens here, on the
        # registry's line, which must still be the one the index names. Else (a separate
        # enterprise instance feeds the platform; a line of the same number here is another
        # enterprise's, before a port) the dispute is forwarded: the enterprise pulls it and
        # posts its handling (`forwarded`, `answer_forwarded`).
        # One case per person and line: two proved answers disputing at once are taken one
        # after the other (a row lock on their pair), and the second finds the first's case.
        self.repo.lock_keys(
            [("dispute", self._mac(DISPUTE_CONTEXT, f"{line.id}:{identity_id}"))], at
        )
        existing = self.repo.open_dispute(line.id, identity_id, at)
        if existing is not None:  # a retry: its case, even if the line has changed since
            return self.dispute_state(existing.reference, at)
        here = self.repo.enterprise_is_here(line.enterprise_id)
        if here:
            self._still_the_same(line)
        reference = "ND" + new_public_id(22)
        complaint_id = open_complaint(line, reference) if here else None
        dispute = NationalDispute(
            reference=reference,
            line_id=line.id,
            identity_id=identity_id,
            enterprise_id=line.enterprise_id,
            opened_at=at,
            due_at=at + timedelta(days=self.limits.dispute_days),
            complaint_id=complaint_id,
            status=None if here else FORWARDED,
        )
        self.repo.add(dispute)
        self.session.flush()
        self._audit(
            "national.lookup.dispute", reference, at, {"line": line.id, "forwarded": not here}
        )
        return self.dispute_state(reference, at)

    def _still_the_same(self, line: NationalLine) -> None:
        """A dispute acts on the registry's line: refuse when that is no longer the line the
        national index names (the number moved to another enterprise, or the line has another
        owner since the event the index was fed from), rather than dispute whoever holds the
        number now. Only for an enterprise whose registry is here; a number that registry
        does not know at all is left to the complaint's trace (`number_unknown`)."""
        current = self.repo.registry_line(line.msisdn, line.seq)
        if current is None:
            return
        if current.has_event_at_seq:
            same_owner = current.owner_at_seq == current.owner_identity_id
        else:  # fed from a snapshot of a line without events (a legacy import)
            same_owner = current.owner_since == line.owner_since
        if (
            current.enterprise_id != line.enterprise_id
            or current.owner_identity_id is None
            or not same_owner
        ):
            raise NationalLookupError(L.LOOKUP_LINE_CHANGED)

    def dispute_state(self, reference: str, at: datetime) -> DisputeState:
        found = self.repo.dispute(reference)
        if found is None:
            raise NationalLookupError(L.DISPUTE_NOT_FOUND)
        dispute, line, enterprise, complaint = found
        status, outcome = _shown(dispute, complaint)
        if complaint is not None:
            history = [DisputeStep("open", None, dispute.opened_at)]
            if complaint.traced_at is not None:
                history.append(DisputeStep("traced", None, complaint.traced_at))
            codes = (complaint.outcome or "").split(",") if complaint.outcome else []
            acted = complaint.status == "acted" or (complaint.status == "closed" and len(codes) > 1)
            if acted and complaint.traced_at is not None:  # acted on as it was traced
                done = codes if complaint.status == "acted" else codes[:-1]
                history.append(DisputeStep("acted", ",".join(done), complaint.traced_at))
            if complaint.closed_at is not None:
                history.append(
                    DisputeStep("closed", codes[-1] if codes else None, complaint.closed_at)
                )
        else:  # forwarded to a separate enterprise: what it posted, if anything
            history = [DisputeStep(FORWARDED, None, dispute.opened_at)] + [
                DisputeStep(a.status, a.outcome, a.answered_at)
                for a in self.repo.answers(dispute.id)
            ]
        return DisputeState(
            dispute.reference,
            enterprise.code,
            mask_msisdn(line.msisdn),
            dispute.opened_at,
            dispute.due_at,
            status,
            outcome,
            status != "closed" and dispute.due_at <= at,
            history,
        )

    # --- the enterprise's side ------------------------------------------------------------

    def disputes_of(
        self,
        enterprise_id: int | None,
        at: datetime,
        *,
        include_closed: bool = False,
        limit: int = 100,
    ) -> list[EnterpriseDispute]:
        """The "not mine" disputes of an enterprise's lines (None: every enterprise's), with
        their deadline and status: the complaint case's here, what the enterprise posted when
        forwarded. Open ones soonest deadline first; numbers masked."""
        out = []
        for dispute, line, enterprise, complaint in self.repo.disputes_of(
            enterprise_id, include_closed, limit
        ):
            status, outcome = _shown(dispute, complaint)
            out.append(
                EnterpriseDispute(
                    dispute.reference,
                    enterprise.code,
                    mask_msisdn(line.msisdn),
                    dispute.opened_at,
                    dispute.due_at,
                    status,
                    outcome,
                    status != "closed" and dispute.due_at <= at,
                    dispute.complaint_id is None,
                    dispute.complaint_id,
                )
            )
        return out

    # --- the enterprise's side of forwarded disputes ----------------------------------------

    def forwarded(
        self, enterprise_id: int, at: datetime, *, after: str | None = None, limit: int = 200
    ) -> ForwardedPage:
        """The enterprise's forwarded disputes not closed yet, oldest first, at most `limit`
        from the cursor `after` (the `next` of the page before; DISPUTE_CURSOR_INVALID when it
        is not one this platform gave this enterprise): what it needs to trace the line in its
        own registry (its number, and the change of it the index was fed from)."""
        position = self.cursors.open(enterprise_id, after) if after is not None else None
        rows = self.repo.forwarded(enterprise_id, position, limit + 1)
        page = rows[:limit]
        last = page[-1][0] if page else None
        return ForwardedPage(
            [
                ForwardedDispute(
                    dispute.reference,
                    line.msisdn,
                    line.seq,
                    line.owner_since,
                    dispute.opened_at,
                    dispute.due_at,
                    dispute.status or FORWARDED,
                    dispute.outcome,
                    dispute.due_at <= at,
                )
                for dispute, line in page
            ],
            self.cursors.seal(enterprise_id, last.opened_at, last.reference)
            if last is not None and len(rows) > limit
            else None,
        )

    def answer_forwarded(
        self,
        *,
        enterprise_id: int,
        reference: str,
        status: str,
        outcome: str | None,
        at: datetime,
        actor: str,
    ) -> DisputeState:
        """The enterprise's handling of a forwarded dispute: `traced`, `acted` or `closed`,
        with an outcome code (required to close). Only its own, only until closed, never
        backwards; the handling already shown, posted again (a retry whose answer was lost),
        is answered as it stands and recorded once."""
        if status not in ANSWER_STATUSES or (
            outcome is not None and not OUTCOME_CODE.fullmatch(outcome)
        ):
            raise NationalLookupError(L.DISPUTE_ANSWER_INVALID)
        if status == "closed" and outcome is None:
            raise NationalLookupError(L.DISPUTE_ANSWER_INVALID, "closing needs an outcome")
        dispute = self.repo.dispute_for_update(reference)
        if (
            dispute is None
            or dispute.enterprise_id != enterprise_id
            or dispute.complaint_id is not None
            or dispute.status is None
        ):
            raise NationalLookupError(L.DISPUTE_NOT_FOUND)
        if status == dispute.status and outcome in (None, dispute.outcome):
            return self.dispute_state(reference, at)
        if dispute.status == "closed":
            raise NationalLookupError(L.DISPUTE_CLOSED)
        if STAGE[status] < STAGE[dispute.status]:
            raise NationalLookupError(
                L.DISPUTE_STATUS_BACKWARDS, f"the case is {dispute.status} already"
            )
        # each step shows its own outcome (none: none), not the one posted with an earlier step
        dispute.status, dispute.answered_at, dispute.outcome = status, at, outcome
        self.repo.add(
            NationalDisputeAnswer(
                dispute_id=dispute.id, status=status, outcome=outcome, answered_at=at
            )
        )
        self.session.flush()
        append_audit(
            self.session,
            self.keyring,
            actor=actor,
            action="national.lookup.dispute_answer",
            object_type=OBJECT,
            object_id=reference,
            at=at,
            detail={"enterprise_id": enterprise_id, "status": status, "outcome": outcome},
        )
        return self.dispute_state(reference, at)

    def _audit(self, action: str, object_id: str, at: datetime, detail: dict[str, object]) -> None:
        append_audit(
            self.session,
            self.keyring,
            actor="public:national_lookup",
            action=action,
            object_type=OBJECT,
            object_id=object_id,
            at=at,
            detail=detail,
        )


def _shown(dispute: NationalDispute, complaint: Complaint | None) -> tuple[str, str | None]:
    """A dispute's status and outcome: its complaint case's here; what the enterprise posted
    when forwarded (`forwarded` until it posts)."""
    if complaint is not None:
        return complaint.status, complaint.outcome
    return dispute.status or FORWARDED, dispute.outcome
