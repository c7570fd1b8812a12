"""The pure lifecycle table, tested directly (no database): every operation from every state,
and the rules the rest of the registry leans on (holdings change only where a line gains or
loses an owner; a bar is lifted only by the operation entitled to its reason)."""

from __future__ import annotations

import pytest

from realname.registry.lifecycle import (
    HELD_STATES,
    LEGAL_MOVES,
    BarringReason,
    IllegalTransitionError,
    LineState,
    Operation,
    transition,
)

S, O, R = LineState, Operation, BarringReason  # noqa: E741 (as in lifecycle.py)
STATES: list[LineState | None] = [None, *LineState]


def _outcome(operation: Operation, state: LineState | None, barring: str | None) -> str:
    try:
        return str(transition(operation, state, barring))
    except IllegalTransitionError:
        return "illegal"


@pytest.mark.parametrize("operation", list(Operation))
def test_every_move_is_either_in_the_event_vocabulary_or_refused(operation: Operation) -> None:
    """Whatever the service may do, `realname check` accepts when replaying; the rest is a
    clear IllegalTransitionError, never another exception."""
    for state in STATES:
        for barring in (None, *BarringReason):
            outcome = _outcome(operation, state, barring)
            if outcome != "illegal":
                move = (str(operation), str(state) if state else None, outcome)
                assert move in LEGAL_MOVES, move


def test_only_three_operations_create_a_line_row() -> None:
    creators = {o for o in Operation if _outcome(o, None, None) != "illegal"}
    assert creators == {O.STOCK, O.IMPORT_LEGACY, O.IMPORT_REGISTERED}


def test_a_line_enters_the_held_states_only_by_registration() -> None:
    """Holdings (the caps) are counted when a line gains an owner: no other operation may
    move a line from outside the held states into them, except the back-fill bars of an
    owner-less legacy line (held states, no owner, nothing counted)."""
    entering = {
        (o, s)
        for o in Operation
        for s in STATES
        if s not in HELD_STATES
        and any(_outcome(o, s, b) in HELD_STATES for b in (None, *BarringReason))
    }
    assert entering == {
        (O.IMPORT_REGISTERED, None),
        (O.REGISTER, S.STOCKED),
        (O.REGISTER_LEGACY, S.LEGACY),
        (O.BACKFILL_RESTRICT, S.LEGACY),
        (O.BACKFILL_SUSPEND, S.LEGACY),
    }


def test_service_ends_only_by_cancel_or_back_fill_termination() -> None:
    leaving = {
        o
        for o in Operation
        for s in HELD_STATES
        for b in (None, *BarringReason)
        if _outcome(o, s, b) not in (*HELD_STATES, "illegal")
    }
    assert leaving == {O.CANCEL, O.BACKFILL_TERMINATE}


@pytest.mark.parametrize(
    ("reason", "lifted_by"),
    [
        (R.LOST, {O.REPLACE_SIM}),  # a lost phone comes back only with a new SIM
        (R.LOCKED, {O.UNLOCK, O.REPLACE_SIM}),
        (R.ENFORCEMENT, {O.RESUME}),
        (R.REVERIFICATION_OVERDUE, {O.ANSWER_REVERIFICATION}),
        (R.BACKFILL, {O.REGISTER_LEGACY}),
    ],
)
def test_a_suspension_is_lifted_only_by_the_operation_entitled_to_its_reason(
    reason: BarringReason, lifted_by: set[Operation]
) -> None:
    lifting = {o for o in Operation if _outcome(o, S.SUSPENDED, reason) in (S.ACTIVE,)}
    assert lifting == lifted_by


def test_a_cancelled_number_returns_to_service_only_through_cooling_and_the_pool() -> None:
    assert {o for o in Operation if _outcome(o, S.CANCELLED, None) != "illegal"} == {
        O.BEGIN_COOLING
    }
    assert {o for o in Operation if _outcome(o, S.COOLING, None) != "illegal"} == {O.RELEASE}
    assert transition(O.RELEASE, S.COOLING) is S.POOLED
    with pytest.raises(IllegalTransitionError, match="cannot register a line that is pooled"):
        transition(O.REGISTER, S.POOLED)
