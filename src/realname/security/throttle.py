"""Throttling of failed logins at /oauth/token, per client id and per source address.

Client secrets are 256-bit random strings, so guessing one is hopeless; the throttle is there
so that nobody can try (and so that a leaked-but-rotated secret cannot be replayed at will),
and so that a flood of bad logins costs a row update instead of an scrypt run each.

A fixed window per key: the first failure opens a window of `window` seconds; the
`max_failures`-th failure within it locks the key out for `window` seconds from then. While
locked out, every login for that client id, or from that address, is refused with 429 and
`Retry-After`, even with the right secret, without looking at the secret. The counters live
in the database (`login_throttle`), so all workers and hosts share them; a success clears the
client id's counter (not the address's).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, delete, or_, select
from sqlalchemy.orm import Session

from realname.config import Settings
from realname.db.dialect import insert_ignoring_conflicts
from realname.security.models import LoginThrottle

CLIENT, SOURCE = "client", "source"


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures_per_client: int = 5
    max_failures_per_source: int = 20
    window: timedelta = timedelta(minutes=5)

    def limit(self, kind: str) -> int:
        return self.max_failures_per_client if kind == CLIENT else self.max_failures_per_source


def throttle_key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}\x00{value}".encode()).hexdigest()


def _subjects(client_id: str, source: str) -> list[tuple[str, str]]:
    subjects = [(SOURCE, throttle_key(SOURCE, source))]
    if client_id:
        subjects.append((CLIENT, throttle_key(CLIENT, client_id)))
    return subjects


@dataclass(frozen=True)
class ThrottleState:
    retry_after: int | None  # seconds until a login may be tried again; None: not locked out
    client_has_failures: bool


class LoginThrottler:
    def __init__(self, policy: ThrottlePolicy) -> None:
        self.policy = policy

    def state(self, session: Session, client_id: str, source: str, now: datetime) -> ThrottleState:
        """Whether logins for `client_id` or from `source` are locked out at `now`."""
        keys = {key: kind for kind, key in _subjects(client_id, source)}
        rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))).all()
        until = [r.blocked_until for r in rows if r.blocked_until and r.blocked_until > now]
        retry_after = math.ceil(max(until).timestamp() - now.timestamp()) if until else None
        client_failed = any(keys[r.key] == CLIENT and r.failures > 0 for r in rows)
        return ThrottleState(max(retry_after, 1) if retry_after else None, client_failed)

    def claim_attempt(
        self, session: Session, client_id: str, source: str, now: datetime
    ) -> int | None:
        """Count this login attempt as a failure before the secret is checked, under the
        counters' row locks, and say how long to wait (seconds) if logins are locked out.

        Counting first is what makes the limit exact under concurrency: checking, hashing,
        then counting let 24 simultaneous guesses get 18 secret checks against a limit of 5.
        A login that then succeeds gives its attempt back (`record_success`). Call in a
        transaction of its own, committed before the secret is checked."""
        locked = self._locked_rows(session, client_id, source, now)
        until = [r.blocked_until for r in locked if r.blocked_until and r.blocked_until > now]
        if until:
            return max(1, math.ceil(max(until).timestamp() - now.timestamp()))
        for kind, row in zip((k for k, _ in self._ordered(client_id, source)), locked, strict=True):
            row.failures += 1
            if row.failures >= self.policy.limit(kind):
                row.blocked_until = now + self.policy.window
        # Forget counters nobody has touched for a while (a spray of invented client ids).
        session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.window_started_at < now - 2 * self.policy.window,
                or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < now),
            )
        )
        session.flush()
        return None

    @staticmethod
    def _ordered(client_id: str, source: str) -> list[tuple[str, str]]:
        return sorted(_subjects(client_id, source), key=lambda s: s[1])

    def _locked_rows(
        self, session: Session, client_id: str, source: str, now: datetime
    ) -> list[LoginThrottle]:
        """The counters of the client id and the address, locked (in key order, so two
        attempts never deadlock), their window restarted when it has passed."""
        window = self.policy.window
        table = cast(Table, LoginThrottle.__table__)
        rows = []
        for kind, key in self._ordered(client_id, source):
            insert_ignoring_conflicts(
                session,
                table,
                {"key": key, "kind": kind, "failures": 0, "window_started_at": now},
                ["key"],
            )
            row = session.scalars(
                select(LoginThrottle)
                .where(LoginThrottle.key == key)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).one()
            if now - row.window_started_at >= window and not (
                row.blocked_until and row.blocked_until > now
            ):
                row.failures, row.window_started_at, row.blocked_until = 0, now, None
            rows.append(row)
        return rows

    def record_failure(self, session: Session, client_id: str, source: str, now: datetime) -> None:
        """Count one failed login (the attempt `claim_attempt` counts, for callers that learn
        of the failure some other way)."""
        self.claim_attempt(session, client_id, source, now)

    def record_success(self, session: Session, client_id: str, source: str | None = None) -> None:
        """The client logged in: its counter goes; the address gets back the attempt
        `claim_attempt` counted (and its lockout, if that attempt is what set it)."""
        session.execute(
            delete(LoginThrottle).where(
                and_(
                    LoginThrottle.key == throttle_key(CLIENT, client_id),
                    LoginThrottle.kind == CLIENT,
                )
            )
        )
        if source is None:
            return
        row = session.scalars(
            select(LoginThrottle)
            .where(LoginThrottle.key == throttle_key(SOURCE, source))
            .with_for_update()
        ).first()
        if row is not None and row.failures > 0:
            row.failures -= 1
            if row.failures < self.policy.limit(SOURCE):
                row.blocked_until = None
        session.flush()


def login_throttler(settings: Settings) -> LoginThrottler:
    """The one throttle of every sign-in: the API's token endpoint and the staff pages alike
    (REALNAME_LOGIN_MAX_FAILURES, …_PER_SOURCE, REALNAME_LOGIN_FAILURE_WINDOW_SECONDS)."""
    return LoginThrottler(
        ThrottlePolicy(
            max_failures_per_client=settings.login_max_failures,
            max_failures_per_source=settings.login_max_failures_per_source,
            window=timedelta(seconds=settings.login_failure_window_seconds),
        )
    )
