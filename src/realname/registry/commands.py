"""What callers hand the registry service: the actor, the clock, people and SIM kits.

Plain frozen dataclasses (the HTTP layer has its own Pydantic schemas and maps onto these):
the service must be callable from the CLI, jobs and tests without a web framework.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from realname.identity.documents import DocumentType
from realname.policy.schema import EntryMethod

ICCID_PATTERN = re.compile(r"89\d{16,20}")
IMSI_PATTERN = re.compile(r"\d{14,15}")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: `clerk:42`, `enterprise:3`, `subscriber`, `system:backfill`, `regulator:1`."""

    kind: str
    id: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}" if self.id else self.kind


@dataclass(frozen=True, slots=True)
class Context:
    actor: Actor
    at: datetime
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class Desk:
    """Where a counter operation happens: an enterprise's channel and the clerk serving at it.
    The three are checked together (the channel is the enterprise's and active, the clerk is
    the channel's and active), so they travel as one value."""

    enterprise_id: int
    channel_id: int
    clerk_id: int


class TypedText(str):
    """Text a person typed (a reason in an API body, a note): always sealed, never taken for a
    reason code, however code-like it looks (`owner_zhang_wei_asked` is a name in clear)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Person:
    """A person as presented at the counter: their document, their name, their face."""

    document_number: str
    name: str
    document_type: DocumentType | None = None
    nationality: str | None = None
    document_expires_on: date | None = None
    birth_date: date | None = None  # only for documents whose number does not carry it
    address: str | None = None
    face_score: float | None = None
    entry_method: EntryMethod = EntryMethod.CHIP_READ


@dataclass(frozen=True, slots=True)
class Kit:
    """A SIM kit: the number and the card it is printed on."""

    msisdn: str
    iccid: str
    imsi: str

    @property
    def card_is_well_formed(self) -> bool:
        """An ICCID of the telecom industry (89…, 18 to 22 digits) and an IMSI of 14 or 15
        digits: what the API's schema asks, checked here for every entry point."""
        return bool(ICCID_PATTERN.fullmatch(self.iccid) and IMSI_PATTERN.fullmatch(self.imsi))


@dataclass(frozen=True, slots=True)
class OtpClaim:
    """The one-time code the customer reads from the line's phone."""

    challenge_id: str
    code: str


@dataclass(frozen=True, slots=True)
class IccidClaim:
    """The ICCID printed on the SIM card in the customer's phone."""

    iccid: str


@dataclass(frozen=True, slots=True)
class UsageClaim:
    """What only the line's holder knows from its recent use: the last top-up amount (minor
    units) and one number called from the line recently."""

    last_topup_minor: int
    called_number: str


PossessionClaim = OtpClaim | IccidClaim | UsageClaim


@dataclass(frozen=True, slots=True)
class PossessionProof:
    """Checked by the possession service: the customer holds line `line_id` (by `method`).
    The registry back-fills a legacy line only with one for that very line."""

    line_id: int
    method: str
