"""The registry's HTTP bodies. Phone and document numbers appear only in bodies, never in
URLs; owners come back masked, except from the one audited reveal."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
)

from realname.identity.documents import DocumentType
from realname.policy.schema import EntryMethod
from realname.registry.commands import (
    ICCID_PATTERN,
    IMSI_PATTERN,
    IccidClaim,
    OtpClaim,
    Person,
    PossessionClaim,
    UsageClaim,
)
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.lifecycle import BarringReason


def _iso_text(value: object) -> object:
    """Dates and times come as ISO 8601 text: a bare number (0, 1700000000) is a client bug,
    not an instant anyone means, so it is refused instead of read as seconds since 1970."""
    if not isinstance(value, str | date):
        raise ValueError("give an ISO 8601 date or time, e.g. 2026-05-01 or 2026-05-01T08:00:00Z")
    return value


def _aware(value: datetime) -> datetime:
    """An instant without a zone is ambiguous by up to a day; every instant we store is UTC."""
    if value.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2026-05-01T08:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-01:00 is past the last representable instant
        raise ValueError("the instant is out of range") from None


def _json_number(value: object) -> object:
    """A JSON number and nothing else: not a bool (true is no 1), not text ("2" is no 2)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("give a number")
    return value


# JSON has no date, time or enum type, and JSON Schema counts 2.0 as an integer: these are the
# only coercions a request body keeps.
Lax = Strict(False)
IsoDate = Annotated[date, Lax, BeforeValidator(_iso_text)]
IsoDateTime = Annotated[datetime, Lax, BeforeValidator(_iso_text), AfterValidator(_aware)]
JsonInt = Annotated[int, Lax, BeforeValidator(_json_number)]


class RequestModel(BaseModel):
    """The base of every body the API reads: unknown fields refused, and strict types, so
    `"face_score": true` or `"0.9"` is a 400 rather than a score of 1.0 or 0.9 (pydantic's lax
    mode reads bools and numeric strings as numbers, and "yes" or 1 as true). Enum fields are
    annotated `Lax` (JSON sends their values as text), dates and instants use `IsoDate` and
    `IsoDateTime`, integers `JsonInt` (2.0 is an integer to JSON Schema, 2.5 is not); nothing
    else is coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


MSISDN = Field(
    min_length=3,
    max_length=32,
    examples=["+8613800138000"],
    description="The phone number, E.164 or national form",
)


class DocumentIn(RequestModel):
    type: Annotated[DocumentType, Lax] | None = Field(
        default=None, description="Detected for PRC resident IDs and residence permits"
    )
    number: str = Field(min_length=1, max_length=64, examples=["11010519491231002X"])
    nationality: str | None = Field(default=None, max_length=3, examples=["CHN"])
    expires_on: IsoDate | None = Field(default=None, examples=["2035-06-30"])
    birth_date: IsoDate | None = Field(
        default=None, description="Only for documents whose number does not carry it"
    )


class PersonIn(RequestModel):
    """A person as given: the document and the name (`entry_method` says how they were
    captured)."""

    document: DocumentIn
    name: str = Field(min_length=1, max_length=100, examples=["张三"])
    address: str | None = Field(default=None, max_length=300)
    face_score: float | None = Field(
        default=None, ge=0, le=1, examples=[0.93], description="Live face comparison score"
    )
    entry_method: Annotated[EntryMethod, Lax] | None = Field(
        default=None,
        description="How the document was captured: chip_read (a reader your software "
        "attests; refused where the policy wants this channel's reader's read, "
        "card_reads.chip_read_needs_reader), ocr or manual (typed). At a counter (register, "
        "SIM replacement, transfer, report lost, cancel, re-verification) it must be given "
        "(422 REALNAME.ENTRY_METHOD_REQUIRED), or the person given by card_read_id instead; "
        "elsewhere, left out, it is manual, the least trusted",
    )

    @property
    def card_read_id(self) -> None:
        return None

    def to_person(self) -> Person:
        return Person(
            document_number=self.document.number,
            name=self.name,
            document_type=self.document.type,
            nationality=self.document.nationality,
            document_expires_on=self.document.expires_on,
            birth_date=self.document.birth_date,
            address=self.address,
            face_score=self.face_score,
            entry_method=self.entry_method or EntryMethod.MANUAL,
        )


class CardPersonIn(RequestModel):
    """The person at the counter by the card reader's read: the document and the name come
    from it, and the entry is `chip_read` (the server's word, not the request's)."""

    card_read_id: str = Field(
        pattern=r"^[0-9a-f]{32}$",
        description="A read of this channel's card reader (POST /v1/card-reads), used once",
    )
    face_score: float | None = Field(
        default=None, ge=0, le=1, examples=[0.93], description="Live face comparison score"
    )

    def to_person(self) -> Person:
        """Only a counter takes a read (`cardreads.endpoints.person_at`); elsewhere it is
        refused as a read that is not there."""
        raise RegistryError(
            RegistryErrorCode.CARD_READ_NOT_FOUND, "card reads are taken at a counter"
        )


def _person_kind(value: object) -> str:
    read = isinstance(value, CardPersonIn) or (isinstance(value, dict) and "card_read_id" in value)
    return READ_TAG if read else GIVEN_TAG


# The union's tags are in parentheses: the HTTP layer leaves them out of the field path it
# names in a 400 (`customer.document`, not `customer.(given).document`).
GIVEN_TAG, READ_TAG = "(given)", "(card read)"
CounterPersonIn = Annotated[
    Annotated[PersonIn, Tag(GIVEN_TAG)] | Annotated[CardPersonIn, Tag(READ_TAG)],
    Discriminator(_person_kind),
]


class OtpProofIn(RequestModel):
    """The one-time code sent to the line (POST /v1/lines/{id}/possession-challenges)."""

    method: Literal["otp"]
    challenge_id: str = Field(min_length=8, max_length=64)
    code: str = Field(pattern=r"^[0-9]{6}$", examples=["048213"])

    def to_claim(self) -> PossessionClaim:
        return OtpClaim(self.challenge_id, self.code)


class IccidProofIn(RequestModel):
    """The ICCID printed on the SIM card in the customer's phone."""

    method: Literal["iccid"]
    iccid: str = Field(pattern=r"^89[0-9]{16,20}[0-9A-Fa-f]?$", examples=["89860012345678901234"])

    def to_claim(self) -> PossessionClaim:
        return IccidClaim(self.iccid.upper())


class UsageProofIn(RequestModel):
    """What the holder knows from recent use: the last top-up amount (in minor units, fen)
    and one number called from the line in the usage feed's window."""

    method: Literal["usage"]
    last_topup_minor: JsonInt = Field(ge=1, le=10**9, examples=[5000])
    called_number: str = MSISDN

    def to_claim(self) -> PossessionClaim:
        return UsageClaim(self.last_topup_minor, self.called_number)


PossessionIn = Annotated[OtpProofIn | IccidProofIn | UsageProofIn, Field(discriminator="method")]


class RegistrationIn(RequestModel):
    """Register a customer and activate a SIM kit in the clerk's channel stock."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "msisdn": "+8613800138000",
                    "customer": {
                        "document": {"type": "resident_id", "number": "11010519491231002X"},
                        "name": "张三",
                        "face_score": 0.93,
                        "entry_method": "chip_read",
                    },
                }
            ]
        },
    )

    msisdn: str = MSISDN
    customer: CounterPersonIn
    possession: PossessionIn | None = Field(
        default=None,
        description="Proof that the customer holds the line: required to back-fill a legacy "
        "line (methods by policy: otp, iccid, usage); ignored for a stocked kit",
    )


class KitIn(RequestModel):
    msisdn: str = MSISDN
    iccid: str = Field(pattern=f"^{ICCID_PATTERN.pattern}$", examples=["89860012345678901234"])
    imsi: str = Field(pattern=f"^{IMSI_PATTERN.pattern}$", examples=["460001234567890"])


class StockIn(RequestModel):
    channel_id: JsonInt = Field(ge=1, le=2**31 - 1)
    kits: list[KitIn] = Field(min_length=1, max_length=1000)


class StockOut(BaseModel):
    stocked: int
    line_ids: list[int]


class LineLookupIn(RequestModel):
    msisdn: str = MSISDN


class OwnerOut(BaseModel):
    document_type: str
    document_number: str = Field(examples=["110105********002X"], description="Masked")
    name: str = Field(examples=["张*"], description="Masked")


class LineOut(BaseModel):
    id: int
    msisdn: str = Field(examples=["+8613800138000"])
    enterprise_id: int
    state: str = Field(examples=["active"])
    channel_id: int | None
    barring_reason: str | None
    owner: OwnerOut | None
    activated_at: datetime | None
    owner_since: datetime | None
    sim_changed_at: datetime | None
    reverify_deadline: datetime | None
    cooling_until: datetime | None


class EventOut(BaseModel):
    seq: int
    operation: str
    from_state: str | None
    to_state: str
    owner_changed: bool
    channel_id: int | None
    actor: str
    reason: str | None
    occurred_at: datetime


class BarIn(RequestModel):
    reason: Annotated[BarringReason, Lax] = BarringReason.ENFORCEMENT
    note: str = Field(default="", max_length=200)


class NoteIn(RequestModel):
    note: str = Field(default="", max_length=200)


class ReasonIn(RequestModel):
    reason: str = Field(min_length=1, max_length=200, examples=["fraud complaint"])


class CancelIn(RequestModel):
    """Why service ends; a clerk also sends the owner present at the counter."""

    reason: str = Field(min_length=1, max_length=200, examples=["customer request"])
    owner: CounterPersonIn | None = Field(
        default=None, description="The owner at the counter (required for a clerk)"
    )


class OwnerProofIn(RequestModel):
    owner: PersonIn


class CounterOwnerIn(RequestModel):
    """The owner at the counter: the card reader's read, or the document and name."""

    owner: CounterPersonIn


class ReportLostIn(RequestModel):
    """A clerk reports a loss only with the owner present: the owner's document and name, as
    at registration. The back office (an admin) sends no body."""

    owner: CounterPersonIn | None = Field(
        default=None, description="The owner at the counter (required for a clerk)"
    )


class SimReplacementIn(RequestModel):
    owner: CounterPersonIn
    iccid: str = Field(pattern=r"^89\d{16,20}$")
    imsi: str = Field(pattern=r"^\d{14,15}$")


class TransferIn(RequestModel):
    owner: CounterPersonIn
    receiver: CounterPersonIn


class IdentityLinesIn(RequestModel):
    document: DocumentIn


class IdentityLineOut(BaseModel):
    line_id: int
    msisdn: str
    enterprise_id: int
    state: str


class OwnerRevealIn(RequestModel):
    purpose: str = Field(
        min_length=5,
        max_length=200,
        description="Why the caller needs the owner in clear; kept in the audit trail.",
        examples=["fraud case 2026-0142: police request"],
    )
    at: IsoDateTime | None = Field(
        default=None,
        description="The instant whose owner is wanted (fraud tracing); default now.",
        examples=["2026-05-01T08:00:00Z"],
    )


class OwnerRevealedOut(BaseModel):
    line_id: int
    at: datetime
    owned: bool = Field(description="False when nobody held the number at that instant")
    identity_id: int | None = None
    document_type: str | None = None
    document_number: str | None = Field(default=None, examples=["11010519491231002X"])
    name: str | None = Field(default=None, examples=["张三"])
    nationality: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    purged: bool = Field(
        default=False,
        description="The record was purged after the policy's retention: only its id remains",
    )
