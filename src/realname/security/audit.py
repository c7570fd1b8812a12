"""The tamper-evident audit trail: every write and every unmasked PII read leaves an entry.

Entries form hash chains (`hash = SHA-256(prev_hash || canonical JSON of the entry)`), so
editing, deleting or reordering any entry breaks every later link, and `realname check`
finds it. Sixteen chains, chosen by the object, let unrelated writers append in parallel;
each chain's head row is locked while appending, so a chain never forks.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from realname.security.models import AuditLog
from realname.security.redact import redact_pii
from realname.security.repository import GENESIS, AuditRepository

CHAINS = 16


def chain_for(object_type: str, object_id: str) -> int:
    return zlib.crc32(f"{object_type}:{object_id}".encode()) % CHAINS


def entry_hash(prev_hash: bytes, entry: AuditLog) -> bytes:
    fields = {
        "chain": entry.chain,
        "position": entry.position,
        "occurred_at": entry.occurred_at.isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "correlation_id": entry.correlation_id,
        "detail": entry.detail,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(prev_hash + canonical.encode()).digest()


def append_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
    correlation_id: str | None = None,
) -> AuditLog:
    """Append one entry. Staff free text in `detail` (a reason, a note) is redacted here, once
    for every caller: the chain is append-only, so a number written in clear could never be
    removed and `realname check` would flag it forever."""
    repository = AuditRepository(session)
    chain = chain_for(object_type, object_id)
    head = repository.lock_head(chain)
    entry = AuditLog(
        chain=chain,
        position=head.position + 1,
        occurred_at=at.astimezone(UTC),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        correlation_id=correlation_id,
        detail={k: redact_pii(v) if isinstance(v, str) else v for k, v in (detail or {}).items()},
        prev_hash=head.head_hash,
    )
    entry.hash = entry_hash(head.head_hash, entry)
    repository.add(entry)
    head.position = entry.position
    head.head_hash = entry.hash
    return entry


@dataclass(frozen=True)
class ChainProblem:
    chain: int
    position: int
    what: str


def verify_audit_chains(session: Session) -> tuple[int, list[ChainProblem]]:
    """(entries checked, problems): recomputes every hash and checks links and heads."""
    repository = AuditRepository(session)
    problems: list[ChainProblem] = []
    checked = 0
    last: dict[int, tuple[int, bytes]] = {}
    for entry in repository.entries_in_chain_order():
        checked += 1
        position, prev = last.get(entry.chain, (0, GENESIS))
        if entry.position != position + 1:
            problems.append(
                ChainProblem(entry.chain, entry.position, f"gap: expected {position + 1}")
            )
        if entry.prev_hash != prev:
            problems.append(ChainProblem(entry.chain, entry.position, "link to previous broken"))
        if entry_hash(entry.prev_hash, entry) != entry.hash:
            problems.append(ChainProblem(entry.chain, entry.position, "content altered"))
        last[entry.chain] = (entry.position, entry.hash)
    for chain, head in repository.heads().items():
        position, prev = last.get(chain, (0, GENESIS))
        if (head.position, head.head_hash) != (position, prev):
            problems.append(
                ChainProblem(chain, head.position, "head does not match the last entry")
            )
    return checked, problems
