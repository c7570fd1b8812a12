"""Every query of the national index."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Table, and_, case, func, insert, select, update
from sqlalchemy.orm import Session

from realname.db.dialect import bulk_insert, in_chunks, insert_ignoring_conflicts
from realname.national.index.models import NationalIdentity, NationalLine
from realname.registry.lifecycle import HELD_STATES
from realname.registry.models import Enterprise, NumberBlockRow

HELD = sorted(str(s) for s in HELD_STATES)


class IndexRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def identity_ids(self, keys: Collection[bytes]) -> dict[bytes, int]:
        """The id of each known identity key (plain rows: a batch of thousands loaded as ORM
        objects cost a seventh of a feed's CPU)."""
        found: dict[bytes, int] = {}
        for chunk in in_chunks(keys):
            rows = self.session.execute(
                select(NationalIdentity.identity_key, NationalIdentity.id).where(
                    NationalIdentity.identity_key.in_(chunk)
                )
            )
            found.update((bytes(key), int(id_)) for key, id_ in rows)
        return found

    def identity(self, identity_key: bytes) -> NationalIdentity | None:
        return self.session.scalars(
            select(NationalIdentity).where(NationalIdentity.identity_key == identity_key)
        ).one_or_none()

    def create_identities(self, rows: Sequence[dict[str, Any]]) -> None:
        """Create-if-missing, one statement: two enterprises' batches may bring one person at
        once (INSERT … ON CONFLICT DO NOTHING)."""
        table = NationalIdentity.__table__
        assert isinstance(table, Table)
        insert_ignoring_conflicts(self.session, table, rows, ["identity_key"])

    def insert_lines(self, rows: Sequence[dict[str, Any]]) -> None:
        """New lines (every row with the same columns). On SQLite in bulk, the driver's
        executemany on values already converted (`bulk_insert`): the ORM's unit of work cost
        5x per row here, and Core's executemany still converted each row's values one by one
        (a seventh of the platform's CPU in a 1 M-line snapshot on SQLite). On PostgreSQL
        Core's executemany: `bulk_insert`'s COPY there would raise psycopg's own errors, not
        SQLAlchemy's that the API answers (a conflict 409, bad data 400), on a live feed."""
        table = NationalLine.__table__
        assert isinstance(table, Table)
        if not rows:
            return
        if self.session.get_bind().dialect.name == "sqlite":
            bulk_insert(self.session, table, rows)
        else:
            self.session.execute(insert(table), list(rows))

    def update_lines(self, rows: Sequence[dict[str, Any]]) -> None:
        """Changed lines by primary key (`id` in each row), as one executemany."""
        if rows:
            self.session.execute(update(NationalLine), list(rows))

    def number_blocks(self, enterprise_id: int) -> list[tuple[str, str]]:
        """(first, last) E.164 digits of the blocks allocated to the enterprise here (none:
        the platform does not hold its allocation)."""
        rows = self.session.execute(
            select(NumberBlockRow.first, NumberBlockRow.last).where(
                NumberBlockRow.enterprise_id == enterprise_id
            )
        ).all()
        return [(str(first), str(last)) for first, last in rows]

    def lines(self, enterprise_id: int, msisdns: Collection[str]) -> dict[str, NationalLine]:
        found: dict[str, NationalLine] = {}
        for chunk in in_chunks(msisdns):
            rows = self.session.scalars(
                select(NationalLine).where(
                    NationalLine.enterprise_id == enterprise_id, NationalLine.msisdn.in_(chunk)
                )
            )
            found.update((row.msisdn, row) for row in rows)
        return found

    def held_lines(self, identity_id: int) -> Sequence[tuple[NationalLine, Enterprise]]:
        rows = self.session.execute(
            select(NationalLine, Enterprise)
            .join(Enterprise, Enterprise.id == NationalLine.enterprise_id)
            .where(NationalLine.identity_id == identity_id, NationalLine.state.in_(HELD))
            .order_by(Enterprise.code, NationalLine.msisdn)
        )
        return [(line, enterprise) for line, enterprise in rows]

    def holds(self, identity_id: int, msisdn: str) -> NationalLine | None:
        return self.session.scalars(
            select(NationalLine).where(
                NationalLine.identity_id == identity_id,
                NationalLine.msisdn == msisdn,
                NationalLine.state.in_(HELD),
            )
        ).first()

    def held_numbers(self, identity_id: int, msisdn: str) -> Sequence[NationalLine]:
        """Every line in service of this identity under this number (one per enterprise the
        feeds say holds it: a stale enterprise and the current one may both)."""
        return self.session.scalars(
            select(NationalLine)
            .where(
                NationalLine.identity_id == identity_id,
                NationalLine.msisdn == msisdn,
                NationalLine.state.in_(HELD),
            )
            .order_by(NationalLine.id)
        ).all()

    def line(self, line_id: int) -> NationalLine | None:
        return self.session.get(NationalLine, line_id)

    def over_cap(self, cap: int, limit: int) -> Sequence[tuple[int, int, int]]:
        """(identity id, held lines, enterprises) of identities holding more than `cap` lines
        across every enterprise, most first."""
        held = func.count(NationalLine.id)
        rows = self.session.execute(
            select(
                NationalLine.identity_id,
                held,
                func.count(func.distinct(NationalLine.enterprise_id)),
            )
            .where(NationalLine.identity_id.is_not(None), NationalLine.state.in_(HELD))
            .group_by(NationalLine.identity_id)
            .having(held > cap)
            .order_by(held.desc(), NationalLine.identity_id)
            .limit(limit)
        )
        return [(int(i), int(n), int(e)) for i, n, e in rows if i is not None]

    def picture(self) -> Sequence[tuple[str, str, str, int, int, int]]:
        """Per enterprise: (code, kind, name, lines in service, with a registered owner, lines
        known at all)."""
        in_service = and_(NationalLine.state.in_([*HELD, "legacy"]))
        rows = self.session.execute(
            select(
                Enterprise.code,
                Enterprise.kind,
                Enterprise.name,
                func.sum(case((in_service, 1), else_=0)),
                func.sum(
                    case((and_(in_service, NationalLine.identity_id.is_not(None)), 1), else_=0)
                ),
                func.count(NationalLine.id),
            )
            .join(NationalLine, NationalLine.enterprise_id == Enterprise.id)
            .group_by(Enterprise.code, Enterprise.kind, Enterprise.name)
            .order_by(Enterprise.kind, Enterprise.code)
        )
        return [
            (code, kind, name, int(s or 0), int(r or 0), int(t))
            for code, kind, name, s, r, t in rows
        ]

    def all_lines(self, batch: int = 50_000) -> Any:
        """Every line with its enterprise (the export): streamed."""
        return self.session.execute(
            select(
                Enterprise.code,
                Enterprise.kind,
                NationalLine.province,
                NationalLine.channel_kind,
                NationalLine.state,
                NationalIdentity.identity_key,
                NationalLine.owner_since,
                NationalLine.activated_at,
            )
            .join(Enterprise, Enterprise.id == NationalLine.enterprise_id)
            .outerjoin(NationalIdentity, NationalIdentity.id == NationalLine.identity_id)
            .order_by(NationalLine.id)
            .execution_options(yield_per=batch)
        )
