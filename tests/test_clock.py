"""One clock: nothing in `src/` reads the machine's time except `realname.clock`.

Every rule is dated (caps over service periods, back-fill phases, cooling, ageing stock, token
lifetimes), so a stray `datetime.now()` makes a test depend on the day it runs: main's CI went
red on 2026-11-30 because `/v1/stock/aged` read the wall clock while its fixture was pinned.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from realname.clock import FixedClock, ShiftedClock, StartedClock, clock_for, today
from realname.config import Settings

SRC = Path(__file__).resolve().parents[1] / "src" / "realname"
ALLOWED = {SRC / "clock.py"}
# (object, attribute) pairs whose call reads the wall clock.
WALL_CLOCK = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
}


def _wall_clock_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
        if (name, node.func.attr) in WALL_CLOCK:
            found.append(f"{path.name}:{node.lineno} {name}.{node.func.attr}()")
    return found


def test_nothing_in_src_reads_the_wall_clock_but_the_clock() -> None:
    reads = [
        read
        for path in sorted(SRC.rglob("*.py"))
        if path not in ALLOWED
        for read in _wall_clock_reads(path)
    ]
    assert reads == [], "take the time from realname.clock (injected), not the machine:\n" + (
        "\n".join(reads)
    )


def test_the_scanner_finds_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import datetime as dt, time\n"
        "from datetime import date, datetime\n"
        "a = datetime.now()\nb = date.today()\nc = time.time()\nd = dt.datetime.now()\n"
    )
    assert len(_wall_clock_reads(sample)) == 4


def test_fixed_clock_stands_still_until_moved() -> None:
    at = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    clock = FixedClock(at)
    assert clock.now() == at and clock.now() == at
    clock.advance(timedelta(days=2))
    assert today(clock).isoformat() == "2026-11-25"
    with pytest.raises(ValueError, match="time zone"):
        FixedClock(datetime(2026, 1, 1))


def test_a_process_can_start_its_clock_at_another_instant() -> None:
    start = datetime(2016, 10, 15, 0, 0, tzinfo=UTC)  # Beijing barred outgoing calls that day
    clock = clock_for(Settings(clock_start=start).clock_start)
    assert isinstance(clock, StartedClock)
    assert timedelta(0) <= clock.now() - start < timedelta(seconds=5)
    assert clock_for(None).now().tzinfo is not None


def test_the_clock_setting_needs_a_time_zone() -> None:
    with pytest.raises(ValueError, match="timezone"):
        Settings(clock_start="2026-11-23T09:30:00")  # type: ignore[arg-type]


def test_processes_given_a_start_and_an_anchor_agree_on_the_time() -> None:
    """A server and the CLI commands run against it minutes later read the same instant: a
    StartedClock in each would put the later process minutes behind (an SMS queued by the
    server would not yet be due for the CLI's sender)."""
    start = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    anchor = datetime.now(UTC) - timedelta(minutes=10)  # the server started ten minutes ago
    clock = Settings(clock_start=start, clock_anchor=anchor).clock()
    assert isinstance(clock, ShiftedClock)
    assert timedelta(minutes=10) <= clock.now() - start < timedelta(minutes=10, seconds=5)
    with pytest.raises(ValueError, match="anchor"):
        clock_for(start, datetime(2026, 11, 23, 1, 30))
