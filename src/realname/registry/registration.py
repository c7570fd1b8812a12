"""Register a customer and activate a line: the front desk's hot path, on Core rows.

The same checks, in the same order, as every counter operation (`preflight`): the channel
and clerk, the number, the line and the move the lifecycle allows, the licence, the proof of
possession a back-fill needs, then the person (document, policy, the identity authority),
then the caps. What changed is how many times the database is asked (issue 14):

1. the channel, its clerk, the enterprise's licence, the line and the person's identity (by
   the blind index of the document, computed before anything is read): one plain read
   (`RegistrationRepository.counter_and_line`) instead of a read of the line, a locked
   re-read, three ORM look-ups and the identity's own look-up. Nothing is locked yet: the
   identity authority is asked without any lock held (twin registrations of one kit each ask
   it), and the write below re-checks the line and identity it read, locking and deciding
   again if either changed.
2. the identity authority (the simulated one reads its table; the real one is a network call);
3. the person's identity as read in 1 (locked and read again under a national cap), or
   inserted;
4. the holding under the cap, the identity's verification and MAC, the line and its event,
   and (deferred audit, PostgreSQL) the audit entry, pending: one statement on PostgreSQL
   (`write_registration`);
5. inline (SQLite): the audit entry (`security.audit.append_audit`, through the recorder).

No ORM object is loaded or flushed on the way, and the answer is built from what the path
already holds (`LineRow`, with the owner masked from the verified person), never re-read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

from sqlalchemy.orm import Session

from realname.identity.names import mask_document_number, mask_name
from realname.numbering.errors import NumberError
from realname.numbering.msisdn import parse_msisdn
from realname.policy import checks
from realname.policy.schema import CapScope, ChannelKind, Policy
from realname.registry.commands import Context, Desk, Person, PossessionProof
from realname.registry.errors import RegistryError
from realname.registry.guards import E, O, refuse_on
from realname.registry.identities import IdentityBook, VerifiedPerson
from realname.registry.preflight import Preflight
from realname.registry.recorder import LineRecorder
from realname.registry.registration_repository import LINE_DECIDED, RegistrationRepository
from realname.registry.rows import CounterRow, HeldIdentity, LineRow, MaskedOwner, Written

LINE_SLOTS = tuple(f.name for f in fields(LineRow))
# What a back-fill's proof of possession is asked with: the line as first read (None: no such
# number), before any other check, as the front desk always asked it; the write re-checks it.
Prover = Callable[[LineRow | None], PossessionProof | None]


def open_counter(counter: CounterRow, desk: Desk) -> ChannelKind:
    """The desk's channel is the enterprise's and active, its clerk serves there and is
    active: the channel's kind, or the refusal `guards.get_channel` / `get_clerk` give."""
    if counter.channel_id is None or counter.channel_enterprise_id != desk.enterprise_id:
        raise RegistryError(E.CHANNEL_NOT_FOUND)
    if counter.channel_status != "active":
        raise RegistryError(E.CHANNEL_NOT_AUTHORISED, counter.channel_status_reason)
    if counter.clerk_channel_id != counter.channel_id or counter.clerk_status != "active":
        raise RegistryError(E.CLERK_NOT_AUTHORISED)
    assert counter.channel_kind is not None
    return ChannelKind(counter.channel_kind)


class Registrar:
    def __init__(
        self,
        session: Session,
        *,
        policy: Policy,
        preflight: Preflight,
        identities: IdentityBook,
        recorder: LineRecorder,
    ) -> None:
        self.session = session
        self.rows = RegistrationRepository(session)
        self.policy = policy
        self.preflight = preflight
        self.identities = identities
        self.recorder = recorder

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
        """A stocked kit of this channel, or a legacy line of the enterprise being back-filled
        (which needs `possession`, or `prove` to get it, when the policy names proof
        methods), activated for the verified person under the caps."""
        # Core statements do not autoflush: whatever this session's ORM objects hold
        # pending (a caller that changed a row before) goes to the database first.
        self.session.flush()
        try:
            e164: str | None = parse_msisdn(msisdn).e164
            number_error = None
        except NumberError as error:
            e164, number_error = None, str(error.code)
        key = self.identities.document_key(person, ctx.at.date())
        counter, found, known = self.rows.counter_and_line(
            desk.channel_id, desk.clerk_id, e164, key
        )
        if prove is not None:
            possession = prove(found)
        kind = open_counter(counter, desk)
        if number_error is not None:
            raise RegistryError(E.NUMBER_INVALID, number_error)
        # The cheap refusals on the plain read, then the authority (a network call) before
        # any row lock is taken; the write locks the rows and checks they are as read.
        self._registrable(found, counter, desk, possession)
        verified = self.identities.verify(person, kind, new_holder=True, today=ctx.at.date())
        assert found is not None
        line = found
        national_cap = self.policy.cap(CapScope.NATIONAL) is not None
        if national_cap:
            # The count across enterprises needs the identity locked before it is counted;
            # the line is locked first, so locks still go line, identity, holding.
            line = self.rows.lock_line(line.id)
            self._registrable(line, counter, desk, possession)
        identity = self.identities.hold(
            verified,
            person,
            ctx.at,
            locked=national_cap,
            read=None if key is None else (key, known),
        )
        try:
            for _ in range(3):  # as read; then the line locked; then the identity locked
                registered = self._write(
                    ctx, desk, line, identity, verified, possession, str(person.entry_method)
                )
                if registered.held is not None:
                    break
                if not registered.line_unchanged:
                    line = self.rows.lock_line(line.id)
                    self._registrable(line, counter, desk, possession)
                elif not registered.identity_unchanged:
                    identity = self.identities.hold(verified, person, ctx.at, locked=True)
                else:
                    raise RegistryError(E.CAP_EXCEEDED)  # nothing was written
            else:
                raise RuntimeError("the line or identity kept changing under their locks")
        except RegistryError:
            # A refusal changes nothing, even for a caller that does not roll back: a row
            # inserted for a person seen for the first time (its MAC not yet set) goes again.
            if identity.inserted:
                self.rows.delete_new_identity(identity.id)
            raise
        self.rows.forget_loaded(line.id, identity.id, desk.enterprise_id)
        line.owner = MaskedOwner(
            document_type=str(verified.document.type),
            document_number=mask_document_number(verified.document.number),
            name=mask_name(verified.name),
        )
        return line

    def _registrable(
        self,
        line: LineRow | None,
        counter: CounterRow,
        desk: Desk,
        possession: PossessionProof | None,
    ) -> None:
        """The line allows a registration at this desk (`Preflight.registrable`), under a
        licence in force unless it is a back-fill, with the proof a back-fill needs."""
        line, _, operation, _ = self.preflight.registrable(
            line, desk.enterprise_id, desk.channel_id
        )
        if operation is not O.REGISTER_LEGACY and counter.licence_status in (
            "suspended",
            "revoked",
        ):
            # A suspended or revoked licence stops new customers; existing lines may still be
            # back-filled to their owners.
            raise RegistryError(E.LICENCE_NOT_IN_FORCE)
        self.preflight.refuse_unproven(line, operation, possession)

    def _write(
        self,
        ctx: Context,
        desk: Desk,
        line: LineRow,
        identity: HeldIdentity,
        verified: VerifiedPerson,
        possession: PossessionProof | None,
        entry_method: str,
    ) -> Written:
        """Everything the registration writes, in one go (`write_registration`): on the line
        as read, which it changes in place only when the write went through."""
        national = self.identities.national_count(identity.id)
        enterprise_cap = self.policy.cap(CapScope.ENTERPRISE)
        if enterprise_cap is not None and enterprise_cap < 1:  # no holding may be created
            refuse_on(checks.check_caps(self.policy, 0, national))
        _, state, operation, after = self.preflight.registrable(
            line, desk.enterprise_id, desk.channel_id
        )
        seen = {name: getattr(line, name) for name in LINE_DECIDED}
        legacy = operation is O.REGISTER_LEGACY
        detail: dict[str, Any] = {
            "clerk_id": desk.clerk_id,
            "document_type": str(verified.document.type),
            # how the clerk captured the document (chip read, scan, typed): what a secret
            # inspection's test purchase is traced to
            "entry_method": entry_method,
        }
        if legacy and line.barring_reason:
            detail["lifted"] = line.barring_reason  # the back-fill bar ends with registration
        if legacy and possession is not None:
            detail["possession"] = possession.method
        after_write = replace(
            line,
            barring_reason=None,
            restriction_reason=None,
            channel_id=desk.channel_id,
            activated_at=line.activated_at if legacy else ctx.at,
            owner_since=ctx.at,
            stocked_at=None,
        )
        written = Written(False, False, None)

        def write(event: dict[str, Any], audit: dict[str, Any] | None) -> bool:
            nonlocal written
            after_write.owner_identity_id = identity.id
            written = self.rows.write_registration(
                line=after_write,
                seen=seen,
                identity_id=identity.id,
                seen_mac=identity.seen_mac,
                enterprise_id=desk.enterprise_id,
                cap=enterprise_cap,
                identity=identity.writes,
                event=event,
                audit=audit,
            )
            return written.held is not None

        if self.recorder.record_row(
            ctx,
            after_write,
            operation,
            state,
            after,
            owner_after=identity.id,
            channel_id=desk.channel_id,
            detail=detail,
            write=write,
        ):
            for name in LINE_SLOTS:
                setattr(line, name, getattr(after_write, name))
        return written
