"""A local identity authority backed by a table of synthetic citizens (demo and tests).

It stores only blind indexes of document numbers and names, computed with the registry's
key ring, so the simulation holds no readable PII either.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from realname.authority.citizens import Citizen
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
        citizen = self.repository.name_and_revoked(
            document.type, self.keyring.blind_index(document.number, NUMBER_CONTEXT)
        )
        if citizen is None:
            return AuthorityVerdict.UNKNOWN_DOCUMENT
        name_index, revoked = citizen
        if revoked:
            return AuthorityVerdict.REVOKED
        if name_index != self.keyring.blind_index(normalize_name(name), NAME_CONTEXT):
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

    def enrol_citizens(self, citizens: Iterable[Citizen]) -> tuple[int, int]:
        """Add test citizens, or update the name / revoked flag of ones already known (a
        citizens file can revoke a document); returns (added, updated). Flushes only."""
        added: list[dict[str, object]] = []
        updated = 0
        for citizen in citizens:
            number_index = self.keyring.blind_index(citizen.document.number, NUMBER_CONTEXT)
            name_index = self.keyring.blind_index(citizen.name, NAME_CONTEXT)
            known = self.repository.find(str(citizen.document.type), number_index)
            if known is None:
                added.append(
                    {
                        "doc_type": str(citizen.document.type),
                        "number_index": number_index,
                        "name_index": name_index,
                        "revoked": citizen.revoked,
                    }
                )
            else:
                known.name_index, known.revoked = name_index, citizen.revoked
                updated += 1
        self.repository.add_many(added)
        self.repository.session.flush()
        return len(added), updated

    def count(self) -> int:
        return self.repository.count()
