"""The registration's queries, on Core rows: as few round trips as the guarantees allow.

- `counter_and_line`: the channel, its clerk, the enterprise's licence, the line and the
  person's identity (by blind index), one plain read (no row lock: the identity authority is
  asked after it, before any lock is taken).
- `lock_line`, `lock_identity_row`: the slow path's locked re-reads (below).
- `insert_identity`: a new identity, INSERT … ON CONFLICT DO NOTHING RETURNING id.
- `write_registration`: the holding taken under the cap (INSERT … ON CONFLICT DO UPDATE …
  WHERE count < cap RETURNING: it locks, checks and counts in one statement), the identity's
  verification and MAC, the line's new state and its event, and the audit entry when the
  session appends deferred (pending: the sequencer chains it).

On PostgreSQL the write is ONE statement of data-modifying CTEs, and it takes the row locks
the checks were made without: the line, FOR UPDATE, only if it still is as read (its event
count and every column the registration decided on), then the identity, FOR NO KEY UPDATE,
only if it still carries the MAC it was read with and is not purged; the holding only if both
were; the writes only if the holding was taken. So a refusal at the cap writes nothing, and
a line or identity changed since it was read (a twin registered the kit, the retention job
purged the record) writes nothing either: the registration then locks it, reads it again and
decides again (`registration.Registrar`). Locks go line, identity, holding, as everywhere.
SQLite has no writes inside WITH and needs no re-check (BEGIN IMMEDIATE: no other writer
commits between the read and the write), so there the write is four statements, in-process.

Statements are built once, at import, with named parameters: each execution only binds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    delete,
    exists,
    false,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from realname.registry.integrity import EVENT_COLUMNS
from realname.registry.models import Channel, Clerk, Enterprise, Holding, Identity, Line, LineEvent
from realname.registry.rows import (
    IDENTITY_ROW_COLUMNS,
    CounterRow,
    IdentityRow,
    LineRow,
    Written,
)
from realname.security.models import AuditLog
from realname.security.repository import ENTRY_CONTENT_COLUMNS, AuditRepository

LINE: Table = Line.__table__  # type: ignore[assignment]
CHANNEL: Table = Channel.__table__  # type: ignore[assignment]
CLERK: Table = Clerk.__table__  # type: ignore[assignment]
ENTERPRISE: Table = Enterprise.__table__  # type: ignore[assignment]
IDENTITY: Table = Identity.__table__  # type: ignore[assignment]
HOLDING: Table = Holding.__table__  # type: ignore[assignment]
EVENT: Table = LineEvent.__table__  # type: ignore[assignment]
AUDIT: Table = AuditLog.__table__  # type: ignore[assignment]

LINE_COLUMNS = (
    "id",
    "msisdn",
    "iccid",
    "enterprise_id",
    "state",
    "owner_identity_id",
    "channel_id",
    "barring_reason",
    "restriction_reason",
    "activated_at",
    "owner_since",
    "sim_changed_at",
    "reverify_deadline",
    "cooling_until",
    "state_changed_at",
    "stocked_at",
    "event_count",
)
# What a registration writes on the identity: its verification, MAC and (after a change of
# name) every sealed field, re-sealed together under the active key.
IDENTITY_WRITES = (
    "verified_at",
    "key_id",
    "number_sealed",
    "name_sealed",
    "address_sealed",
    "name_index",
    "mac_key_id",
    "mac",
)
# What a registration writes on the line.
LINE_WRITES = (
    "state",
    "state_changed_at",
    "event_count",
    "owner_identity_id",
    "channel_id",
    "barring_reason",
    "restriction_reason",
    "activated_at",
    "owner_since",
    "stocked_at",
)
# The line's columns the registration decides on: the write checks they are still as read.
LINE_DECIDED = ("event_count", "state", "owner_identity_id", "channel_id", "barring_reason")
EVENT_WRITES = (*EVENT_COLUMNS, "mac_key_id", "mac")
# A pending audit entry (deferred mode) as `security.audit.PendingEntry.columns` gives it.
AUDIT_WRITES = ENTRY_CONTENT_COLUMNS


def _param(table: Table, column: str, prefix: str) -> Any:
    """A named parameter typed as the column (UTC instants, JSON), so values bind as the ORM's
    would."""
    return bindparam(f"{prefix}{column}", type_=table.c[column].type)


# --- the counter and the line: one statement --------------------------------------------------

_ONE = select(literal(1).label("one")).subquery("one")
COUNTER_AND_LINE = select(
    CHANNEL.c.id.label("channel_id"),
    CHANNEL.c.enterprise_id.label("channel_enterprise_id"),
    CHANNEL.c.kind.label("channel_kind"),
    CHANNEL.c.status.label("channel_status"),
    CHANNEL.c.status_reason.label("channel_status_reason"),
    CLERK.c.channel_id.label("clerk_channel_id"),
    CLERK.c.status.label("clerk_status"),
    ENTERPRISE.c.licence_status,
    *(LINE.c[name].label(f"line_{name}") for name in LINE_COLUMNS),
    *(IDENTITY.c[name].label(f"identity_{name}") for name in IDENTITY_ROW_COLUMNS),
).select_from(
    _ONE.outerjoin(CHANNEL, CHANNEL.c.id == bindparam("channel_id"))
    .outerjoin(CLERK, CLERK.c.id == bindparam("clerk_id"))
    .outerjoin(ENTERPRISE, ENTERPRISE.c.id == CHANNEL.c.enterprise_id)
    .outerjoin(LINE, LINE.c.msisdn == bindparam("msisdn"))
    # the person's identity by blind index (unique), read with the rest: no round trip of
    # its own. NULL keys (a document that does not parse) find nothing.
    .outerjoin(
        IDENTITY,
        (IDENTITY.c.doc_type == bindparam("doc_type", type_=IDENTITY.c.doc_type.type))
        & (
            IDENTITY.c.number_index == bindparam("number_index", type_=IDENTITY.c.number_index.type)
        ),
    )
)
_LINE_END = 8 + len(LINE_COLUMNS)
LOCK_LINE = (
    select(*(LINE.c[name] for name in LINE_COLUMNS))
    .where(LINE.c.id == bindparam("line_id"))
    .with_for_update()
)

# --- identities -------------------------------------------------------------------------------

LOCK_IDENTITY_ROW = (
    select(*(IDENTITY.c[name] for name in IDENTITY_ROW_COLUMNS))
    .where(IDENTITY.c.id == bindparam("identity_id"))
    .with_for_update(key_share=True)  # FOR NO KEY UPDATE: FK checks (KEY SHARE) pass by
)


def _insert_identity(module: Any) -> Any:
    return (
        module.insert(IDENTITY)
        .on_conflict_do_nothing(index_elements=["doc_type", "number_index"])
        .returning(IDENTITY.c.id)
    )


DELETE_IDENTITY = delete(IDENTITY).where(IDENTITY.c.id == bindparam("identity_id"))
INSERT_IDENTITY = {"postgresql": _insert_identity(postgresql), "sqlite": _insert_identity(sqlite)}

# --- the registration's writes ----------------------------------------------------------------


def _take_holding(insert: Any, capped: bool) -> Any:
    """One more line held by (identity, enterprise): created at 1, or counted up while under
    the cap. The conflicting row is locked by ON CONFLICT DO UPDATE whether or not its WHERE
    holds, so concurrent registrations of one person queue on it; no row back is a refusal."""
    counted = HOLDING.c.active_count + literal_column("1")  # a literal, not a parameter
    where = HOLDING.c.active_count < bindparam("h_cap") if capped else None
    return insert.on_conflict_do_update(
        index_elements=["identity_id", "enterprise_id"],
        set_={"active_count": counted},
        where=where,
    ).returning(HOLDING.c.active_count)


_HOLDING_VALUES = {
    "identity_id": bindparam("h_identity_id", type_=HOLDING.c.identity_id.type),
    "enterprise_id": bindparam("h_enterprise_id", type_=HOLDING.c.enterprise_id.type),
}
TAKE_HOLDING = {
    capped: _take_holding(sqlite.insert(HOLDING).values(active_count=1, **_HOLDING_VALUES), capped)
    for capped in (True, False)
}
UPDATE_IDENTITY = (
    update(IDENTITY)
    .where(IDENTITY.c.id == bindparam("i_where_id"))
    .values({name: _param(IDENTITY, name, "i_") for name in IDENTITY_WRITES})
)
UPDATE_LINE = (
    update(LINE)
    .where(LINE.c.id == bindparam("l_where_id"))
    .values({name: _param(LINE, name, "l_") for name in LINE_WRITES})
)
INSERT_EVENT = EVENT.insert().values({name: _param(EVENT, name, "e_") for name in EVENT_WRITES})


def _found(cte: Any) -> Any:
    return exists(select(literal_column("1")).select_from(cte))


# Values the registration writes twice, bound once in the single statement (the write checks
# they are equal), and literals that are not parameters: psycopg keeps a query's converted
# form only for at most 50 parameters and 4,096 bytes (`psycopg._queries`), and converts it
# again, with a regular expression, on every call beyond that: 58 parameters once the audit
# entry joined the statement cost 2.2 ms of Python a registration (cProfile, third pass).
# `test_registration_round_trips` keeps the statement under both limits.
EVENT_SHARED = {"line_id": "l_where_id", "seq": "l_event_count", "channel_id": "l_channel_id"}
AUDIT_SHARED = {
    "occurred_at": "e_occurred_at",
    "actor": "e_actor",
    "correlation_id": "e_correlation_id",
}


def _shared(table: Table, column: str, prefix: str, shared: Mapping[str, str]) -> Any:
    name = shared.get(column)
    if name is None:
        return _param(table, column, prefix)
    return bindparam(name, type_=table.c[column].type)


def _registration_in_one(capped: bool, audited: bool) -> Any:
    """PostgreSQL: the locks, checks and writes in one statement (module docstring). Each
    step reads the one before it (EXISTS), which fixes their order: line, identity, holding,
    then the writes; the answer says how far it got. `audited`: the audit entry (pending,
    deferred mode) is one more of the writes."""
    line = (
        select(LINE.c.id)
        .where(
            LINE.c.id == bindparam("l_where_id"),
            *(LINE.c[name].is_not_distinct_from(_param(LINE, name, "s_")) for name in LINE_DECIDED),
        )
        .with_for_update()
        .cte("l")
    )
    identity = (
        select(IDENTITY.c.id)
        .where(
            IDENTITY.c.id == bindparam("i_where_id"),
            IDENTITY.c.mac.is_not_distinct_from(bindparam("i_seen_mac", type_=IDENTITY.c.mac.type)),
            IDENTITY.c.purged_at.is_(None),
            _found(line),
        )
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE: FK checks (KEY SHARE) pass by
        .cte("i")
    )
    holding = _take_holding(
        postgresql.insert(HOLDING).from_select(
            ["identity_id", "enterprise_id", "active_count"],
            select(
                bindparam("i_where_id", type_=HOLDING.c.identity_id.type),
                _HOLDING_VALUES["enterprise_id"],
                literal_column("1"),
            ).where(_found(identity)),
        ),
        capped,
    ).cte("h")
    taken = _found(holding)
    writes: tuple[Any, ...] = (
        update(IDENTITY)
        .where(IDENTITY.c.id == bindparam("i_where_id"), taken)
        .values({name: _param(IDENTITY, name, "i_") for name in IDENTITY_WRITES})
        .returning(IDENTITY.c.id)
        .cte("wi"),
        update(LINE)
        .where(LINE.c.id == bindparam("l_where_id"), taken)
        .values({name: _param(LINE, name, "l_") for name in LINE_WRITES})
        .returning(LINE.c.id)
        .cte("wl"),
        EVENT.insert()
        .from_select(
            list(EVENT_WRITES),
            select(*(_shared(EVENT, name, "e_", EVENT_SHARED) for name in EVENT_WRITES)).where(
                taken
            ),
        )
        .returning(EVENT.c.id)
        .cte("we"),
    )
    if audited:
        writes += (
            AUDIT.insert()
            .from_select(
                [*AUDIT_WRITES, "refused"],
                select(
                    *(_shared(AUDIT, name, "a_", AUDIT_SHARED) for name in AUDIT_WRITES), false()
                ).where(taken),
            )
            .returning(AUDIT.c.id)
            .cte("wa"),
        )
    return select(
        _found(line).label("line_unchanged"),
        _found(identity).label("identity_unchanged"),
        select(holding.c.active_count).scalar_subquery().label("held"),
    ).add_cte(*writes)


REGISTRATION_IN_ONE = {
    (capped, audited): _registration_in_one(capped, audited)
    for capped in (True, False)
    for audited in (True, False)
}


def _prefixed(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{prefix}{name}": value for name, value in values.items()}


class RegistrationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _connection(self) -> Connection:
        return self.session.connection()

    def counter_and_line(
        self,
        channel_id: int,
        clerk_id: int,
        msisdn: str | None,
        person: tuple[str, bytes] | None = None,
    ) -> tuple[CounterRow, LineRow | None, IdentityRow | None]:
        """The desk's channel, clerk and licence, the line with this number (None: no such
        line; `msisdn` None reads the desk alone) and the identity with the document
        `person` = (doc_type, number_index) (None: none, or no `person`). A plain read: no
        row is locked."""
        doc_type, number_index = person if person is not None else (None, None)
        row = (
            self._connection()
            .execute(
                COUNTER_AND_LINE,
                {
                    "channel_id": channel_id,
                    "clerk_id": clerk_id,
                    "msisdn": msisdn,
                    "doc_type": doc_type,
                    "number_index": number_index,
                },
            )
            .one()
        )
        counter = CounterRow(*row[:8])
        line = None if row[8] is None else LineRow(*row[8:_LINE_END])
        identity = None if row[_LINE_END] is None else IdentityRow(*row[_LINE_END:])
        return counter, line, identity

    def lock_line(self, line_id: int) -> LineRow:
        """The line, locked FOR UPDATE (the slow path, after a write found it changed)."""
        return LineRow(*self._connection().execute(LOCK_LINE, {"line_id": line_id}).one())

    def lock_identity_row(self, identity_id: int) -> IdentityRow | None:
        row = self._connection().execute(LOCK_IDENTITY_ROW, {"identity_id": identity_id}).first()
        return None if row is None else IdentityRow(*row)

    def insert_identity(self, values: Mapping[str, Any]) -> int | None:
        """A new identity row (its MAC set by `write_registration`); None when a concurrent
        registration inserted the same document first."""
        connection = self._connection()
        # The values as parameters of the statement built at import, not `.values(...)`: a
        # new statement per call had its cache key computed over every value (py-spy: ~5 %
        # of a worker's GIL time, with a new person only one registration in four).
        statement = INSERT_IDENTITY[connection.dialect.name]
        found = connection.execute(statement, dict(values)).scalar_one_or_none()
        return None if found is None else int(found)

    def delete_new_identity(self, identity_id: int) -> None:
        """Remove an identity this transaction inserted and nothing references yet (the
        registration it was for was refused)."""
        self._connection().execute(DELETE_IDENTITY, {"identity_id": identity_id})

    def write_registration(
        self,
        *,
        line: LineRow,
        seen: Mapping[str, Any],
        identity_id: int,
        seen_mac: bytes | None,
        enterprise_id: int,
        cap: int | None,
        identity: Mapping[str, Any],
        event: Mapping[str, Any],
        audit: Mapping[str, Any] | None = None,
    ) -> Written:
        """Take the holding (identity, enterprise) under `cap` and write the identity's, the
        line's and the event's values, and the pending audit entry `audit` (deferred mode),
        provided the line still holds the `seen` values (LINE_DECIDED) and the identity the
        MAC `seen_mac` (module docstring)."""
        params: dict[str, Any] = {
            "h_identity_id": identity_id,
            "h_enterprise_id": enterprise_id,
            "h_cap": cap,
            "i_where_id": identity_id,
            "i_seen_mac": seen_mac,
            "l_where_id": line.id,
            **_prefixed("s_", {name: seen[name] for name in LINE_DECIDED}),
            **_prefixed("i_", {name: identity[name] for name in IDENTITY_WRITES}),
            **_prefixed("l_", {name: getattr(line, name) for name in LINE_WRITES}),
            **_prefixed("e_", {name: event[name] for name in EVENT_WRITES}),
        }
        if audit is not None:
            params.update(_prefixed("a_", {name: audit[name] for name in AUDIT_WRITES}))
        # what the single statement binds once (EVENT_SHARED, AUDIT_SHARED) is one value
        shared = [(f"e_{c}", p) for c, p in EVENT_SHARED.items()]
        shared += [(f"a_{c}", p) for c, p in AUDIT_SHARED.items()] if audit is not None else []
        if any(params[own] != params[bound] for own, bound in shared):
            raise ValueError("the event or audit entry disagrees with the line it records")
        connection = self._connection()
        capped = cap is not None
        if connection.dialect.name == "postgresql":
            statement = REGISTRATION_IN_ONE[capped, audit is not None]
            found = connection.execute(statement, params).one()
            held = None if found.held is None else int(found.held)
            return Written(bool(found.line_unchanged), bool(found.identity_unchanged), held)
        count = connection.execute(TAKE_HOLDING[capped], params).scalar_one_or_none()
        if count is None:
            return Written(True, True, None)
        connection.execute(UPDATE_IDENTITY, params)
        connection.execute(UPDATE_LINE, params)
        connection.execute(INSERT_EVENT, params)
        if audit is not None:
            AuditRepository(self.session).insert_pending([dict(audit)])
        return Written(True, True, int(count))

    def forget_loaded(self, line_id: int, identity_id: int, enterprise_id: int) -> None:
        """Expire what this session may hold of the rows just written through Core (a caller
        that loaded the line, identity or holding before), so it reads them fresh."""
        loaded = self.session.identity_map
        for key in (
            identity_key(Line, line_id),
            identity_key(Identity, identity_id),
            identity_key(Holding, (identity_id, enterprise_id)),
        ):
            instance = loaded.get(key)
            if instance is not None:
                self.session.expire(instance)
