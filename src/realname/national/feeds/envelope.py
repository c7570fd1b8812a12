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
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

VERSION = 1
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

    @property
    def digest(self) -> str:
        return digest_of(self.body)

    @property
    def enterprise(self) -> str:
        return str(self.body.get("enterprise", ""))

    @property
    def number(self) -> int:
        number = self.body.get("batch")
        return number if isinstance(number, int) else 0

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
        return cls(body, key_id if isinstance(key_id, str) else "", raw)

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


def well_formed_item(item: object) -> bool:
    """The shape the index needs; the values are checked where they are used."""
    if not isinstance(item, dict) or set(item) != set(ITEM_FIELDS):
        return False
    owner = item["owner"]
    return (
        isinstance(item["msisdn"], str)
        and isinstance(item["seq"], int)
        and isinstance(item["state"], str)
        and isinstance(item["at"], str)
        and (
            owner is None
            or (
                isinstance(owner, dict)
                and isinstance(owner.get("doc_type"), str)
                and isinstance(owner.get("sealed"), str)
            )
        )
    )
