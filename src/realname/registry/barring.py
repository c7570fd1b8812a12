"""Barring a line and lifting it: the reason kept on the line, the one beneath restored.

A line carries one barring reason; a suspension on top of a restriction keeps the
restriction's reason aside (`restriction_reason`) and lifting the suspension restores it.
Every lifecycle operation that bars or lifts goes through here, so that rule lives once.
"""

from __future__ import annotations

from realname.registry.commands import Context, Desk
from realname.registry.errors import RegistryError
from realname.registry.guards import E, S, locked_line
from realname.registry.lifecycle import BARS, BarringReason, LineState, Operation
from realname.registry.models import Line
from realname.registry.recorder import LineRecorder, allowed
from realname.registry.repository import RegistryRepository


def lift_barring(line: Line, before: LineState, after: LineState) -> LineState:
    """Clear the lifted reason; a suspension on top of a restriction falls back to it."""
    if before is S.SUSPENDED and after is S.ACTIVE and line.restriction_reason:
        line.barring_reason, line.restriction_reason = line.restriction_reason, None
        return S.RESTRICTED
    line.barring_reason = None
    return after


def set_barring(
    line: Line, operation: Operation, before: LineState, after: LineState, reason: BarringReason
) -> None:
    """Put `reason` on the line as `operation` bars it: a reason the operation may record
    (BARS), and a restriction's reason kept aside when a suspension goes on top of it. Every
    barring operation (`Barring.bar`, the registry's `dispute_owner`) sets it here."""
    if reason not in BARS[operation]:
        raise RegistryError(E.ILLEGAL_TRANSITION, f"{reason} is not a reason to {operation}")
    if before is S.RESTRICTED and after is S.SUSPENDED:
        line.restriction_reason = line.barring_reason
    line.barring_reason = str(reason)


class Barring:
    def __init__(self, repo: RegistryRepository, recorder: LineRecorder) -> None:
        self.repo = repo
        self.recorder = recorder

    def bar(
        self,
        ctx: Context,
        enterprise_id: int,
        msisdn: str,
        operation: Operation,
        reason: BarringReason,
        note: str,
        *,
        desk: Desk | None = None,
    ) -> Line:
        line = locked_line(self.repo, enterprise_id, msisdn)
        before = LineState(line.state)
        after = allowed(operation, before, line.barring_reason)
        set_barring(line, operation, before, after, reason)
        self.recorder.record(
            ctx,
            line,
            operation,
            before,
            after,
            owner_after=line.owner_identity_id,
            reason=str(reason),
            note=note or None,
            channel_id=desk.channel_id if desk else None,
            detail={"barring": str(reason), **({"clerk_id": desk.clerk_id} if desk else {})},
        )
        return line

    def lift(
        self, ctx: Context, enterprise_id: int, msisdn: str, operation: Operation, note: str
    ) -> Line:
        line = locked_line(self.repo, enterprise_id, msisdn)
        before = LineState(line.state)
        after = allowed(operation, before, line.barring_reason)
        lifted = line.barring_reason
        after = lift_barring(line, before, after)
        self.recorder.record(
            ctx,
            line,
            operation,
            before,
            after,
            owner_after=line.owner_identity_id,
            note=note or None,
            detail={"lifted": lifted},
        )
        return line
