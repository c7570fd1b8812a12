"""The one place RealName reads the time.

Every rule here depends on dates (caps over a service period, back-fill phases, cooling, token
lifetimes, ageing stock), so "now" is injected: entry points take a `Clock` from the
composition root and hand its reading down as `Context.at`, a `today`, or a parameter. Nothing
else in `src/` calls `datetime.now()` or `date.today()`; tests pin a `FixedClock`, and a whole
process can be started at another instant with `REALNAME_CLOCK_START` (drills, reproducible
demos, test servers in a child process).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, time-zone aware, in UTC."""
        ...


class SystemClock:
    """The machine's clock: production."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class StartedClock:
    """A clock that reads `start` when built and then runs at the machine's pace.

    What `REALNAME_CLOCK_START` gives a process: time moves (tokens expire, leases end) but
    the calendar is the one the operator chose, whatever the machine's date is."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock's start needs a time zone")
        self._start = start.astimezone(UTC)
        self._origin = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._origin)


class ShiftedClock:
    """The machine's clock moved by a fixed offset.

    What `REALNAME_CLOCK_START` with `REALNAME_CLOCK_ANCHOR` gives: every process handed the
    same pair reads the same instant at the same moment, however late it started (a server, the
    CLI commands run against it, a sender), where `StartedClock`s started seconds apart stay
    seconds apart."""

    def __init__(self, offset: timedelta) -> None:
        self._offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


class FixedClock:
    """A clock that stands still until told to move: tests."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("the clock's instant needs a time zone")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("the clock's instant needs a time zone")
        self._at = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._at += delta


def today(clock: Clock) -> date:
    """The calendar date of the clock's instant (UTC)."""
    return clock.now().date()


def clock_for(start: datetime | None, anchor: datetime | None = None) -> Clock:
    """The process clock: the machine's; or one that reads `start` when the process builds it;
    or, given the machine's instant `anchor` at which the clock read `start`, the machine's
    clock shifted by `start - anchor` (the same in every process given the pair)."""
    if start is None:
        return SystemClock()
    if anchor is None:
        return StartedClock(start)
    if anchor.tzinfo is None:
        raise ValueError("the clock's anchor needs a time zone")
    return ShiftedClock(start - anchor)
