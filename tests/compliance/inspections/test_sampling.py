"""The plan of a round: its size for a stated precision, its allocation, and its draw from a
seed (same seed, same plan)."""

from __future__ import annotations

import pytest

from realname.compliance.inspections.sampling import (
    Outlet,
    Precision,
    Stratum,
    allocate,
    draw,
    sample_size,
)


def _outlets() -> list[Outlet]:
    """Three enterprises, two kinds, two provinces, uneven strata (300 outlets)."""
    out, ident = [], 0
    for enterprise, sizes in {"CMCC": (120, 60), "MVNO1": (50, 40), "MVNO2": (25, 5)}.items():
        for kind, size in zip(("own_hall", "online"), sizes, strict=True):
            for i in range(size):
                ident += 1
                out.append(Outlet(ident, Stratum(enterprise, kind, "44" if i % 3 else "11")))
    return out


def test_the_size_for_five_points_at_95_percent() -> None:
    precision = Precision(margin=0.05, confidence=0.95)
    assert sample_size(10**9, precision) == 385  # 1.96² · 0.25 / 0.05², the textbook n0
    # finite-population correction: n0 / (1 + (n0 − 1)/N), rounded up
    assert sample_size(1000, precision) == 278
    assert sample_size(109, precision) == 86
    assert sample_size(10, precision) == 10  # never more than there are
    assert sample_size(0, precision) == 0
    # a rate expected near 30 % needs fewer visits than an unknown one
    assert sample_size(10**9, Precision(expected_rate=0.3)) == 323


def test_allocation_is_proportional_with_a_minimum_per_stratum() -> None:
    a, b, c = Stratum("A", "own_hall", "11"), Stratum("B", "own_hall", "11"), Stratum("C", "x", "1")
    shares = allocate({a: 700, b: 280, c: 20}, 100, minimum=0)
    assert shares == {a: 70, b: 28, c: 2}
    assert sum(allocate({a: 5, b: 5, c: 5}, 10, minimum=0).values()) == 10  # remainders
    raised = allocate({a: 990, b: 9, c: 1}, 50, minimum=3)
    assert raised[b] == 3 and raised[c] == 1  # the minimum, or all a stratum has
    assert raised[a] == 50  # 49.5 rounded by the largest remainder


def test_the_same_seed_draws_the_same_plan() -> None:
    outlets = _outlets()
    first = draw(outlets, Precision(), seed=20160701)
    again = draw(list(reversed(outlets)), Precision(), seed=20160701)
    assert [o.channel_id for o in first.chosen] == [o.channel_id for o in again.chosen]
    other = draw(outlets, Precision(), seed=20161101)
    assert [o.channel_id for o in other.chosen] != [o.channel_id for o in first.chosen]
    assert first.population == 300 and first.target == sample_size(300, Precision())
    # every stratum is in the sample, none over-drawn, no outlet twice
    assert set(first.allocation) == {o.stratum for o in outlets}
    chosen = [o.channel_id for o in first.chosen]
    assert len(chosen) == len(set(chosen)) == sum(first.allocation.values())
    for stratum, count in first.allocation.items():
        assert (
            sum(o.stratum == stratum for o in first.chosen)
            == count
            >= min(2, sum(o.stratum == stratum for o in outlets))
        )


def test_a_strata_draw_does_not_move_when_another_stratum_changes() -> None:
    outlets = _outlets()
    precision = Precision(margin=0.1, min_per_stratum=2)
    before = draw(outlets, precision, seed=7)
    grown = [*outlets, Outlet(10_000, Stratum("MVNO3", "online", "44"))]
    after = draw(grown, precision, seed=7)
    small = Stratum("MVNO2", "online", "11")  # all of its outlets are drawn either way
    assert [o.channel_id for o in before.chosen if o.stratum == small] == [
        o.channel_id for o in after.chosen if o.stratum == small
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"margin": 0},
        {"margin": 0.6},
        {"confidence": 1},
        {"expected_rate": 0},
        {"min_per_stratum": -1},
    ],
)
def test_an_impossible_precision_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must be|cannot be"):
        Precision(**bad)  # type: ignore[arg-type]
