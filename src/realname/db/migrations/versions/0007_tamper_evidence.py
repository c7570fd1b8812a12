"""Tamper evidence: a keyed audit chain, MACs on line events and identities, sealed notes.

Existing rows are brought under the new scheme here, so an upgraded database verifies and
nothing stays unkeyed:

1. the old unkeyed SHA-256 chains are verified first; a chain that is already broken stops
   the upgrade (re-keying it would bless the tampering), with the chain and position named;
2. free text already in the chain or the events (a reason, a purpose, a note) is sealed in
   the vault (`sealed_note`) and replaced by its reference; a channel's typed suspension
   reason becomes the code `manual`;
3. every audit entry is re-linked with HMAC-SHA256 under the active audit key (its id on the
   entry), and every line event and identity gets its MAC.

The keys come from the same settings as the application (or the development key file). An
empty database needs none. Downgrade drops the columns and the notes' table and re-links the
chains with plain SHA-256 (sealed notes are lost; their references stay in the details).

Revision ID: 0007_tamper_evidence
Revises: 0006_backfill
Create Date: 2026-11-30 10:00:00.000000
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from realname.db.types import BigId, UtcDateTime

revision: str = "0007_tamper_evidence"
down_revision: str | None = "0006_backfill"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
FREE_TEXT_KEYS = ("reason", "purpose", "note")

audit_log = sa.table(
    "audit_log",
    sa.column("id", BigId),
    sa.column("chain", sa.Integer),
    sa.column("position", sa.Integer),
    sa.column("key_id", sa.String),
    sa.column("occurred_at", UtcDateTime()),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("object_type", sa.String),
    sa.column("object_id", sa.String),
    sa.column("correlation_id", sa.String),
    sa.column("detail", sa.JSON),
    sa.column("prev_hash", sa.LargeBinary),
    sa.column("hash", sa.LargeBinary),
)
audit_head = sa.table(
    "audit_chain_head",
    sa.column("chain", sa.Integer),
    sa.column("position", sa.Integer),
    sa.column("head_hash", sa.LargeBinary),
)
sealed_note = sa.table(
    "sealed_note",
    sa.column("id", BigId),
    sa.column("key_id", sa.String),
    sa.column("blob", sa.LargeBinary),
    sa.column("digest", sa.LargeBinary),
    sa.column("created_at", UtcDateTime()),
)
EVENT_TYPES: dict[str, Any] = {
    "line_id": sa.Integer,
    "seq": sa.Integer,
    "operation": sa.String,
    "from_state": sa.String,
    "to_state": sa.String,
    "owner_before_id": sa.Integer,
    "owner_after_id": sa.Integer,
    "channel_id": sa.Integer,
    "actor": sa.String,
    "reason": sa.String,
    "detail": sa.JSON,
    "occurred_at": UtcDateTime(),
    "correlation_id": sa.String,
}
line_event = sa.table(
    "line_event",
    sa.column("id", BigId),
    *(sa.column(name, kind) for name, kind in EVENT_TYPES.items()),
    sa.column("mac_key_id", sa.String),
    sa.column("mac", sa.LargeBinary),
)
IDENTITY_TYPES: dict[str, Any] = {
    "id": BigId,
    "doc_type": sa.String,
    "number_index": sa.LargeBinary,
    "name_index": sa.LargeBinary,
    "key_id": sa.String,
    "number_sealed": sa.LargeBinary,
    "name_sealed": sa.LargeBinary,
    "address_sealed": sa.LargeBinary,
    "birth_date": sa.Date,
    "sex": sa.String,
    "region_code": sa.String,
    "nationality": sa.String,
    "verified_at": UtcDateTime(),
    "created_at": UtcDateTime(),
}
identity = sa.table(
    "identity",
    *(sa.column(name, kind) for name, kind in IDENTITY_TYPES.items()),
    sa.column("mac_key_id", sa.String),
    sa.column("mac", sa.LargeBinary),
)
channel = sa.table("channel", sa.column("id", sa.Integer), sa.column("status_reason", sa.String))
api_client = sa.table(
    "api_client",
    sa.column("id", sa.Integer),
    sa.column("client_id", sa.String),
    sa.column("role", sa.String),
    sa.column("enterprise_id", sa.Integer),
    sa.column("channel_id", sa.Integer),
    sa.column("clerk_id", sa.Integer),
    sa.column("scopes", sa.String),
    sa.column("status", sa.String),
    sa.column("created_at", UtcDateTime()),
)


def upgrade() -> None:
    op.create_table(
        "sealed_note",
        sa.Column("id", BigId, nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sealed_note")),
    )
    op.add_column("audit_log", sa.Column("key_id", sa.String(length=32), nullable=True))
    for table in ("line_event", "identity"):
        op.add_column(table, sa.Column("mac_key_id", sa.String(length=32), nullable=True))
        op.add_column(table, sa.Column("mac", sa.LargeBinary(length=32), nullable=True))
    connection = op.get_bind()
    if _has_rows(connection):
        keyring = _keyring()
        _rekey_audit(connection, keyring)
        _mac_events(connection, keyring)
        _mac_identities(connection, keyring)
        _record_clients(connection, keyring)
        connection.execute(
            channel.update()
            .where(channel.c.status_reason.is_not(None))
            .values(status_reason="manual")
            .where(~channel.c.status_reason.in_(_codes(connection)))
        )


def downgrade() -> None:
    connection = op.get_bind()
    _relink_unkeyed(connection)
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of `identity` would
    # trip the foreign keys pointing at it once the table holds rows.
    for table, column in (
        ("identity", "mac"),
        ("identity", "mac_key_id"),
        ("line_event", "mac"),
        ("line_event", "mac_key_id"),
        ("audit_log", "key_id"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.drop_table("sealed_note")


# --- helpers ---------------------------------------------------------------------------------


def _has_rows(connection: sa.Connection) -> bool:
    return any(
        connection.execute(sa.select(sa.literal(1)).select_from(t).limit(1)).first()
        for t in (audit_log, line_event, identity, channel, api_client)
    )


def _record_clients(connection: sa.Connection, keyring: Any) -> None:
    """Existing API clients enter the chain as they stand, so `check` can hold each row to its
    last audit entry from now on (clients created later are recorded by the service).

    Written with this revision's columns (not the service's `append_audit`, whose model
    follows the newest schema): each entry linked inline, as `append_audit` did then."""
    from realname.security.audit import chain_for, link_message
    from realname.security.clients import CLIENT_OBJECT, client_authority
    from realname.security.redact import redact_pii

    keys = keyring.audit
    heads = {
        int(c): (int(p), bytes(h))
        for c, p, h in connection.execute(
            sa.select(audit_head.c.chain, audit_head.c.position, audit_head.c.head_hash)
        )
    }
    for row in connection.execute(sa.select(api_client).order_by(api_client.c.id)).all():
        detail = {
            k: redact_pii(v) if isinstance(v, str) else v for k, v in client_authority(row).items()
        }
        chain = chain_for(CLIENT_OBJECT, row.client_id)
        position, prev = heads.get(chain, (0, b"\x00" * 32))
        entry = SimpleNamespace(
            chain=chain,
            key_id=keys.mac_active,
            occurred_at=row.created_at.astimezone(UTC),
            actor="system:migration",
            action="client.recorded",
            object_type=CLIENT_OBJECT,
            object_id=row.client_id,
            correlation_id=None,
            detail=detail,
        )
        link = keys.mac(link_message(prev, position + 1, entry), entry.key_id)
        connection.execute(
            audit_log.insert().values(
                position=position + 1, prev_hash=prev, hash=link, **vars(entry)
            )
        )
        if chain in heads:
            connection.execute(
                audit_head.update()
                .where(audit_head.c.chain == chain)
                .values(position=position + 1, head_hash=link)
            )
        else:
            connection.execute(
                audit_head.insert().values(chain=chain, position=position + 1, head_hash=link)
            )
        heads[chain] = (position + 1, link)


def _keyring() -> Any:
    given = context.config.attributes.get("keyring")
    if given is not None:
        return given
    from realname.config import get_settings
    from realname.security.keys import keyring_from_settings

    return keyring_from_settings(get_settings())


def _codes(connection: sa.Connection) -> list[str]:
    from realname.registry.integrity import is_reason_code

    rows = connection.execute(sa.select(channel.c.status_reason).distinct())
    return [r for (r,) in rows if r is not None and is_reason_code(r)]


def _seal(connection: sa.Connection, keyring: Any, text: str, at: datetime) -> dict[str, Any]:
    from realname.security.audit import NOTE_CONTEXT

    sealed = keyring.seal(text, NOTE_CONTEXT)
    digest = hashlib.sha256(sealed.blob).digest()
    note_id = connection.execute(
        sealed_note.insert()
        .values(key_id=sealed.key_id, blob=sealed.blob, digest=digest, created_at=at)
        .returning(sealed_note.c.id)
    ).scalar_one()
    return {"note": int(note_id), "sha256": digest.hex()}


def _entries(connection: sa.Connection) -> Any:
    return connection.execute(
        sa.select(audit_log).order_by(audit_log.c.chain, audit_log.c.position)
    ).all()


def _rekey_audit(connection: sa.Connection, keyring: Any) -> None:
    from realname.registry.integrity import is_reason_code
    from realname.security.audit import entry_hash, legacy_entry_hash
    from realname.security.repository import GENESIS

    keys = keyring.audit
    rows = _entries(connection)
    last: dict[int, bytes] = {}
    for row in rows:  # 1. the old chain must be intact
        prev = last.get(row.chain, GENESIS)
        old = legacy_entry_hash(prev, SimpleNamespace(**row._mapping))  # type: ignore[arg-type]
        if row.prev_hash != prev or old != row.hash:
            raise RuntimeError(
                f"audit chain {row.chain} is already broken at position {row.position}: "
                "investigate (realname check on the previous release) before upgrading"
            )
        last[row.chain] = row.hash
    last = {}
    updates = []
    for row in rows:  # 2. seal free text, 3. re-link with the keyed MAC
        entry = SimpleNamespace(**row._mapping)
        detail = dict(entry.detail or {})
        for name in FREE_TEXT_KEYS:
            value = detail.get(name)
            if isinstance(value, str) and value and not is_reason_code(value):
                detail[name] = _seal(connection, keyring, value, entry.occurred_at)
        entry.detail, entry.key_id = detail, keys.mac_active
        entry.prev_hash = last.get(entry.chain, GENESIS)
        entry.hash = entry_hash(keys, entry.prev_hash, entry)  # type: ignore[arg-type]
        last[entry.chain] = entry.hash
        updates.append(
            {
                "b_id": entry.id,
                "key_id": entry.key_id,
                "detail": detail,
                "prev_hash": entry.prev_hash,
                "hash": entry.hash,
            }
        )
    statement = (
        audit_log.update()
        .where(audit_log.c.id == sa.bindparam("b_id"))
        .values(
            key_id=sa.bindparam("key_id"),
            detail=sa.bindparam("detail"),
            prev_hash=sa.bindparam("prev_hash"),
            hash=sa.bindparam("hash"),
        )
    )
    for start in range(0, len(updates), BATCH):
        connection.execute(statement, updates[start : start + BATCH])
    for chain, head in last.items():
        connection.execute(
            audit_head.update().where(audit_head.c.chain == chain).values(head_hash=head)
        )


def _relink_unkeyed(connection: sa.Connection) -> None:
    from realname.security.audit import legacy_entry_hash
    from realname.security.repository import GENESIS

    last: dict[int, bytes] = {}
    for row in _entries(connection):
        entry = SimpleNamespace(**row._mapping)
        prev = last.get(entry.chain, GENESIS)
        new = legacy_entry_hash(prev, entry)  # type: ignore[arg-type]
        connection.execute(
            audit_log.update().where(audit_log.c.id == entry.id).values(prev_hash=prev, hash=new)
        )
        last[entry.chain] = new
    for chain, head in last.items():
        connection.execute(
            audit_head.update().where(audit_head.c.chain == chain).values(head_hash=head)
        )


def _mac_events(connection: sa.Connection, keyring: Any) -> None:
    from realname.registry.integrity import EVENT_COLUMNS, event_mac, is_reason_code

    assert tuple(EVENT_TYPES) == EVENT_COLUMNS
    keys = keyring.audit
    statement = (
        line_event.update()
        .where(line_event.c.id == sa.bindparam("b_id"))
        .values(
            reason=sa.bindparam("reason"),
            detail=sa.bindparam("detail"),
            mac_key_id=sa.bindparam("mac_key_id"),
            mac=sa.bindparam("mac"),
        )
    )
    after = 0
    while True:
        rows = connection.execute(
            sa.select(line_event)
            .where(line_event.c.id > after)
            .order_by(line_event.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        updates = []
        for row in rows:
            values = dict(row._mapping)
            reason, detail = values["reason"], dict(values["detail"] or {})
            if reason is not None and not is_reason_code(reason):
                detail["note"] = _seal(connection, keyring, reason, values["occurred_at"])
                values["reason"], values["detail"] = "note", detail
            mac = event_mac(keys, [values[c] for c in EVENT_COLUMNS])
            updates.append(
                {
                    "b_id": values["id"],
                    "reason": values["reason"],
                    "detail": values["detail"],
                    "mac_key_id": keys.mac_active,
                    "mac": mac,
                }
            )
        connection.execute(statement, updates)
        after = rows[-1].id


def _mac_identities(connection: sa.Connection, keyring: Any) -> None:
    from realname.registry.integrity import IDENTITY_COLUMNS, identity_mac

    assert tuple(IDENTITY_TYPES) == IDENTITY_COLUMNS
    keys = keyring.audit
    statement = (
        identity.update()
        .where(identity.c.id == sa.bindparam("b_id"))
        .values(mac_key_id=sa.bindparam("mac_key_id"), mac=sa.bindparam("mac"))
    )
    after = 0
    while True:
        rows = connection.execute(
            sa.select(identity).where(identity.c.id > after).order_by(identity.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        connection.execute(
            statement,
            [
                {
                    "b_id": row.id,
                    "mac_key_id": keys.mac_active,
                    "mac": identity_mac(keys, [getattr(row, c) for c in IDENTITY_COLUMNS]),
                }
                for row in rows
            ],
        )
        after = rows[-1].id
