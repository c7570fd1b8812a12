"""An audit entry for an operation in a Context: who (`ctx.actor`), when (`ctx.at`) and which
request (`ctx.correlation_id`) come from the context, so every domain writes them the same way;
detail values are kept as text, free text typed by a user goes in `notes` (sealed)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from realname.registry.commands import Context
from realname.security.audit import PendingEntry, append_audit, deferred_entry
from realname.security.vault import KeyRing


def audit_operation(
    session: Session,
    keyring: KeyRing,
    ctx: Context,
    *,
    action: str,
    object_type: str,
    object_id: int | str,
    detail: dict[str, Any],
    notes: dict[str, str | None] | None = None,
) -> None:
    append_audit(
        session,
        keyring,
        actor=str(ctx.actor),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        at=ctx.at,
        detail={k: (str(v) if v is not None else None) for k, v in detail.items()},
        notes=notes,
        correlation_id=ctx.correlation_id,
    )


def deferred_operation_entry(
    session: Session,
    keyring: KeyRing,
    ctx: Context,
    *,
    action: str,
    object_type: str,
    object_id: int | str,
    detail: dict[str, Any],
) -> PendingEntry | None:
    """`audit_operation`'s entry, built for the caller to write in its own statement (the
    session appends deferred), or None (inline: call `audit_operation`). Coded detail only."""
    return deferred_entry(
        session,
        keyring,
        actor=str(ctx.actor),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        at=ctx.at,
        detail={k: (str(v) if v is not None else None) for k, v in detail.items()},
        correlation_id=ctx.correlation_id,
    )
