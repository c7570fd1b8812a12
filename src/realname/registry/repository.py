"""Every query the registry runs. Rows that decide a cap or a transition are read FOR UPDATE
(a no-op on SQLite, where BEGIN IMMEDIATE already serialises writers)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, cast, func, select
from sqlalchemy.orm import Session, aliased

from realname.db.dialect import insert_ignoring_conflicts
from realname.registry.lifecycle import HELD_STATES, BarringReason
from realname.registry.models import (
    Channel,
    Clerk,
    Enterprise,
    EnterpriseSanction,
    Holding,
    Identity,
    Line,
    LineEvent,
    NumberBlockRow,
)
from realname.registry.rows import IDENTITY_ROW_COLUMNS, IdentityRow

_IDENTITIES = Identity.__table__
# Core, not ORM: a plain read of one row, on the registration's hot path.
_IDENTITY_BY_INDEX = select(*(_IDENTITIES.c[name] for name in IDENTITY_ROW_COLUMNS)).where(
    _IDENTITIES.c.doc_type == bindparam("doc_type"),
    _IDENTITIES.c.number_index == bindparam("number_index"),
)


class RegistryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- enterprises, blocks, channels --------------------------------------------------

    def enterprise(self, enterprise_id: int) -> Enterprise | None:
        return self.session.get(Enterprise, enterprise_id)

    def enterprise_by_code(self, code: str) -> Enterprise | None:
        return self.session.scalars(select(Enterprise).where(Enterprise.code == code)).first()

    def overlapping_blocks(self, first: str, last: str) -> Sequence[NumberBlockRow]:
        return self.session.scalars(
            select(NumberBlockRow).where(
                func.length(NumberBlockRow.first) == len(first),
                NumberBlockRow.first <= last,
                NumberBlockRow.last >= first,
            )
        ).all()

    def block_owning(self, enterprise_id: int, digits: str) -> NumberBlockRow | None:
        return self.session.scalars(
            select(NumberBlockRow).where(
                NumberBlockRow.enterprise_id == enterprise_id,
                NumberBlockRow.first <= digits,
                NumberBlockRow.last >= digits,
                func.length(NumberBlockRow.first) == len(digits),
            )
        ).first()

    def channel(self, channel_id: int) -> Channel | None:
        return self.session.get(Channel, channel_id)

    def clerk(self, clerk_id: int) -> Clerk | None:
        return self.session.get(Clerk, clerk_id)

    # --- lines ----------------------------------------------------------------------------

    def line_for_update(self, msisdn: str) -> Line | None:
        return self.session.scalars(
            select(Line)
            .where(Line.msisdn == msisdn)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()

    def lines_for_update(self, msisdns: Sequence[str]) -> Sequence[Line]:
        """These numbers' lines (those that exist), locked in number order."""
        if not msisdns:
            return []
        return self.session.scalars(
            select(Line)
            .where(Line.msisdn.in_(list(msisdns)))
            .order_by(Line.msisdn)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()

    def line(self, msisdn: str) -> Line | None:
        return self.session.scalars(select(Line).where(Line.msisdn == msisdn)).first()

    def reverification_queue(self, enterprise_id: int, limit: int) -> Sequence[Line]:
        """The enterprise's lines whose owner must re-verify (二次实名), soonest due first."""
        return self.session.scalars(
            select(Line)
            .where(Line.enterprise_id == enterprise_id, Line.reverify_deadline.is_not(None))
            .order_by(Line.reverify_deadline, Line.id)
            .limit(limit)
        ).all()

    def stock_of(
        self, channel_id: int, limit: int = 1000, ending: str | None = None
    ) -> Sequence[Line]:
        """The channel's kits in number order; `ending`: only numbers ending in those digits
        (a customer choosing a number by its last digits, 尾号)."""
        query = select(Line).where(Line.channel_id == channel_id, Line.state == "stocked")
        if ending:
            query = query.where(Line.msisdn.endswith(ending, autoescape=True))
        return self.session.scalars(query.order_by(Line.msisdn).limit(limit)).all()

    def kit_in_use(self, enterprise_id: int, iccid: str, imsi: str) -> bool:
        """Whether one of the enterprise's own lines holds the ICCID or IMSI. Another
        enterprise's kits are never looked at: that would tell a tenant what another holds."""
        found = self.session.scalar(
            select(func.count())
            .select_from(Line)
            .where(Line.enterprise_id == enterprise_id, (Line.iccid == iccid) | (Line.imsi == imsi))
        )
        return bool(found)

    def lines_due(self, column: str, now: datetime, states: Sequence[str]) -> Sequence[str]:
        """MSISDNs whose deadline in `column` has passed while in one of `states`."""
        deadline = getattr(Line, column)
        return self.session.scalars(
            select(Line.msisdn)
            .where(deadline.is_not(None), deadline <= now, Line.state.in_(list(states)))
            .order_by(Line.msisdn)
        ).all()

    def add(self, row: object) -> None:
        self.session.add(row)

    def sanctions_in_force(
        self, enterprise_id: int, measure: str | None = None
    ) -> Sequence[EnterpriseSanction]:
        """The enterprise's enforcement measures not yet lifted (of one measure, if named)."""
        query = select(EnterpriseSanction).where(
            EnterpriseSanction.enterprise_id == enterprise_id,
            EnterpriseSanction.lifted_at.is_(None),
        )
        if measure is not None:
            query = query.where(EnterpriseSanction.measure == measure)
        return self.session.scalars(query.order_by(EnterpriseSanction.id)).all()

    def sanctions_by_reference(self, reference: str) -> Sequence[EnterpriseSanction]:
        return self.session.scalars(
            select(EnterpriseSanction)
            .where(EnterpriseSanction.reference == reference)
            .order_by(EnterpriseSanction.id)
        ).all()

    # --- identities and holdings ------------------------------------------------------------

    def identity_by_index(self, doc_type: str, number_index: bytes) -> IdentityRow | None:
        """The identity with this document (by blind index): a plain read, no row lock."""
        found = (
            self.session.connection()
            .execute(_IDENTITY_BY_INDEX, {"doc_type": doc_type, "number_index": number_index})
            .first()
        )
        return None if found is None else IdentityRow(*found)

    def identity(self, identity_id: int) -> Identity | None:
        return self.session.get(Identity, identity_id)

    def lock_identity(self, identity_id: int) -> Identity:
        # FOR NO KEY UPDATE: it still serialises cap checks, but does not conflict with the
        # FOR KEY SHARE that foreign-key checks take when events reference the identity.
        return self.session.scalars(
            select(Identity)
            .where(Identity.id == identity_id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        ).one()

    def purgeable_identities(
        self,
        cutoff: datetime,
        limit: int,
        among: Sequence[int] | None = None,
        *,
        after_id: int = 0,
    ) -> list[int]:
        """Identities not yet purged that no line holds and no event has named as owner since
        `cutoff` (the policy's retention before now), in id order: their last line ended, and
        its retention ran out. `among` re-checks a locked batch with a fresh statement."""
        line = select(Line.id).where(Line.owner_identity_id == Identity.id)
        named_since = select(LineEvent.id).where(
            (LineEvent.owner_after_id == Identity.id) | (LineEvent.owner_before_id == Identity.id),
            LineEvent.occurred_at > cutoff,
        )
        held = select(Holding.identity_id).where(
            Holding.identity_id == Identity.id, Holding.active_count > 0
        )
        statement = select(Identity.id).where(
            Identity.id > after_id,
            Identity.purged_at.is_(None),
            Identity.created_at <= cutoff,
            ~line.exists(),
            ~named_since.exists(),
            ~held.exists(),
        )
        if among is not None:
            statement = statement.where(Identity.id.in_(among))
        return list(self.session.scalars(statement.order_by(Identity.id).limit(limit)))

    def lock_identities(self, ids: Sequence[int]) -> list[Identity]:
        """The rows, locked FOR UPDATE in id order (a registration that is attaching a line to
        one of them holds a key-share lock on it, so the purge waits for it, then re-checks)."""
        return list(
            self.session.scalars(
                select(Identity)
                .where(Identity.id.in_(ids))
                .order_by(Identity.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )

    def purged_identities_holding_lines(self) -> Sequence[tuple[int, str]]:
        """(identity, line number) of purged identities a line still names as owner."""
        return [
            (identity_id, msisdn)
            for identity_id, msisdn in self.session.execute(
                select(Identity.id, Line.msisdn)
                .join(Line, Line.owner_identity_id == Identity.id)
                .where(Identity.purged_at.is_not(None))
                .order_by(Identity.id)
            )
        ]

    def lock_holding(self, identity_id: int, enterprise_id: int) -> Holding:
        """The (identity, enterprise) holding row, created if missing, locked until commit."""
        insert_ignoring_conflicts(
            self.session,
            Holding.__table__,  # type: ignore[arg-type]
            {"identity_id": identity_id, "enterprise_id": enterprise_id, "active_count": 0},
            ["identity_id", "enterprise_id"],
        )
        return self.session.scalars(
            select(Holding)
            .where(Holding.identity_id == identity_id, Holding.enterprise_id == enterprise_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()

    def national_holding(self, identity_id: int) -> int:
        total = self.session.scalar(
            select(func.coalesce(func.sum(Holding.active_count), 0)).where(
                Holding.identity_id == identity_id
            )
        )
        return int(total or 0)

    # --- history --------------------------------------------------------------------------

    def events_of(self, line_id: int, until: datetime | None = None) -> Sequence[LineEvent]:
        statement = select(LineEvent).where(LineEvent.line_id == line_id)
        if until is not None:
            statement = statement.where(LineEvent.occurred_at <= until)
        return self.session.scalars(statement.order_by(LineEvent.seq)).all()

    def lines_of_identity(
        self, identity_id: int, enterprise_id: int | None = None
    ) -> Sequence[tuple[Line, Enterprise]]:
        statement = (
            select(Line, Enterprise)
            .join(Enterprise, Enterprise.id == Line.enterprise_id)
            .where(Line.owner_identity_id == identity_id)
            .order_by(Line.msisdn)
        )
        if enterprise_id is not None:
            statement = statement.where(Line.enterprise_id == enterprise_id)
        return [(line, enterprise) for line, enterprise in self.session.execute(statement)]

    # --- re-verification triggers --------------------------------------------------------------

    def crowded_holdings(self, at_least: int) -> Sequence[tuple[int, int]]:
        """(identity, enterprise) holding at least `at_least` lines: one ID, many cards."""
        rows = self.session.execute(
            select(Holding.identity_id, Holding.enterprise_id)
            .where(Holding.active_count >= at_least)
            .order_by(Holding.identity_id, Holding.enterprise_id)
        )
        return [(int(i), int(e)) for i, e in rows]

    def held_lines(self, identity_id: int, enterprise_id: int) -> Sequence[Line]:
        return self.session.scalars(
            select(Line)
            .where(
                Line.owner_identity_id == identity_id,
                Line.enterprise_id == enterprise_id,
                Line.state.in_([str(s) for s in HELD_STATES]),
            )
            .order_by(Line.id)
        ).all()

    def last_events_at(
        self, line_ids: Sequence[int], operations: Sequence[str]
    ) -> dict[int, datetime]:
        """`last_event_at` for many lines in one query (lines with no such event left out)."""
        if not line_ids:
            return {}
        rows = self.session.execute(
            select(LineEvent.line_id, func.max(LineEvent.occurred_at))
            .where(LineEvent.line_id.in_(list(line_ids)), LineEvent.operation.in_(list(operations)))
            .group_by(LineEvent.line_id)
        )
        return {int(line_id): at for line_id, at in rows}

    def last_event_at(self, line_id: int, operations: Sequence[str]) -> datetime | None:
        return self.session.scalar(
            select(func.max(LineEvent.occurred_at)).where(
                LineEvent.line_id == line_id, LineEvent.operation.in_(list(operations))
            )
        )

    # --- integrity (realname check) -------------------------------------------------------

    def held_counts(self) -> dict[tuple[int, int], int]:
        rows = self.session.execute(
            select(Line.owner_identity_id, Line.enterprise_id, func.count())
            .where(Line.state.in_([str(s) for s in HELD_STATES]))
            .group_by(Line.owner_identity_id, Line.enterprise_id)
        )
        return {(int(i), int(e)): int(n) for i, e, n in rows if i is not None}

    def holdings(self) -> dict[tuple[int, int], int]:
        rows = self.session.execute(
            select(Holding.identity_id, Holding.enterprise_id, Holding.active_count)
        )
        return {(i, e): n for i, e, n in rows}

    # The integrity check streams millions of rows: plain tuples of the columns it needs,
    # not ORM objects (an order of magnitude cheaper per row).

    def iter_line_states(self, batch: int = 20000) -> Iterator[Any]:
        yield from self.session.execute(
            select(
                Line.id,
                Line.msisdn,
                Line.state,
                Line.owner_identity_id,
                Line.event_count,
                Line.legacy_import_id,
                # The columns that cache what the events say (checked against them):
                Line.channel_id,
                Line.activated_at,
                Line.owner_since,
                Line.sim_changed_at,
            )
            .order_by(Line.id)
            .execution_options(yield_per=batch)
        )

    def iter_event_moves(self, batch: int = 20000) -> Iterator[Any]:
        yield from self.session.execute(
            select(
                LineEvent.line_id,
                LineEvent.seq,
                LineEvent.operation,
                LineEvent.from_state,
                LineEvent.to_state,
                LineEvent.owner_after_id,
                LineEvent.owner_before_id,
                LineEvent.channel_id,
                LineEvent.occurred_at,
            )
            .order_by(LineEvent.line_id, LineEvent.seq)
            .execution_options(yield_per=batch)
        )

    def iter_event_details(self, batch: int = 20000) -> Iterator[Any]:
        """(id, detail) of the events whose detail references a sealed note."""
        yield from self.session.execute(
            select(LineEvent.id, LineEvent.detail)
            .where(cast(LineEvent.detail, Text).like('%"note"%'))
            .execution_options(yield_per=batch)
        )

    def note_events_of_owners(
        self, ids: Sequence[int] | None = None, batch: int = 20000
    ) -> Iterator[Any]:
        """(id, detail) of the events that reference a sealed note and name one of these
        identities (None: any purged identity) as owner before or after."""
        before = aliased(Identity)
        after = aliased(Identity)
        statement = select(LineEvent.id, LineEvent.detail).where(
            cast(LineEvent.detail, Text).like('%"note"%')
        )
        if ids is not None:
            if not ids:
                return
            statement = statement.where(
                LineEvent.owner_before_id.in_(ids) | LineEvent.owner_after_id.in_(ids)
            )
        else:
            statement = (
                statement.outerjoin(before, before.id == LineEvent.owner_before_id)
                .outerjoin(after, after.id == LineEvent.owner_after_id)
                .where(before.purged_at.is_not(None) | after.purged_at.is_not(None))
            )
        yield from self.session.execute(statement.execution_options(yield_per=batch))

    def iter_event_rows(self, columns: Sequence[str], batch: int = 20000) -> Iterator[Any]:
        """(id, *columns, mac_key_id, mac) of every event, for the MAC check."""
        table = LineEvent.__table__
        yield from self.session.execute(
            select(
                LineEvent.id,
                *(table.c[name] for name in columns),
                LineEvent.mac_key_id,
                LineEvent.mac,
            ).execution_options(yield_per=batch)
        )

    def iter_identity_rows(self, columns: Sequence[str], batch: int = 20000) -> Iterator[Any]:
        """(id, *columns, mac_key_id, mac) of every identity, for the MAC check."""
        table = Identity.__table__
        yield from self.session.execute(
            select(
                Identity.id,
                *(table.c[name] for name in columns),
                Identity.mac_key_id,
                Identity.mac,
            ).execution_options(yield_per=batch)
        )

    def iter_sealed_identities(self, batch: int = 20000) -> Iterator[Any]:
        yield from self.session.execute(
            select(
                Identity.id,
                Identity.key_id,
                Identity.number_sealed,
                Identity.name_sealed,
                Identity.address_sealed,
                Identity.number_index,
                Identity.name_index,
                Identity.purged_at,
                Identity.birth_date,
            )
            .order_by(Identity.id)
            .execution_options(yield_per=batch)
        )

    def unverified_owners_of_held_lines(self) -> Sequence[tuple[str, int | None]]:
        """Held lines without a verified owner; a legacy line the back-fill campaign barred
        is held by nobody yet, and that is what its barring reason says."""
        unowned_backfill = Line.owner_identity_id.is_(None) & (
            Line.barring_reason.in_([str(BarringReason.BACKFILL), str(BarringReason.DISPUTED)])
        )
        rows = self.session.execute(
            select(Line.msisdn, Line.owner_identity_id)
            .outerjoin(Identity, Identity.id == Line.owner_identity_id)
            .where(
                Line.state.in_([str(s) for s in HELD_STATES]),
                (Line.owner_identity_id.is_(None)) | (Identity.verified_at.is_(None)),
                ~unowned_backfill,
            )
        )
        return [(m, o) for m, o in rows]


def identities_not_on_key(
    session: Session, active_key_id: str, after_id: int, limit: int
) -> Sequence[Identity]:
    """A batch of identities sealed under an older key, in id order, locked for the reseal."""
    return session.scalars(
        select(Identity)
        .where(
            Identity.key_id != active_key_id,
            Identity.id > after_id,
            Identity.purged_at.is_(None),  # a purged row has nothing sealed left
        )
        .order_by(Identity.id)
        .limit(limit)
        .with_for_update()
    ).all()


def identities_per_key(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Identity.key_id, func.count())
        .where(Identity.purged_at.is_(None))
        .group_by(Identity.key_id)
    )
    return {key_id: int(count) for key_id, count in rows}
