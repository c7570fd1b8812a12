"""Keeping the national index current from the feeds, and reading it (the national cap).

`apply` takes one verified batch's items: each sealed owner is opened with the platform's key,
keyed with the platform's national blind index (and its name with the same key), and the clear
values are dropped there and then; only the keys are stored. A line is updated only by an item
with a higher event number than the one it holds, so an item applied twice, or after a newer
one, changes nothing. Only flushes.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from realname.national.feeds.envelope import well_formed_item
from realname.national.feeds.errors import FeedError, FeedErrorCode
from realname.national.feeds.keys import PlatformKeys, unb64
from realname.national.index.repository import IndexRepository
from realname.policy.schema import CapScope, Policy
from realname.registry.lifecycle import LineState
from realname.security.vault import VaultError

STATES = frozenset(str(s) for s in LineState)
CHANNEL_KINDS = frozenset({"own_hall", "partner_hall", "social", "online"})


@dataclass(frozen=True)
class OverCap:
    identity_id: int
    lines: int
    enterprises: int


@dataclass(frozen=True)
class CapReport:
    cap: int | None  # None: the policy has no national cap
    over: Sequence[OverCap]


@dataclass(frozen=True)
class _Owner:
    identity_key: bytes
    name_key: bytes
    doc_type: str


class NationalIndex:
    def __init__(self, session: Session, keys: PlatformKeys) -> None:
        self.session = session
        self.keys = keys
        self.repo = IndexRepository(session)

    def apply(
        self, enterprise_id: int, batch: int, sealed_to: str, items: Sequence[Any], at: datetime
    ) -> int:
        """Apply a batch's items; how many changed a line. A malformed item, or an owner that
        does not open, refuses the whole batch (FEED_ITEM_INVALID): nothing of it is kept."""
        owners: dict[int, _Owner] = {}
        opened: dict[str, _Owner] = {}  # a batch seals each owner once: open each blob once
        for position, item in enumerate(items):
            if not well_formed_item(item) or item["state"] not in STATES:
                raise FeedError(FeedErrorCode.FEED_ITEM_INVALID, f"item {position}")
            owner = item["owner"]
            if owner is not None:
                known = opened.get(owner["sealed"])
                if known is None or known.doc_type != owner["doc_type"][:32]:
                    known = opened[owner["sealed"]] = self._open_owner(sealed_to, owner, position)
                owners[position] = known
        self._check_blocks(enterprise_id, items)
        identities = self._identities(owners.values(), at)
        lines = self.repo.lines(enterprise_id, {item["msisdn"] for item in items})
        latest: dict[str, dict[str, Any]] = {}  # per line, the newest item of the batch
        for position, item in enumerate(items):
            line = lines.get(item["msisdn"])
            if line is not None and line.seq >= item["seq"]:
                continue  # this change, or a later one, is already in
            newer = latest.get(item["msisdn"])
            if newer is not None and newer["seq"] >= item["seq"]:
                continue
            owner = owners.get(position)
            latest[item["msisdn"]] = {
                "msisdn": item["msisdn"],
                "seq": item["seq"],
                "state": item["state"],
                "identity_id": identities[owner.identity_key] if owner else None,
                "name_key": owner.name_key if owner else None,
                "channel_kind": item["channel_kind"]
                if item["channel_kind"] in CHANNEL_KINDS
                else None,
                "province": _province(item["province"]),
                "activated_at": _instant(item["activated_at"]),
                "owner_since": _instant(item["owner_since"]) if owner else None,
                "changed_at": _instant(item["at"]) or at,
                "batch": batch,
            }
        new = [
            {"enterprise_id": enterprise_id, **values}
            for msisdn, values in latest.items()
            if msisdn not in lines
        ]
        changed = [
            {"id": lines[msisdn].id, **values}
            for msisdn, values in latest.items()
            if msisdn in lines
        ]
        self.repo.insert_lines(new)
        self.repo.update_lines(changed)
        for msisdn in latest.keys() & lines.keys():
            self.session.expire(lines[msisdn])  # written around the ORM: read afresh
        return len(latest)

    def _check_blocks(self, enterprise_id: int, items: Sequence[Any]) -> None:
        """Every item's number in a block allocated to the enterprise, when the platform holds
        its allocation (registry `number_block`); else FEED_ITEM_INVALID naming the item's
        position (never the number). Blocks do not overlap: the one starting at or before a
        number is the only one that can hold it."""
        blocks = sorted(
            ((len(first), first), (len(last), last))
            for first, last in self.repo.number_blocks(enterprise_id)
        )
        if not blocks:
            return
        starts = [first for first, _last in blocks]
        for position, item in enumerate(items):
            digits = item["msisdn"].removeprefix("+")
            number = (len(digits), digits)
            at = bisect_right(starts, number) - 1
            if at < 0 or number > blocks[at][1]:
                raise FeedError(
                    FeedErrorCode.FEED_ITEM_INVALID,
                    f"item {position}: not in a number block allocated to the enterprise",
                )

    def _open_owner(self, sealed_to: str, owner: dict[str, Any], position: int) -> _Owner:
        try:
            blob = unb64(owner["sealed"], "sealed owner")
        except VaultError:
            raise FeedError(FeedErrorCode.FEED_ITEM_INVALID, f"item {position}") from None
        opened = self.keys.open(sealed_to, blob)
        if opened is None:
            raise FeedError(FeedErrorCode.FEED_ITEM_INVALID, f"item {position}")
        try:
            clear = orjson.loads(opened)
            number, name = clear["number"], clear["name"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise FeedError(FeedErrorCode.FEED_ITEM_INVALID, f"item {position}") from None
        if not isinstance(number, str) or not isinstance(name, str):
            raise FeedError(FeedErrorCode.FEED_ITEM_INVALID, f"item {position}")
        doc_type = owner["doc_type"][:32]
        # The clear number and name go no further than this line.
        return _Owner(self.keys.identity_key(doc_type, number), self.keys.name_key(name), doc_type)

    def _identities(self, owners: Any, at: datetime) -> dict[bytes, int]:
        """The national identity id of each owner, created when first seen."""
        wanted = {owner.identity_key: owner for owner in owners}
        found = self.repo.identity_ids(wanted.keys())
        missing = [owner for key, owner in wanted.items() if key not in found]
        self.repo.create_identities(
            [
                {
                    "identity_key": owner.identity_key,
                    "doc_type": owner.doc_type,
                    "first_seen_at": at,
                }
                for owner in missing
            ]
        )
        if missing:
            found = self.repo.identity_ids(wanted.keys())
        # The name is the line's (written with the line, from an applied item only): an
        # enterprise's batch, stale or not, never touches what another's lines answer to.
        return found

    # --- reading -------------------------------------------------------------------------

    def cap_report(self, policy: Policy, limit: int = 100) -> CapReport:
        """Identities over the policy's national cap (Pakistan: 5 across every operator)."""
        cap = policy.cap(CapScope.NATIONAL)
        if cap is None:
            return CapReport(None, [])
        return CapReport(cap, [OverCap(*row) for row in self.repo.over_cap(cap, limit)])


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _province(value: object) -> str | None:
    if isinstance(value, str) and len(value) == 2 and value.isdigit():
        return value
    return None
