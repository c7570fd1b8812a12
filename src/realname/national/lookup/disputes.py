"""一证通查's "not mine" disputes: a proved subscriber disputes a line of their answer, and
follows the case by its reference; the enterprise whose line it names answers it.

- **Opening** (`dispute`): within the proved answer's window, on a line of that answer. Where
  the enterprise's registry is in this instance, a complaint case opens at it (category
  `not_mine`, the policy's answer deadline), once the registry's line is checked to still be
  the one the index names. Else (the enterprise runs its own instance and feeds the
  platform) the dispute is `forwarded`: the enterprise pulls it a page at a time
  (`forwarded`, an opaque cursor: `DisputeCursors`) and posts its handling
  (`answer_forwarded`: traced, acted, closed with an outcome code; only forward).
- **Its state** (`dispute_state`, the subscriber's; `disputes_of`, the enterprise's console
  and the regulator's list): one reading of its status (`DisputeState.shown`), the
  complaint case's here, what the enterprise posted when forwarded.

The proved-answer check, the limits and the audit are the lookup's (service.py): a
`DisputeService` works on a `LookupService`. Services flush; entry points commit.
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from realname.compliance.complaints.models import Complaint
from realname.national.index.models import NationalLine
from realname.national.lookup.errors import LookupErrorCode, NationalLookupError
from realname.national.lookup.models import NationalDispute, NationalDisputeAnswer
from realname.national.lookup.repository import FORWARDED
from realname.national.lookup.service import OBJECT, LookupService
from realname.numbering.msisdn import mask_msisdn
from realname.possession.service import new_public_id
from realname.registry.models import Enterprise
from realname.security.audit import append_audit

L = LookupErrorCode
DISPUTE_CONTEXT = b"national.lookup.dispute\x00"
ANSWER_STATUSES = frozenset({"traced", "acted", "closed"})  # the complaints' vocabulary
# A case only moves forward: a handling behind the one shown (an `acted` case posted `traced`
# again, by a client replaying an old state) would show the subscriber a case going back.
STAGE = {FORWARDED: 0, "open": 0, "traced": 1, "acted": 2, "closed": 3}
OUTCOME_CODE = re.compile(r"[a-z][a-z_]{0,39}")  # a code, as a complaint's: never free text
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DisputeStep:
    """One step of a case as the subscriber sees it: a status, its outcome code, when."""

    status: str
    outcome: str | None
    at: datetime


@dataclass(frozen=True)
class DisputeState:
    """A dispute as it is shown: to the subscriber by its reference (with its `history`), and
    in the list of the enterprise whose line it names (its console, the regulator's), where
    `history` is left empty. The subscriber's answer carries neither `forwarded` nor
    `complaint_id` (schemas.DisputeOut)."""

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
    history: list[DisputeStep] = field(default_factory=list)

    @classmethod
    def shown(
        cls,
        dispute: NationalDispute,
        line: NationalLine,
        enterprise: Enterprise,
        complaint: Complaint | None,
        at: datetime,
        history: list[DisputeStep] | None = None,
    ) -> DisputeState:
        """Its status and outcome: its complaint case's here; what the enterprise posted when
        forwarded (`forwarded` until it posts). Overdue: not closed by its deadline."""
        if complaint is not None:
            status, outcome = complaint.status, complaint.outcome
        else:
            status, outcome = dispute.status or FORWARDED, dispute.outcome
        return cls(
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
            history or [],
        )


@dataclass(frozen=True)
class ForwardedDispute:
    """A forwarded dispute as its enterprise pulls it: its own line in full, to trace."""

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


# An enterprise client from before the cursor gets its oldest open disputes in one list, at
# most this many (the list it was answered before paging had no bound).
LEGACY_LIST = 5000


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

    def __init__(self, index_key: bytes) -> None:
        # a key of its own, derived from the index key: a cursor's tag is never a value the
        # index key makes for anything else
        self.key = hmac.digest(index_key, b"realname national dispute cursor key v1", "sha256")

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


class DisputeService:
    """The disputes of a lookup: opened on its proved answers, under its keys and limits,
    audited as it is."""

    def __init__(self, lookup: LookupService) -> None:
        self.lookup = lookup
        self.session = lookup.session
        self.index = lookup.index
        self.repo = lookup.repo
        self.cursors = DisputeCursors(lookup.keys.index_key)

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
        identity_id = self.lookup.proved_identity(challenge_id, at)
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
            [("dispute", self.lookup.mac(DISPUTE_CONTEXT, f"{line.id}:{identity_id}"))], at
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
            due_at=at + timedelta(days=self.lookup.limits.dispute_days),
            complaint_id=complaint_id,
            status=None if here else FORWARDED,
        )
        self.repo.add(dispute)
        self.session.flush()
        self.lookup.audit(
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
        """The case the reference names, with every step of it so far."""
        found = self.repo.dispute(reference)
        if found is None:
            raise NationalLookupError(L.DISPUTE_NOT_FOUND)
        dispute, line, enterprise, complaint = found
        return DisputeState.shown(
            dispute, line, enterprise, complaint, at, self._history(dispute, complaint)
        )

    def _history(self, dispute: NationalDispute, complaint: Complaint | None) -> list[DisputeStep]:
        """Its steps, oldest first: the complaint case's here (acted on as it was traced);
        forwarded to a separate enterprise, what it posted, if anything."""
        if complaint is None:
            return [DisputeStep(FORWARDED, None, dispute.opened_at)] + [
                DisputeStep(a.status, a.outcome, a.answered_at)
                for a in self.repo.answers(dispute.id)
            ]
        history = [DisputeStep("open", None, dispute.opened_at)]
        if complaint.traced_at is not None:
            history.append(DisputeStep("traced", None, complaint.traced_at))
        codes = (complaint.outcome or "").split(",") if complaint.outcome else []
        acted = complaint.status == "acted" or (complaint.status == "closed" and len(codes) > 1)
        if acted and complaint.traced_at is not None:
            done = codes if complaint.status == "acted" else codes[:-1]
            history.append(DisputeStep("acted", ",".join(done), complaint.traced_at))
        if complaint.closed_at is not None:
            history.append(DisputeStep("closed", codes[-1] if codes else None, complaint.closed_at))
        return history

    # --- the enterprise's side ------------------------------------------------------------

    def disputes_of(
        self,
        enterprise_id: int | None,
        at: datetime,
        *,
        include_closed: bool = False,
        limit: int = 100,
    ) -> list[DisputeState]:
        """The "not mine" disputes of an enterprise's lines (None: every enterprise's), with
        their deadline and status (as the subscriber sees it, without the history), a
        complaint case here or forwarded. Open ones soonest deadline first; numbers masked."""
        return [
            DisputeState.shown(dispute, line, enterprise, complaint, at)
            for dispute, line, enterprise, complaint in self.repo.disputes_of(
                enterprise_id, include_closed, limit
            )
        ]

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

    def oldest_forwarded(self, enterprise_id: int, at: datetime) -> list[ForwardedDispute]:
        """The answer to an enterprise client from before the cursor: its open forwarded
        disputes in one list, oldest first, at most LEGACY_LIST of them (one read; that client
        takes the list as every open dispute, and the ones past the limit come in a later run,
        once the earlier ones are closed)."""
        return self.forwarded(enterprise_id, at, limit=LEGACY_LIST).disputes

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
            self.lookup.keyring,
            actor=actor,
            action="national.lookup.dispute_answer",
            object_type=OBJECT,
            object_id=reference,
            at=at,
            detail={"enterprise_id": enterprise_id, "status": status, "outcome": outcome},
        )
        return self.dispute_state(reference, at)
