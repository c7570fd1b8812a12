"""The ladder and its escalation rules, as pure data."""

from __future__ import annotations

from realname.compliance.enforcement import ladder
from realname.compliance.enforcement.ladder import ActionKind, Consequence, RoundResult
from realname.policy.schema import EnforcementRules

RULES = EnforcementRules(violation_rate=0.10, consecutive_rounds=2, min_inspected=5)


def test_the_rungs_in_order_and_red_stays_red() -> None:
    assert ladder.next_rung(None) is ActionKind.NOTICE
    assert ladder.next_rung(ActionKind.RECTIFICATION) is ActionKind.YELLOW_1
    assert ladder.next_rung(ActionKind.YELLOW_3) is ActionKind.RED
    assert ladder.next_rung(ActionKind.RED) is ActionKind.RED
    assert ladder.next_rung(ActionKind.NOTICE, at_least=ActionKind.YELLOW_1) is ActionKind.YELLOW_1


def test_cards_carry_their_consequences_cumulatively() -> None:
    assert ladder.consequences_of(ActionKind.YELLOW_1) == frozenset()
    assert ladder.consequences_of(ActionKind.YELLOW_2) == {Consequence.BLOCK_ALLOCATION}
    assert Consequence.SETTLEMENT in ladder.consequences_of(ActionKind.YELLOW_3)
    assert Consequence.CHANNELS in ladder.consequences_of(ActionKind.YELLOW_3)
    assert ladder.consequences_of(ActionKind.RED) >= ladder.consequences_of(ActionKind.YELLOW_3)
    assert Consequence.LICENCE in ladder.consequences_of(ActionKind.RED)
    assert ladder.consequences_of(ActionKind.NOTICE) == frozenset()


def test_two_rounds_in_a_row_above_the_rate_propose_the_next_rung() -> None:
    # The 2016 rounds of DESIGN.md §8: 33.9 % then 11.8 %, both above 10 %.
    rounds = [RoundResult("2016-1", 109, 37), RoundResult("2016-2", 186, 22)]
    draft = ladder.propose_on_rounds(RULES, ActionKind.NOTICE, rounds)
    assert draft is not None
    assert draft.kind is ActionKind.INTERVIEW and draft.rule == "violation_rate"
    assert draft.evidence == (("inspection_round", "2016-1"), ("inspection_round", "2016-2"))


def test_one_round_below_or_too_few_visits_propose_nothing() -> None:
    below = [RoundResult("r1", 100, 30), RoundResult("r2", 100, 10)]  # 10 % is not above
    assert ladder.propose_on_rounds(RULES, None, below) is None
    thin = [RoundResult("r1", 100, 30), RoundResult("r2", 4, 4)]
    assert ladder.propose_on_rounds(RULES, None, thin) is None
    assert ladder.propose_on_rounds(RULES, None, [RoundResult("r1", 100, 90)]) is None


def test_an_overdue_order_proposes_at_least_a_first_yellow_card() -> None:
    draft = ladder.propose_on_overdue(ActionKind.RECTIFICATION, 7, failed=False)
    assert draft.kind is ActionKind.YELLOW_1 and draft.evidence == (("action", "7"),)
    assert ladder.propose_on_overdue(ActionKind.YELLOW_2, 7, failed=True).kind is (
        ActionKind.YELLOW_3
    )


def test_the_complaint_rate_rule_is_off_by_default() -> None:
    assert ladder.propose_on_complaints(RULES, None, 100, 1000, "2026-11") is None
    on = RULES.model_copy(update={"complaints_per_10k": 5.0})
    assert ladder.propose_on_complaints(on, None, 1, 10_000, "2026-11") is None
    draft = ladder.propose_on_complaints(on, None, 6, 10_000, "2026-11")
    assert draft is not None and draft.evidence == (("figure", "2026-11"),)
