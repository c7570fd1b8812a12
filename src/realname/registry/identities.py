"""The identity book: verifying people, holding their identities under the caps, sealing,
and the only place a sealed identity is opened.

A person is verified (document, policy, authority) before any row lock; an identity row is
found or created by blind index and its holding locked to enforce the caps; a change of name
re-seals the row. Opening sealed PII happens here and nowhere else: the audited reveal, the
masked owner the API shows, the record a relying party's check compares against.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, date, datetime
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
from realname.identity.names import mask_document_number, mask_name, normalize_name
from realname.identity.resident_id import LATEST_TABLE_DATE
from realname.numbering.msisdn import mask_msisdn
from realname.policy import checks
from realname.policy.schema import CapScope, ChannelKind, Policy
from realname.registry.commands import Context, Person
from realname.registry.errors import RegistryError
from realname.registry.guards import E, e164_of, refuse_on
from realname.registry.integrity import IDENTITY_COLUMNS, mac_identity, seal_identity_row
from realname.registry.models import Enterprise, Holding, Identity, Line
from realname.registry.recorder import LineRecorder
from realname.registry.registration_repository import IDENTITY_WRITES, RegistrationRepository
from realname.registry.repository import RegistryRepository
from realname.registry.rows import HeldIdentity, IdentityRow, MaskedOwner
from realname.security.vault import KeyRing, Sealed

NUMBER_CONTEXT = "identity.number"
NAME_CONTEXT = "identity.name"
ADDRESS_CONTEXT = "identity.address"

_AUTHORITY_ERRORS = {
    AuthorityVerdict.UNKNOWN_DOCUMENT: E.AUTHORITY_UNKNOWN_DOCUMENT,
    AuthorityVerdict.NAME_MISMATCH: E.AUTHORITY_NAME_MISMATCH,
    AuthorityVerdict.REVOKED: E.AUTHORITY_DOCUMENT_REVOKED,
}


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


@dataclass(frozen=True)
class OpenedIdentity:
    """An identity's sealed fields in clear (None where purged, not given or not asked)."""

    document_number: str | None
    name: str | None
    address: str | None


def opened(keyring: KeyRing, identity: Identity, *, address: bool = False) -> OpenedIdentity:
    """Open an identity's sealed number and name (and its address when asked): with
    `opened_fields`, the only code that opens sealed PII, so every reader of it is found here."""
    return opened_fields(
        keyring,
        identity.key_id,
        identity.number_sealed,
        identity.name_sealed,
        identity.address_sealed if address else None,
    )


def opened_fields(
    keyring: KeyRing,
    key_id: str,
    number_sealed: bytes | None,
    name_sealed: bytes | None,
    address_sealed: bytes | None = None,
) -> OpenedIdentity:
    """`opened` for a bulk reader that streams the sealed columns without loading rows
    (`realname check` over every identity). Raises `VaultError` when a value does not open."""

    def open_(sealed: bytes | None, context: str) -> str | None:
        if sealed is None:
            return None
        return keyring.open(Sealed(key_id, sealed), context)

    return OpenedIdentity(
        document_number=open_(number_sealed, NUMBER_CONTEXT),
        name=open_(name_sealed, NAME_CONTEXT),
        address=open_(address_sealed, ADDRESS_CONTEXT),
    )


def masked_owner(session: Session, keyring: KeyRing, line: Line) -> MaskedOwner | None:
    """The line's owner, masked (`110105********0021`, `张*`): what a line's reader sees."""
    if line.owner_identity_id is None:
        return None
    identity = RegistryRepository(session).identity(line.owner_identity_id)
    if identity is None:
        return None
    clear = opened(keyring, identity)
    return MaskedOwner(
        document_type=identity.doc_type,
        document_number=mask_document_number(clear.document_number or ""),
        name=mask_name(clear.name or ""),
    )


class IdentityBook:
    def __init__(
        self,
        session: Session,
        *,
        policy: Policy,
        keyring: KeyRing,
        authority: IdentityAuthority,
        recorder: LineRecorder,
    ) -> None:
        self.session = session
        self.repo = RegistryRepository(session)
        self.policy = policy
        self.keyring = keyring
        self.authority = authority
        self.recorder = recorder

    def holds(self, identity_id: int, verified: VerifiedPerson) -> bool:
        """Whether `identity_id` is the verified person's identity (by blind index)."""
        current = self.repo.identity(identity_id)
        index = self.keyring.blind_index(verified.document.number, NUMBER_CONTEXT)
        return current is not None and (current.doc_type, current.number_index) == (
            str(verified.document.type),
            index,
        )

    def verify(
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
        refuse_on(checks.check_document(self.policy, channel_kind, document.type))
        refuse_on(checks.check_entry_method(self.policy, channel_kind, person.entry_method))
        refuse_on(checks.check_face(self.policy, person.face_score))
        birth_date = document.birth_date or person.birth_date
        if new_holder and self.policy.minimum_age_years > 0:
            if birth_date is None:
                raise RegistryError(E.DOCUMENT_INVALID, "the holder's birth date is required")
            refuse_on(checks.check_age(self.policy, birth_date, today))
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

    def verify_owner(
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

    def identity_for(
        self,
        verified: VerifiedPerson,
        person: Person,
        at: datetime,
        enterprise_id: int,
        also_locking: int | None = None,
    ) -> Identity:
        """The person's identity row, holding one more line at `enterprise_id` (a transfer's
        receiver; a registration takes `hold`, on Core rows).

        Caps are checked under the row locks *before* anything is written, so a refusal
        changes nothing even without a rollback. Locks go identities first, then holdings,
        each in id order (as `hold` does), so no two of these operations deadlock;
        `also_locking` (a transfer's giver) is locked in the same order.
        """
        document = verified.document
        number_index = self.keyring.blind_index(document.number, NUMBER_CONTEXT)
        name_index = self.keyring.blind_index(verified.name, NAME_CONTEXT)
        found = self.repo.identity_by_index(str(document.type), number_index)
        identity = self._lock_identities(found.id, also_locking) if found is not None else None
        # The retention job may have purged the record since the look-up (it locks the row to
        # purge it): a purged record is gone for good, so the person gets a new one.
        if identity is not None and identity.purged_at is not None:
            identity = None
        if identity is None:
            insert_ignoring_conflicts(
                self.session,
                Identity.__table__,  # type: ignore[arg-type]
                self._new_identity_values(verified, person, at, number_index, name_index),
                ["doc_type", "number_index"],
            )
            found = self.repo.identity_by_index(str(document.type), number_index)
            assert found is not None
            identity = self._lock_identities(found.id, also_locking)
        elif identity.name_index != name_index:  # a legal change of name, confirmed above
            self._reseal_all(identity, name=verified.name)
            identity.name_index = name_index
        holding = self._reserve(identity.id, enterprise_id, also_locking)
        identity.verified_at = at
        mac_identity(self.keyring.audit, identity)
        holding.active_count += 1
        return identity

    def _lock_identities(self, identity_id: int, also_locking: int | None) -> Identity:
        """Lock the identity (and `also_locking`) FOR NO KEY UPDATE, in id order."""
        ids = sorted({identity_id, also_locking or identity_id})
        locked = {i: self.repo.lock_identity(i) for i in ids}
        return locked[identity_id]

    def _new_identity_values(
        self,
        verified: VerifiedPerson,
        person: Person,
        at: datetime,
        number_index: bytes,
        name_index: bytes,
    ) -> dict[str, object]:
        """A new identity row's columns (its MAC is set once its id is known)."""
        document = verified.document
        number = self.keyring.seal(document.number, NUMBER_CONTEXT)
        return {
            "doc_type": str(document.type),
            "number_index": number_index,
            "name_index": name_index,
            "key_id": number.key_id,
            "number_sealed": number.blob,
            "name_sealed": self.keyring.seal(verified.name, NAME_CONTEXT).blob,
            "address_sealed": (
                self.keyring.seal(person.address, ADDRESS_CONTEXT).blob if person.address else None
            ),
            "birth_date": verified.birth_date,
            "sex": str(document.sex) if document.sex else None,
            "region_code": document.region_code,
            "nationality": document.nationality,
            "verified_at": at,
            "created_at": at,
        }

    def document_key(self, person: Person, today: date) -> tuple[str, bytes] | None:
        """(doc_type, blind index of the number) of the person's document, as `hold` looks
        the identity up, so a caller can read the row along with its own first read; None
        when the document does not parse (`verify` refuses it, in its turn)."""
        try:
            document = parse_document(
                person.document_number,
                person.document_type,
                nationality=person.nationality,
                expires_on=person.document_expires_on,
                today=today,
            )
        except DocumentError:
            return None
        return str(document.type), self.keyring.blind_index(document.number, NUMBER_CONTEXT)

    def hold(
        self,
        verified: VerifiedPerson,
        person: Person,
        at: datetime,
        *,
        locked: bool = False,
        read: tuple[tuple[str, bytes], IdentityRow | None] | None = None,
    ) -> HeldIdentity:
        """The registration's identity: the person's row found by blind index, or a new one;
        with what the registration writes on it (verification time, MAC, a change of name
        re-sealed) and the MAC it was read with. A plain read: the write takes the row's lock
        and goes through only if the row still carries that MAC and was not purged
        (`RegistrationRepository.write_registration`); if it changed, the registration asks
        again with `locked` (the row read FOR NO KEY UPDATE). A row the retention job purged
        is gone for good: the person gets a new one.

        `read`: (document_key, the row it found or None) from the caller's own plain read,
        used instead of a look-up of its own when the key is this person's (with `locked`,
        the row it found is then locked by id and read again under the lock)."""
        document = verified.document
        doc_type = str(document.type)
        number_index = self.keyring.blind_index(document.number, NUMBER_CONTEXT)
        name_index = self.keyring.blind_index(verified.name, NAME_CONTEXT)
        rows = RegistrationRepository(self.session)
        for _ in range(3):  # a twin may insert the same new person between look-up and insert
            if read is not None and read[0] == (doc_type, number_index):
                row = read[1]
            else:
                row = self.repo.identity_by_index(doc_type, number_index)
            read = None  # a second turn (a twin inserted first) reads again
            if row is not None and locked:
                row = rows.lock_identity_row(row.id)
            if row is not None and row.purged_at is None:
                changed = None
                if row.name_index != name_index:  # a change of name, confirmed by the authority
                    changed = self._resealed(row, name=verified.name, name_index=name_index)
                return HeldIdentity(row.id, row.mac, self._identity_writes(row, at, changed))
            values = self._new_identity_values(verified, person, at, number_index, name_index)
            inserted = rows.insert_identity(values)
            if inserted is not None:
                new = IdentityRow(id=inserted, mac=None, purged_at=None, **values)  # type: ignore[arg-type]
                return HeldIdentity(inserted, None, self._identity_writes(new, at), inserted=True)
        raise RuntimeError("the identity row neither exists nor can be inserted")

    def _identity_writes(
        self, row: IdentityRow, at: datetime, changed: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The row's columns as the registration leaves them, with their MAC."""
        values = {name: getattr(row, name) for name in IDENTITY_COLUMNS}
        values.update(changed or {})
        values["verified_at"] = at
        sealed = seal_identity_row(self.keyring.audit, values)
        return {name: sealed[name] for name in IDENTITY_WRITES}

    def _resealed(self, row: IdentityRow, *, name: str, name_index: bytes) -> dict[str, Any]:
        """Values of one row share one key id, so a new name re-seals every field."""
        assert row.number_sealed is not None
        number = self.keyring.open(Sealed(row.key_id, row.number_sealed), NUMBER_CONTEXT)
        address = (
            self.keyring.open(Sealed(row.key_id, row.address_sealed), ADDRESS_CONTEXT)
            if row.address_sealed is not None
            else None
        )
        sealed_number = self.keyring.seal(number, NUMBER_CONTEXT)
        return {
            "key_id": sealed_number.key_id,
            "number_sealed": sealed_number.blob,
            "name_sealed": self.keyring.seal(name, NAME_CONTEXT).blob,
            "address_sealed": (
                self.keyring.seal(address, ADDRESS_CONTEXT).blob if address is not None else None
            ),
            "name_index": name_index,
        }

    def national_count(self, identity_id: int) -> int | None:
        """Lines the identity holds at every enterprise, when the policy caps that (None when
        it does not: the count is a cross-enterprise query); refuses at the national cap
        before anything is written. Call with the identity locked (`hold`)."""
        if self.policy.cap(CapScope.NATIONAL) is None:
            return None
        national = self.repo.national_holding(identity_id)
        refuse_on(checks.check_caps(self.policy, 0, national))
        return national

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
        """Lock the holding(s) and check the caps for one more line, the identities already
        locked (`_lock_identities`). Never a bare count: the locked row is the arbiter under
        concurrency."""
        locked = sorted({identity_id, also_locking or identity_id})
        national = None
        if self.policy.cap(CapScope.NATIONAL) is not None:
            national = self.repo.national_holding(identity_id)
            # Refuse on the national count before a holding row is created for this
            # enterprise, so a refusal leaves no trace.
            refuse_on(checks.check_caps(self.policy, 0, national))
        holdings = {i: self.repo.lock_holding(i, enterprise_id) for i in locked}
        holding = holdings[identity_id]
        refuse_on(checks.check_caps(self.policy, holding.active_count, national))
        return holding

    def unhold(self, identity_id: int, enterprise_id: int) -> None:
        holding = self.repo.lock_holding(identity_id, enterprise_id)
        holding.active_count -= 1

    def reveal_owner(
        self, ctx: Context, line: Line, instant: datetime, purpose: str
    ) -> RevealedOwner | None:
        """The owner at `instant` in clear: the one read of PII the API offers, so it is audited
        (who, which line, when, why) in the same transaction that returns it."""
        events = self.repo.events_of(line.id, until=instant)
        identity_id = events[-1].owner_after_id if events else None
        self.recorder.audit(
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
        clear = opened(self.keyring, identity)
        return RevealedOwner(
            identity_id=identity.id,
            document_type=identity.doc_type,
            document_number=clear.document_number,
            name=clear.name,
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
        found = self.repo.identity_by_index(
            str(document.type), self.keyring.blind_index(document.number, NUMBER_CONTEXT)
        )
        return None if found is None else self.repo.identity(found.id)

    def owner_at(self, msisdn: str, instant: datetime, *, enterprise_id: int | None) -> int | None:
        """The identity that held the number at `instant` (fraud tracing), from the events."""
        line = self.repo.line(e164_of(msisdn))
        if line is None or (enterprise_id is not None and line.enterprise_id != enterprise_id):
            raise RegistryError(E.LINE_NOT_FOUND)
        events = self.repo.events_of(line.id, until=instant)
        return events[-1].owner_after_id if events else None

    def lines_of(
        self, person: Person, *, enterprise_id: int | None
    ) -> list[tuple[Line, Enterprise]]:
        identity = self.identity_of(person)
        if identity is None:
            return []
        return list(self.repo.lines_of_identity(identity.id, enterprise_id))
