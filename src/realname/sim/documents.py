"""Synthetic identity numbers that pass (or deliberately fail) validation.

Every generator takes a `random.Random`, so a seed reproduces the same world.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from functools import cache

from realname.identity.documents import organisation_code_check, uscc_check_character
from realname.identity.regions import region_table
from realname.identity.resident_id import RESIDENCE_PERMIT_REGIONS, check_character


@cache
def _codes_in_force(year: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """County-level codes in force in `year`: (still in force today, abolished since)."""
    current: list[str] = []
    abolished: list[str] = []
    for code, region in region_table().items():
        if code.endswith("00") or code in RESIDENCE_PERMIT_REGIONS:
            continue
        if region.first_year <= year <= (region.last_year or 9999):
            (abolished if region.abolished else current).append(code)
    return tuple(sorted(current)), tuple(sorted(abolished))


def _county_codes(today: date) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return _codes_in_force(today.year)[0], _codes_in_force(1985)[1]


def random_birth_date(
    rng: random.Random, oldest: int = 95, youngest: int = 0, *, today: date
) -> date:
    start = today - timedelta(days=365 * oldest)
    span = (today - timedelta(days=365 * youngest) - start).days
    return start + timedelta(days=rng.randrange(max(span, 1)))


def random_resident_id(
    rng: random.Random,
    *,
    today: date,
    born: date | None = None,
    male: bool | None = None,
    abolished_share: float | None = None,
    region_code: str | None = None,
) -> str:
    """A valid 18-digit number as it would have been issued.

    Numbers were first issued in 1984, and since then at birth registration, so the region
    code is one in force in the issue year: older people often carry codes created after
    their birth, and some carry codes abolished since. `abolished_share` forces that share
    of codes abolished since issue (None: whatever the issue year gives).
    """
    born = born or random_birth_date(rng, today=today)
    if region_code is None:
        issued = min(max(born.year, 1984) + rng.randrange(3), today.year)
        current, abolished = _codes_in_force(issued)
        if abolished_share is None:
            pick = rng.randrange(len(current) + len(abolished))
            region_code = current[pick] if pick < len(current) else abolished[pick - len(current)]
        elif abolished and rng.random() < abolished_share:
            region_code = rng.choice(abolished)
        else:
            region_code = rng.choice(current)
    if male is None:
        male = rng.random() < 0.5
    sequence = rng.randrange(0, 500) * 2 + (1 if male else 0)
    body = f"{region_code}{born:%Y%m%d}{sequence:03d}"
    return body + check_character(body)


def random_residence_permit(rng: random.Random, today: date) -> str:
    region = rng.choice(list(RESIDENCE_PERMIT_REGIONS))
    body = f"{region}{random_birth_date(rng, 80, 16, today=today):%Y%m%d}{rng.randrange(1000):03d}"
    return body + check_character(body)


def random_uscc(rng: random.Random, today: date) -> str:
    """A unified social credit code: authority, category, region, organisation code, check."""
    org_body = f"{rng.randrange(10**8):08d}"
    region = rng.choice(_county_codes(today)[0])
    body = rng.choice("159") + rng.choice("123") + region + org_body
    body += organisation_code_check(org_body)
    return body + uscc_check_character(body)


def corrupt(rng: random.Random, number: str) -> str:
    """One realistic typing error: a changed digit, two swapped digits, or a dropped digit."""
    position = rng.randrange(len(number) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        digit = str((int(number[position]) + rng.randrange(1, 10)) % 10)
        return number[:position] + digit + number[position + 1 :]
    if kind == 1 and number[position] != number[position + 1]:
        return number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    return number[:position] + number[position + 1 :]
