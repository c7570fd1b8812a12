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
def _county_codes() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(codes in force, abolished codes) at county level, the ones real numbers carry."""
    current, abolished = [], []
    for code, region in region_table().items():
        if code.endswith("00") or code in RESIDENCE_PERMIT_REGIONS:
            continue
        (abolished if region.abolished else current).append(code)
    return tuple(sorted(current)), tuple(sorted(abolished))


def random_birth_date(rng: random.Random, oldest: int = 95, youngest: int = 0) -> date:
    today = date.today()
    start = today - timedelta(days=365 * oldest)
    span = (today - timedelta(days=365 * youngest) - start).days
    return start + timedelta(days=rng.randrange(max(span, 1)))


def random_resident_id(
    rng: random.Random,
    *,
    born: date | None = None,
    male: bool | None = None,
    abolished_share: float = 0.05,
    region_code: str | None = None,
) -> str:
    """A valid 18-digit number; a small share carry region codes abolished since issue."""
    current, abolished = _county_codes()
    if region_code is None:
        region_code = rng.choice(abolished if rng.random() < abolished_share else current)
    born = born or random_birth_date(rng)
    sequence = rng.randrange(0, 500) * 2 + (1 if (rng.random() < 0.5 if male is None else male) else 0)
    body = f"{region_code}{born:%Y%m%d}{sequence:03d}"
    return body + check_character(body)


def random_residence_permit(rng: random.Random) -> str:
    region = rng.choice(list(RESIDENCE_PERMIT_REGIONS))
    body = f"{region}{random_birth_date(rng, 80, 16):%Y%m%d}{rng.randrange(1000):03d}"
    return body + check_character(body)


def random_uscc(rng: random.Random) -> str:
    """A unified social credit code: authority, category, region, organisation code, check."""
    org_body = f"{rng.randrange(10**8):08d}"
    region = rng.choice(_county_codes()[0])
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
