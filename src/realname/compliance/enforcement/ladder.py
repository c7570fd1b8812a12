"""The ladder as data, and the escalation rules: pure (no session, no clock).

The rungs in order, what each card makes the system do, and when the system proposes the
next rung. It only proposes: a person at the regulator decides (`EnforcementService.accept`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from realname.policy.schema import EnforcementRules


class ActionKind(StrEnum):
    NOTICE = "notice"  # 通报批评: a notice of criticism, circulated
    INTERVIEW = "interview"  # 约谈: the enterprise's management is interviewed (minutes kept)
    RECTIFICATION = "rectification"  # 责令整改: an order with a deadline and a follow-up
    YELLOW_1 = "yellow_1"
    YELLOW_2 = "yellow_2"
    YELLOW_3 = "yellow_3"
    RED = "red"


LADDER: tuple[ActionKind, ...] = tuple(ActionKind)
CARDS = frozenset({ActionKind.YELLOW_1, ActionKind.YELLOW_2, ActionKind.YELLOW_3, ActionKind.RED})


class Consequence(StrEnum):
    BLOCK_ALLOCATION = "block_allocation"  # no new number blocks (the registry refuses)
    SETTLEMENT = "settlement"  # settlement suspended (the registry's sanction state)
    CHANNELS = "channels"  # the offending channels stop registering
    LICENCE = "licence"  # the licence suspended: no new registrations at the enterprise


# Cumulative up the ladder: a higher card keeps what the one below did.
CONSEQUENCES: dict[ActionKind, frozenset[Consequence]] = {
    ActionKind.YELLOW_2: frozenset({Consequence.BLOCK_ALLOCATION}),
    ActionKind.YELLOW_3: frozenset(
        {Consequence.BLOCK_ALLOCATION, Consequence.SETTLEMENT, Consequence.CHANNELS}
    ),
    ActionKind.RED: frozenset(
        {
            Consequence.BLOCK_ALLOCATION,
            Consequence.SETTLEMENT,
            Consequence.CHANNELS,
            Consequence.LICENCE,
        }
    ),
}


def consequences_of(kind: ActionKind) -> frozenset[Consequence]:
    return CONSEQUENCES.get(kind, frozenset())


def rank(kind: ActionKind) -> int:
    return LADDER.index(kind)


def highest(kinds: Iterable[str]) -> ActionKind | None:
    """The highest rung among an enterprise's open actions (None: nothing open)."""
    rungs = [ActionKind(kind) for kind in kinds]
    return max(rungs, key=rank) if rungs else None


def next_rung(highest_open: ActionKind | None, at_least: ActionKind | None = None) -> ActionKind:
    """The rung above the enterprise's highest open action (the first rung if none), never
    below `at_least`; red stays red."""
    step = 0 if highest_open is None else min(rank(highest_open) + 1, len(LADDER) - 1)
    if at_least is not None:
        step = max(step, rank(at_least))
    return LADDER[step]


@dataclass(frozen=True)
class RoundResult:
    """One secret-inspection round's result for one enterprise (oldest first in a list)."""

    round_ref: str
    inspected: int
    violations: int

    @property
    def rate(self) -> float:
        return self.violations / self.inspected if self.inspected else 0.0


@dataclass(frozen=True)
class Draft:
    """What the system proposes: a rung, the rule that fired, and its evidence."""

    kind: ActionKind
    rule: str
    evidence: tuple[tuple[str, str], ...]


VIOLATION_RATE = "violation_rate"
RECTIFICATION_OVERDUE = "rectification_overdue"
RECTIFICATION_FAILED = "rectification_failed"
COMPLAINT_RATE = "complaint_rate"


def above_in_a_row(rules: EnforcementRules, rounds: Sequence[RoundResult]) -> bool:
    """The last `consecutive_rounds` rounds each inspected enough outlets and found a rate
    above the policy's."""
    recent = list(rounds)[-rules.consecutive_rounds :]
    return len(recent) == rules.consecutive_rounds and all(
        r.inspected >= rules.min_inspected and r.rate > rules.violation_rate for r in recent
    )


def propose_on_rounds(
    rules: EnforcementRules, highest_open: ActionKind | None, rounds: Sequence[RoundResult]
) -> Draft | None:
    if not above_in_a_row(rules, rounds):
        return None
    recent = list(rounds)[-rules.consecutive_rounds :]
    return Draft(
        next_rung(highest_open),
        VIOLATION_RATE,
        tuple(("inspection_round", r.round_ref) for r in recent),
    )


def propose_on_overdue(highest_open: ActionKind | None, order_id: int, failed: bool) -> Draft:
    """An order past its deadline (or whose follow-up failed): at least a first yellow card."""
    return Draft(
        next_rung(highest_open, at_least=ActionKind.YELLOW_1),
        RECTIFICATION_FAILED if failed else RECTIFICATION_OVERDUE,
        (("action", str(order_id)),),
    )


def propose_on_complaints(
    rules: EnforcementRules,
    highest_open: ActionKind | None,
    complaints: int,
    lines: int,
    period_ref: str,
) -> Draft | None:
    if rules.complaints_per_10k <= 0 or lines <= 0:
        return None
    if complaints * 10_000 / lines <= rules.complaints_per_10k:
        return None
    return Draft(next_rung(highest_open), COMPLAINT_RATE, (("figure", period_ref),))
