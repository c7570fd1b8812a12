"""Resident-ID validation against python-stdnum's `stdnum.cn.ric.is_valid`, same inputs.

Both validators see the same generated numbers (about 90% valid, the rest with one realistic
typing error), alternate in rounds, and the best round of each counts, so a noisy neighbour
on the machine slows both rather than skewing the ratio.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from realname.identity.resident_id import resident_id_error, validate_resident_ids
from realname.sim.documents import corrupt, random_resident_id


@dataclass(frozen=True)
class Rate:
    name: str
    seconds: float
    count: int

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    @property
    def microseconds_each(self) -> float:
        return self.seconds / self.count * 1e6


@dataclass(frozen=True)
class IdBenchResult:
    count: int
    invalid_share: float
    ours: Rate
    bulk: Rate
    stdnum: Rate
    disagreements: int  # numbers we accept and stdnum rejects, or the reverse
    disagreement_example_reason: str

    @property
    def ratio(self) -> float:
        return self.stdnum.seconds / self.ours.seconds

    @property
    def bulk_ratio(self) -> float:
        return self.stdnum.seconds / self.bulk.seconds


# The day the numbers are validated on. Fixed, so a run is reproducible whatever the date: the
# inputs and the verdicts are the same every time the benchmark runs.
BENCH_DAY = date(2026, 1, 1)


def generate_numbers(n: int, seed: int = 2260, invalid_share: float = 0.1) -> list[str]:
    rng = random.Random(seed)
    numbers = []
    for _ in range(n):
        number = random_resident_id(rng, today=BENCH_DAY)
        numbers.append(corrupt(rng, number) if rng.random() < invalid_share else number)
    return numbers


def _time(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run_id_bench(n: int = 200_000, rounds: int = 3, seed: int = 2260) -> IdBenchResult:
    from stdnum.cn import ric

    numbers = generate_numbers(n, seed)

    def is_valid(number: str) -> bool:
        # stdnum 2.2 raises KeyError('county') for some province-level codes instead of
        # returning False; count those as refusals (the wrapper costs ~1% of its time).
        try:
            return bool(ric.is_valid(number))
        except KeyError:
            return False

    # Load every lookup table outside the timing.
    resident_id_error(numbers[0], BENCH_DAY)
    validate_resident_ids(numbers[:100], BENCH_DAY)
    is_valid(numbers[0])

    def ours() -> None:
        check, day = resident_id_error, BENCH_DAY
        for number in numbers:
            check(number, day)

    def theirs() -> None:
        for number in numbers:
            is_valid(number)

    def bulk() -> None:
        validate_resident_ids(numbers, BENCH_DAY)

    best = {"ours": float("inf"), "bulk": float("inf"), "stdnum": float("inf")}
    for _ in range(rounds):
        best["ours"] = min(best["ours"], _time(ours))
        best["stdnum"] = min(best["stdnum"], _time(theirs))
        best["bulk"] = min(best["bulk"], _time(bulk))

    disagreements = _disagreements(numbers, is_valid)
    return IdBenchResult(
        count=n,
        invalid_share=sum(1 for e in validate_resident_ids(numbers, BENCH_DAY) if e is not None)
        / n,
        ours=Rate("realname resident_id_error", best["ours"], n),
        bulk=Rate("realname validate_resident_ids (bulk)", best["bulk"], n),
        stdnum=Rate("python-stdnum cn.ric.is_valid", best["stdnum"], n),
        disagreements=disagreements,
        disagreement_example_reason=(
            "stdnum refuses region codes created after the holder's birth year, but numbers "
            "were first issued in 1984 with the codes then in force, so everyone born earlier "
            "in a county coded later is refused; see docs/benchmarks.md"
        ),
    )


def _disagreements(numbers: Sequence[str], is_valid: Callable[[str], bool]) -> int:
    ours = validate_resident_ids(numbers, BENCH_DAY)
    return sum(
        1
        for number, error in zip(numbers, ours, strict=True)
        if (error is None) != is_valid(number)
    )
