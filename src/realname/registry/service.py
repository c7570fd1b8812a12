"""The registry's use cases: one method per lifecycle operation.

Each method validates everything it can before it changes anything, then updates the line,
appends a `line_event` and an audit entry, and flushes. It never commits: the entry point
(HTTP request, CLI command, job) owns the transaction, so a refusal anywhere leaves no trace.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from realname.db.dialect import insert_ignoring_conflicts
from realname.identity.authority import (
    AuthorityUnavailableError,
    AuthorityVerdict,
    IdentityAuthority,
)
from realname.identity.documents import ParsedDocument, parse_document
from realname.identity.errors import DocumentError
from realname.identity.names import normalize_name
from realname.identity.resident_id import LATEST_TABLE_DATE
from realname.numbering.blocks import NumberBlock
from realname.numbering.errors import NumberError
from realname.numbering.msisdn import mask_msisdn, parse_msisdn
from realname.policy import checks
from realname.policy.schema import CapScope, ChannelKind, Policy
from realname.registry.auditing import audit_operation
from realname.registry.commands import Context, Kit, Person, PossessionProof, TypedText
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.integrity import is_reason_code, mac_event, mac_identity
from realname.registry.lifecycle import (
    BARS,
    HELD_STATES,
    BarringReason,
    IllegalTransitionError,
    LineState,
    Operation,
    is_unregistered_legacy,
    transition,
)
from realname.registry.models import (
    Channel,
    Clerk,
    Enterprise,
    Holding,
    Identity,
    Line,
    LineEvent,
    NumberBlockRow,
)
from realname.registry.repository import RegistryRepository
from realname.security.audit import seal_note
from realname.security.vault import KeyRing, Sealed

E = RegistryErrorCode
S = LineState
O = Operation  # noqa: E741

NUMBER_CONTEXT = "identity.number"
NAME_CONTEXT = "identity.name"
ADDRESS_CONTEXT = "identity.address"
# Where an owner may report a phone lost in person: staffed halls, not kiosks or online.
LOSS_COUNTERS = frozenset({ChannelKind.OWN_HALL, ChannelKind.PARTNER_HALL})

_AUTHORITY_ERRORS = {
    AuthorityVerdict.UNKNOWN_DOCUMENT: E.AUTHORITY_UNKNOWN_DOCUMENT,
    AuthorityVerdict.NAME_MISMATCH: E.AUTHORITY_NAME_MISMATCH,
    AuthorityVerdict.REVOKED: E.AUTHORITY_DOCUMENT_REVOKED,
}


def coded(text: str | None, fallback: str | None) -> tuple[str | None, str | None]:
    """(reason code, note to seal): a coded reason (lower-case words, no digits) from our own
    code is kept; anything a person typed (`TypedText`, or not code-shaped) becomes a sealed
    note under the fallback code."""
    if not text:
        return None, None
    if not isinstance(text, TypedText) and is_reason_code(text):
        return text, None
    return fallback, text


def _refuse_on(violation: checks.PolicyViolation | None) -> None:
    if violation is not None:
        raise RegistryError(RegistryErrorCode(violation.value.upper()))


@dataclass(frozen=True)
class RevealedOwner:
    """An owner in clear, for a caller whose role needs it; never logged, never cached."""

    identity_id: int
    document_type: str
    document_number: str | None  # None once the retention job purged the record
    name: str | None
    nationality: str | None
    birth_date: date | None
    sex: str | None
    purged: bool = False


@dataclass(frozen=True)
class VerifiedPerson:
    document: ParsedDocument
    name: str
    birth_date: date | None


class RegistryService:
    def __init__(
        self,
        session: Session,
        *,
        policy: Policy,
        keyring: KeyRing,
        authority: IdentityAuthority,
    ) -> None:
        self.session = session
        self.repo = RegistryRepository(session)
        self.policy = policy
        self.keyring = keyring
        self.authority = authority

    # --- enterprises, blocks, channels, clerks --------------------------------------------------

    def create_enterprise(
        self,
        ctx: Context,
        *,
        code: str,
        name: str,
        kind: str,
        licence_no: str | None = None,
        host_enterprise_id: int | None = None,
    ) -> Enterprise:
        enterprise = Enterprise(
            code=code,
            name=name,
            kind=kind,
            licence_no=licence_no,
            host_enterprise_id=host_enterprise_id,
            status="active",
            created_at=ctx.at,
        )
        self.repo.add(enterprise)
        self.session.flush()
        self._audit(ctx, "enterprise.create", "enterprise", enterprise.id, {"code": code})
        return enterprise

    def allocate_block(
        self, ctx: Context, enterprise_id: int, block: NumberBlock
    ) -> NumberBlockRow:
        self._enterprise(enterprise_id)
        if self.repo.overlapping_blocks(block.first, block.last):
            raise RegistryError(E.BLOCK_OVERLAPS)
        row = NumberBlockRow(
            enterprise_id=enterprise_id, first=block.first, last=block.last, allocated_at=ctx.at
        )
        self.repo.add(row)
        self.session.flush()
        self._audit(
            ctx, "block.allocate", "number_block", row.id, {"block": str(block), "size": block.size}
        )
        return row

    def create_channel(
        self,
        ctx: Context,
        enterprise_id: int,
        *,
        code: str,
        name: str,
        kind: ChannelKind,
        region_code: str,
        parent_id: int | None = None,
    ) -> Channel:
        self._enterprise(enterprise_id)
        if parent_id is not None:
            self._channel(enterprise_id, parent_id)  # a sub-channel of one's own channel only
        channel = Channel(
            enterprise_id=enterprise_id,
            parent_id=parent_id,
            code=code,
            name=name,
            kind=str(kind),
            region_code=region_code,
            status="active",
            created_at=ctx.at,
        )
        self.repo.add(channel)
        self.session.flush()
        self._audit(ctx, "channel.create", "channel", channel.id, {"kind": str(kind)})
        return channel

    def create_clerk(
        self, ctx: Context, enterprise_id: int, channel_id: int, *, code: str, name: str
    ) -> Clerk:
        self._channel(enterprise_id, channel_id)
        clerk = Clerk(
            channel_id=channel_id, code=code, name=name, status="active", created_at=ctx.at
        )
        self.repo.add(clerk)
        self.session.flush()
        self._audit(ctx, "clerk.create", "clerk", clerk.id, {"channel_id": channel_id})
        return clerk

    def set_channel_status(
        self, ctx: Context, enterprise_id: int, channel_id: int, status: str, reason: str
    ) -> Channel:
        """A coded reason is kept as is; free text is sealed (audit note) and the channel
        shows the code `manual`, so no typed text sits in clear in the table or the chain."""
        code, note = coded(reason, "manual")
        channel = self._channel(enterprise_id, channel_id)
        channel.status, channel.status_reason = status, code
        self.session.flush()
        self._audit(
            ctx, f"channel.{status}", "channel", channel.id, {"reason": code}, {"note": note}
        )
        return channel

    # --- stock ----------------------------------------------------------------------------------

    def stock_kits(
        self, ctx: Context, enterprise_id: int, channel_id: int, kits: Sequence[Kit]
    ) -> list[Line]:
        """Put SIM kits in a channel's stock; each number must be in the enterprise's blocks."""
        channel = self._channel(enterprise_id, channel_id)
        # Validate the whole batch before changing anything (a refusal leaves no half-stocked
        # batch), and lock lines in number order so two batches cannot deadlock.
        planned: list[tuple[Kit, str, Line | None, LineState | None]] = []
        seen_numbers: set[str] = set()
        seen_kits: set[str] = set()
        for kit in sorted(kits, key=lambda k: self._msisdn(k.msisdn)):
            e164 = self._msisdn(kit.msisdn)
            if not kit.card_is_well_formed:
                raise RegistryError(E.KIT_INVALID)
            if self.repo.block_owning(enterprise_id, e164[1:]) is None:
                raise RegistryError(E.NUMBER_NOT_ALLOCATED)
            if (
                e164 in seen_numbers
                or {kit.iccid, kit.imsi} & seen_kits
                or self.repo.kit_in_use(enterprise_id, kit.iccid, kit.imsi)
            ):
                raise RegistryError(E.KIT_IN_USE)
            seen_numbers.add(e164)
            seen_kits |= {kit.iccid, kit.imsi}
            line = self.repo.line_for_update(e164)
            if line is not None and line.enterprise_id != enterprise_id:
                raise RegistryError(E.NUMBER_NOT_ALLOCATED)
            before = LineState(line.state) if line is not None else None
            self._transition(O.STOCK, before)
            planned.append((kit, e164, line, before))
        lines = []
        for kit, e164, line, before in planned:
            if line is None:
                line = Line(
                    msisdn=e164,
                    enterprise_id=enterprise_id,
                    state=str(before),
                    state_changed_at=ctx.at,
                    event_count=0,
                )
                self.repo.add(line)
            line.iccid, line.imsi, line.channel_id = kit.iccid, kit.imsi, channel.id
            line.stocked_at = ctx.at
            self.session.flush()
            self._record(ctx, line, O.STOCK, before, S.STOCKED, channel_id=channel.id)
            lines.append(line)
        return lines

    def move_kits(
        self,
        ctx: Context,
        enterprise_id: int,
        from_channel_id: int,
        to_channel_id: int,
        msisdns: Sequence[str],
    ) -> list[Line]:
        """Pass unsold kits down to a sub-channel or back up to its parent: stock follows the
        channel tree, so an enterprise always knows which channel answers for a kit."""
        source = self._channel(enterprise_id, from_channel_id)
        target = self._channel(enterprise_id, to_channel_id, must_be_active=True)
        if target.parent_id != source.id and source.parent_id != target.id:
            raise RegistryError(E.STOCK_MOVE_NOT_ALLOWED)
        lines = self._held_kits(enterprise_id, source.id, msisdns, O.MOVE_STOCK)
        for line in lines:
            line.channel_id = target.id
            self._record(
                ctx,
                line,
                O.MOVE_STOCK,
                S.STOCKED,
                S.STOCKED,
                channel_id=target.id,
                detail={"from_channel_id": source.id, "iccid": line.iccid},
            )
        return lines

    def return_kits(
        self,
        ctx: Context,
        enterprise_id: int,
        channel_id: int,
        msisdns: Sequence[str],
        *,
        write_off: bool = False,
        reason: str = "",
    ) -> list[Line]:
        """Take kits out of a channel's stock back to the enterprise pool; a written-off kit
        (lost, damaged) is gone, so its ICCID and IMSI leave the number with it."""
        operation = O.WRITE_OFF if write_off else O.UNSTOCK
        lines = self._held_kits(enterprise_id, channel_id, msisdns, operation)
        for line in lines:
            detail = {"from_channel_id": channel_id, "iccid": line.iccid}
            line.channel_id = None
            line.stocked_at = None
            line.iccid = line.imsi = None
            code, note = coded(reason, None)
            self._record(
                ctx, line, operation, S.STOCKED, S.POOLED, reason=code, note=note, detail=detail
            )
        return lines

    def _held_kits(
        self, enterprise_id: int, channel_id: int, msisdns: Sequence[str], operation: Operation
    ) -> list[Line]:
        """The lines of a batch, locked in number order, each a kit this channel holds; the
        whole batch is checked before any of it moves."""
        if not msisdns:
            raise RegistryError(E.NOTHING_TO_MOVE)
        numbers = sorted({self._msisdn(raw) for raw in msisdns})
        lines = []
        for e164 in numbers:
            line = self.repo.line_for_update(e164)
            if line is None or line.enterprise_id != enterprise_id:
                raise RegistryError(E.LINE_NOT_FOUND)
            if line.state != S.STOCKED or line.channel_id != channel_id:
                raise RegistryError(E.NOT_IN_CHANNEL_STOCK)
            self._transition(operation, S.STOCKED)
            lines.append(line)
        return lines

    # --- registration ---------------------------------------------------------------------------

    def register(
        self,
        ctx: Context,
        *,
        enterprise_id: int,
        channel_id: int,
        clerk_id: int,
        msisdn: str,
        person: Person,
        possession: PossessionProof | None = None,
    ) -> Line:
        """Register a customer and activate a line: a stocked kit of this channel, or a
        legacy line being back-filled (at any channel of its enterprise), which needs
        `possession`, a proof for this very line, when the policy names proof methods."""
        channel = self._channel(enterprise_id, channel_id, must_be_active=True)
        self._clerk(channel, clerk_id)
        e164 = self._msisdn(msisdn)
        # The cheap refusals on a plain read, then the authority (a network call) before any
        # row lock is taken; then the line is locked and checked again.
        first = self._registrable(self.repo.line(e164), enterprise_id, channel)
        if first[2] is not O.REGISTER_LEGACY:
            self._refuse_without_licence(enterprise_id)
        self._refuse_unproven(first[0], first[2], possession)
        verified = self._verify(
            person, ChannelKind(channel.kind), new_holder=True, today=ctx.at.date()
        )
        line = self.repo.line_for_update(e164)
        line, state, operation, after = self._registrable(line, enterprise_id, channel)
        self._refuse_unproven(line, operation, possession)
        legacy = operation is O.REGISTER_LEGACY
        identity = self._identity_for(verified, person, ctx.at, enterprise_id)
        detail: dict[str, Any] = {
            "clerk_id": clerk_id,
            "document_type": str(verified.document.type),
        }
        if legacy and line.barring_reason:
            detail["lifted"] = line.barring_reason  # the back-fill bar ends with registration
        if legacy and possession is not None:
            detail["possession"] = possession.method
        line.barring_reason = line.restriction_reason = None
        line.channel_id = channel.id
        line.activated_at = line.activated_at if legacy else ctx.at
        line.owner_since = ctx.at
        line.stocked_at = None
        self._record(
            ctx,
            line,
            operation,
            state,
            after,
            owner_after=identity.id,
            channel_id=channel.id,
            detail=detail,
        )
        line.owner_identity_id = identity.id
        return line

    def _registrable(
        self, line: Line | None, enterprise_id: int, channel: Channel
    ) -> tuple[Line, LineState, Operation, LineState]:
        if line is None or line.enterprise_id != enterprise_id:
            raise RegistryError(E.NOT_IN_CHANNEL_STOCK)
        state = LineState(line.state)
        if state is S.STOCKED and line.channel_id != channel.id:
            raise RegistryError(E.NOT_IN_CHANNEL_STOCK)
        legacy = is_unregistered_legacy(line.state, line.owner_identity_id)
        operation = O.REGISTER_LEGACY if legacy else O.REGISTER
        return line, state, operation, self._transition(operation, state, line.barring_reason)

    def _refuse_unproven(
        self, line: Line, operation: Operation, possession: PossessionProof | None
    ) -> None:
        """A legacy line is back-filled only with a proof of possession for that very line,
        when the policy names proof methods."""
        unproven = possession is None or possession.line_id != line.id
        if operation is O.REGISTER_LEGACY and self.policy.possession.backfill_methods and unproven:
            raise RegistryError(E.POSSESSION_NOT_PROVEN)

    # --- barring --------------------------------------------------------------------------------

    def suspend(
        self, ctx: Context, enterprise_id: int, msisdn: str, reason: BarringReason, note: str = ""
    ) -> Line:
        return self._bar(ctx, enterprise_id, msisdn, O.SUSPEND, reason, note)

    def restrict(
        self, ctx: Context, enterprise_id: int, msisdn: str, reason: BarringReason, note: str = ""
    ) -> Line:
        return self._bar(ctx, enterprise_id, msisdn, O.RESTRICT, reason, note)

    def resume(self, ctx: Context, enterprise_id: int, msisdn: str, note: str = "") -> Line:
        return self._lift(ctx, enterprise_id, msisdn, O.RESUME, note)

    def unrestrict(self, ctx: Context, enterprise_id: int, msisdn: str, note: str = "") -> Line:
        return self._lift(ctx, enterprise_id, msisdn, O.UNRESTRICT, note)

    def report_lost(self, ctx: Context, enterprise_id: int, msisdn: str) -> Line:
        """Bar a lost phone at once (the back office); getting service back needs the owner
        (SIM replacement)."""
        return self._bar(ctx, enterprise_id, msisdn, O.REPORT_LOST, BarringReason.LOST, "")

    def report_lost_at_counter(
        self,
        ctx: Context,
        *,
        enterprise_id: int,
        channel_id: int,
        clerk_id: int,
        msisdn: str,
        owner: Person,
    ) -> Line:
        """The owner reports the phone lost at a counter: an active own or partner hall of the
        line's enterprise (not a kiosk, not online), its active clerk, and the owner's document
        and name matching the line's sealed identity. Barring is a denial of service, so a
        clerk cannot bar a line on a number and a story alone."""
        channel = self._channel(enterprise_id, channel_id, must_be_active=True)
        if ChannelKind(channel.kind) not in LOSS_COUNTERS:
            raise RegistryError(E.CHANNEL_NOT_AUTHORISED, "losses are reported at a hall")
        channel, line, _, _, verified, _ = self._at_counter(
            enterprise_id, channel_id, clerk_id, msisdn, O.REPORT_LOST, owner, ctx.at.date()
        )
        self._verify_owner(line, verified, name_must_match=True)
        return self._bar(
            ctx,
            enterprise_id,
            msisdn,
            O.REPORT_LOST,
            BarringReason.LOST,
            "",
            channel_id=channel.id,
            clerk_id=clerk_id,
        )

    def lock(self, ctx: Context, enterprise_id: int, msisdn: str, owner: Person) -> Line:
        verified = self._owner_checked_unlocked(
            enterprise_id, msisdn, O.LOCK, owner, ChannelKind.ONLINE, ctx.at.date()
        )
        line = self._line(enterprise_id, msisdn)
        self._verify_owner(line, verified)
        return self._bar(ctx, enterprise_id, msisdn, O.LOCK, BarringReason.LOCKED, "")

    def lock_held(self, ctx: Context, enterprise_id: int, msisdn: str) -> Line:
        """Lock a line for its owner whom the caller has already bound to it (self-service: a
        token on a line of the owner's identity); locking only protects the owner."""
        return self._bar(ctx, enterprise_id, msisdn, O.LOCK, BarringReason.LOCKED, "")

    def unlock(self, ctx: Context, enterprise_id: int, msisdn: str, owner: Person) -> Line:
        verified = self._owner_checked_unlocked(
            enterprise_id, msisdn, O.UNLOCK, owner, ChannelKind.ONLINE, ctx.at.date()
        )
        line = self._line(enterprise_id, msisdn)
        self._transition(O.UNLOCK, LineState(line.state), line.barring_reason)
        self._verify_owner(line, verified)
        return self._lift(ctx, enterprise_id, msisdn, O.UNLOCK, "")

    # --- SIM replacement and transfer -----------------------------------------------------------

    def replace_sim(
        self,
        ctx: Context,
        *,
        enterprise_id: int,
        channel_id: int,
        clerk_id: int,
        msisdn: str,
        owner: Person,
        iccid: str,
        imsi: str,
    ) -> Line:
        """A new SIM for the same number, only for its verified owner; the swap time is what
        banks ask about (CAMARA SIM Swap)."""
        channel, line, before, after, verified, _ = self._at_counter(
            enterprise_id, channel_id, clerk_id, msisdn, O.REPLACE_SIM, owner, ctx.at.date()
        )
        self._verify_owner(line, verified)
        if self.repo.kit_in_use(enterprise_id, iccid, imsi):
            raise RegistryError(E.KIT_IN_USE)
        old_iccid = line.iccid
        line.iccid, line.imsi, line.sim_changed_at = iccid, imsi, ctx.at
        if before is S.SUSPENDED:
            after = self._lift_barring(line, before, after)
        self._record(
            ctx,
            line,
            O.REPLACE_SIM,
            before,
            after,
            owner_after=line.owner_identity_id,
            channel_id=channel.id,
            detail={"clerk_id": clerk_id, "iccid_tail_before": (old_iccid or "")[-4:]},
        )
        return line

    def transfer(
        self,
        ctx: Context,
        *,
        enterprise_id: int,
        channel_id: int,
        clerk_id: int,
        msisdn: str,
        owner: Person,
        receiver: Person,
    ) -> Line:
        """Hand a line to another person: both verified, the receiver's caps checked."""
        channel, line, before, after, owner_verified, verified = self._at_counter(
            enterprise_id,
            channel_id,
            clerk_id,
            msisdn,
            O.TRANSFER,
            owner,
            ctx.at.date(),
            receiver=receiver,
        )
        self._verify_owner(line, owner_verified)
        assert verified is not None
        old_owner = line.owner_identity_id
        assert old_owner is not None
        current = self.repo.identity(old_owner)
        receiver_index = self.keyring.blind_index(verified.document.number, NUMBER_CONTEXT)
        if current is not None and (current.doc_type, current.number_index) == (
            str(verified.document.type),
            receiver_index,
        ):
            raise RegistryError(E.ILLEGAL_TRANSITION, "the receiver already owns the line")
        new_owner = self._identity_for(
            verified, receiver, ctx.at, enterprise_id, also_locking=old_owner
        )
        self._unhold(old_owner, enterprise_id)
        line.owner_identity_id = new_owner.id
        line.owner_since = ctx.at
        line.reverify_deadline = None
        self._record(
            ctx,
            line,
            O.TRANSFER,
            before,
            after,
            owner_before=old_owner,
            owner_after=new_owner.id,
            channel_id=channel.id,
            detail={"clerk_id": clerk_id},
        )
        return line

    # --- re-verification (二次实名) ---

    def request_reverification(
        self, ctx: Context, enterprise_id: int, msisdn: str, reason: str
    ) -> Line:
        line = self._line(enterprise_id, msisdn)
        before = LineState(line.state)
        after = self._transition(O.REQUEST_REVERIFICATION, before, line.barring_reason)
        line.reverify_deadline = ctx.at + timedelta(hours=self.policy.reverification_deadline_hours)
        code, note = coded(reason, "manual")
        self._record(
            ctx,
            line,
            O.REQUEST_REVERIFICATION,
            before,
            after,
            owner_after=line.owner_identity_id,
            reason=code,
            note=note,
            detail={"deadline": line.reverify_deadline.isoformat()},
        )
        return line

    def answer_reverification(
        self,
        ctx: Context,
        *,
        enterprise_id: int,
        channel_id: int,
        clerk_id: int,
        msisdn: str,
        owner: Person,
    ) -> Line:
        """The owner re-verifies at a counter: the channel's document rules apply."""
        _, line, before, after, verified, _ = self._at_counter(
            enterprise_id,
            channel_id,
            clerk_id,
            msisdn,
            O.ANSWER_REVERIFICATION,
            owner,
            ctx.at.date(),
        )
        return self._answer(ctx, line, before, after, verified)

    def answer_reverification_online(
        self, ctx: Context, enterprise_id: int, msisdn: str, owner: Person, liveness: float | None
    ) -> Line:
        """The owner re-verifies in the operator's app: the online channel's document rules,
        the identity authority, the app's live-face comparison (`owner.face_score`) and its
        liveness score, both at or above the policy's face threshold."""
        _refuse_on(checks.check_face(self.policy, liveness))
        verified = self._owner_checked_unlocked(
            enterprise_id, msisdn, O.ANSWER_REVERIFICATION, owner, ChannelKind.ONLINE, ctx.at.date()
        )
        line = self._line(enterprise_id, msisdn)
        before = LineState(line.state)
        after = self._transition(O.ANSWER_REVERIFICATION, before, line.barring_reason)
        return self._answer(
            ctx,
            line,
            before,
            after,
            verified,
            name_must_match=True,
            detail={"channel": "online", "face": "passed", "liveness": "passed"},
        )

    def _answer(
        self,
        ctx: Context,
        line: Line,
        before: LineState,
        after: LineState,
        verified: VerifiedPerson,
        *,
        name_must_match: bool = False,
        detail: dict[str, Any] | None = None,
    ) -> Line:
        """A re-verification answered by the verified owner (the line locked): the deadline
        cleared and, if it was overdue, the suspension lifted."""
        overdue = line.barring_reason == BarringReason.REVERIFICATION_OVERDUE
        if line.reverify_deadline is None and not overdue:
            raise RegistryError(E.REVERIFICATION_NOT_PENDING)
        self._verify_owner(line, verified, name_must_match=name_must_match)
        line.reverify_deadline = None
        if overdue:
            after = self._lift_barring(line, before, after)
        self._record(
            ctx,
            line,
            O.ANSWER_REVERIFICATION,
            before,
            after,
            owner_after=line.owner_identity_id,
            detail=detail,
        )
        return line

    def due_reverifications(self, at: datetime) -> Sequence[str]:
        """Lines whose re-verification deadline has passed (read without locks)."""
        return self.repo.lines_due("reverify_deadline", at, [S.ACTIVE, S.RESTRICTED])

    def expire_reverification(self, ctx: Context, msisdn: str) -> bool:
        """Suspend one overdue line. Re-checked under the line's lock: an answer that committed
        while the job waited wins. Run one line per transaction (`registry.jobs`), so a job
        never holds many line and audit locks at once."""
        line = self.repo.line_for_update(msisdn)
        if (
            line is None
            or line.reverify_deadline is None
            or line.reverify_deadline > ctx.at
            or line.state not in (S.ACTIVE, S.RESTRICTED)
        ):
            return False
        self._bar(
            ctx,
            line.enterprise_id,
            msisdn,
            O.SUSPEND,
            BarringReason.REVERIFICATION_OVERDUE,
            "",
        )
        line.reverify_deadline = None
        return True

    # --- the back-fill ladder and risk signals --------------------------------------------------

    def apply_backfill_move(self, ctx: Context, line: Line, operation: Operation) -> Line:
        """One step down the back-fill ladder for an unregistered legacy line the caller has
        locked: bar outgoing, bar both ways, or terminate (which starts the cooling period)."""
        before = LineState(line.state)
        if not is_unregistered_legacy(line.state, line.owner_identity_id):
            raise RegistryError(E.ILLEGAL_TRANSITION, "only an unregistered legacy line")
        after = self._transition(operation, before, line.barring_reason)
        if operation is O.BACKFILL_TERMINATE:
            return self._end_service(ctx, line, operation, before, "backfill_deadline")
        line.barring_reason = str(BarringReason.BACKFILL)
        self._record(
            ctx,
            line,
            operation,
            before,
            after,
            reason="backfill_unregistered",
            detail={"barring": str(BarringReason.BACKFILL)},
        )
        return line

    def complain(
        self, ctx: Context, enterprise_id: int, msisdn: str, kind: str, note: str = ""
    ) -> Line:
        """Record a complaint against a line (fraud reported, "this number is not mine"): it
        stays on the line's history, where channel risk and re-verification rules read it."""
        line = self._line(enterprise_id, msisdn)
        before = LineState(line.state)
        after = self._transition(O.COMPLAIN, before, line.barring_reason)
        self._record(
            ctx,
            line,
            O.COMPLAIN,
            before,
            after,
            owner_after=line.owner_identity_id,
            reason=coded(kind, "other")[0],
            note=note or None,
            detail={"kind": coded(kind, "other")[0]},
        )
        return line

    # --- end of service -------------------------------------------------------------------------

    def cancel(self, ctx: Context, enterprise_id: int, msisdn: str, reason: str) -> Line:
        """End service: the owner's link closes, the number cools down before reissue."""
        line = self._line(enterprise_id, msisdn)
        before = LineState(line.state)
        self._transition(O.CANCEL, before, line.barring_reason)
        return self._end_service(ctx, line, O.CANCEL, before, reason)

    def cancel_at_counter(
        self,
        ctx: Context,
        *,
        enterprise_id: int,
        channel_id: int,
        clerk_id: int,
        msisdn: str,
        owner: Person,
        reason: str,
    ) -> Line:
        """The owner ends service at a counter: an active own or partner hall of the line's
        enterprise, its active clerk, and the owner's document and name matching the line's
        sealed identity (as for a loss). The cap holding is released as for any cancel."""
        channel = self._channel(enterprise_id, channel_id, must_be_active=True)
        if ChannelKind(channel.kind) not in LOSS_COUNTERS:
            raise RegistryError(E.CHANNEL_NOT_AUTHORISED, "lines are cancelled at a hall")
        channel, line, before, _, verified, _ = self._at_counter(
            enterprise_id, channel_id, clerk_id, msisdn, O.CANCEL, owner, ctx.at.date()
        )
        self._verify_owner(line, verified, name_must_match=True)
        return self._end_service(
            ctx, line, O.CANCEL, before, reason, channel_id=channel.id, clerk_id=clerk_id
        )

    def _end_service(
        self,
        ctx: Context,
        line: Line,
        operation: Operation,
        before: LineState,
        reason: str,
        *,
        channel_id: int | None = None,
        clerk_id: int | None = None,
    ) -> Line:
        owner = line.owner_identity_id
        if owner is not None:
            self._unhold(owner, line.enterprise_id)
        line.owner_identity_id = None
        line.barring_reason = line.restriction_reason = None
        line.reverify_deadline = None
        line.iccid = line.imsi = None
        code, note = coded(reason, "manual")
        self._record(
            ctx,
            line,
            operation,
            before,
            S.CANCELLED,
            owner_before=owner,
            reason=code,
            note=note,
            channel_id=channel_id,
            detail={"clerk_id": clerk_id} if clerk_id else None,
        )
        line.cooling_until = ctx.at + timedelta(days=self.policy.cooling_days)
        self._record(
            ctx,
            line,
            O.BEGIN_COOLING,
            S.CANCELLED,
            S.COOLING,
            detail={"until": line.cooling_until.isoformat()},
        )
        return line

    def release(self, ctx: Context, enterprise_id: int, msisdn: str) -> Line:
        line = self._line(enterprise_id, msisdn)
        before = LineState(line.state)
        self._transition(O.RELEASE, before)
        if line.cooling_until is not None and line.cooling_until > ctx.at:
            raise RegistryError(E.COOLING_NOT_OVER)
        line.cooling_until = None
        line.channel_id = None
        # A reissued number starts a new life: nothing of the old owner's carries over.
        line.activated_at = line.owner_since = line.sim_changed_at = line.last_used_at = None
        line.prepaid_balance_minor = None  # (legacy_import_id stays: the replay starts from it)
        self._record(ctx, line, O.RELEASE, before, S.POOLED)
        return line

    def due_releases(self, at: datetime) -> Sequence[str]:
        return self.repo.lines_due("cooling_until", at, [S.COOLING])

    # --- history --------------------------------------------------------------------------------

    def owner_at(self, msisdn: str, instant: datetime, *, enterprise_id: int | None) -> int | None:
        """The identity that held the number at `instant` (fraud tracing), from the events."""
        line = self.repo.line(self._msisdn(msisdn))
        if line is None or (enterprise_id is not None and line.enterprise_id != enterprise_id):
            raise RegistryError(E.LINE_NOT_FOUND)
        events = self.repo.events_of(line.id, until=instant)
        return events[-1].owner_after_id if events else None

    def reveal_owner(
        self, ctx: Context, line: Line, instant: datetime, purpose: str
    ) -> RevealedOwner | None:
        """The owner at `instant` in clear: the one read of PII the API offers, so it is audited
        (who, which line, when, why) in the same transaction that returns it."""
        events = self.repo.events_of(line.id, until=instant)
        identity_id = events[-1].owner_after_id if events else None
        self._audit(
            ctx,
            "identity.unmasked_read",
            "line",
            line.id,
            {
                "msisdn": mask_msisdn(line.msisdn),
                "identity": identity_id,
                "as_of": instant.astimezone(UTC).isoformat(),
            },
            {"purpose": purpose},
        )
        if identity_id is None:
            return None
        identity = self.repo.identity(identity_id)
        if identity is None:  # the foreign key makes this impossible; `check` would report it
            return None
        if identity.purged_at is not None:  # past retention: the id is all the law keeps
            return RevealedOwner(
                identity.id, identity.doc_type, None, None, None, None, None, purged=True
            )
        return RevealedOwner(
            identity_id=identity.id,
            document_type=identity.doc_type,
            document_number=self.keyring.open(
                Sealed(identity.key_id, identity.number_sealed), NUMBER_CONTEXT
            ),
            name=self.keyring.open(Sealed(identity.key_id, identity.name_sealed), NAME_CONTEXT),
            nationality=identity.nationality,
            birth_date=identity.birth_date,
            sex=identity.sex,
        )

    def identity_of(self, person: Person) -> Identity | None:
        """Look a person up by document, through the blind index (no plaintext query)."""
        try:
            # A look-up only needs the number's canonical form: whether the document was
            # acceptable was decided when it was registered, so no "today" applies here.
            document = parse_document(
                person.document_number,
                person.document_type,
                nationality=person.nationality,
                today=LATEST_TABLE_DATE,
            )
        except DocumentError as error:
            raise RegistryError(E.DOCUMENT_INVALID, str(error.code)) from None
        return self.repo.identity_by_index(
            str(document.type), self.keyring.blind_index(document.number, NUMBER_CONTEXT)
        )

    def lines_of(
        self, person: Person, *, enterprise_id: int | None
    ) -> list[tuple[Line, Enterprise]]:
        identity = self.identity_of(person)
        if identity is None:
            return []
        return list(self.repo.lines_of_identity(identity.id, enterprise_id))

    def channel(self, enterprise_id: int, channel_id: int) -> Channel:
        return self._channel(enterprise_id, channel_id)

    def line_by_number(self, enterprise_id: int, msisdn: str, *, lock: bool = False) -> Line:
        """The enterprise's line with this number (any written form), or LINE_NOT_FOUND."""
        e164 = self._msisdn(msisdn)
        line = self.repo.line_for_update(e164) if lock else self.repo.line(e164)
        if line is None or line.enterprise_id != enterprise_id:
            raise RegistryError(E.LINE_NOT_FOUND)
        return line

    # --- internals ------------------------------------------------------------------------------

    def _at_counter(
        self,
        enterprise_id: int,
        channel_id: int,
        clerk_id: int,
        msisdn: str,
        operation: Operation,
        owner: Person,
        today: date,
        *,
        receiver: Person | None = None,
    ) -> tuple[Channel, Line, LineState, LineState, VerifiedPerson, VerifiedPerson | None]:
        """A counter operation's common ground: an active channel of the enterprise, its clerk,
        the owner's document verified (by the authority, before any lock), the line (locked)
        and the move the state machine allows."""
        channel = self._channel(enterprise_id, channel_id, must_be_active=True)
        self._clerk(channel, clerk_id)
        verified = self._owner_checked_unlocked(
            enterprise_id, msisdn, operation, owner, ChannelKind(channel.kind), today
        )
        verified_receiver = None
        if receiver is not None:  # the transfer's receiver: verified before any lock too
            verified_receiver = self._verify(
                receiver, ChannelKind(channel.kind), new_holder=True, today=today
            )
        line = self._line(enterprise_id, msisdn)
        before = LineState(line.state)
        after = self._transition(operation, before, line.barring_reason)
        return channel, line, before, after, verified, verified_receiver

    def _owner_checked_unlocked(
        self,
        enterprise_id: int,
        msisdn: str,
        operation: Operation,
        owner: Person,
        kind: ChannelKind,
        today: date,
    ) -> VerifiedPerson:
        """The cheap refusals on a plain read (no such line, a move the state machine
        forbids), then the person's document through the authority: a network call, made
        before the line's row lock is taken. The caller locks the line and checks again."""
        line = self.repo.line(self._msisdn(msisdn))
        if line is None or line.enterprise_id != enterprise_id:
            raise RegistryError(E.LINE_NOT_FOUND)
        self._transition(operation, LineState(line.state), line.barring_reason)
        return self._verify(owner, kind, new_holder=False, today=today)

    def _refuse_without_licence(self, enterprise_id: int) -> None:
        """A suspended or revoked licence stops new customers (seed 002: MVNOs whose licence
        the ministry withdraws); existing lines may still be back-filled to their owners."""
        if self._enterprise(enterprise_id).licence_status in ("suspended", "revoked"):
            raise RegistryError(E.LICENCE_NOT_IN_FORCE)

    def _enterprise(self, enterprise_id: int) -> Enterprise:
        enterprise = self.repo.enterprise(enterprise_id)
        if enterprise is None:
            raise RegistryError(E.ENTERPRISE_NOT_FOUND)
        return enterprise

    def _channel(
        self, enterprise_id: int, channel_id: int, must_be_active: bool = False
    ) -> Channel:
        channel = self.repo.channel(channel_id)
        if channel is None or channel.enterprise_id != enterprise_id:
            raise RegistryError(E.CHANNEL_NOT_FOUND)
        if must_be_active and channel.status != "active":
            raise RegistryError(E.CHANNEL_NOT_AUTHORISED, channel.status_reason)
        return channel

    def _clerk(self, channel: Channel, clerk_id: int) -> Clerk:
        clerk = self.repo.clerk(clerk_id)
        if clerk is None or clerk.channel_id != channel.id or clerk.status != "active":
            raise RegistryError(E.CLERK_NOT_AUTHORISED)
        return clerk

    def _msisdn(self, raw: str) -> str:
        try:
            return parse_msisdn(raw).e164
        except NumberError as error:
            raise RegistryError(E.NUMBER_INVALID, str(error.code)) from None

    def _line(self, enterprise_id: int, msisdn: str) -> Line:
        line = self.repo.line_for_update(self._msisdn(msisdn))
        if line is None or line.enterprise_id != enterprise_id:
            raise RegistryError(E.LINE_NOT_FOUND)
        return line

    @staticmethod
    def _transition(
        operation: Operation, state: LineState | None, barring: str | None = None
    ) -> LineState:
        try:
            return transition(operation, state, barring)
        except IllegalTransitionError as error:
            raise RegistryError(E.ILLEGAL_TRANSITION, str(error)) from None

    def _verify(
        self, person: Person, channel_kind: ChannelKind, *, new_holder: bool, today: date
    ) -> VerifiedPerson:
        """Document valid and accepted here, entry method, face, (age), then the authority."""
        try:
            document = parse_document(
                person.document_number,
                person.document_type,
                nationality=person.nationality,
                expires_on=person.document_expires_on,
                today=today,
            )
        except DocumentError as error:
            raise RegistryError(E.DOCUMENT_INVALID, str(error.code)) from None
        _refuse_on(checks.check_document(self.policy, channel_kind, document.type))
        _refuse_on(checks.check_entry_method(self.policy, channel_kind, person.entry_method))
        _refuse_on(checks.check_face(self.policy, person.face_score))
        birth_date = document.birth_date or person.birth_date
        if new_holder and self.policy.minimum_age_years > 0:
            if birth_date is None:
                raise RegistryError(E.DOCUMENT_INVALID, "the holder's birth date is required")
            _refuse_on(checks.check_age(self.policy, birth_date, today))
        name = normalize_name(person.name)
        if self.policy.authority_check_required:
            try:
                verdict = self.authority.verify(document, name)
            except AuthorityUnavailableError as error:
                # Never a silent pass: no verdict, no operation.
                raise RegistryError(
                    E.AUTHORITY_UNAVAILABLE, error.reason, retry_after=error.retry_after
                ) from None
            if verdict is not AuthorityVerdict.CONFIRMED:
                raise RegistryError(_AUTHORITY_ERRORS[verdict])
        return VerifiedPerson(document, name, birth_date)

    def _verify_owner(
        self, line: Line, verified: VerifiedPerson, *, name_must_match: bool = False
    ) -> None:
        """The verified person is the line's owner: the document (and, when asked, the name as
        recorded) matches the sealed identity, by blind index; nothing is unsealed."""
        index = self.keyring.blind_index(verified.document.number, NUMBER_CONTEXT)
        owner = self.repo.identity(line.owner_identity_id) if line.owner_identity_id else None
        if owner is None or owner.number_index != index or owner.doc_type != verified.document.type:
            raise RegistryError(E.NOT_OWNER)
        if name_must_match and not hmac.compare_digest(
            owner.name_index, self.keyring.blind_index(verified.name, NAME_CONTEXT)
        ):
            raise RegistryError(E.NOT_OWNER)

    def _identity_for(
        self,
        verified: VerifiedPerson,
        person: Person,
        at: datetime,
        enterprise_id: int,
        also_locking: int | None = None,
    ) -> Identity:
        """The person's identity row, holding one more line at `enterprise_id`.

        Caps are checked under the row locks *before* anything is written, so a refusal
        changes nothing even without a rollback. `also_locking` (a transfer's giver) is
        locked in the same id order, so two opposite transfers cannot deadlock.
        """
        document = verified.document
        number_index = self.keyring.blind_index(document.number, NUMBER_CONTEXT)
        name_index = self.keyring.blind_index(verified.name, NAME_CONTEXT)
        identity = self.repo.identity_by_index(str(document.type), number_index)
        if identity is not None:
            holding = self._reserve(identity.id, enterprise_id, also_locking)
            # The retention job may have purged the record since the look-up (it locks the
            # row to purge it): re-read it under a lock; a purged record is gone for good, so
            # the person gets a new one.
            if self.repo.lock_identity(identity.id).purged_at is not None:
                identity = None
        if identity is None:
            number = self.keyring.seal(document.number, NUMBER_CONTEXT)
            insert_ignoring_conflicts(
                self.session,
                Identity.__table__,  # type: ignore[arg-type]
                {
                    "doc_type": str(document.type),
                    "number_index": number_index,
                    "name_index": name_index,
                    "key_id": number.key_id,
                    "number_sealed": number.blob,
                    "name_sealed": self.keyring.seal(verified.name, NAME_CONTEXT).blob,
                    "address_sealed": (
                        self.keyring.seal(person.address, ADDRESS_CONTEXT).blob
                        if person.address
                        else None
                    ),
                    "birth_date": verified.birth_date,
                    "sex": str(document.sex) if document.sex else None,
                    "region_code": document.region_code,
                    "nationality": document.nationality,
                    "verified_at": at,
                    "created_at": at,
                },
                ["doc_type", "number_index"],
            )
            identity = self.repo.identity_by_index(str(document.type), number_index)
            assert identity is not None
            holding = self._reserve(identity.id, enterprise_id, also_locking)
        elif identity.name_index != name_index:  # a legal change of name, confirmed above
            self._reseal_all(identity, name=verified.name)
            identity.name_index = name_index
        identity.verified_at = at
        mac_identity(self.keyring.audit, identity)
        holding.active_count += 1
        return identity

    def _reseal_all(self, identity: Identity, *, name: str) -> None:
        """Values of one row share one key id, so re-seal every field together."""
        number = self.keyring.open(Sealed(identity.key_id, identity.number_sealed), NUMBER_CONTEXT)
        address = (
            self.keyring.open(Sealed(identity.key_id, identity.address_sealed), ADDRESS_CONTEXT)
            if identity.address_sealed is not None
            else None
        )
        sealed_number = self.keyring.seal(number, NUMBER_CONTEXT)
        identity.key_id = sealed_number.key_id
        identity.number_sealed = sealed_number.blob
        identity.name_sealed = self.keyring.seal(name, NAME_CONTEXT).blob
        if address is not None:
            identity.address_sealed = self.keyring.seal(address, ADDRESS_CONTEXT).blob

    def _reserve(
        self, identity_id: int, enterprise_id: int, also_locking: int | None = None
    ) -> Holding:
        """Lock the holding (and, under a national cap, the identity) and check the caps for
        one more line. Never a bare count: the locked row is the arbiter under concurrency."""
        national_cap = self.policy.cap(CapScope.NATIONAL) is not None
        locked = sorted({identity_id, also_locking or identity_id})
        national = None
        if national_cap:
            for locked_id in locked:
                self.repo.lock_identity(locked_id)
            national = self.repo.national_holding(identity_id)
            # Refuse on the national count before a holding row is created for this
            # enterprise, so a refusal leaves no trace.
            _refuse_on(checks.check_caps(self.policy, 0, national))
        holdings = {i: self.repo.lock_holding(i, enterprise_id) for i in locked}
        holding = holdings[identity_id]
        _refuse_on(checks.check_caps(self.policy, holding.active_count, national))
        return holding

    def _unhold(self, identity_id: int, enterprise_id: int) -> None:
        holding = self.repo.lock_holding(identity_id, enterprise_id)
        holding.active_count -= 1

    def _bar(
        self,
        ctx: Context,
        enterprise_id: int,
        msisdn: str,
        operation: Operation,
        reason: BarringReason,
        note: str,
        *,
        channel_id: int | None = None,
        clerk_id: int | None = None,
    ) -> Line:
        line = self._line(enterprise_id, msisdn)
        before = LineState(line.state)
        after = self._transition(operation, before, line.barring_reason)
        if reason not in BARS[operation]:
            raise RegistryError(E.ILLEGAL_TRANSITION, f"{reason} is not a reason to {operation}")
        if before is S.RESTRICTED and after is S.SUSPENDED:
            line.restriction_reason = line.barring_reason
        line.barring_reason = str(reason)
        self._record(
            ctx,
            line,
            operation,
            before,
            after,
            owner_after=line.owner_identity_id,
            reason=str(reason),
            note=note or None,
            channel_id=channel_id,
            detail={"barring": str(reason), **({"clerk_id": clerk_id} if clerk_id else {})},
        )
        return line

    @staticmethod
    def _lift_barring(line: Line, before: LineState, after: LineState) -> LineState:
        """Clear the lifted reason; a suspension on top of a restriction falls back to it."""
        if before is S.SUSPENDED and after is S.ACTIVE and line.restriction_reason:
            line.barring_reason, line.restriction_reason = line.restriction_reason, None
            return S.RESTRICTED
        line.barring_reason = None
        return after

    def _lift(
        self, ctx: Context, enterprise_id: int, msisdn: str, operation: Operation, note: str
    ) -> Line:
        line = self._line(enterprise_id, msisdn)
        before = LineState(line.state)
        after = self._transition(operation, before, line.barring_reason)
        lifted = line.barring_reason
        after = self._lift_barring(line, before, after)
        self._record(
            ctx,
            line,
            operation,
            before,
            after,
            owner_after=line.owner_identity_id,
            note=note or None,
            detail={"lifted": lifted},
        )
        return line

    def _record(
        self,
        ctx: Context,
        line: Line,
        operation: Operation,
        before: LineState | None,
        after: LineState,
        *,
        owner_before: int | None = None,
        owner_after: int | None = None,
        channel_id: int | None = None,
        reason: str | None = None,
        note: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """The line's new state, its event (MAC'd) and its audit entry: always together.
        `reason` is a code; free text goes in `note`, sealed, and the event keeps only its
        reference."""
        if owner_before is None and before in HELD_STATES:
            owner_before = line.owner_identity_id
        if reason is not None and not is_reason_code(reason):
            reason, note = "note", " ".join(filter(None, (reason, note)))
        detail = dict(detail or {})
        if note:
            detail["note"] = seal_note(self.session, self.keyring, note, ctx.at)
        line.state = str(after)
        line.state_changed_at = ctx.at
        line.event_count = (line.event_count or 0) + 1
        event = LineEvent(
            line_id=line.id,
            seq=line.event_count,
            operation=str(operation),
            from_state=str(before) if before else None,
            to_state=str(after),
            owner_before_id=owner_before,
            owner_after_id=owner_after,
            channel_id=channel_id,
            actor=str(ctx.actor),
            reason=reason,
            detail=detail,
            occurred_at=ctx.at,
            correlation_id=ctx.correlation_id,
        )
        mac_event(self.keyring.audit, event)
        self.session.add(event)
        self.session.flush()
        self._audit(
            ctx,
            f"line.{operation}",
            "line",
            line.id,
            {"msisdn": mask_msisdn(line.msisdn), "from": before, "to": str(after)},
        )

    def _audit(
        self,
        ctx: Context,
        action: str,
        object_type: str,
        object_id: int,
        detail: dict[str, Any],
        notes: dict[str, str | None] | None = None,
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
