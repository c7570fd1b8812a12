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


class AuthorityUnavailableError(Exception):
    """The authority gave no verdict: unreachable, timed out, failing, or its circuit breaker
    is open. Never a verdict and never a pass: the registry refuses the operation with
    `AUTHORITY_UNAVAILABLE` (HTTP 503) and writes nothing.

    `reason` is a short code (`unreachable`, `timeout`, `server_error`, `rate_limited`,
    `rejected`, `bad_response`, `breaker_open`, `error`); `retry_after` is whole seconds after which
    asking again may help. Neither carries the document or the name.
    """

    def __init__(self, reason: str, retry_after: int = 30) -> None:
        self.reason = reason
        self.retry_after = max(1, retry_after)
        super().__init__(f"identity authority unavailable: {reason}")
