"""The registry's use cases: one method per lifecycle operation of a line.

Each method validates everything it can before it changes anything (`preflight`), then
updates the line, appends a `line_event` and an audit entry (`recorder`), and flushes. It
never commits: the entry point (HTTP request, CLI command, job) owns the transaction, so a
refusal anywhere leaves no trace. The jobs beside the lifecycle have their own modules,
composed here: who a person is and what they hold (`identities`), barring and lifting
(`barring`), SIM stock (`stock`), enterprises, channels and clerks (`administration`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from realname.identity.authority import IdentityAuthority
from realname.policy import checks
from realname.policy.schema import ChannelKind, Policy
from realname.registry.administration import Administration
from realname.registry.barring import Barring, lift_barring, set_barring
from realname.registry.commands import Context, Desk, Person, PossessionProof
from realname.registry.errors import RegistryError
from realname.registry.guards import (
    E,
    O,
    S,
    coded,
    e164_of,
    get_channel,
    locked_line,
    refuse_on,
)
from realname.registry.identities import IdentityBook, VerifiedPerson
from realname.registry.lifecycle import (
    BarringReason,
    LineState,
    Operation,
    is_unregistered_legacy,
)
from realname.registry.models import Channel, Line
from realname.registry.preflight import Preflight
from realname.registry.recorder import LineRecorder, allowed
from realname.registry.registration import Prover, Registrar
from realname.registry.repository import RegistryRepository
from realname.registry.rows import LineRow
from realname.registry.sanctions import Sanctions
from realname.registry.stock import Stock
from realname.security.vault import KeyRing

# Where an owner may report a phone lost in person: staffed halls, not kiosks or online.
LOSS_COUNTERS = frozenset({ChannelKind.OWN_HALL, ChannelKind.PARTNER_HALL})


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
        self.recorder = LineRecorder(session, keyring)
        self.identities = IdentityBook(
            session, policy=policy, keyring=keyring, authority=authority, recorder=self.recorder
        )
        self.stock = Stock(session, self.recorder)
        self.admin = Administration(session, self.recorder)
        self.preflight = Preflight(self.repo, self.identities, policy)
        self.barring = Barring(self.repo, self.recorder)
        self.sanctions = Sanctions(session, self.recorder)
        self.registrar = Registrar(
            session,
            policy=policy,
            preflight=self.preflight,
            identities=self.identities,
            recorder=self.recorder,
        )

    # --- registration ---------------------------------------------------------------------------

    def register(
        self,
        ctx: Context,
        *,
        desk: Desk,
        msisdn: str,
        person: Person,
        possession: PossessionProof | None = None,
        prove: Prover | None = None,
    ) -> LineRow:
        """Register a customer and activate a line: a stocked kit of this channel, or a
        legacy line being back-filled (at any channel of its enterprise), which needs
        `possession`, a proof for this very line, when the policy names proof methods (or
        `prove`, asked with the line as read under its lock). The hot path: `registration`."""
        return self.registrar.register(
            ctx, desk=desk, msisdn=msisdn, person=person, possession=possession, prove=prove
        )

    # --- barring --------------------------------------------------------------------------------

    def suspend(
        self, ctx: Context, enterprise_id: int, msisdn: str, reason: BarringReason, note: str = ""
    ) -> Line:
        return self.barring.bar(ctx, enterprise_id, msisdn, O.SUSPEND, reason, note)

    def restrict(
        self, ctx: Context, enterprise_id: int, msisdn: str, reason: BarringReason, note: str = ""
    ) -> Line:
        return self.barring.bar(ctx, enterprise_id, msisdn, O.RESTRICT, reason, note)

    def resume(self, ctx: Context, enterprise_id: int, msisdn: str, note: str = "") -> Line:
        return self.barring.lift(ctx, enterprise_id, msisdn, O.RESUME, note)

    def unrestrict(self, ctx: Context, enterprise_id: int, msisdn: str, note: str = "") -> Line:
        return self.barring.lift(ctx, enterprise_id, msisdn, O.UNRESTRICT, note)

    def report_lost(self, ctx: Context, enterprise_id: int, msisdn: str) -> Line:
        """Bar a lost phone at once (the back office); getting service back needs the owner
        (SIM replacement)."""
        return self.barring.bar(ctx, enterprise_id, msisdn, O.REPORT_LOST, BarringReason.LOST, "")

    def report_lost_at_counter(
        self,
        ctx: Context,
        *,
        desk: Desk,
        msisdn: str,
        owner: Person,
    ) -> Line:
        """The owner reports the phone lost at a desk: an active own or partner hall of the
        line's enterprise (not a kiosk, not online), its active clerk, and the owner's document
        and name matching the line's sealed identity. Barring is a denial of service, so a
        clerk cannot bar a line on a number and a story alone."""
        channel = self.preflight.open_desk(desk)
        if ChannelKind(channel.kind) not in LOSS_COUNTERS:
            raise RegistryError(E.CHANNEL_NOT_AUTHORISED, "losses are reported at a hall")
        _, line, _, _, verified, _ = self.preflight.at_counter(
            desk, msisdn, O.REPORT_LOST, owner, ctx.at.date()
        )
        self.identities.verify_owner(line, verified, name_must_match=True)
        return self.barring.bar(
            ctx,
            desk.enterprise_id,
            msisdn,
            O.REPORT_LOST,
            BarringReason.LOST,
            "",
            desk=desk,
        )

    def lock(self, ctx: Context, enterprise_id: int, msisdn: str, owner: Person) -> Line:
        verified = self.preflight.owner_checked_unlocked(
            enterprise_id, msisdn, O.LOCK, owner, ChannelKind.ONLINE, ctx.at.date()
        )
        line = locked_line(self.repo, enterprise_id, msisdn)
        self.identities.verify_owner(line, verified)
        return self.barring.bar(ctx, enterprise_id, msisdn, O.LOCK, BarringReason.LOCKED, "")

    def lock_held(self, ctx: Context, enterprise_id: int, msisdn: str) -> Line:
        """Lock a line for its owner whom the caller has already bound to it (self-service: a
        token on a line of the owner's identity); locking only protects the owner."""
        return self.barring.bar(ctx, enterprise_id, msisdn, O.LOCK, BarringReason.LOCKED, "")

    def unlock(self, ctx: Context, enterprise_id: int, msisdn: str, owner: Person) -> Line:
        verified = self.preflight.owner_checked_unlocked(
            enterprise_id, msisdn, O.UNLOCK, owner, ChannelKind.ONLINE, ctx.at.date()
        )
        line = locked_line(self.repo, enterprise_id, msisdn)
        allowed(O.UNLOCK, LineState(line.state), line.barring_reason)
        self.identities.verify_owner(line, verified)
        return self.barring.lift(ctx, enterprise_id, msisdn, O.UNLOCK, "")

    # --- SIM replacement and transfer -----------------------------------------------------------

    def replace_sim(
        self,
        ctx: Context,
        *,
        desk: Desk,
        msisdn: str,
        owner: Person,
        iccid: str,
        imsi: str,
    ) -> Line:
        """A new SIM for the same number, only for its verified owner; the swap time is what
        banks ask about (CAMARA SIM Swap)."""
        channel, line, before, after, verified, _ = self.preflight.at_counter(
            desk, msisdn, O.REPLACE_SIM, owner, ctx.at.date()
        )
        self.identities.verify_owner(line, verified)
        if self.repo.kit_in_use(desk.enterprise_id, iccid, imsi):
            raise RegistryError(E.KIT_IN_USE)
        old_iccid = line.iccid
        line.iccid, line.imsi, line.sim_changed_at = iccid, imsi, ctx.at
        if before is S.SUSPENDED:
            after = lift_barring(line, before, after)
        self.recorder.record(
            ctx,
            line,
            O.REPLACE_SIM,
            before,
            after,
            owner_after=line.owner_identity_id,
            channel_id=channel.id,
            detail={"clerk_id": desk.clerk_id, "iccid_tail_before": (old_iccid or "")[-4:]},
        )
        return line

    def transfer(
        self,
        ctx: Context,
        *,
        desk: Desk,
        msisdn: str,
        owner: Person,
        receiver: Person,
    ) -> Line:
        """Hand a line to another person: both verified, the receiver's caps checked."""
        channel, line, before, after, owner_verified, verified = self.preflight.at_counter(
            desk,
            msisdn,
            O.TRANSFER,
            owner,
            ctx.at.date(),
            receiver=receiver,
        )
        self.identities.verify_owner(line, owner_verified)
        assert verified is not None
        old_owner = line.owner_identity_id
        assert old_owner is not None
        if self.identities.holds(old_owner, verified):
            raise RegistryError(E.ILLEGAL_TRANSITION, "the receiver already owns the line")
        new_owner = self.identities.identity_for(
            verified, receiver, ctx.at, desk.enterprise_id, also_locking=old_owner
        )
        self.identities.unhold(old_owner, desk.enterprise_id)
        line.owner_identity_id = new_owner.id
        line.owner_since = ctx.at
        line.reverify_deadline = None
        self.recorder.record(
            ctx,
            line,
            O.TRANSFER,
            before,
            after,
            owner_before=old_owner,
            owner_after=new_owner.id,
            channel_id=channel.id,
            detail={"clerk_id": desk.clerk_id},
        )
        return line

    # --- re-verification (二次实名) ---

    def request_reverification(
        self, ctx: Context, enterprise_id: int, msisdn: str, reason: str
    ) -> Line:
        return self.request_reverification_of(
            ctx, locked_line(self.repo, enterprise_id, msisdn), reason
        )

    def request_reverification_of(self, ctx: Context, line: Line, reason: str) -> Line:
        """`request_reverification` of a line the caller has already locked (a sweep locks
        its batch in one statement)."""
        before = LineState(line.state)
        after = allowed(O.REQUEST_REVERIFICATION, before, line.barring_reason)
        line.reverify_deadline = ctx.at + timedelta(hours=self.policy.reverification_deadline_hours)
        code, note = coded(reason, "manual")
        self.recorder.record(
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
        desk: Desk,
        msisdn: str,
        owner: Person,
    ) -> Line:
        """The owner re-verifies at a desk: the channel's document rules apply."""
        _, line, before, after, verified, _ = self.preflight.at_counter(
            desk,
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
        refuse_on(checks.check_face(self.policy, liveness))
        verified = self.preflight.owner_checked_unlocked(
            enterprise_id, msisdn, O.ANSWER_REVERIFICATION, owner, ChannelKind.ONLINE, ctx.at.date()
        )
        line = locked_line(self.repo, enterprise_id, msisdn)
        before = LineState(line.state)
        after = allowed(O.ANSWER_REVERIFICATION, before, line.barring_reason)
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
        self.identities.verify_owner(line, verified, name_must_match=name_must_match)
        line.reverify_deadline = None
        if overdue:
            after = lift_barring(line, before, after)
        self.recorder.record(
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
        self.barring.bar(
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
        after = allowed(operation, before, line.barring_reason)
        if operation is O.BACKFILL_TERMINATE:
            return self._end_service(ctx, line, operation, before, "backfill_deadline")
        line.barring_reason = str(BarringReason.BACKFILL)
        self.recorder.record(
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
        line = locked_line(self.repo, enterprise_id, msisdn)
        before = LineState(line.state)
        after = allowed(O.COMPLAIN, before, line.barring_reason)
        self.recorder.record(
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

    def dispute_owner(self, ctx: Context, enterprise_id: int, msisdn: str, reference: str) -> Line:
        """A "registered in my name, but not mine" claim taken up for a check (a complaint
        centre's case): the line is barred both ways, its link to the named person ends and
        their cap slot is freed at once. The check ends with the line cancelled, or registered (as a
        back-fill, with proof of possession) to whoever really holds it. `reference` is the
        case's code (no free text)."""
        line = locked_line(self.repo, enterprise_id, msisdn)
        before = LineState(line.state)
        after = allowed(O.DISPUTE_OWNER, before, line.barring_reason)
        owner = line.owner_identity_id
        if owner is None:
            raise RegistryError(E.ILLEGAL_TRANSITION, "the line has no owner to dispute")
        set_barring(line, O.DISPUTE_OWNER, before, after, BarringReason.DISPUTED)
        self.identities.unhold(owner, line.enterprise_id)
        line.owner_identity_id = None
        line.reverify_deadline = None
        self.recorder.record(
            ctx,
            line,
            O.DISPUTE_OWNER,
            before,
            after,
            owner_before=owner,
            reason=coded(reference, "manual")[0],
            detail={"barring": str(BarringReason.DISPUTED)},
        )
        return line

    # --- end of service -------------------------------------------------------------------------

    def cancel(self, ctx: Context, enterprise_id: int, msisdn: str, reason: str) -> Line:
        """End service: the owner's link closes, the number cools down before reissue."""
        line = locked_line(self.repo, enterprise_id, msisdn)
        before = LineState(line.state)
        allowed(O.CANCEL, before, line.barring_reason)
        return self._end_service(ctx, line, O.CANCEL, before, reason)

    def cancel_at_counter(
        self,
        ctx: Context,
        *,
        desk: Desk,
        msisdn: str,
        owner: Person,
        reason: str,
    ) -> Line:
        """The owner ends service at a desk: an active own or partner hall of the line's
        enterprise, its active clerk, and the owner's document and name matching the line's
        sealed identity (as for a loss). The cap holding is released as for any cancel."""
        channel = self.preflight.open_desk(desk)
        if ChannelKind(channel.kind) not in LOSS_COUNTERS:
            raise RegistryError(E.CHANNEL_NOT_AUTHORISED, "lines are cancelled at a hall")
        _, line, before, _, verified, _ = self.preflight.at_counter(
            desk, msisdn, O.CANCEL, owner, ctx.at.date()
        )
        self.identities.verify_owner(line, verified, name_must_match=True)
        return self._end_service(ctx, line, O.CANCEL, before, reason, desk=desk)

    def _end_service(
        self,
        ctx: Context,
        line: Line,
        operation: Operation,
        before: LineState,
        reason: str,
        *,
        desk: Desk | None = None,
    ) -> Line:
        owner = line.owner_identity_id
        if owner is not None:
            self.identities.unhold(owner, line.enterprise_id)
        line.owner_identity_id = None
        line.barring_reason = line.restriction_reason = None
        line.reverify_deadline = None
        line.iccid = line.imsi = None
        code, note = coded(reason, "manual")
        self.recorder.record(
            ctx,
            line,
            operation,
            before,
            S.CANCELLED,
            owner_before=owner,
            reason=code,
            note=note,
            channel_id=desk.channel_id if desk else None,
            detail={"clerk_id": desk.clerk_id} if desk else None,
        )
        line.cooling_until = ctx.at + timedelta(days=self.policy.cooling_days)
        self.recorder.record(
            ctx,
            line,
            O.BEGIN_COOLING,
            S.CANCELLED,
            S.COOLING,
            detail={"until": line.cooling_until.isoformat()},
        )
        return line

    def release(self, ctx: Context, enterprise_id: int, msisdn: str) -> Line:
        line = locked_line(self.repo, enterprise_id, msisdn)
        before = LineState(line.state)
        allowed(O.RELEASE, before)
        if line.cooling_until is not None and line.cooling_until > ctx.at:
            raise RegistryError(E.COOLING_NOT_OVER)
        line.cooling_until = None
        line.channel_id = None
        # A reissued number starts a new life: nothing of the old owner's carries over.
        line.activated_at = line.owner_since = line.sim_changed_at = line.last_used_at = None
        line.prepaid_balance_minor = None  # (legacy_import_id stays: the replay starts from it)
        self.recorder.record(ctx, line, O.RELEASE, before, S.POOLED)
        return line

    def due_releases(self, at: datetime) -> Sequence[str]:
        return self.repo.lines_due("cooling_until", at, [S.COOLING])

    # --- history --------------------------------------------------------------------------------

    def channel(self, enterprise_id: int, channel_id: int) -> Channel:
        return get_channel(self.repo, enterprise_id, channel_id)

    def line_by_number(self, enterprise_id: int, msisdn: str, *, lock: bool = False) -> Line:
        """The enterprise's line with this number (any written form), or LINE_NOT_FOUND."""
        e164 = e164_of(msisdn)
        line = self.repo.line_for_update(e164) if lock else self.repo.line(e164)
        if line is None or line.enterprise_id != enterprise_id:
            raise RegistryError(E.LINE_NOT_FOUND)
        return line

    # --- internals ------------------------------------------------------------------------------
