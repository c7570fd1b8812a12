"""Every query of provisioning: reads for validation, bulk inserts for files."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from realname.registry.models import (
    Channel,
    Clerk,
    Enterprise,
    EnterpriseSanction,
    NumberBlockRow,
)
from realname.registry.sanctions import Measure
from realname.security.models import ApiClient

CHANNEL: Table = Channel.__table__  # type: ignore[assignment]
CLERK: Table = Clerk.__table__  # type: ignore[assignment]
BLOCK: Table = NumberBlockRow.__table__  # type: ignore[assignment]
_CHUNK = 500


class ProvisioningRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- enterprises -----------------------------------------------------------------------

    def enterprises(self) -> Sequence[Enterprise]:
        return self.session.scalars(select(Enterprise).order_by(Enterprise.code)).all()

    def enterprise(self, enterprise_id: int, *, lock: bool = False) -> Enterprise | None:
        statement = select(Enterprise).where(Enterprise.id == enterprise_id)
        if lock:
            statement = statement.with_for_update()
        return self.session.scalars(statement).first()

    def enterprise_by_code(self, code: str, *, lock: bool = False) -> Enterprise | None:
        statement = select(Enterprise).where(Enterprise.code == code)
        if lock:
            statement = statement.with_for_update()
        return self.session.scalars(statement).first()

    def add(self, row: object) -> None:
        self.session.add(row)

    # --- blocks ----------------------------------------------------------------------------

    def blocks(self, enterprise_id: int | None = None) -> Sequence[NumberBlockRow]:
        statement = select(NumberBlockRow).order_by(NumberBlockRow.first)
        if enterprise_id is not None:
            statement = statement.where(NumberBlockRow.enterprise_id == enterprise_id)
        return self.session.scalars(statement).all()

    def block_bounds(self) -> list[tuple[str, str, int]]:
        """Every allocated block as (first, last, enterprise id): overlap checks of a file."""
        rows = self.session.execute(
            select(NumberBlockRow.first, NumberBlockRow.last, NumberBlockRow.enterprise_id)
        )
        return [(first, last, enterprise_id) for first, last, enterprise_id in rows]

    def blocks_suspended(self) -> set[int]:
        """Enterprises whose new number blocks an enforcement measure stops (registry/
        sanctions.py): a file allocating them one is refused on that row."""
        rows = self.session.scalars(
            select(EnterpriseSanction.enterprise_id).where(
                EnterpriseSanction.measure == str(Measure.BLOCK_ALLOCATION),
                EnterpriseSanction.lifted_at.is_(None),
            )
        )
        return set(rows)

    def insert_blocks(self, rows: list[dict[str, Any]]) -> list[int]:
        if not rows:
            return []
        result = self.session.execute(
            insert(BLOCK).returning(BLOCK.c.id, sort_by_parameter_order=True), rows
        )
        return [row[0] for row in result]

    # --- channels --------------------------------------------------------------------------

    def channels(self, enterprise_id: int) -> Sequence[Channel]:
        return self.session.scalars(
            select(Channel).where(Channel.enterprise_id == enterprise_id).order_by(Channel.code)
        ).all()

    def channel_rows(self, enterprise_ids: Iterable[int]) -> list[dict[str, Any]]:
        """The channels of these enterprises as plain rows (a file may name 15,000)."""
        wanted = sorted(set(enterprise_ids))
        if not wanted:
            return []
        columns = (
            CHANNEL.c.id,
            CHANNEL.c.enterprise_id,
            CHANNEL.c.parent_id,
            CHANNEL.c.code,
            CHANNEL.c.name,
            CHANNEL.c.kind,
            CHANNEL.c.region_code,
            CHANNEL.c.status,
        )
        rows = self.session.execute(select(*columns).where(CHANNEL.c.enterprise_id.in_(wanted)))
        return [dict(row._mapping) for row in rows]

    def channel(self, enterprise_id: int, code: str) -> Channel | None:
        return self.session.scalars(
            select(Channel).where(Channel.enterprise_id == enterprise_id, Channel.code == code)
        ).first()

    def channel_by_id(self, channel_id: int) -> Channel | None:
        return self.session.get(Channel, channel_id)

    def parent_of(self, channel_id: int) -> int | None:
        return self.session.scalar(select(Channel.parent_id).where(Channel.id == channel_id))

    def insert_channels(self, rows: list[dict[str, Any]]) -> list[int]:
        if not rows:
            return []
        result = self.session.execute(
            insert(CHANNEL).returning(CHANNEL.c.id, sort_by_parameter_order=True), rows
        )
        return [row[0] for row in result]

    # --- clerks ----------------------------------------------------------------------------

    def clerks(self, enterprise_id: int) -> Sequence[tuple[Clerk, Channel]]:
        rows = self.session.execute(
            select(Clerk, Channel)
            .join(Channel, Channel.id == Clerk.channel_id)
            .where(Channel.enterprise_id == enterprise_id)
            .order_by(Clerk.code)
        )
        return [(clerk, channel) for clerk, channel in rows]

    def clerk(self, enterprise_id: int, code: str) -> Clerk | None:
        return self.session.scalars(
            select(Clerk)
            .join(Channel, Channel.id == Clerk.channel_id)
            .where(Channel.enterprise_id == enterprise_id, Clerk.code == code)
        ).first()

    def clerk_by_id(self, clerk_id: int) -> Clerk | None:
        return self.session.get(Clerk, clerk_id)

    def clerk_rows(self, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Existing clerks with these codes (codes are unique across enterprises)."""
        wanted = sorted(set(codes))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), _CHUNK):
            rows = self.session.execute(
                select(
                    CLERK.c.id,
                    CLERK.c.code,
                    CLERK.c.name,
                    CLERK.c.channel_id,
                    CLERK.c.status,
                    CHANNEL.c.enterprise_id,
                )
                .join(CHANNEL, CHANNEL.c.id == CLERK.c.channel_id)
                .where(CLERK.c.code.in_(wanted[start : start + _CHUNK]))
            )
            found.update({row.code: dict(row._mapping) for row in rows})
        return found

    def insert_clerks(self, rows: list[dict[str, Any]]) -> list[int]:
        if not rows:
            return []
        result = self.session.execute(
            insert(CLERK).returning(CLERK.c.id, sort_by_parameter_order=True), rows
        )
        return [row[0] for row in result]

    def clients_of_clerk(self, clerk_id: int) -> Sequence[ApiClient]:
        return self.session.scalars(
            select(ApiClient).where(ApiClient.clerk_id == clerk_id, ApiClient.status == "active")
        ).all()
