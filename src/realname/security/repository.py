"""Queries on the audit log."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson
from psycopg import AsyncConnection
from sqlalchemy import Row, Table, Text, bindparam, cast, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from realname.db.dialect import insert_ignoring_conflicts
from realname.security.models import AuditChainHead, AuditLog, SealedNote

GENESIS = b"\x00" * 32

_LOG: Table = AuditLog.__table__  # type: ignore[assignment]
_HEAD: Table = AuditChainHead.__table__  # type: ignore[assignment]
# A pending entry's content, nonce and content MAC: what `audit.PendingEntry` holds, what a
# write that appends one inserts, and (with its id) what the sequencer reads back.
ENTRY_CONTENT_COLUMNS = (
    "chain",
    "key_id",
    "occurred_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "correlation_id",
    "detail",
    "nonce",
    "content_mac",
)
PENDING_COLUMNS = ("id", *ENTRY_CONTENT_COLUMNS)
# The advisory lock the background sequencers take turns on ("realname.audit.sequencer").
_SEQUENCER_LOCK = 0x7265616C_6E616D65 & 0x7FFFFFFF_FFFFFFFF
_CHAIN_POSTGRES = text(
    "UPDATE audit_log AS a SET position = v.position, prev_hash = v.prev_hash, hash = v.hash "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:positions AS integer[]), "
    "CAST(:prevs AS bytea[]), CAST(:hashes AS bytea[])) AS v(id, position, prev_hash, hash) "
    "WHERE a.id = v.id AND a.position IS NULL"
)


# One text whatever the batch's size (so psycopg prepares it once per connection, and nothing
# is composed per batch: py-spy put a multi-row VALUES built per batch at ~3 % of a KYC Match
# call), and one parameter: the batch as a JSON array of its entries, read back as a table in
# the batch's order. One array per column cost psycopg's list dumpers 0.35–0.6 ms of a
# worker's CPU per batch (10 % of a KYC Match worker under load); the JSON text (orjson)
# 0.15–0.17 ms, whatever the batch's size. Bytes travel as hex. Spelled from
# ENTRY_CONTENT_COLUMNS, so a column added there is written here too.
_JSON_TYPES = {"chain": "integer", "occurred_at": "timestamptz", "detail": "json"}  # else text
_BYTES_COLUMNS = frozenset({"nonce", "content_mac"})
_SELECTED = ", ".join(
    f"decode({c}, 'hex')" if c in _BYTES_COLUMNS else c for c in ENTRY_CONTENT_COLUMNS
)
_RECORD = ", ".join(f"{c} {_JSON_TYPES.get(c, 'text')}" for c in ENTRY_CONTENT_COLUMNS)
_INSERT_PENDING_ASYNC = (
    f"INSERT INTO audit_log ({', '.join(ENTRY_CONTENT_COLUMNS)}, refused) "  # noqa: S608 (constants)
    f"SELECT {_SELECTED}, false FROM ROWS FROM (json_to_recordset(CAST(%s AS json)) "
    f"AS ({_RECORD})) WITH ORDINALITY AS v ORDER BY v.ordinality"
)


def _hex(value: object) -> str:
    """orjson's fallback: bytes (the nonce and MAC) as hex; anything else it cannot write is
    the batch's error, as before."""
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def pending_batch_json(rows: Sequence[dict[str, Any]]) -> str:
    """The entries (`PendingEntry.columns()`) as `_INSERT_PENDING_ASYNC` reads them."""
    return orjson.dumps(list(rows), default=_hex, option=orjson.OPT_NON_STR_KEYS).decode()


async def insert_pending_async(
    connection: AsyncConnection[Any], rows: Sequence[dict[str, Any]]
) -> None:
    """`AuditRepository.insert_pending` on an async psycopg connection (PostgreSQL, in
    autocommit): one INSERT, so a batch commits whole or not at all."""
    if not rows:
        return
    await connection.execute(_INSERT_PENDING_ASYNC, [pending_batch_json(rows)], prepare=True)


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_head(self, chain: int) -> AuditChainHead:
        """The chain's head row, locked until commit (created on first use)."""
        head = self.session.scalars(
            select(AuditChainHead)
            .where(AuditChainHead.chain == chain)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if head is not None:
            return head
        insert_ignoring_conflicts(
            self.session,
            AuditChainHead.__table__,  # type: ignore[arg-type]
            {"chain": chain, "position": 0, "head_hash": GENESIS},
            ["chain"],
        )
        return self.session.scalars(
            select(AuditChainHead)
            .where(AuditChainHead.chain == chain)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()

    def add(self, entry: AuditLog) -> None:
        self.session.add(entry)

    def insert_pending(self, rows: Sequence[dict[str, Any]]) -> None:
        """Pending entries (no position yet), in ONE multi-row INSERT: a single statement,
        so on an autocommit connection the batch commits whole or not at all (an executemany
        would be one statement per row when the driver cannot pipeline)."""
        if rows:
            self.session.execute(_LOG.insert().values([{**row, "refused": False} for row in rows]))

    def purge_notes(self, note_ids: list[int], marker: str, chunk: int = 500) -> list[int]:
        """Empty the blob of each of these notes not yet purged and mark its key id; returns
        the ids changed."""
        done: list[int] = []
        for start in range(0, len(note_ids), chunk):
            part = note_ids[start : start + chunk]
            live = list(
                self.session.scalars(
                    select(SealedNote.id)
                    .where(SealedNote.id.in_(part), SealedNote.key_id != marker)
                    .order_by(SealedNote.id)
                    .with_for_update()
                )
            )
            if live:
                self.session.execute(
                    update(SealedNote)
                    .where(SealedNote.id.in_(live))
                    .values(key_id=marker, blob=b"")
                    .execution_options(synchronize_session="fetch")
                )
            done += live
        return done

    def latest_details(self, object_type: str) -> dict[str, dict[str, Any]]:
        """The newest entry's detail for each object of this type (few objects: API clients)."""
        rows = self.session.execute(
            select(AuditLog.object_id, AuditLog.detail)
            .where(AuditLog.object_type == object_type)
            .order_by(AuditLog.id)
        )
        return {row.object_id: row.detail for row in rows}

    def heads(self) -> dict[int, AuditChainHead]:
        return {h.chain: h for h in self.session.scalars(select(AuditChainHead))}

    def last_entry(self, chain: int) -> AuditLog | None:
        return self.session.scalars(
            select(AuditLog)
            .where(AuditLog.chain == chain, AuditLog.position.is_not(None))
            .order_by(AuditLog.position.desc())
            .limit(1)
        ).first()

    def high_water(self, table: Table) -> tuple[int, int]:
        """(highest id, rows) of an append-only table."""
        top, count = self.session.execute(select(func.max(table.c.id), func.count())).one()
        return int(top or 0), int(count)

    def rows_up_to(self, table: Table, top: int) -> int:
        return int(
            self.session.scalar(select(func.count()).select_from(table).where(table.c.id <= top))
            or 0
        )

    def details(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(id, detail) of the entries whose detail references a sealed note."""
        rows = self.session.execute(
            select(AuditLog.id, AuditLog.detail).where(cast(AuditLog.detail, Text).like('%"note"%'))
        )
        for entry_id, detail in rows:
            yield int(entry_id), detail

    def entries_in_chain_order(self, batch: int = 5000) -> Iterator[AuditLog]:
        """The sequenced entries, chain by chain, in position order."""
        statement = (
            select(AuditLog)
            .where(AuditLog.position.is_not(None))
            .order_by(AuditLog.chain, AuditLog.position)
            .execution_options(yield_per=batch)
        )
        yield from self.session.scalars(statement)

    def pending_entries(self, batch: int = 5000) -> Iterator[AuditLog]:
        """The entries not (yet) in their chain, refused ones included, oldest first."""
        statement = (
            select(AuditLog)
            .where(AuditLog.position.is_(None))
            .order_by(AuditLog.id)
            .execution_options(yield_per=batch)
        )
        yield from self.session.scalars(statement)

    # --- the sequencer (security/audit_sequencer.py) --------------------------------------------

    def has_pending(self) -> bool:
        return (
            self.session.scalar(select(_LOG.c.id).where(_pending()).order_by(_LOG.c.id).limit(1))
            is not None
        )

    def try_sequencer_turn(self) -> bool:
        """Take the sequencer's turn for this transaction (PostgreSQL: a transaction-level
        advisory lock), or False when another background sequencer holds it: the server's
        workers then take turns instead of each running small passes side by side. SQLite
        has one writer: always True."""
        if self.session.get_bind().dialect.name != "postgresql":
            return True
        return bool(self.session.scalar(select(func.pg_try_advisory_xact_lock(_SEQUENCER_LOCK))))

    def claim_pending(self, limit: int) -> Sequence[Row[Any]]:
        """Up to `limit` pending entries, oldest first, locked until commit; on PostgreSQL
        entries another sequencer holds are skipped (FOR UPDATE SKIP LOCKED), so two
        sequencers never take the same entry. SQLite has one writer: no row locks."""
        statement = (
            select(*(_LOG.c[name] for name in PENDING_COLUMNS))
            .where(_pending())
            .order_by(_LOG.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return self.session.execute(statement).all()

    def lock_heads(self, chains: Iterable[int]) -> dict[int, tuple[int, bytes]]:
        """These chains' heads (position, hash), locked until commit in ascending chain order
        (so two lockers never deadlock), created on first use. Missing heads are created
        first, in one INSERT ... ON CONFLICT DO NOTHING, before any head is locked: creating
        one while holding the lock of another would take locks out of order."""
        wanted = sorted(set(chains))
        present = set(self.session.scalars(select(_HEAD.c.chain).where(_HEAD.c.chain.in_(wanted))))
        missing = [chain for chain in wanted if chain not in present]
        if missing:
            module = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
            self.session.execute(
                module.insert(_HEAD)
                .values([{"chain": c, "position": 0, "head_hash": GENESIS} for c in missing])
                .on_conflict_do_nothing(index_elements=["chain"])
            )
        heads = self._locked_heads(wanted)
        assert len(heads) == len(wanted), "a chain head vanished while being locked"
        return heads

    def _locked_heads(self, chains: list[int]) -> dict[int, tuple[int, bytes]]:
        rows = self.session.execute(
            select(_HEAD.c.chain, _HEAD.c.position, _HEAD.c.head_hash)
            .where(_HEAD.c.chain.in_(chains))
            .order_by(_HEAD.c.chain)
            .with_for_update()
        )
        return {int(c): (int(p), bytes(h)) for c, p, h in rows}

    def chain_entries(self, links: Sequence[tuple[int, int, bytes, bytes]]) -> int:
        """Give pending entries their (id, position, prev_hash, hash) in one statement (an
        UPDATE ... FROM unnest on PostgreSQL, one executemany on SQLite); an entry already
        chained is left alone and not counted, so the caller sees a lost race."""
        if not links:
            return 0
        if self.session.get_bind().dialect.name == "postgresql":
            ids, positions, prevs, hashes = (list(column) for column in zip(*links, strict=True))
            result = self.session.execute(
                _CHAIN_POSTGRES,
                {"ids": ids, "positions": positions, "prevs": prevs, "hashes": hashes},
            )
            return int(result.rowcount)  # type: ignore[attr-defined]
        result = self.session.execute(
            update(_LOG)
            .where(_LOG.c.id == bindparam("b_id"), _LOG.c.position.is_(None))
            .values(
                position=bindparam("b_position"),
                prev_hash=bindparam("b_prev"),
                hash=bindparam("b_hash"),
            ),
            [{"b_id": i, "b_position": p, "b_prev": prev, "b_hash": h} for i, p, prev, h in links],
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def move_heads(self, heads: dict[int, tuple[int, bytes]]) -> None:
        if not heads:
            return
        self.session.execute(
            update(_HEAD)
            .where(_HEAD.c.chain == bindparam("b_chain"))
            .values(position=bindparam("b_position"), head_hash=bindparam("b_hash")),
            [{"b_chain": c, "b_position": p, "b_hash": h} for c, (p, h) in sorted(heads.items())],
        )

    def refuse(self, entry_ids: Sequence[int]) -> None:
        """Keep these pending entries out of the chain for good (their content MAC failed)."""
        if entry_ids:
            self.session.execute(
                update(_LOG).where(_LOG.c.id.in_(list(entry_ids))).values(refused=True)
            )


def _pending() -> Any:
    # Spelled as the partial index's predicate (models.AuditLog), so both engines use it.
    return text("position IS NULL AND NOT refused")
