"""The demo's resale sector is seed 002's at 1 : 1,000: 42 pilots, 39 issuing numbers, 20,590
lines, 7 above 1,000, 3 above 2,000, 1 above 4,000 (the sizes drawn from the demo's seed);
and the world built with it holds exactly those counts, the stream's sales included."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from realname.config import Settings
from realname.registry.models import Enterprise, Line
from realname.sim.resale import DEMO_LINES, pilots, scaled

SEED_002 = {1_000: 7, 2_000: 3, 4_000: 1}


def counts(sizes: list[int]) -> dict[int, int]:
    return {threshold: sum(s > threshold for s in sizes) for threshold in SEED_002}


@pytest.mark.parametrize("seed", [7, 1, 2, 3, 12345])
def test_the_sector_meets_seed_002_exactly(seed: int) -> None:
    sector = pilots(random.Random(seed))
    sizes = [p.lines for p in sector]
    assert len(sector) == 42 and sum(s > 0 for s in sizes) == 39
    assert sum(sizes) == 20_590 and counts(sizes) == SEED_002
    assert len({p.code for p in sector}) == 42 and len({p.prefix for p in sector}) == 42
    assert pilots(random.Random(seed)) == sector  # reproducible from the seed


def test_a_smaller_world_keeps_the_shape() -> None:
    sizes = [p.lines for p in pilots(random.Random(7))]
    small = scaled(sizes, 1_000)
    assert sum(small) == 1_000 and sum(s > 0 for s in small) == 39
    factor = 1_000 / 20_590
    assert counts([round(s / factor) for s in small]) == SEED_002


def test_the_demo_world_holds_the_sector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default world's resale sector in the database after the base and the stream: a
    resale outlet sells only kits it has in stock, so the counts stay seed 002's."""
    from realname.sim.demo import prepare_demo

    monkeypatch.chdir(tmp_path)
    base = Settings(
        key_file=str(tmp_path / "keys.json"),
        clock_start=datetime(2026, 11, 30, 10, tzinfo=UTC),
    )
    url = f"sqlite:///{tmp_path}/demo.db"
    with prepare_demo(base, lines=DEMO_LINES, seed=7, operations=200, database_url=url) as demo:
        demo.build()
        with Session(demo.engine) as session:
            per = dict(
                session.execute(
                    select(Enterprise.code, func.count(Line.id))
                    .outerjoin(Line, Line.enterprise_id == Enterprise.id)
                    .where(Enterprise.kind == "mvno")
                    .group_by(Enterprise.code)
                ).all()
            )
            lines = session.scalar(select(func.count()).select_from(Line))
    sizes = list(per.values())
    assert len(per) == 42 and sum(n > 0 for n in sizes) == 39
    assert sum(sizes) == 20_590 and counts(sizes) == SEED_002
    assert lines is not None and lines >= DEMO_LINES  # the MNOs' new kits on top
