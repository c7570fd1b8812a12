"""Card reads: the reader records, the clerk takes (once), the policy judges a bare claim.

- `record`: the channel's reader posts the chip's data; it is sealed (AES-GCM, context
  `card_read.data`) and waits `policy.card_reads.ttl_seconds` for a clerk of that channel.
  Each read is an audit entry `card_read.record` (the reader, its channel, the document's
  type: nothing of the card in clear).
  Every used and expired read (any channel's) is deleted first, so the table holds only
  reads in flight.
- `latest`: what the desk shows (masked) when the clerk asks for the card just read.
- `take`: the registration (or an owner-present operation) names the read; it becomes the
  person, `chip_read`, and the read is spent: its data is wiped in the same transaction
  (a refused request rolls that back with everything else, so the clerk can try again).
- `check_claim`: a `chip_read` claim without a read, under `chip_read_needs_reader`, is
  refused.

Every method only flushes; the entry point owns the transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from realname.identity.documents import DocumentType
from realname.identity.names import mask_document_number, mask_name
from realname.policy.schema import EntryMethod, Policy
from realname.registry.auditing import audit_operation
from realname.registry.cardreads.models import CardRead
from realname.registry.cardreads.repository import CardReadRepository
from realname.registry.commands import Context, Person
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.security.vault import KeyRing, Sealed

DATA_CONTEXT = "card_read.data"


def audit_name(public_id: str) -> str:
    """How the audit log names a read: the SHA-256 of its id (the id itself is a clerk's
    handle on the read while it waits)."""
    return hashlib.sha256(public_id.encode()).hexdigest()


@dataclass(frozen=True)
class Card:
    """What an ID card's chip holds, as the reader sent it."""

    document_number: str
    name: str
    document_type: DocumentType | None = None
    nationality: str | None = None
    expires_on: date | None = None
    birth_date: date | None = None
    address: str | None = None

    def person(self, face_score: float | None) -> Person:
        return Person(
            document_number=self.document_number,
            name=self.name,
            document_type=self.document_type,
            nationality=self.nationality,
            document_expires_on=self.expires_on,
            birth_date=self.birth_date,
            address=self.address,
            face_score=face_score,
            entry_method=EntryMethod.CHIP_READ,
        )

    def dump(self) -> bytes:
        data: dict[str, Any] = asdict(self)
        for key in ("expires_on", "birth_date"):
            data[key] = data[key].isoformat() if data[key] is not None else None
        return orjson.dumps(data)

    @staticmethod
    def load(raw: bytes) -> Card:
        data = orjson.loads(raw)
        kind = data.get("document_type")
        return Card(
            document_number=data["document_number"],
            name=data["name"],
            document_type=DocumentType(kind) if kind else None,
            nationality=data.get("nationality"),
            expires_on=date.fromisoformat(data["expires_on"]) if data.get("expires_on") else None,
            birth_date=date.fromisoformat(data["birth_date"]) if data.get("birth_date") else None,
            address=data.get("address"),
        )


@dataclass(frozen=True)
class WaitingRead:
    """A read as the desk sees it: masked, with its id to register with."""

    public_id: str
    document_type: str | None
    document_number: str  # masked
    name: str  # masked
    read_at: datetime
    expires_at: datetime


class CardReadService:
    def __init__(self, session: Session, *, keyring: KeyRing, policy: Policy) -> None:
        self.session = session
        self.repo = CardReadRepository(session)
        self.keyring = keyring
        self.policy = policy

    def record(
        self, ctx: Context, *, enterprise_id: int, channel_id: int, reader: str, card: Card
    ) -> CardRead:
        self.repo.purge(ctx.at, channel_id)
        sealed = self.keyring.seal(card.dump().decode("utf-8"), DATA_CONTEXT)
        row = CardRead(
            public_id=secrets.token_hex(16),
            enterprise_id=enterprise_id,
            channel_id=channel_id,
            reader=reader,
            key_id=sealed.key_id,
            data_sealed=sealed.blob,
            read_at=ctx.at,
            expires_at=ctx.at + timedelta(seconds=self.policy.card_reads.ttl_seconds),
        )
        self.repo.add(row)
        self.session.flush()
        # Who read a card, where and when: the reader (the actor), its channel, the kind of
        # document. Never the card's number or name, nor the read's id (a clerk registers
        # with it): its SHA-256 names it (the row's id does not: a purged row's id comes
        # back on SQLite).
        audit_operation(
            self.session,
            self.keyring,
            ctx,
            action="card_read.record",
            object_type="card_read",
            object_id=audit_name(row.public_id),
            detail={
                "enterprise_id": enterprise_id,
                "channel_id": channel_id,
                "document_type": card.document_type,
                "expires_at": row.expires_at.isoformat(),
            },
        )
        return row

    def latest(self, ctx: Context, channel_id: int) -> WaitingRead | None:
        row = self.repo.latest(channel_id, ctx.at)
        if row is None:
            return None
        card = self._open(row)
        return WaitingRead(
            public_id=row.public_id,
            document_type=str(card.document_type) if card.document_type else None,
            document_number=mask_document_number(card.document_number),
            name=mask_name(card.name),
            read_at=row.read_at,
            expires_at=row.expires_at,
        )

    def take(
        self, ctx: Context, channel_id: int, public_id: str, face_score: float | None
    ) -> Person:
        """The person on the read, `chip_read`; the read is spent (its data wiped)."""
        row = self.repo.waiting(channel_id, public_id, ctx.at)
        if row is None:
            raise RegistryError(RegistryErrorCode.CARD_READ_NOT_FOUND)
        card = self._open(row)
        row.used_at = ctx.at
        row.used_by = str(ctx.actor)
        row.data_sealed = None
        row.key_id = None
        self.session.flush()
        return card.person(face_score)

    def check_claim(self, person: Person) -> None:
        """A `chip_read` nobody's reader attested: refused where the policy says so."""
        if (
            person.entry_method is EntryMethod.CHIP_READ
            and self.policy.card_reads.chip_read_needs_reader
        ):
            raise RegistryError(RegistryErrorCode.CHIP_READ_UNATTESTED)

    def _open(self, row: CardRead) -> Card:
        if row.data_sealed is None or row.key_id is None:
            raise RegistryError(RegistryErrorCode.CARD_READ_NOT_FOUND)
        return Card.load(
            self.keyring.open(Sealed(row.key_id, row.data_sealed), DATA_CONTEXT).encode()
        )
