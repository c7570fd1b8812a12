"""Every query of the verification domain."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Table, delete, func, or_, select
from sqlalchemy.orm import Session

from realname.db.dialect import increment_counter
from realname.registry.models import LineEvent
from realname.verification.models import Consent, QuotaCounter, RelyingParty


class VerificationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def relying_party(self, client_id: str) -> RelyingParty | None:
        return self.session.scalars(
            select(RelyingParty).where(RelyingParty.client_id == client_id)
        ).first()

    def add(self, row: RelyingParty | Consent) -> None:
        self.session.add(row)

    def consent(self, consent_id: int) -> Consent | None:
        return self.session.get(Consent, consent_id)

    def live_consents(
        self, relying_party_id: int, line_id: int, owner_identity_id: int, at: datetime
    ) -> list[Consent]:
        """Consents for this party, line and owner that are neither revoked nor expired."""
        return list(
            self.session.scalars(
                select(Consent).where(
                    Consent.relying_party_id == relying_party_id,
                    Consent.line_id == line_id,
                    Consent.owner_identity_id == owner_identity_id,
                    Consent.revoked_at.is_(None),
                    or_(Consent.expires_at.is_(None), Consent.expires_at > at),
                )
            )
        )

    def latest_event_at(self, line_id: int, operations: Iterable[str]) -> datetime | None:
        return self.session.scalar(
            select(func.max(LineEvent.occurred_at)).where(
                LineEvent.line_id == line_id, LineEvent.operation.in_(list(operations))
            )
        )

    def count(self, key: str) -> int:
        row = self.session.get(QuotaCounter, key)
        return row.count if row is not None else 0

    def increment(self, key: str, expires_at: datetime) -> int:
        table = QuotaCounter.__table__
        assert isinstance(table, Table)
        return increment_counter(
            self.session, table, "key", "count", {"key": key, "expires_at": expires_at}
        )

    def purge_expired_counters(self, at: datetime) -> int:
        result = self.session.execute(delete(QuotaCounter).where(QuotaCounter.expires_at <= at))
        return int(getattr(result, "rowcount", 0) or 0)
