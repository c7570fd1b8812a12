"""Queries on the simulated authority's register."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.orm import Session

from realname.authority.models import AuthorityCitizen

_CITIZENS: Table = AuthorityCitizen.__table__  # type: ignore[assignment]
# Core, not ORM: asked once per registration, and only two columns are needed.
_VERDICT_OF = select(_CITIZENS.c.name_index, _CITIZENS.c.revoked).where(
    _CITIZENS.c.doc_type == bindparam("doc_type"),
    _CITIZENS.c.number_index == bindparam("number_index"),
)


class AuthorityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, doc_type: str, number_index: bytes) -> AuthorityCitizen | None:
        return self.session.scalars(
            select(AuthorityCitizen).where(
                AuthorityCitizen.doc_type == doc_type,
                AuthorityCitizen.number_index == number_index,
            )
        ).one_or_none()

    def name_and_revoked(self, doc_type: str, number_index: bytes) -> tuple[bytes, bool] | None:
        """(name index, revoked) of the citizen with this document, or None."""
        row = (
            self.session.connection()
            .execute(_VERDICT_OF, {"doc_type": doc_type, "number_index": number_index})
            .first()
        )
        return None if row is None else (bytes(row[0]), bool(row[1]))

    def add_many(self, rows: Sequence[dict[str, object]]) -> None:
        if rows:
            self.session.execute(insert(AuthorityCitizen), list(rows))

    def count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(AuthorityCitizen)) or 0)
