"""Proportions with their Wilson score interval. Pure.

The secret inspections sample a few dozen outlets per enterprise: 37 violations in 109 visits
is 33.9 %, but the normal approximation's ±8.9 points is wrong near 0 and 1 and can leave
[0, 1]. Wilson's interval stays inside and keeps close to its nominal coverage for small n,
which is what a regulator comparing rounds and enterprises needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)  # 1.959963984540054


def z_for(confidence: float) -> float:
    """The two-sided normal quantile for `confidence` (0.95 -> 1.96)."""
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


@dataclass(frozen=True)
class Rate:
    """`hits` of `n`, with the Wilson interval; all None when nothing was observed."""

    hits: int
    n: int
    rate: float | None
    low: float | None
    high: float | None


def wilson(hits: int, n: int, z: float = Z95) -> Rate:
    """The Wilson score interval of `hits` successes in `n` trials."""
    if n < 0 or hits < 0 or hits > n:
        raise ValueError("need 0 <= hits <= n")
    if n == 0:
        return Rate(hits, n, None, None, None)
    p = hits / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return Rate(hits, n, p, max(0.0, centre - half), min(1.0, centre + half))
