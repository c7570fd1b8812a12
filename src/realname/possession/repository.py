"""Every query of the possession domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from realname.possession.models import LineUsage, PossessionChallenge, PossessionFailure
from realname.registry.models import Line

Ch = PossessionChallenge


class PossessionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)

    def line_for_update(self, line_id: int) -> Line | None:
        return self.session.scalars(
            select(Line)
            .where(Line.id == line_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()

    # --- challenges -------------------------------------------------------------------------

    def issued_for_number(self, purpose: str, digest: bytes, since: datetime) -> int:
        return self._count(
            Ch.purpose == purpose, Ch.number_digest == digest, Ch.created_at >= since
        )

    def issued_by_channel(self, channel_id: int, since: datetime) -> int:
        return self._count(Ch.channel_id == channel_id, Ch.created_at >= since)

    def issued_to_source(self, digest: bytes, since: datetime) -> int:
        return self._count(Ch.source_digest == digest, Ch.created_at >= since)

    def oldest_login_since(self, number: bytes, source: bytes, since: datetime) -> datetime | None:
        """The earliest code in the window for this number or this source: when it leaves
        the window, a refused request may be tried again (Retry-After)."""
        return self.session.scalar(
            select(func.min(Ch.created_at)).where(
                Ch.created_at >= since,
                ((Ch.purpose == "login") & (Ch.number_digest == number))
                | (Ch.source_digest == source),
            )
        )

    def _count(self, *where: object) -> int:
        return int(self.session.scalar(select(func.count()).select_from(Ch).where(*where)) or 0)  # type: ignore[arg-type]

    def challenge(self, public_id: str) -> PossessionChallenge | None:
        return self.session.scalars(select(Ch).where(Ch.public_id == public_id)).first()

    def claim_attempt(self, challenge_id: int, now: datetime) -> bool:
        """Count one attempt at a live challenge (unused, unexpired, attempts left): one
        conditional UPDATE, so concurrent attempts never share an attempt and a spent
        challenge takes none."""
        return self._update(
            update(Ch)
            .where(
                Ch.id == challenge_id,
                Ch.used_at.is_(None),
                Ch.expires_at > now,
                Ch.attempts < Ch.max_attempts,
            )
            .values(attempts=Ch.attempts + 1)
        )

    def count_failed_attempt(self, challenge_id: int) -> bool:
        """After the refused request was rolled back: its wrong attempt still counts."""
        return self._update(
            update(Ch)
            .where(Ch.id == challenge_id, Ch.used_at.is_(None), Ch.attempts < Ch.max_attempts)
            .values(attempts=Ch.attempts + 1)
        )

    def consume(self, challenge_id: int, now: datetime) -> bool:
        """Use the challenge once: of two concurrent twins exactly one gets True."""
        return self._update(
            update(Ch).where(Ch.id == challenge_id, Ch.used_at.is_(None)).values(used_at=now)
        )

    def _update(self, statement: object) -> bool:
        result = self.session.execute(statement)  # type: ignore[call-overload]
        assert isinstance(result, CursorResult)
        return bool(result.rowcount == 1)

    # --- failures ---------------------------------------------------------------------------

    def failures_of_line(self, line_id: int, methods: tuple[str, ...], since: datetime) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(PossessionFailure)
                .where(
                    PossessionFailure.line_id == line_id,
                    PossessionFailure.method.in_(methods),
                    PossessionFailure.occurred_at >= since,
                )
            )
            or 0
        )

    def failures(self, enterprise_id: int, since: datetime) -> list[PossessionFailure]:
        return list(
            self.session.scalars(
                select(PossessionFailure)
                .where(
                    PossessionFailure.enterprise_id == enterprise_id,
                    PossessionFailure.occurred_at >= since,
                )
                .order_by(PossessionFailure.id)
            )
        )

    # --- usage ------------------------------------------------------------------------------

    def usage(self, line_id: int) -> LineUsage | None:
        return self.session.get(LineUsage, line_id)

    def lines_by_number(self, enterprise_id: int, numbers: list[str]) -> dict[str, int]:
        if not numbers:
            return {}
        rows = self.session.execute(
            select(Line.msisdn, Line.id).where(
                Line.enterprise_id == enterprise_id, Line.msisdn.in_(numbers)
            )
        )
        return {str(msisdn): int(line_id) for msisdn, line_id in rows}
