"""A local identity authority backed by a table of synthetic citizens (demo and tests).

It stores only blind indexes of document numbers and names, computed with the registry's
key ring, so the simulation holds no readable PII either.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from realname.authority.repository import AuthorityRepository
from realname.identity.authority import AuthorityVerdict
from realname.identity.documents import ParsedDocument
from realname.identity.names import normalize_name
from realname.security.vault import KeyRing

NUMBER_CONTEXT = "authority.number"
NAME_CONTEXT = "authority.name"


class SimulatedAuthority:
    def __init__(self, session: Session, keyring: KeyRing) -> None:
        self.repository = AuthorityRepository(session)
        self.keyring = keyring

    def verify(self, document: ParsedDocument, name: str) -> AuthorityVerdict:
        citizen = self.repository.find(
            document.type, self.keyring.blind_index(document.number, NUMBER_CONTEXT)
        )
        if citizen is None:
            return AuthorityVerdict.UNKNOWN_DOCUMENT
        if citizen.revoked:
            return AuthorityVerdict.REVOKED
        if citizen.name_index != self.keyring.blind_index(normalize_name(name), NAME_CONTEXT):
            return AuthorityVerdict.NAME_MISMATCH
        return AuthorityVerdict.CONFIRMED

    def enrol(self, citizens: Iterable[tuple[ParsedDocument, str]], revoked: bool = False) -> int:
        """Add synthetic citizens (document, name); returns how many."""
        rows = [
            {
                "doc_type": str(document.type),
                "number_index": self.keyring.blind_index(document.number, NUMBER_CONTEXT),
                "name_index": self.keyring.blind_index(normalize_name(name), NAME_CONTEXT),
                "revoked": revoked,
            }
            for document, name in citizens
        ]
        self.repository.add_many(rows)
        return len(rows)
