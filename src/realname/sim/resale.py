"""The demo's resale sector as seed 002 describes it at the end of 2015, at 1 : 1,000: 42 pilot
resale operators (MVNOs), 39 of them issuing numbers, 20.59 M users (20,590 lines here), 7
above 1 M (1,000), 3 above 2 M (2,000) and 1 above 4 M (4,000). Pure: sizes drawn from the
demo's seed, meeting those counts exactly (tests/sim/test_resale.py checks them).

A smaller world keeps the shape: every size scaled by the same factor (largest remainders),
so the thresholds scale with it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PILOTS = 42
ISSUING = 39
SECTOR_LINES = 20_590  # 20.59 M users at 1 : 1,000
# The world `realname demo` builds by default: the resale sector at full scale beside the
# three MNOs (which are not to scale: 1.3 billion lines at 1 : 1,000 would be 1.3 M).
DEMO_LINES = 40_000
# The named pilots first (host in brackets); the rest are plainly synthetic.
NAMED = (
    ("SNAIL", "蜗牛移动", "CUCC"),
    ("YUANTE", "远特通信", "CTCC"),
    ("XIAOMI", "小米移动", "CUCC"),
)
HOSTS = ("CUCC", "CTCC", "CMCC")
SMALL_MAX = 900  # the 32 smaller issuing pilots
SEGMENTS = ("170", "171", "162", "165", "167")  # the resale number segments


@dataclass(frozen=True)
class Pilot:
    code: str
    name: str
    host: str
    lines: int  # 0: a pilot not issuing numbers yet
    prefix: str  # its number segment, "+86" and four digits


def pilots(rng: random.Random, sector_lines: int = SECTOR_LINES) -> list[Pilot]:
    """The 42 pilots, largest first, holding `sector_lines` lines between them."""
    sizes = scaled(full_scale_sizes(rng), sector_lines)
    made = []
    for index, size in enumerate(sizes):
        if index < len(NAMED):
            code, name, host = NAMED[index]
        else:
            code, name, host = f"MV{index + 1:02d}", f"转售企业{index + 1:02d}", HOSTS[index % 3]
        segment = SEGMENTS[index // 10] + str(index % 10)
        made.append(Pilot(code, name, host, size, f"+86{segment}"))
    return made


def full_scale_sizes(rng: random.Random) -> list[int]:
    """42 sizes, largest first, summing to SECTOR_LINES, with exactly seed 002's counts above
    1,000, 2,000 and 4,000, and three zeros (pilots not issuing numbers)."""
    # Clear of each threshold by a tenth, so a scaled-down world keeps the counts too.
    big = [rng.randint(4_400, 4_800)]
    big += [rng.randint(2_200, 3_400) for _ in range(2)]
    big += [rng.randint(1_100, 1_800) for _ in range(4)]
    small_count = ISSUING - len(big)
    rest = SECTOR_LINES - sum(big)  # 1,790 .. 7,390: room for 32 sizes in 1 .. 900
    weights = [rng.paretovariate(1.3) for _ in range(small_count)]
    small = apportion(rest, weights)
    # Clamp to 1 .. 900, then hand the difference round the others (deterministic).
    small = [min(max(s, 1), SMALL_MAX) for s in small]
    while (missing := rest - sum(small)) != 0:
        step = 1 if missing > 0 else -1
        for i in sorted(range(small_count), key=lambda i: step * small[i])[: abs(missing)]:
            if 1 <= small[i] + step <= SMALL_MAX:
                small[i] += step
    return sorted(big + small, reverse=True) + [0] * (PILOTS - ISSUING)


def scaled(sizes: list[int], total: int) -> list[int]:
    """The sizes scaled to sum to `total` (largest remainders, order kept); an issuing pilot
    keeps at least one line while the total allows it."""
    full = sum(sizes)
    if total == full:
        return list(sizes)
    out = apportion(total, [float(s) for s in sizes])
    for i, size in enumerate(sizes):
        if size and not out[i]:
            donor = max(range(len(out)), key=out.__getitem__)
            if out[donor] > 1:
                out[donor] -= 1
                out[i] = 1
    return out


def apportion(total: int, weights: list[float]) -> list[int]:
    """`total` split in proportion to the weights, in whole units (largest remainders)."""
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    out = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (out[i] - exact[i], i))
    for i in by_remainder[: total - sum(out)]:
        out[i] += 1
    return out
