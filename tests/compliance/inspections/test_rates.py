"""The Wilson interval against a known value, computed here another way."""

from __future__ import annotations

import math

import pytest

from realname.compliance.inspections.rates import Z95, wilson, z_for


def _score_bounds(hits: int, n: int, z: float) -> tuple[float, float]:
    """The Wilson bounds as what they are: the proportions p whose score test
    |p̂ − p| / sqrt(p(1−p)/n) equals z, found by bisection on each side of p̂."""
    observed = hits / n

    def excess(p: float) -> float:
        return abs(observed - p) - z * math.sqrt(p * (1 - p) / n)

    def bisect(lo: float, hi: float) -> float:
        for _ in range(200):
            mid = (lo + hi) / 2
            if (excess(lo) > 0) == (excess(mid) > 0):
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    return bisect(0.0, observed), bisect(observed, 1.0)


def test_the_2016_round_37_of_109_outlets() -> None:
    rate = wilson(37, 109)
    assert rate.rate is not None and round(rate.rate * 100, 1) == 33.9
    low, high = _score_bounds(37, 109, 1.959963984540054)
    assert rate.low == pytest.approx(low, abs=1e-9)
    assert rate.high == pytest.approx(high, abs=1e-9)
    # and as published tables give it, to four places
    assert (round(rate.low, 4), round(rate.high, 4)) == (0.2574, 0.4325)


def test_the_second_2016_round_22_of_186() -> None:
    rate = wilson(22, 186)
    low, high = _score_bounds(22, 186, Z95)
    assert rate.rate is not None and round(rate.rate * 100, 1) == 11.8
    assert (rate.low, rate.high) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))
    # the two rounds' intervals do not overlap: the drop is not chance
    assert rate.high < wilson(37, 109).low  # type: ignore[operator]


def test_the_edges_stay_within_zero_and_one() -> None:
    none, every = wilson(0, 12), wilson(12, 12)
    assert none.low == 0.0 and none.high is not None and 0 < none.high < 0.3
    assert every.high == 1.0 and every.low is not None and 0.7 < every.low < 1
    assert wilson(0, 0).rate is None and wilson(0, 0).low is None


@pytest.mark.parametrize(("hits", "n"), [(-1, 5), (6, 5), (0, -1)])
def test_impossible_counts_are_refused(hits: int, n: int) -> None:
    with pytest.raises(ValueError, match="hits <= n"):
        wilson(hits, n)


def test_the_quantile_of_a_confidence() -> None:
    assert z_for(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_for(0.99) == pytest.approx(2.575829, abs=1e-6)
    with pytest.raises(ValueError, match="between 0 and 1"):
        z_for(1.0)
