"""The plan of a secret-inspection round: how many outlets, and which. Pure.

Outlets are stratified by (enterprise, channel kind, province): a violation rate is reported
per enterprise, and the 2016 rounds found physical outlets and online shops far apart (26.0 %
against 40.7 %), so each cell must be in the sample. The total is sized for the precision the
round states (a margin at a confidence, for an expected rate: 0.5 when nothing is known),
with the finite-population correction; it is shared out in proportion to each stratum's
outlets (largest remainders), then every stratum gets at least `min_per_stratum` (or all its
outlets when it has fewer). Which outlets: a seeded draw per stratum, so the same population
and the same seed give the same plan, and a stratum's draw does not shift when another
stratum changes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from realname.compliance.inspections.rates import z_for


@dataclass(frozen=True, order=True)
class Stratum:
    enterprise: str  # the enterprise's code
    kind: str  # the channel kind
    province: str  # GB/T 2260 two-digit prefix

    @property
    def key(self) -> str:
        return f"{self.enterprise}/{self.kind}/{self.province}"


@dataclass(frozen=True)
class Outlet:
    channel_id: int
    stratum: Stratum


@dataclass(frozen=True)
class Precision:
    margin: float = 0.05  # ± this many (as a fraction) around the rate
    confidence: float = 0.95
    expected_rate: float = 0.5  # the most conservative guess
    min_per_stratum: int = 2

    def __post_init__(self) -> None:
        if not 0 < self.margin < 0.5:
            raise ValueError("margin must be between 0 and 0.5")
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be between 0 and 1")
        if not 0 < self.expected_rate < 1:
            raise ValueError("expected rate must be between 0 and 1")
        if self.min_per_stratum < 0:
            raise ValueError("the minimum per stratum cannot be negative")


def sample_size(population: int, precision: Precision) -> int:
    """Outlets to visit for the stated precision: n0 = z²·p(1−p)/e², corrected for a finite
    population, n = n0 / (1 + (n0 − 1)/N), rounded up; never more than N."""
    if population <= 0:
        return 0
    z = z_for(precision.confidence)
    p = precision.expected_rate
    n0 = z * z * p * (1 - p) / (precision.margin * precision.margin)
    n = n0 / (1 + (n0 - 1) / population)
    return min(population, math.ceil(n - 1e-9))


def allocate(sizes: dict[Stratum, int], total: int, minimum: int) -> dict[Stratum, int]:
    """`total` shared in proportion to `sizes` (largest remainders, ties by stratum), then
    raised to `minimum` per stratum, never above a stratum's size."""
    population = sum(sizes.values())
    if population == 0:
        return dict.fromkeys(sizes, 0)
    quotas = {s: total * n / population for s, n in sizes.items()}
    shares = {s: math.floor(q) for s, q in quotas.items()}
    left = total - sum(shares.values())
    for s in sorted(sizes, key=lambda s: (-(quotas[s] - shares[s]), s))[:left]:
        shares[s] += 1
    return {s: min(sizes[s], max(shares[s], minimum)) for s in sizes}


@dataclass(frozen=True)
class Plan:
    population: int
    target: int  # the size the precision asks for
    allocation: dict[Stratum, int]
    chosen: list[Outlet]  # in stratum order, then channel id


def draw(outlets: Iterable[Outlet], precision: Precision, seed: int) -> Plan:
    """The round's plan from its population, precision and seed (deterministic)."""
    by_stratum: dict[Stratum, list[Outlet]] = {}
    for outlet in outlets:
        by_stratum.setdefault(outlet.stratum, []).append(outlet)
    sizes = {s: len(members) for s, members in by_stratum.items()}
    population = sum(sizes.values())
    target = sample_size(population, precision)
    allocation = allocate(sizes, target, precision.min_per_stratum)
    chosen: list[Outlet] = []
    for stratum in sorted(by_stratum):
        members: Sequence[Outlet] = sorted(by_stratum[stratum], key=lambda o: o.channel_id)
        # A string seed is hashed with SHA-512 (random.seed version 2): the same on every
        # platform and Python, unlike hash().
        rng = random.Random(f"{seed}:{stratum.key}")  # noqa: S311 (reproducible on purpose)
        picked = rng.sample(list(members), allocation[stratum])
        chosen.extend(sorted(picked, key=lambda o: o.channel_id))
    return Plan(population, target, allocation, chosen)
