"""A worker's cache of relying parties' registrations (which APIs, whether active).

A party's row changes only when it is registered (`register_relying_party`); its client's
revocation is enforced apart, by the client status cache on every token. So a worker keeps a
party it has found for `ttl_seconds` (REALNAME_VERIFICATION_CACHE_SECONDS, 5 s by default)
and looks again after that: a change to a party's row reaches every worker within that bound,
and at once in the worker that made it (`forget`). A party not found is never cached (one
registered a moment ago answers at once). Consents are not cached: they come with the line in
the gate's one query, so a revocation holds on every worker from its commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from realname.verification.repository import PartyRow


class PartyCache:
    MAX_ENTRIES = 10_000  # parties are few; this bounds memory against surprises

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._entries: dict[str, tuple[PartyRow, datetime]] = {}
        self._lock = threading.Lock()

    def get(
        self, client_id: str, now: datetime, lookup: Callable[[str], PartyRow | None]
    ) -> PartyRow | None:
        party = self.cached(client_id, now)
        if party is None:
            party = lookup(client_id)
            if party is not None:
                self.remember(party, now)
        return party

    def cached(self, client_id: str, now: datetime) -> PartyRow | None:
        """The party if this worker looked at it less than `ttl_seconds` ago (the async
        KYC Match route looks it up itself on a miss, then `remember`s it)."""
        entry = self._entries.get(client_id)  # a dict read is atomic; writes take the lock
        if entry is not None:
            cached, seen_at = entry
            if 0 <= (now - seen_at).total_seconds() < self.ttl_seconds:
                return cached
        return None

    def remember(self, party: PartyRow, now: datetime) -> None:
        if self.ttl_seconds > 0:
            with self._lock:
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries.clear()
                self._entries[party.client_id] = (party, now)

    def forget(self, client_id: str | None = None) -> None:
        """Drop one party (or all): the next call reads the database."""
        with self._lock:
            if client_id is None:
                self._entries.clear()
            else:
                self._entries.pop(client_id, None)
