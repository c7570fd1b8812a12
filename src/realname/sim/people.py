"""Synthetic citizens: realistic names (Faker's zh_CN surname and given-name frequencies),
valid documents across regions and ages, and addresses built from the region table."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from functools import cache
from itertools import accumulate

from faker.providers.person.zh_CN import Provider as ChinesePersonProvider

from realname.identity.documents import DocumentType
from realname.identity.regions import lookup_region
from realname.sim.documents import random_birth_date, random_residence_permit, random_resident_id

# Minority and foreign names carry a separating dot; Faker's zh_CN data has none.
_DOTTED_NAMES = ("阿卜杜拉·买买提", "古丽·艾买提", "扎西·多吉", "阿依古丽·吐尔逊", "约翰·史密斯")
_STREETS = ("人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "胜利路", "朝阳路")
_NATIONALITIES = ("USA", "GBR", "DEU", "FRA", "JPN", "KOR", "RUS", "AUS", "CAN", "SGP", "MYS")


@dataclass(frozen=True, slots=True)
class Citizen:
    name: str
    document_type: DocumentType
    document_number: str
    birth_date: date
    address: str
    nationality: str | None = None


@cache
def _surnames() -> tuple[list[str], list[float]]:
    """Surnames with cumulative weights (choices() re-sums plain weights on every call)."""
    table = ChinesePersonProvider.last_names
    return list(table), list(accumulate(table.values()))


def random_name(rng: random.Random) -> str:
    if rng.random() < 0.01:
        return rng.choice(_DOTTED_NAMES)
    surnames, weights = _surnames()
    given = ChinesePersonProvider.first_names
    surname = rng.choices(surnames, cum_weights=weights)[0]
    length = 1 if rng.random() < 0.3 else 2
    return surname + "".join(rng.choice(given) for _ in range(length))


def random_citizen(rng: random.Random, today: date) -> Citizen:
    roll = rng.random()
    born = random_birth_date(rng, oldest=85, youngest=16, today=today)
    if roll < 0.97:
        number = random_resident_id(rng, today=today, born=born)
        kind, nationality = DocumentType.RESIDENT_ID, None
    elif roll < 0.99:
        number = random_residence_permit(rng, today)
        kind, nationality = DocumentType.RESIDENCE_PERMIT, None
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    else:
        number = f"{rng.choice('EGKPX')}{rng.randrange(10**8):08d}"
        kind, nationality = DocumentType.PASSPORT, rng.choice(_NATIONALITIES)
    region = lookup_region(number[:6]) if kind is not DocumentType.PASSPORT else None
    place = region.name if region else "北京市朝阳区"
    address = f"{place}{rng.choice(_STREETS)}{rng.randrange(1, 999)}号"
    return Citizen(random_name(rng), kind, number, born, address, nationality)
