"""The demo without its printing: what `realname demo` shows is in the report `sim/demo.py`
returns, so it can be asserted on directly (the CLI test checks the printed form)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from realname.config import Settings
from realname.sim.demo import prepare_demo


def test_the_demo_report_holds_what_the_cli_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the demo's SMS file is ./var/demo-sms.jsonl
    base = Settings(
        key_file=str(tmp_path / "keys.json"),
        clock_start=datetime(2026, 11, 30, 10, tzinfo=UTC),
    )
    url = f"sqlite:///{tmp_path}/demo.db"
    with prepare_demo(base, lines=400, seed=7, operations=120, database_url=url) as demo:
        assert demo.revision is not None  # migrated to head before anything is built
        world = demo.build()
        report = demo.finish(world)
    assert report.integrity.ok, [r.violations for r in report.integrity.results if not r.ok]
    assert world.lines == 400 and world.citizens == 160 and world.operations == 120
    totals: Counter[str] = Counter()
    for (code, _state), n in report.lines_by_state.items():
        totals[code] += n
    assert sum(totals.values()) >= 400
    assert report.largest == totals.most_common(1)[0][0]
    assert [day.date().isoformat() for day, _ in report.backfill_runs] == [
        "2026-10-01",
        "2026-11-30",
    ]
    assert report.reminders_sent > 0 and report.sms_file.is_file()
    assert report.channels > 0 and report.clerks > 0
    assert report.risk  # every channel of the largest enterprise, riskiest first
