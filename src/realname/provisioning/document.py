"""What a provisioning file (or one command) asks for, and the report of what it did.

The vocabulary shared by the readers (`files`), the check (`check`), the service and the
entry points: plain values, no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from realname.numbering.blocks import NumberBlock
from realname.numbering.errors import NumberError
from realname.numbering.msisdn import parse_msisdn
from realname.provisioning.errors import ProvisioningError, ProvisioningErrorCode

C = ProvisioningErrorCode
LICENCE_STATUSES = ("pilot", "official", "suspended", "revoked")
# Statuses under which an enterprise may receive new blocks, channels and clerks.
ISSUING = frozenset({"pilot", "official"})
# No mobile licence predates public cellular service (China's began in 1987).
EARLIEST_LICENCE = date(1980, 1, 1)


@dataclass(frozen=True)
class EnterpriseSpec:
    code: str
    name: str
    kind: str
    host: str | None = None
    licence_status: str = "official"
    licence_since: date | None = None
    licence_no: str | None = None
    provinces: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class BlockSpec:
    enterprise: str
    prefix: str | None = None
    first: str | None = None
    last: str | None = None
    line: int = 0


@dataclass(frozen=True)
class ChannelSpec:
    enterprise: str
    code: str
    name: str
    kind: str
    region: str
    parent: str | None = None
    line: int = 0


@dataclass(frozen=True)
class ClerkSpec:
    enterprise: str
    channel: str
    code: str
    name: str
    line: int = 0


@dataclass
class Document:
    """What a file (or one command) asks for; `line` of each spec is where it was written."""

    enterprises: list[EnterpriseSpec] = field(default_factory=list)
    blocks: list[BlockSpec] = field(default_factory=list)
    channels: list[ChannelSpec] = field(default_factory=list)
    clerks: list[ClerkSpec] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.enterprises) + len(self.blocks) + len(self.channels) + len(self.clerks)


@dataclass
class Counts:
    created: int = 0
    unchanged: int = 0


@dataclass
class Report:
    """Per entity: how many rows the file creates and how many already exist as written."""

    enterprises: Counts = field(default_factory=Counts)
    blocks: Counts = field(default_factory=Counts)
    channels: Counts = field(default_factory=Counts)
    clerks: Counts = field(default_factory=Counts)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            name: {"created": c.created, "unchanged": c.unchanged}
            for name, c in (
                ("enterprises", self.enterprises),
                ("blocks", self.blocks),
                ("channels", self.channels),
                ("clerks", self.clerks),
            )
        } | {"dry_run": self.dry_run}


def block_of(prefix: str | None, first: str | None, last: str | None) -> NumberBlock:
    """`+86 170 1` (a prefix) or first/last: a range of mobile numbers, or BLOCK_INVALID."""
    try:
        if prefix and not (first or last):
            block = NumberBlock.from_prefix(prefix)
        elif first and last and not prefix:
            block = NumberBlock.from_range(first, last)
        else:
            raise ProvisioningError(C.BLOCK_INVALID, "give a prefix, or first and last")
        for end in (block.first, block.last):
            parse_msisdn("+" + end)
    except NumberError as error:
        raise ProvisioningError(C.BLOCK_INVALID, str(error.code)) from None
    return block
