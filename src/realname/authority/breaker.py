"""A circuit breaker for the identity authority: closed → open → half-open (one probe).

Closed: calls go through; `failures` consecutive failed calls open it. Open: calls fail at
once (no connection, no waiting) until `reset_seconds` have passed. Half-open: the first caller
after that gets the one probe; everyone else still fails fast until the probe reports. A
successful probe closes the breaker, a failed one opens it for another `reset_seconds`.

One breaker per process (the API's worker threads share it, so it is guarded by a lock); a
multi-process deployment has one per worker, which is what a breaker is for: each process stops
hammering an authority that is down. Time is `time.monotonic` (injected in tests), never the
wall clock.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class BreakerOpenError(Exception):
    """The breaker refuses the call; `retry_after` whole seconds until it lets a probe through."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"circuit breaker open, retry in {retry_after}s")


class CircuitBreaker:
    def __init__(
        self,
        failures: int,
        reset_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or reset_seconds <= 0:
            raise ValueError("a breaker needs failures >= 1 and reset_seconds > 0")
        self.failures = failures
        self.reset_seconds = reset_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._probe_out = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._current()

    @property
    def consecutive_failures(self) -> int:
        with self._lock:
            return self._consecutive

    def retry_after(self) -> int:
        """Seconds until the breaker would let a probe through (0 when closed)."""
        with self._lock:
            if self._current() is BreakerState.CLOSED:
                return 0
            left = self._opened_at + self.reset_seconds - self._monotonic()
            return max(1, math.ceil(left))

    def acquire(self) -> bool:
        """Ask to make a call. Returns True when this call is the half-open probe (the caller
        must then report its outcome); raises `BreakerOpenError` when the call may not be made."""
        with self._lock:
            state = self._current()
            if state is BreakerState.CLOSED:
                return False
            if state is BreakerState.HALF_OPEN and not self._probe_out:
                self._probe_out = True
                return True
            left = self._opened_at + self.reset_seconds - self._monotonic()
            raise BreakerOpenError(max(1, math.ceil(left)))

    def record_success(self) -> None:
        with self._lock:
            self._state = BreakerState.CLOSED
            self._consecutive = 0
            self._probe_out = False

    def record_failure(self) -> None:
        with self._lock:
            state = self._current()
            self._consecutive += 1
            if state is BreakerState.HALF_OPEN or self._consecutive >= self.failures:
                self._state = BreakerState.OPEN
                self._opened_at = self._monotonic()
                self._probe_out = False

    def release_probe(self) -> None:
        """The probe ended without telling anything about the authority's health (e.g. the
        authority refused our request as malformed): let the next caller probe instead."""
        with self._lock:
            self._probe_out = False

    def _current(self) -> BreakerState:
        if (
            self._state is BreakerState.OPEN
            and self._monotonic() - self._opened_at >= self.reset_seconds
        ):
            self._state = BreakerState.HALF_OPEN
        return self._state
