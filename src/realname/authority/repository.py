"""Queries on the simulated authority's register."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from realname.authority.models import AuthorityCitizen


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

    def add_many(self, rows: Sequence[dict[str, object]]) -> None:
        if rows:
            self.session.execute(insert(AuthorityCitizen), list(rows))

    def count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(AuthorityCitizen)) or 0)
