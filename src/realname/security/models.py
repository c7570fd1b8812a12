"""The tamper-evident audit log: hash chains, sharded so writers do not queue on one head."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId, UtcDateTime


class AuditLog(Base):
    """One audit entry. A sequenced entry has its place in its chain (`position`, `prev_hash`,
    `hash`); a pending one (deferred mode, security/audit_sequencer.py) has none yet: the
    sequencer gives it one a few milliseconds after its transaction commits. Every entry
    written since 0014 carries `content_mac`, a keyed MAC over its content and a random
    `nonce`, so a pending entry is tamper-evident before it is chained and cannot be replayed
    (the MAC is unique)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chain: Mapped[int] = mapped_column(Integer)
    # NULL while pending (deferred mode); set once, by the sequencer (or inline).
    position: Mapped[int | None] = mapped_column(Integer)
    # The audit key the link is MAC'd with (NULL only for an unkeyed entry: `check` fails it).
    key_id: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    correlation_id: Mapped[str | None] = mapped_column(String(256))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    nonce: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    content_mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # Set by the sequencer on a pending entry whose content MAC does not verify: it is kept
    # out of the chain (and reported by `check`), never chained.
    refused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        UniqueConstraint("chain", "position", name="uq_audit_log_chain_position"),
        UniqueConstraint("content_mac", name="uq_audit_log_content_mac"),
        # What the sequencer claims, oldest first: small, it holds only the pending entries.
        Index(
            "ix_audit_log_pending",
            "id",
            postgresql_where=text("position IS NULL AND NOT refused"),
            sqlite_where=text("position IS NULL AND NOT refused"),
        ),
    )


class AuditChainHead(Base):
    """The newest hash of each chain; locked while chaining (the sequencer, or an inline
    append) so a chain never forks."""

    __tablename__ = "audit_chain_head"

    chain: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    head_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class SealedNote(Base):
    """Free text (a reason, a purpose, a note) sealed in the vault. Append-only records carry
    only its id and the SHA-256 of the ciphertext, never the text."""

    __tablename__ = "sealed_note"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ApiClient(Base):
    """A machine client of the API (OAuth2 client credentials). The secret is stored only as
    an scrypt hash; the role and the tenant it acts for are fixed at creation."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id"))
    clerk_id: Mapped[int | None] = mapped_column(ForeignKey("clerk.id"))
    scopes: Mapped[str] = mapped_column(String(500), default="")
    # Set by migration 0025 on the regulator-side clients made before the compliance scopes
    # existed: their tokens also carry ROLE_SCOPES. Never set on a client made since.
    implied_role_scopes: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    description: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class IdempotentRequest(Base):
    """The first answer to a creating POST, replayed to retries with the same key."""

    __tablename__ = "idempotent_request"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(128))
    route: Mapped[str] = mapped_column(String(128))
    body_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("client_id", "key", name="uq_idempotent_request_client_key"),
    )


class LoginThrottle(Base):
    """Failed /oauth/token logins of one client id or one source address, in the database so
    every worker (and every host) counts them together. `key` is a SHA-256 of the kind and
    the value: an attempted client id is whatever an attacker typed and is never stored."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
