"""A feed batch on the wire: its body, its canonical bytes, its digest and its signature.

    {"body": {"version": 1, "enterprise": "CMCC", "batch": 7,
              "cursor": {"from": 1200, "to": 1480}, "sealed_to": "n1",
              "items": [{"msisdn": "+86…", "seq": 3, "op": "register", "state": "active",
                         "at": "…Z", "activated_at": "…Z", "owner_since": "…Z",
                         "channel_kind": "own_hall", "province": "11",
                         "owner": {"doc_type": "resident_id", "sealed": "<base64>"}}, …]},
     "key_id": "f1", "signature": "<base64 Ed25519>"}

Each item is a line's state after one of its changes (`seq` is the line's event number), not
a delta: the platform keeps the highest `seq` it has seen per line, so applying an item twice,
or an older one after a newer, changes nothing. `owner.sealed` is the owner's document number
and name sealed to the platform's key (`keys.SealingKey`); nothing else about a person travels.

The canonical bytes are the body's JSON with sorted keys and no spaces (orjson); the digest is
their SHA-256 and the signature is Ed25519 over a domain tag and the digest. The HTTP push and
the Parquet drop carry the same body, so one check serves both. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeGuard

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

VERSION = 1
# Batch and event numbers are INTEGER columns, cursors BIGINT, on both engines: a value past
# them is a malformed batch (a refusal the feed's status shows), not a database error (a 500,
# no refusal recorded, and a publisher that resends it for ever).
MAX_NUMBER = 2**31 - 1
MAX_CURSOR = 2**63 - 1
SIGNING_DOMAIN = b"realname.national.feed.v1\x00"
ITEM_FIELDS = (
    "msisdn",
    "seq",
    "op",
    "state",
    "at",
    "activated_at",
    "owner_since",
    "channel_kind",
    "province",
    "owner",
)


def canonical(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def digest_of(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


def signing_message(digest: str) -> bytes:
    return SIGNING_DOMAIN + bytes.fromhex(digest)


@dataclass(frozen=True)
class Envelope:
    """A signed batch, as received (nothing about it is trusted until `verify`)."""

    body: dict[str, Any]
    key_id: str
    signature: bytes

    @cached_property
    def digest(self) -> str:
        """Computed once: the check, the batch record and a refusal's report all name it."""
        return digest_of(self.body)

    @property
    def enterprise(self) -> str:
        return str(self.body.get("enterprise", ""))

    @property
    def number(self) -> int:
        """The batch number; 0 when it is not one (missing, not an integer, out of range)."""
        number = self.body.get("batch")
        return number if counted(number, 1, MAX_NUMBER) else 0

    @property
    def cursor_to(self) -> int | None:
        cursor = self.body.get("cursor")
        to = cursor.get("to") if isinstance(cursor, dict) else None
        return to if counted(to, 0, MAX_CURSOR) else None

    @property
    def items(self) -> list[dict[str, Any]]:
        items = self.body.get("items")
        return items if isinstance(items, list) else []

    def verify(self, public_raw: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(public_raw).verify(
                self.signature, signing_message(self.digest)
            )
        except (InvalidSignature, ValueError):
            return False
        return True

    def as_json(self) -> dict[str, Any]:
        return {
            "body": self.body,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.as_json(), option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, document: object) -> Envelope | None:
        """None when it is not an envelope at all (a missing signature counts as unsigned)."""
        if not isinstance(document, dict):
            return None
        body, key_id, signature = (
            document.get("body"),
            document.get("key_id"),
            document.get("signature"),
        )
        if not isinstance(body, dict):
            return None
        raw = b""
        if isinstance(signature, str):
            try:
                raw = base64.b64decode(signature, validate=True)
            except (binascii.Error, ValueError):
                raw = b""
        envelope = cls(body, key_id if isinstance(key_id, str) else "", raw)
        try:
            envelope.digest  # noqa: B018 (a body with no canonical bytes, e.g. an integer past 64 bits, is no batch)
        except TypeError:
            return None
        return envelope

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope | None:
        try:
            return cls.from_json(orjson.loads(data))
        except orjson.JSONDecodeError:
            return None


def build_body(
    enterprise: str,
    number: int,
    cursor_from: int,
    cursor_to: int,
    sealed_to: str,
    items: list[dict[str, Any]],
    *,
    snapshot: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": VERSION,
        "enterprise": enterprise,
        "batch": number,
        "cursor": {"from": cursor_from, "to": cursor_to},
        "sealed_to": sealed_to,
        "items": items,
    }
    if snapshot:
        body["snapshot"] = True
    return body


def sign(body: dict[str, Any], key_id: str, signer: Any) -> Envelope:
    """`signer`: anything with `.sign(bytes) -> bytes` (keys.FeedSigningKey)."""
    signature: bytes = signer.sign(signing_message(digest_of(body)))
    return Envelope(body, key_id, signature)


def counted(value: object, low: int, high: int) -> TypeGuard[int]:
    """An integer in [low, high] (a JSON `true` is not one, though Python's bool is an int)."""
    return type(value) is int and low <= value <= high


# E.164 as the registry keeps every number (it parsed and validated it at registration): a
# plus, no leading zero, at most 15 digits. The shape is what the index needs; re-parsing
# each item with the numbering plan cost a tenth of a 1 M-line feed's CPU.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _e164(value: object) -> bool:
    return isinstance(value, str) and _E164.fullmatch(value) is not None


def well_formed_item(item: object) -> bool:
    """The shape and the value types the index needs: a number in E.164 as the registry keeps
    it, an event number its column holds, text or null where the index reads text (an
    unknown state, channel kind or province is checked, or dropped, where it is used)."""
    if not isinstance(item, dict) or set(item) != set(ITEM_FIELDS):
        return False
    owner = item["owner"]
    optional_text = ("op", "activated_at", "owner_since", "channel_kind", "province")
    return (
        _e164(item["msisdn"])
        and counted(item["seq"], 0, MAX_NUMBER)
        and isinstance(item["state"], str)
        and isinstance(item["at"], str)
        and all(item[name] is None or isinstance(item[name], str) for name in optional_text)
        and (
            owner is None
            or (
                isinstance(owner, dict)
                and isinstance(owner.get("doc_type"), str)
                and isinstance(owner.get("sealed"), str)
            )
        )
    )
