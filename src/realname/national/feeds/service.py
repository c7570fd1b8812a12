"""The feeds' use cases: an enterprise builds and signs batches (`FeedPublisher`), the platform
takes them (`FeedIngest`) and says whose feed is late or broken (`feed_status`).

**At the platform**, a batch is taken whole or not at all, in one transaction, under a lock on
its feed's row: its signature is checked against the key the enterprise registered, its number
against the one expected (a batch seen before with the same digest is a no-op; with another
digest a conflict; a batch ahead of the expected one a gap, refused with the number expected),
then its items go into the national index (`index/service.py`) and the feed moves on by one.
A platform killed half-way has committed nothing of the batch, and the publisher sends it
again: no loss, no double count. Every refusal is reported (`record_refusal`, in a transaction
of its own, after the entry point rolled the refused batch back).

**At the enterprise**, a batch is built from the registry's append-only `line_event` past the
cursor (the last batch's end), each owner's document number and name sealed to the platform's
public key, signed, numbered and stored as sent; it is sent until acknowledged. Sealed boxes
are randomised, so a batch is never rebuilt: the stored bytes are what a retry sends.

Services only flush; entry points own the transactions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from realname.national.feeds.envelope import Envelope, build_body, sign
from realname.national.feeds.errors import FeedError, FeedErrorCode
from realname.national.feeds.keys import FeedSigningKey, PlatformKeys, SealingKey, b64, unb64
from realname.national.feeds.models import (
    NationalFeedBatch,
    NationalFeedKey,
    NationalFeedRefusal,
    NationalPublication,
)
from realname.national.feeds.repository import UNPUBLISHED_STATES, FeedRepository
from realname.national.index.service import NationalIndex
from realname.registry.identities import opened_fields
from realname.registry.models import Identity
from realname.security.audit import append_audit
from realname.security.vault import KeyRing, VaultError

F = FeedErrorCode

# How a batch's owners are sealed to the platform: identity ids -> {id: {"doc_type", "sealed"}},
# a purged owner left out. The default (`seal_owners`) opens and seals in this process, one
# owner at a time; the demo hands in one that sealed the batches ahead in another process.
OwnerSealer = Callable[[Sequence[int]], dict[int, dict[str, str]]]


@dataclass(frozen=True)
class Taken:
    """A batch the platform took (or had taken before: `duplicate`)."""

    enterprise: str
    number: int
    digest: str
    items: int
    applied: int
    duplicate: bool
    next_batch: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "enterprise": self.enterprise,
            "batch": self.number,
            "digest": self.digest,
            "items": self.items,
            "applied": self.applied,
            "duplicate": self.duplicate,
            "next_batch": self.next_batch,
        }


class FeedIngest:
    def __init__(self, session: Session, keys: PlatformKeys) -> None:
        self.session = session
        self.keys = keys
        self.repo = FeedRepository(session)

    def register_key(
        self, enterprise_code: str, key_id: str, public_key: bytes, at: datetime
    ) -> NationalFeedKey:
        """Register an enterprise's feed signing key (idempotent for the same key)."""
        enterprise = self.repo.enterprise_by_code(enterprise_code)
        if enterprise is None:
            raise FeedError(F.FEED_ENTERPRISE_UNKNOWN)
        if len(public_key) != 32:
            raise FeedError(F.FEED_MALFORMED, "an Ed25519 public key is 32 bytes")
        existing = self.repo.feed_key(enterprise.id, key_id)
        if existing is not None:
            if existing.public_key != public_key:
                raise FeedError(F.FEED_KEY_EXISTS)
            return existing
        row = NationalFeedKey(
            enterprise_id=enterprise.id, key_id=key_id, public_key=public_key, registered_at=at
        )
        self.repo.add(row)
        self.session.flush()
        return row

    def retire_key(
        self, enterprise_code: str, key_id: str, at: datetime, *, keyring: KeyRing, actor: str
    ) -> NationalFeedKey:
        """Retire an enterprise's feed signing key (a rotation, a leak): every batch signed
        with it that arrives from `at` on is refused FEED_KEY_RETIRED; the batches taken
        before stay (a replay of one still answers `duplicate`). Audited; retiring a retired
        key keeps its first retirement."""
        enterprise = self.repo.enterprise_by_code(enterprise_code)
        if enterprise is None:
            raise FeedError(F.FEED_ENTERPRISE_UNKNOWN)
        key = self.repo.feed_key(enterprise.id, key_id)
        if key is None:
            raise FeedError(F.FEED_KEY_UNKNOWN)
        if key.retired_at is not None:
            return key
        key.retired_at = at
        self.session.flush()
        append_audit(
            self.session,
            keyring,
            actor=actor,
            action="national.feed_key.retire",
            object_type="national_feed_key",
            object_id=f"{enterprise.code}:{key.key_id}",
            at=at,
            detail={"enterprise_id": enterprise.id, "key_id": key.key_id},
        )
        return key

    def take(
        self,
        envelope: Envelope | None,
        *,
        at: datetime,
        transport: str,
        client_enterprise_id: int | None = None,
    ) -> Taken:
        """Check and apply one batch (see the module's docstring); raises FeedError."""
        if envelope is None:
            raise FeedError(F.FEED_MALFORMED)
        body = envelope.body
        number = envelope.number
        if body.get("version") != 1 or not number:
            raise FeedError(F.FEED_MALFORMED)
        enterprise = self.repo.enterprise_by_code(envelope.enterprise)
        if enterprise is None:
            raise FeedError(F.FEED_ENTERPRISE_UNKNOWN)
        if client_enterprise_id is not None and client_enterprise_id != enterprise.id:
            raise FeedError(F.FEED_NOT_YOURS)
        if not envelope.signature:
            raise FeedError(F.FEED_UNSIGNED)
        key = self.repo.feed_key(enterprise.id, envelope.key_id)
        if key is None:
            raise FeedError(F.FEED_KEY_UNKNOWN)
        if not envelope.verify(key.public_key):
            raise FeedError(F.FEED_SIGNATURE_INVALID)
        retired = key.retired_at is not None and key.retired_at <= at
        digest = envelope.digest
        feed = self.repo.feed_for_update(enterprise.id)
        if number < feed.next_batch:
            seen = self.repo.batch(enterprise.id, number)
            if seen is not None and seen.digest == digest:
                # taken before (under this very signature): still valid after a retirement
                return Taken(enterprise.code, number, digest, seen.items, 0, True, feed.next_batch)
            if retired:
                raise FeedError(F.FEED_KEY_RETIRED, number=number)
            raise FeedError(F.FEED_BATCH_CONFLICT, number=number)
        if retired:
            # A batch arriving after the key's retirement: the platform cannot tell when it
            # was signed (a leaked key signs any date), so it is refused.
            raise FeedError(F.FEED_KEY_RETIRED, number=number)
        if number > feed.next_batch:
            raise FeedError(F.FEED_BATCH_GAP, expected=feed.next_batch, number=number)
        sealed_to = body.get("sealed_to")
        if not isinstance(sealed_to, str) or sealed_to not in self.keys.sealing:
            raise FeedError(F.FEED_SEALED_TO_UNKNOWN_KEY)
        items = envelope.items
        applied = NationalIndex(self.session, self.keys).apply(
            enterprise.id, number, sealed_to, items, at
        )
        cursor_to = envelope.cursor_to
        self.repo.add(
            NationalFeedBatch(
                enterprise_id=enterprise.id,
                number=number,
                digest=digest,
                key_id=envelope.key_id,
                items=len(items),
                applied=applied,
                snapshot=bool(body.get("snapshot")),
                transport=transport,
                received_at=at,
            )
        )
        feed.next_batch = number + 1
        feed.items = (feed.items or 0) + len(items)
        if cursor_to is not None:
            feed.cursor = max(feed.cursor or 0, cursor_to)
        feed.last_batch_at = at
        self.session.flush()
        return Taken(enterprise.code, number, digest, len(items), applied, False, feed.next_batch)

    def record_refusal(
        self,
        envelope: Envelope | None,
        error: FeedError,
        *,
        at: datetime,
        transport: str,
        client_enterprise_id: int | None = None,
    ) -> None:
        """Report a refused batch: codes and numbers only, never its content. It counts against
        the authenticated client's enterprise when there is one (a client cannot mark another
        enterprise's feed broken by sending batches in its name), else the one it names."""
        code = envelope.enterprise[:32] if envelope is not None else ""
        if client_enterprise_id is not None:
            enterprise = self.repo.enterprise(client_enterprise_id)
            code = enterprise.code if enterprise is not None else code
        else:
            enterprise = self.repo.enterprise_by_code(code) if code else None
        self.repo.add(
            NationalFeedRefusal(
                enterprise_code=code or "?",
                enterprise_id=enterprise.id if enterprise is not None else None,
                number=(envelope.number or None) if envelope is not None else None,
                digest=envelope.digest if envelope is not None else None,
                code=str(error.code),
                expected=error.expected,
                transport=transport,
                received_at=at,
            )
        )
        if enterprise is not None:
            feed = self.repo.feed_for_update(enterprise.id)
            feed.refusals = (feed.refusals or 0) + 1
            feed.last_refusal_code = str(error.code)
            feed.last_refusal_at = at
        self.session.flush()


# --- status -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedState:
    enterprise: str
    kind: str
    status: str  # ok | late | broken | never
    next_batch: int
    items: int
    last_batch_at: datetime | None
    refusals: int
    last_refusal_code: str | None
    last_refusal_at: datetime | None


def feed_status(session: Session, at: datetime, late_after: timedelta) -> list[FeedState]:
    """Every enterprise with a feed key or a feed: `broken` when its last word was a refusal,
    `late` when it has sent nothing for `late_after`, `never` when it has sent nothing."""
    states = []
    for enterprise, feed in FeedRepository(session).feeds():
        last = feed.last_batch_at if feed is not None else None
        refused = feed.last_refusal_at if feed is not None else None
        if refused is not None and (last is None or refused > last):
            status = "broken"
        elif last is None:
            status = "never"
        elif last < at - late_after:
            status = "late"
        else:
            status = "ok"
        states.append(
            FeedState(
                enterprise.code,
                enterprise.kind,
                status,
                feed.next_batch if feed is not None else 1,
                int(feed.items or 0) if feed is not None else 0,
                last,
                int(feed.refusals or 0) if feed is not None else 0,
                feed.last_refusal_code if feed is not None else None,
                refused,
            )
        )
    return states


# --- the publishing enterprise ------------------------------------------------------------------


class FeedPublisher:
    """Builds an enterprise's batches (see the module's docstring)."""

    def __init__(
        self,
        session: Session,
        *,
        keyring: KeyRing,
        signing: FeedSigningKey,
        sealing: SealingKey,
        batch_size: int,
        channels: dict[int, tuple[str, str]] | None = None,
        sealer: OwnerSealer | None = None,
    ) -> None:
        """`channels`: the enterprise's channel map (id -> kind, province) a caller building
        one batch per transaction keeps between them (read once, not once per batch); it
        is filled here when empty and read again when a channel is missing from it."""
        self.session = session
        self.keyring = keyring
        self.signing = signing
        self.sealing = sealing
        self.batch_size = batch_size
        self.sealer = sealer
        self.repo = FeedRepository(session)
        self._channels = channels if channels is not None else {}
        self._channels_read = False

    def enterprise_id(self) -> int:
        enterprise = self.repo.enterprise_by_code(self.signing.enterprise)
        if enterprise is None:
            raise FeedError(F.FEED_ENTERPRISE_UNKNOWN)
        return enterprise.id

    def prepare(
        self, high: int, at: datetime, *, snapshot: bool = False
    ) -> list[NationalPublication]:
        """Every batch `build` makes, in a list (tests; the publisher streams `build`)."""
        return list(self.build(high, at, snapshot=snapshot))

    def build(
        self, high: int, at: datetime, *, snapshot: bool = False
    ) -> Iterator[NationalPublication]:
        """Build the batches of every change up to event `high` (`high_water_mark`) since the
        last batch, each stored (flushed) as it is yielded: a caller that drops each keeps one
        batch in memory, and one that commits after each and stops may build the rest in a
        later call (every batch starts from the last one stored). `snapshot` (the first
        publication only): the lines as they are now, then the events after `high`: a bulk
        back-load that needs no event history (legacy lines imported without events are in
        it). A snapshot left unfinished is resumed after the last line it covered, under the
        `high` it began with (the events after that are sent next; an item older than the
        line's snapshot is stale at the platform)."""
        enterprise_id = self.enterprise_id()
        last = self.repo.last_publication(enterprise_id)
        number = (last.number if last is not None else 0) + 1
        cursor = last.cursor_to if last is not None else 0
        resuming = (
            last is not None
            and last.snapshot
            and last.snapshot_after is not None
            and last.snapshot_until is not None
            and last.snapshot_after < last.snapshot_until
        )
        if resuming or (snapshot and last is None):
            if last is not None:  # resumed: where it stopped, under its own mark and end
                after, began = int(last.snapshot_after or 0), cursor
                until = int(last.snapshot_until or 0)
            else:
                after, began, until = 0, high, self.repo.last_line_id(enterprise_id)
            while True:
                rows = self.repo.lines_after(enterprise_id, after, self.batch_size, until)
                if not rows:
                    break
                after = int(rows[-1][0])
                items = self._snapshot_items(enterprise_id, rows)
                yield self._store(enterprise_id, number, 0, began, items, at, (after, until))
                number += 1
            cursor = began
        while True:
            rows = self.repo.events_after(enterprise_id, cursor, high, self.batch_size)
            if not rows:
                break
            end = int(rows[-1][0])
            items = self._event_items(enterprise_id, rows)
            yield self._store(enterprise_id, number, cursor, end, items, at, None)
            number, cursor = number + 1, end

    def _store(
        self,
        enterprise_id: int,
        number: int,
        cursor_from: int,
        cursor_to: int,
        items: list[dict[str, Any]],
        at: datetime,
        snapshot_span: tuple[int, int] | None,
    ) -> NationalPublication:
        """`snapshot_span`: a snapshot batch's last line and the snapshot's end."""
        snapshot = snapshot_span is not None
        body = build_body(
            self.signing.enterprise,
            number,
            cursor_from,
            cursor_to,
            self.sealing.key_id,
            items,
            snapshot=snapshot,
        )
        envelope = sign(body, self.signing.key_id, self.signing)
        publication = NationalPublication(
            enterprise_id=enterprise_id,
            number=number,
            cursor_from=cursor_from,
            cursor_to=cursor_to,
            digest=envelope.digest,
            items=len(items),
            snapshot=snapshot,
            snapshot_after=snapshot_span[0] if snapshot_span else None,
            snapshot_until=snapshot_span[1] if snapshot_span else None,
            envelope=envelope.to_bytes(),
            built_at=at,
        )
        self.repo.add(publication)
        self.session.flush()
        return publication

    def _event_items(self, enterprise_id: int, rows: Sequence[Any]) -> list[dict[str, Any]]:
        owners = self._sealed_owners(enterprise_id, [r[4] for r in rows if r[4] is not None])
        items = []
        for (
            _id,
            seq,
            operation,
            to_state,
            owner_after,
            channel,
            occurred,
            msisdn,
            line_channel,
            activated,
            line_owner,
            owner_since,
        ) in rows:
            if to_state in UNPUBLISHED_STATES:
                continue
            since = owner_since if owner_after == line_owner else occurred
            items.append(
                self._item(
                    msisdn,
                    seq,
                    operation,
                    to_state,
                    occurred,
                    activated,
                    since if owner_after is not None else None,
                    channel if channel is not None else line_channel,
                    owners.get(owner_after) if owner_after is not None else None,
                    enterprise_id,
                )
            )
        return items

    def _snapshot_items(self, enterprise_id: int, rows: Sequence[Any]) -> list[dict[str, Any]]:
        owners = self._sealed_owners(enterprise_id, [r[4] for r in rows if r[4] is not None])
        return [
            self._item(
                msisdn,
                seq,
                "snapshot",
                state,
                changed,
                activated,
                since if owner is not None else None,
                channel,
                owners.get(owner) if owner is not None else None,
                enterprise_id,
            )
            for _id, msisdn, seq, state, owner, channel, activated, since, changed in rows
        ]

    def _item(
        self,
        msisdn: str,
        seq: int,
        operation: str,
        state: str,
        at: datetime,
        activated: datetime | None,
        owner_since: datetime | None,
        channel_id: int | None,
        owner: dict[str, str] | None,
        enterprise_id: int,
    ) -> dict[str, Any]:
        kind, province = (None, None)
        if channel_id is not None:
            kind, province = self._channel(enterprise_id, channel_id)
        return {
            "msisdn": msisdn,
            "seq": int(seq or 0),
            "op": operation,
            "state": state,
            "at": _iso(at),
            "activated_at": _iso(activated),
            "owner_since": _iso(owner_since),
            "channel_kind": kind,
            "province": province,
            "owner": owner,
        }

    def _channel(self, enterprise_id: int, channel_id: int) -> tuple[str | None, str | None]:
        if channel_id not in self._channels and not self._channels_read:
            self._channels.update(self.repo.channels(enterprise_id))  # a channel opened since
            self._channels_read = True
        return self._channels.get(channel_id, (None, None))

    def _sealed_owners(self, _enterprise_id: int, ids: Sequence[int]) -> dict[int, dict[str, str]]:
        if self.sealer is not None:
            return self.sealer(ids)
        return seal_owners(self.repo, self.keyring, self.sealing, ids)


def seal_owners(
    repo: FeedRepository, keyring: KeyRing, sealing: SealingKey, ids: Sequence[int]
) -> dict[int, dict[str, str]]:
    """Each owner's document number and name, opened with the enterprise's key ring and
    sealed at once to the platform's key: one sealed box per owner per batch."""
    sealed: dict[int, dict[str, str]] = {}
    for identity in repo.identities(sorted(set(ids))):
        clear = _open_identity(keyring, identity)
        if clear is None:
            continue  # purged: the platform keeps the line without an owner
        number, name = clear
        blob = sealing.seal(orjson.dumps({"number": number, "name": name}))
        sealed[identity.id] = {"doc_type": identity.doc_type, "sealed": b64(blob)}
    return sealed


def _open_identity(keyring: KeyRing, identity: Identity) -> tuple[str, str] | None:
    if identity.number_sealed is None or identity.name_sealed is None:
        return None
    try:
        opened = opened_fields(
            keyring, identity.key_id, identity.number_sealed, identity.name_sealed
        )
    except VaultError:
        return None
    if opened.document_number is None or opened.name is None:
        return None
    return opened.document_number, opened.name


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def envelope_of(publication: NationalPublication) -> Envelope:
    envelope = Envelope.from_bytes(publication.envelope)
    assert envelope is not None  # we wrote it
    return envelope


def decode_public_key(text: str) -> bytes:
    raw = unb64(text, "the public key")
    if len(raw) != 32:
        raise VaultError("an Ed25519 public key is 32 bytes")
    return raw
