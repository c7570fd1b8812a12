"""Every ORM query of a legacy import: the enterprise it is for, what the validator must know
of it (number blocks, channel codes), and the import record from its start to its finish.

The bulk writes into `line` (COPY, the staging table) are the loaders' own SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from realname.backfill.models import LegacyImport
from realname.registry.models import Channel, Enterprise, NumberBlockRow


@dataclass(frozen=True)
class ImportTarget:
    """The enterprise an import loads into, as the validator needs it."""

    enterprise_id: int
    enterprise_code: str
    blocks: list[tuple[str, str]]  # (first, last) E.164 numbers of each allocated block
    channels: dict[str, int]  # channel code -> channel id


@dataclass(frozen=True)
class ImportCounts:
    read: int
    loaded: int
    present: int
    rejected: int


class ImportRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def enterprise(self, key: str | int) -> Enterprise | None:
        """By id (an int) or by code (a str)."""
        column = Enterprise.id if isinstance(key, int) else Enterprise.code
        return self.session.scalar(select(Enterprise).where(column == key))

    def target(self, enterprise: Enterprise) -> ImportTarget:
        blocks = self.session.execute(
            select(NumberBlockRow.first, NumberBlockRow.last).where(
                NumberBlockRow.enterprise_id == enterprise.id
            )
        ).all()
        channels = self.session.execute(
            select(Channel.code, Channel.id).where(Channel.enterprise_id == enterprise.id)
        )
        return ImportTarget(
            enterprise_id=enterprise.id,
            enterprise_code=enterprise.code,
            blocks=[(str(first), str(last)) for first, last in blocks],
            channels={str(code): int(channel_id) for code, channel_id in channels},
        )

    def previous_import(self, enterprise_id: int, sha256: str) -> int | None:
        """The last finished import of the same file (same SHA-256) for this enterprise."""
        return self.session.scalar(
            select(LegacyImport.id)
            .where(
                LegacyImport.enterprise_id == enterprise_id,
                LegacyImport.source_sha256 == sha256,
                LegacyImport.finished_at.is_not(None),
            )
            .order_by(LegacyImport.id.desc())
            .limit(1)
        )

    def start(
        self, enterprise_id: int, source_name: str, sha256: str, actor: str, at: datetime
    ) -> LegacyImport:
        record = LegacyImport(
            enterprise_id=enterprise_id,
            source_name=source_name[:200],
            source_sha256=sha256,
            actor=actor,
            started_at=at,
            rows_read=0,
            rows_loaded=0,
            rows_present=0,
            rows_rejected=0,
        )
        self.session.add(record)
        self.session.flush()
        return record

    def add_counts(self, import_id: int, counts: ImportCounts) -> None:
        """Added in the database, not read and written back: loaders of one import commit
        their chunks side by side."""
        self.session.execute(
            update(LegacyImport)
            .where(LegacyImport.id == import_id)
            .values(
                rows_read=LegacyImport.rows_read + counts.read,
                rows_loaded=LegacyImport.rows_loaded + counts.loaded,
                rows_present=LegacyImport.rows_present + counts.present,
                rows_rejected=LegacyImport.rows_rejected + counts.rejected,
            )
        )

    def finish(self, import_id: int, finished_at: datetime, counts: ImportCounts) -> None:
        record = self.session.get(LegacyImport, import_id)
        assert record is not None
        record.finished_at = finished_at
        record.rows_read = counts.read
        record.rows_loaded = counts.loaded
        record.rows_present = counts.present
        record.rows_rejected = counts.rejected
        self.session.flush()
