"""The line recorder: a line's new state, its event and its audit entry, always together.

Every registry module that changes a line goes through `allowed` (the lifecycle table's
verdict as a registry error) and `LineRecorder.record`, so no change can skip its event, its
MAC or its audit entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from realname.numbering.msisdn import mask_msisdn
from realname.registry.auditing import audit_operation, deferred_operation_entry
from realname.registry.commands import Context
from realname.registry.errors import RegistryError
from realname.registry.guards import E
from realname.registry.integrity import is_reason_code, mac_event, seal_event_row
from realname.registry.lifecycle import (
    HELD_STATES,
    IllegalTransitionError,
    LineState,
    Operation,
    transition,
)
from realname.registry.models import Line, LineEvent
from realname.registry.rows import LineRow
from realname.security.audit import noted_append, seal_note
from realname.security.vault import KeyRing


def allowed(operation: Operation, state: LineState | None, barring: str | None = None) -> LineState:
    """The state `operation` leads to from `state`, or ILLEGAL_TRANSITION."""
    try:
        return transition(operation, state, barring)
    except IllegalTransitionError as error:
        raise RegistryError(E.ILLEGAL_TRANSITION, str(error)) from None


class LineRecorder:
    def __init__(self, session: Session, keyring: KeyRing) -> None:
        self.session = session
        self.keyring = keyring

    def record(
        self,
        ctx: Context,
        line: Line,
        operation: Operation,
        before: LineState | None,
        after: LineState,
        *,
        owner_before: int | None = None,
        owner_after: int | None = None,
        channel_id: int | None = None,
        reason: str | None = None,
        note: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """The line's new state, its event (MAC'd) and its audit entry: always together.
        `reason` is a code; free text goes in `note`, sealed, and the event keeps only its
        reference."""
        if owner_before is None and before in HELD_STATES:
            owner_before = line.owner_identity_id
        if reason is not None and not is_reason_code(reason):
            reason, note = "note", " ".join(filter(None, (reason, note)))
        detail = dict(detail or {})
        if note:
            detail["note"] = seal_note(self.session, self.keyring, note, ctx.at)
        line.state = str(after)
        line.state_changed_at = ctx.at
        line.event_count = (line.event_count or 0) + 1
        event = LineEvent(
            line_id=line.id,
            seq=line.event_count,
            operation=str(operation),
            from_state=str(before) if before else None,
            to_state=str(after),
            owner_before_id=owner_before,
            owner_after_id=owner_after,
            channel_id=channel_id,
            actor=str(ctx.actor),
            reason=reason,
            detail=detail,
            occurred_at=ctx.at,
            correlation_id=ctx.correlation_id,
        )
        mac_event(self.keyring.audit, event)
        self.session.add(event)
        self.session.flush()
        self.audit(
            ctx,
            f"line.{operation}",
            "line",
            line.id,
            {"msisdn": mask_msisdn(line.msisdn), "from": before, "to": str(after)},
        )

    def record_row(
        self,
        ctx: Context,
        line: LineRow,
        operation: Operation,
        before: LineState,
        after: LineState,
        *,
        owner_after: int | None,
        channel_id: int | None,
        detail: dict[str, Any],
        write: Callable[[dict[str, Any], dict[str, Any] | None], bool],
    ) -> bool:
        """`record` for an operation on Core rows (the registration): the line's new state
        set on `line`, its event (MAC'd) handed to `write`, which writes the line and the
        event in one go, then, if it did (True), the audit entry. Coded detail only: no
        note to seal.

        When the session appends deferred (PostgreSQL), `write` also gets the audit entry,
        pending, and writes it in the same statement (no round trip of its own); otherwise
        it gets None and the entry is appended inline after it."""
        owner_before = line.owner_identity_id if before in HELD_STATES else None
        line.state = str(after)
        line.state_changed_at = ctx.at
        line.event_count = (line.event_count or 0) + 1
        event = seal_event_row(
            self.keyring.audit,
            {
                "line_id": line.id,
                "seq": line.event_count,
                "operation": str(operation),
                "from_state": str(before),
                "to_state": str(after),
                "owner_before_id": owner_before,
                "owner_after_id": owner_after,
                "channel_id": channel_id,
                "actor": str(ctx.actor),
                "reason": None,
                "detail": detail,
                "occurred_at": ctx.at,
                "correlation_id": ctx.correlation_id,
            },
        )
        audit_detail = {"msisdn": mask_msisdn(line.msisdn), "from": before, "to": str(after)}
        entry = deferred_operation_entry(
            self.session,
            self.keyring,
            ctx,
            action=f"line.{operation}",
            object_type="line",
            object_id=line.id,
            detail=audit_detail,
        )
        if not write(event, None if entry is None else entry.columns()):
            return False
        if entry is not None:
            noted_append(self.session)
        else:
            self.audit(ctx, f"line.{operation}", "line", line.id, audit_detail)
        return True

    def audit(
        self,
        ctx: Context,
        action: str,
        object_type: str,
        object_id: int,
        detail: dict[str, Any],
        notes: dict[str, str | None] | None = None,
    ) -> None:
        audit_operation(
            self.session,
            self.keyring,
            ctx,
            action=action,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
            notes=notes,
        )
