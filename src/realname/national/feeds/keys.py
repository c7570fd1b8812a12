"""The keys of the national feeds, kept as the project keeps its other keys (security/keys.py):
settings in production (a secret store), the key file in development, created on first use.

- **Enterprise side**: an Ed25519 signing key per enterprise code (`REALNAME_NATIONAL_FEED_KEYS`);
  its public half is registered at the platform (`realname national keys register`), which
  refuses any batch it does not verify.
- **Platform side**: X25519 key pairs that document numbers are sealed to (PyNaCl `SealedBox`:
  an ephemeral X25519 key, XSalsa20-Poly1305; the enterprise can seal, only the platform can
  open) and the HMAC key of the national blind index (`REALNAME_NATIONAL_SEALING_KEYS`,
  `REALNAME_NATIONAL_INDEX_KEY`). An enterprise holds neither private half, so it cannot
  compute the national index of anyone, nor open another enterprise's feed.

PyNaCl rather than X25519 + HKDF + AEAD assembled from `cryptography`: the sealed box is one
audited construction (libsodium's `crypto_box_seal`), with nothing for us to get wrong.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from realname.config import Settings
from realname.identity.names import normalize_name
from realname.identity.resident_id import stored_document_number
from realname.security.keys import decode_b64, key_file_section, parse_key_map
from realname.security.vault import VaultError, is_valid_key_id

FEED_KEYS_SETTING = "REALNAME_NATIONAL_FEED_KEYS"
SEALING_KEYS_SETTING = "REALNAME_NATIONAL_SEALING_KEYS"
INDEX_KEY_SETTING = "REALNAME_NATIONAL_INDEX_KEY"
FEED_SECTION = "national_feed_keys"
PLATFORM_SECTION = "national_platform"
INDEX_CONTEXT = b"national.identity\x00"
NAME_CONTEXT = b"national.name\x00"
KEY_BYTES = 32


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


unb64 = decode_b64  # the project's one base64 reader of keys (security.keys)


@dataclass(frozen=True)
class FeedSigningKey:
    """One enterprise's active feed signing key."""

    enterprise: str
    key_id: str
    private: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"FeedSigningKey({self.enterprise!r}, {self.key_id!r})"

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def public_b64(self) -> str:
        return b64(self.public_raw)


@dataclass(frozen=True)
class SealingKey:
    """The platform's public sealing key as an enterprise knows it."""

    key_id: str
    public: bytes

    def seal(self, plaintext: bytes) -> bytes:
        return SealedBox(PublicKey(self.public)).encrypt(plaintext)

    def as_setting(self) -> str:
        return f"{self.key_id}:{b64(self.public)}"

    @classmethod
    def parse(cls, text: str) -> SealingKey:
        key_id, _, encoded = text.partition(":")
        if not is_valid_key_id(key_id):
            raise VaultError("a sealing key is 'key-id:<base64 32 bytes>'")
        raw = unb64(encoded, "the sealing key")
        if len(raw) != KEY_BYTES:
            raise VaultError("a sealing key is 32 bytes")
        return cls(key_id, raw)


@dataclass(frozen=True)
class PlatformKeys:
    """What only the platform holds: the sealing private keys and the national index key."""

    sealing: dict[str, PrivateKey]
    active: str
    index_key: bytes

    def __repr__(self) -> str:
        return f"PlatformKeys(sealing={sorted(self.sealing)!r}, active={self.active!r})"

    @property
    def public(self) -> SealingKey:
        return SealingKey(self.active, bytes(self.sealing[self.active].public_key))

    def open(self, key_id: str, blob: bytes) -> bytes | None:
        """The sealed value, or None when it does not open (unknown key, tampered blob)."""
        private = self.sealing.get(key_id)
        if private is None:
            return None
        try:
            return SealedBox(private).decrypt(blob)
        except CryptoError:
            return None

    def identity_key(self, doc_type: str, number: str) -> bytes:
        """The national blind index of one document: HMAC-SHA256 under the platform's key, of
        the number as the registry stores it (a number typed with spaces, dashes or full-width
        digits at the lookup is the same document as the one the feed sealed)."""
        message = INDEX_CONTEXT + f"{doc_type}:{stored_document_number(number)}".encode()
        return hmac.digest(self.index_key, message, "sha256")

    def name_key(self, name: str) -> bytes:
        return hmac.digest(self.index_key, NAME_CONTEXT + normalize_name(name).encode(), "sha256")


# --- enterprise signing keys ------------------------------------------------------------------


def feed_signing_key(settings: Settings, enterprise: str) -> FeedSigningKey:
    """The enterprise's active signing key: from settings, else the key file (created there on
    first use). A host whose PII keys come from settings must give these too."""
    if settings.national_feed_keys is not None:
        per_enterprise = _json_object(settings.national_feed_keys, FEED_KEYS_SETTING)
        keys = per_enterprise.get(enterprise)
        if not isinstance(keys, dict) or not keys:
            raise VaultError(f"{FEED_KEYS_SETTING} has no key for enterprise {enterprise!r}")
        key_id = next(reversed(keys))
        return FeedSigningKey(enterprise, key_id, _ed25519(keys[key_id], key_id))
    _refuse_file_keys_in_production(settings, FEED_KEYS_SETTING)

    def fill(section: dict[str, Any]) -> bool:
        if enterprise in section:
            return False
        section[enterprise] = {"keys": {"f1": b64(secrets.token_bytes(KEY_BYTES))}, "active": "f1"}
        return True

    section = key_file_section(settings.key_file, FEED_SECTION, fill)
    entry = section[enterprise]
    key_id = entry.get("active") if isinstance(entry, dict) else None
    if not isinstance(key_id, str) or key_id not in entry.get("keys", {}):
        raise VaultError(f"key file '{FEED_SECTION}' of {enterprise!r} names no active key")
    return FeedSigningKey(enterprise, key_id, _ed25519(entry["keys"][key_id], key_id))


def _ed25519(value: object, key_id: str) -> Ed25519PrivateKey:
    if not is_valid_key_id(key_id):
        raise VaultError("feed key ids must be 1-32 letters, digits, '.', '_' or '-'")
    seed = unb64(value, f"feed key {key_id!r}")
    if len(seed) != KEY_BYTES:
        raise VaultError(f"feed key {key_id!r} must be a 32-byte seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


# --- platform keys ----------------------------------------------------------------------------


def platform_keys(settings: Settings) -> PlatformKeys:
    """The platform's sealing and index keys: from settings (both), else the key file."""
    if settings.national_sealing_keys is not None and settings.national_index_key is not None:
        parsed = _json_object(settings.national_sealing_keys, SEALING_KEYS_SETTING)
        return _platform_from(parsed, None, settings.national_index_key, SEALING_KEYS_SETTING)
    if settings.national_sealing_keys is not None or settings.national_index_key is not None:
        raise VaultError(f"{SEALING_KEYS_SETTING} and {INDEX_KEY_SETTING} go together")
    _refuse_file_keys_in_production(settings, SEALING_KEYS_SETTING)

    def fill(section: dict[str, Any]) -> bool:
        if section:
            return False
        section["sealing"] = {"n1": b64(bytes(PrivateKey.generate()))}
        section["sealing_active"] = "n1"
        section["index_key"] = b64(secrets.token_bytes(KEY_BYTES))
        return True

    section = key_file_section(settings.key_file, PLATFORM_SECTION, fill)
    return _platform_from(
        section.get("sealing"),
        section.get("sealing_active"),
        section.get("index_key"),
        f"key file '{PLATFORM_SECTION}'",
    )


def _platform_from(sealing: object, active: object, index_key: object, source: str) -> PlatformKeys:
    # The project's one reader of key maps: a private key pasted where an id belongs (or an id
    # that is not one) is never quoted back.
    keys = {
        key_id: PrivateKey(raw)
        for key_id, raw in parse_key_map(sealing, f"{source} (sealing keys)").items()
    }
    chosen = active if isinstance(active, str) else next(reversed(keys))
    if chosen not in keys:
        raise VaultError(f"{source}: the active sealing key is not among the keys")
    index = unb64(index_key, f"{source} index key")
    if len(index) < KEY_BYTES:
        raise VaultError(f"{source}: the index key must be at least 32 bytes")
    return PlatformKeys(keys, chosen, index)


def _json_object(text: str, setting: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except ValueError:
        raise VaultError(f"{setting} is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise VaultError(f"{setting} must be a JSON object")
    return parsed


def _refuse_file_keys_in_production(settings: Settings, setting: str) -> None:
    if settings.pii_keys is not None or settings.blind_index_key is not None:
        raise VaultError(
            f"{setting} must be set when the PII keys come from settings: a production host "
            "does not take national keys from a key file"
        )
