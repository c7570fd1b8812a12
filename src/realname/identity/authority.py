"""The identity-authority port: "is this document genuine, and does it carry this name?"

In China that is the public-security citizen-ID verification service; elsewhere a national
ID register. Registration never trusts a checksum alone: a number with a valid check
character that the authority does not know is exactly how bulk-registered cards are made.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from realname.identity.documents import ParsedDocument


class AuthorityVerdict(StrEnum):
    CONFIRMED = "confirmed"
    UNKNOWN_DOCUMENT = "unknown_document"
    NAME_MISMATCH = "name_mismatch"
    REVOKED = "revoked"


class IdentityAuthority(Protocol):
    def verify(self, document: ParsedDocument, name: str) -> AuthorityVerdict:
        """`name` is already normalised (realname.identity.names.normalize_name)."""
        ...
