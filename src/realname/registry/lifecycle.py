"""The line lifecycle as data: which operation may move a line from which state to which.

Pure: the service asks `transition(operation, state)` before touching anything, so an illegal
request is refused before a single row changes. `realname check` replays events with the same
table, so the rules the service enforces are the rules the audit verifies.
"""

from __future__ import annotations

from enum import StrEnum


class LineState(StrEnum):
    POOLED = "pooled"  # in the enterprise's blocks, no SIM kit
    STOCKED = "stocked"  # a SIM kit at a channel, unsold
    ACTIVE = "active"  # registered to a verified owner
    RESTRICTED = "restricted"  # outgoing barred (back-fill or re-verification overdue)
    SUSPENDED = "suspended"  # both ways barred (lost, locked, enforcement)
    CANCELLED = "cancelled"  # service ended; the owner's link is closed
    COOLING = "cooling"  # waiting out the cooling period before reissue
    LEGACY = "legacy"  # in service before real-name rules, no owner yet


class Operation(StrEnum):
    STOCK = "stock"
    MOVE_STOCK = "move_stock"  # a kit passed to another channel (down to a sub-channel or back)
    UNSTOCK = "unstock"  # a kit returned to the enterprise pool
    WRITE_OFF = "write_off"  # a kit lost or damaged: the number goes back to the pool
    IMPORT_LEGACY = "import_legacy"
    IMPORT_REGISTERED = "import_registered"  # a registered base migrated from another system
    REGISTER = "register"
    REGISTER_LEGACY = "register_legacy"
    SUSPEND = "suspend"
    RESUME = "resume"
    RESTRICT = "restrict"
    UNRESTRICT = "unrestrict"
    REPORT_LOST = "report_lost"
    LOCK = "lock"
    UNLOCK = "unlock"
    REPLACE_SIM = "replace_sim"
    TRANSFER = "transfer"
    REQUEST_REVERIFICATION = "request_reverification"
    ANSWER_REVERIFICATION = "answer_reverification"
    COMPLAIN = "complain"  # a complaint about the line (fraud, not mine): no state change
    # "Registered in my name, not mine" upheld for a check: the line is barred both ways and
    # the named person's link (and cap slot) is released while the operator checks it.
    DISPUTE_OWNER = "dispute_owner"
    BACKFILL_RESTRICT = "backfill_restrict"  # an unregistered legacy line: outgoing barred
    BACKFILL_SUSPEND = "backfill_suspend"  # an unregistered legacy line: both ways barred
    BACKFILL_TERMINATE = "backfill_terminate"  # still unregistered at the end: service ends
    CANCEL = "cancel"
    BEGIN_COOLING = "begin_cooling"
    RELEASE = "release"


S = LineState
O = Operation  # noqa: E741

# Lines that count against an identity's holding (and so against the caps).
HELD_STATES = frozenset({S.ACTIVE, S.RESTRICTED, S.SUSPENDED})

# operation -> {from state: to state}; None as from-state means "no line row yet".
TRANSITIONS: dict[Operation, dict[LineState | None, LineState]] = {
    O.STOCK: {None: S.STOCKED, S.POOLED: S.STOCKED},
    O.MOVE_STOCK: {S.STOCKED: S.STOCKED},
    O.UNSTOCK: {S.STOCKED: S.POOLED},
    O.WRITE_OFF: {S.STOCKED: S.POOLED},
    O.IMPORT_LEGACY: {None: S.LEGACY},
    O.IMPORT_REGISTERED: {None: S.ACTIVE},
    O.REGISTER: {S.STOCKED: S.ACTIVE},
    # A legacy line barred by the back-fill campaign is registered straight back to active.
    O.REGISTER_LEGACY: {S.LEGACY: S.ACTIVE, S.RESTRICTED: S.ACTIVE, S.SUSPENDED: S.ACTIVE},
    O.SUSPEND: {S.ACTIVE: S.SUSPENDED, S.RESTRICTED: S.SUSPENDED},
    O.RESUME: {S.SUSPENDED: S.ACTIVE},
    O.RESTRICT: {S.ACTIVE: S.RESTRICTED},
    O.UNRESTRICT: {S.RESTRICTED: S.ACTIVE},
    O.REPORT_LOST: {S.ACTIVE: S.SUSPENDED, S.RESTRICTED: S.SUSPENDED},
    O.LOCK: {S.ACTIVE: S.SUSPENDED, S.RESTRICTED: S.SUSPENDED},
    O.UNLOCK: {S.SUSPENDED: S.ACTIVE},
    O.REPLACE_SIM: {S.ACTIVE: S.ACTIVE, S.RESTRICTED: S.RESTRICTED, S.SUSPENDED: S.ACTIVE},
    O.TRANSFER: {S.ACTIVE: S.ACTIVE},
    O.REQUEST_REVERIFICATION: {S.ACTIVE: S.ACTIVE, S.RESTRICTED: S.RESTRICTED},
    # Answering lifts only a suspension for an overdue answer; a back-fill restriction stays.
    O.ANSWER_REVERIFICATION: {
        S.ACTIVE: S.ACTIVE,
        S.RESTRICTED: S.RESTRICTED,
        S.SUSPENDED: S.ACTIVE,
    },
    O.COMPLAIN: {S.ACTIVE: S.ACTIVE, S.RESTRICTED: S.RESTRICTED, S.SUSPENDED: S.SUSPENDED},
    O.DISPUTE_OWNER: {S.ACTIVE: S.SUSPENDED, S.RESTRICTED: S.SUSPENDED},
    O.BACKFILL_RESTRICT: {S.LEGACY: S.RESTRICTED},
    O.BACKFILL_SUSPEND: {S.LEGACY: S.SUSPENDED, S.RESTRICTED: S.SUSPENDED},
    O.BACKFILL_TERMINATE: {
        S.LEGACY: S.CANCELLED,
        S.RESTRICTED: S.CANCELLED,
        S.SUSPENDED: S.CANCELLED,
    },
    O.CANCEL: {S.ACTIVE: S.CANCELLED, S.RESTRICTED: S.CANCELLED, S.SUSPENDED: S.CANCELLED},
    O.BEGIN_COOLING: {S.CANCELLED: S.COOLING},
    O.RELEASE: {S.COOLING: S.POOLED},
}


# Why a suspended line is suspended decides who may lift it and how.
class BarringReason(StrEnum):
    LOST = "lost"
    LOCKED = "locked"
    ENFORCEMENT = "enforcement"
    REVERIFICATION_OVERDUE = "reverification_overdue"
    BACKFILL = "backfill"
    # The person it was registered to says it is not theirs: no owner until the check ends
    # (the line is cancelled, or registered to whoever proves they hold it).
    DISPUTED = "disputed"


# Which barring reasons each lifting operation may clear.
LIFTS: dict[Operation, frozenset[BarringReason]] = {
    O.RESUME: frozenset({BarringReason.ENFORCEMENT}),
    O.UNLOCK: frozenset({BarringReason.LOCKED}),
    O.REPLACE_SIM: frozenset({BarringReason.LOST, BarringReason.LOCKED}),
    O.UNRESTRICT: frozenset({BarringReason.BACKFILL, BarringReason.ENFORCEMENT}),
    O.ANSWER_REVERIFICATION: frozenset({BarringReason.REVERIFICATION_OVERDUE}),
    O.REGISTER_LEGACY: frozenset({BarringReason.BACKFILL, BarringReason.DISPUTED}),
    O.BACKFILL_TERMINATE: frozenset({BarringReason.BACKFILL}),
}


# Which reasons each barring operation may record: a back-fill bar is a restriction, a lost
# phone a suspension; anything else is refused rather than stored under the wrong state.
BARS: dict[Operation, frozenset[BarringReason]] = {
    O.SUSPEND: frozenset({BarringReason.ENFORCEMENT, BarringReason.REVERIFICATION_OVERDUE}),
    O.RESTRICT: frozenset({BarringReason.BACKFILL, BarringReason.ENFORCEMENT}),
    O.REPORT_LOST: frozenset({BarringReason.LOST}),
    O.LOCK: frozenset({BarringReason.LOCKED}),
    O.DISPUTE_OWNER: frozenset({BarringReason.DISPUTED}),
    O.BACKFILL_RESTRICT: frozenset({BarringReason.BACKFILL}),
    O.BACKFILL_SUSPEND: frozenset({BarringReason.BACKFILL}),
}

# A suspension can sit on top of a restriction (a back-fill-restricted phone is reported
# lost); lifting the suspension then returns the line to that restriction, not to active.
RESTORES_RESTRICTION = frozenset({O.RESUME, O.UNLOCK, O.REPLACE_SIM, O.ANSWER_REVERIFICATION})

# (operation, from, to) as stored strings: every move the event log may contain.
LEGAL_MOVES = frozenset(
    {
        (str(operation), str(before) if before else None, str(after))
        for operation, moves in TRANSITIONS.items()
        for before, after in moves.items()
    }
    | {(str(operation), str(S.SUSPENDED), str(S.RESTRICTED)) for operation in RESTORES_RESTRICTION}
)


def is_unregistered_legacy(state: str, owner_identity_id: int | None) -> bool:
    """A legacy line still waiting for its owner: as imported, or barred by the back-fill
    campaign (only the campaign bars a line that has no owner)."""
    return owner_identity_id is None and state in (S.LEGACY, S.RESTRICTED, S.SUSPENDED)


class IllegalTransitionError(Exception):
    def __init__(self, operation: Operation, state: LineState | None, why: str = "") -> None:
        self.operation = operation
        self.state = state
        super().__init__(why or f"cannot {operation} a line that is {state or 'not yet created'}")


def transition(
    operation: Operation, state: LineState | None, barring: str | None = None
) -> LineState:
    """The state `operation` leads to from `state`, or IllegalTransitionError.

    A barred line (restricted or suspended) may only be lifted by an operation entitled to
    clear its reason: a line suspended as lost is not resumed by an enforcement "resume".
    """
    targets = TRANSITIONS[operation]
    if state not in targets:
        raise IllegalTransitionError(operation, state)
    lifts = LIFTS.get(operation)
    if (
        lifts is not None
        and state in (S.SUSPENDED, S.RESTRICTED)
        and targets[state] not in (S.SUSPENDED, S.RESTRICTED)
        and barring not in lifts
    ):
        raise IllegalTransitionError(
            operation, state, f"cannot {operation} a line barred for {barring or 'no reason'}"
        )
    return targets[state]
