"""The keys that make tampering evident: MAC keys for the audit chain and the row MACs, and the
Ed25519 keys that sign checkpoints. Both live outside the database.

Production passes them as settings (`REALNAME_AUDIT_KEYS`, `REALNAME_CHECKPOINT_SIGNING_KEYS`,
from a secret store); development keeps them in the key file beside the PII keys, where they
are added on first use. Each key has an id that is recorded with what it protects (every
audit entry, every MAC'd row, every checkpoint), so keys rotate: new entries use the active
key, old ones verify under theirs for as long as it stays in the set.

Someone who can write the database but not read these keys can no longer forge a chain (the
MAC needs the key) or hide a truncation from a checkpoint signed before it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from realname.config import Settings
from realname.security.vault import VaultError, is_valid_key_id

AUDIT_KEYS_SETTING = "REALNAME_AUDIT_KEYS"
AUDIT_ACTIVE_SETTING = "REALNAME_AUDIT_ACTIVE_KEY"
SIGNING_KEYS_SETTING = "REALNAME_CHECKPOINT_SIGNING_KEYS"
SIGNING_ACTIVE_SETTING = "REALNAME_CHECKPOINT_ACTIVE_KEY"
PUBLIC_KEYS_SETTING = "REALNAME_CHECKPOINT_PUBLIC_KEYS"

MAC_KEY_BYTES = 32
_NUMBERED = re.compile(r"([a-z]+)([0-9]+)")


@dataclass(frozen=True)
class AuditKeys:
    """MAC keys (one active) and checkpoint keys (signing, one active; public, for checking)."""

    mac_keys: Mapping[str, bytes]
    mac_active: str
    signing_keys: Mapping[str, Ed25519PrivateKey] = field(default_factory=dict)
    signing_active: str | None = None
    public_keys: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mac_active not in self.mac_keys:
            raise VaultError("the active audit key id is not among the audit keys")
        for key_id, key in self.mac_keys.items():
            if not is_valid_key_id(key_id):
                raise VaultError("audit key ids must be 1-32 letters, digits, '.', '_' or '-'")
            if len(key) < MAC_KEY_BYTES:
                raise VaultError(f"audit key {key_id!r} must be at least {MAC_KEY_BYTES} bytes")
        if self.signing_active is not None and self.signing_active not in self.signing_keys:
            raise VaultError("the active checkpoint key id is not among the signing keys")
        publics = dict(self.public_keys)
        for key_id, private in self.signing_keys.items():
            publics.setdefault(key_id, private.public_key())
        object.__setattr__(self, "public_keys", publics)

    def __repr__(self) -> str:
        return (
            f"AuditKeys(mac={sorted(self.mac_keys)!r}, active={self.mac_active!r}, "
            f"signing={sorted(self.signing_keys)!r}, signing_active={self.signing_active!r})"
        )

    @classmethod
    def generate(cls) -> AuditKeys:
        """Fresh keys (tests, and a new key file)."""
        return cls(
            {"a1": secrets.token_bytes(MAC_KEY_BYTES)},
            "a1",
            {"c1": Ed25519PrivateKey.generate()},
            "c1",
        )

    # --- MACs --------------------------------------------------------------------------------

    def mac(self, message: bytes, key_id: str | None = None) -> bytes:
        """HMAC-SHA256 under `key_id` (default: the active key); unknown ids are refused."""
        key = self.mac_keys.get(key_id or self.mac_active)
        if key is None:
            raise VaultError("an entry names an audit key this process does not hold")
        return hmac.digest(key, message, "sha256")

    def has_mac_key(self, key_id: str | None) -> bool:
        return key_id is not None and key_id in self.mac_keys

    # --- checkpoint signatures ----------------------------------------------------------------

    def sign(self, payload: bytes) -> tuple[str, bytes]:
        if self.signing_active is None:
            raise VaultError(f"no checkpoint signing key: set {SIGNING_KEYS_SETTING}")
        return self.signing_active, self.signing_keys[self.signing_active].sign(payload)

    def verify(self, key_id: str, payload: bytes, signature: bytes) -> bool:
        public = self.public_keys.get(key_id)
        if public is None:
            return False
        try:
            public.verify(signature, payload)
        except InvalidSignature:
            return False
        return True

    def public_key_b64(self, key_id: str) -> str:
        raw = self.public_keys[key_id].public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode("ascii")


# --- from settings ----------------------------------------------------------------------------


def audit_keys_from_settings(settings: Settings) -> AuditKeys | None:
    """The audit keys, from settings when given, else from the key file when the PII keys come
    from it too. None when the PII keys are explicit and the audit keys are not: such a host
    refuses every audited write with a clear error instead of keying its chain with a file key.
    """
    if settings.audit_keys is not None:
        return _from_values(settings)
    if settings.checkpoint_signing_keys is not None:
        raise VaultError(f"{SIGNING_KEYS_SETTING} applies only together with {AUDIT_KEYS_SETTING}")
    if settings.pii_keys is not None or settings.blind_index_key is not None:
        return None
    return audit_keys_from_file(Path(settings.key_file), _public_keys(settings))


def _from_values(settings: Settings) -> AuditKeys:
    assert settings.audit_keys is not None
    mac_keys = {
        k: _b64decode(v, f"{AUDIT_KEYS_SETTING} key {k!r}")
        for k, v in _json_map(settings.audit_keys, AUDIT_KEYS_SETTING).items()
    }
    mac_active = settings.audit_active_key or next(reversed(mac_keys))
    if mac_active not in mac_keys:
        raise VaultError(f"{AUDIT_ACTIVE_SETTING} names a key that {AUDIT_KEYS_SETTING} lacks")
    signing: dict[str, Ed25519PrivateKey] = {}
    if settings.checkpoint_signing_keys is not None:
        raw = _json_map(settings.checkpoint_signing_keys, SIGNING_KEYS_SETTING)
        signing = {k: _private(v, f"{SIGNING_KEYS_SETTING} key {k!r}") for k, v in raw.items()}
    signing_active = settings.checkpoint_active_key or (
        next(reversed(signing)) if signing else None
    )
    if signing_active is not None and signing_active not in signing:
        raise VaultError(f"{SIGNING_ACTIVE_SETTING} names a key that {SIGNING_KEYS_SETTING} lacks")
    return AuditKeys(mac_keys, mac_active, signing, signing_active, _public_keys(settings))


def _public_keys(settings: Settings) -> dict[str, Ed25519PublicKey]:
    if settings.checkpoint_public_keys is None:
        return {}
    raw = _json_map(settings.checkpoint_public_keys, PUBLIC_KEYS_SETTING)
    keys = {}
    for key_id, value in raw.items():
        data = _b64decode(value, f"{PUBLIC_KEYS_SETTING} key {key_id!r}")
        try:
            keys[key_id] = Ed25519PublicKey.from_public_bytes(data)
        except ValueError:
            raise VaultError(
                f"{PUBLIC_KEYS_SETTING} key {key_id!r} is not an Ed25519 key"
            ) from None
    return keys


def _json_map(text: str, source: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise VaultError(f"{source} is not valid JSON") from None  # never quote key bytes
    if not isinstance(value, dict) or not value:
        raise VaultError(f"{source} must be a non-empty JSON object of key id to base64 key")
    for key_id in value:
        if not is_valid_key_id(key_id):
            raise VaultError(
                f"{source} has a key id that is not 1-32 letters, digits, '.', '_', '-'"
            )
    return value


def _b64decode(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise VaultError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise VaultError(f"{what} is not valid base64") from None


def _private(value: object, what: str) -> Ed25519PrivateKey:
    data = _b64decode(value, what)
    if len(data) != 32:
        raise VaultError(f"{what} must decode to a 32-byte Ed25519 private key")
    return Ed25519PrivateKey.from_private_bytes(data)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _private_raw(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


# --- the key file -------------------------------------------------------------------------------


def audit_keys_from_file(
    path: Path, public_keys: Mapping[str, Ed25519PublicKey] | None = None
) -> AuditKeys:
    """The audit section of the development key file, added to it on first use."""
    document = _read(path)
    if document is None or "audit_keys" not in document or "checkpoint_keys" not in document:
        _add_sections(path)
        document = _read(path)
    if document is None:
        raise VaultError(f"no key file at {path}")
    return _from_document(document, path, public_keys or {})


def _read(path: Path) -> dict[str, Any] | None:
    from realname.security import keys as key_file

    with contextlib.suppress(FileNotFoundError):
        return key_file._load_document(path)
    return None


def _from_document(
    document: dict[str, Any], path: Path, public_keys: Mapping[str, Ed25519PublicKey]
) -> AuditKeys:
    source = f"key file {path}"
    macs = document.get("audit_keys")
    signing = document.get("checkpoint_keys")
    if not isinstance(macs, dict) or not macs or not isinstance(signing, dict) or not signing:
        raise VaultError(f"{source} needs non-empty 'audit_keys' and 'checkpoint_keys'")
    mac_keys = {k: _b64decode(v, f"{source} audit key {k!r}") for k, v in macs.items()}
    signing_keys = {k: _private(v, f"{source} checkpoint key {k!r}") for k, v in signing.items()}
    return AuditKeys(
        mac_keys,
        str(document.get("audit_active")),
        signing_keys,
        str(document.get("checkpoint_active")),
        public_keys,
    )


def new_audit_sections() -> dict[str, Any]:
    """The audit part of a new key file: one MAC key, one checkpoint signing key."""
    return {
        "audit_keys": {"a1": _b64(secrets.token_bytes(MAC_KEY_BYTES))},
        "audit_active": "a1",
        "checkpoint_keys": {"c1": _b64(_private_raw(Ed25519PrivateKey.generate()))},
        "checkpoint_active": "c1",
    }


def _add_sections(path: Path) -> None:
    """Add audit and checkpoint keys to a key file that lacks them (or create the file)."""
    from realname.security import keys as key_file

    if not path.exists():
        key_file._keyring_from_file(path)  # creates the PII part, exactly once
    with key_file._exclusive_lock(path):
        document = key_file._load_document(path)
        fresh = new_audit_sections()
        changed = False
        for section, active in (
            ("audit_keys", "audit_active"),
            ("checkpoint_keys", "checkpoint_active"),
        ):
            if not document.get(section):
                document[section], document[active] = fresh[section], fresh[active]
                changed = True
        if changed:
            _replace(path, document)


def rotate_audit_key_in_file(path: Path, *, signing: bool) -> str:
    """Add a fresh MAC key (or checkpoint signing key) to the key file and make it active.
    Old keys stay: entries and checkpoints made with them must keep verifying."""
    from realname.security import keys as key_file

    audit_keys_from_file(path)  # make sure the sections exist and parse
    with key_file._exclusive_lock(path):
        document = key_file._load_document(path)
        section, active, prefix = (
            ("checkpoint_keys", "checkpoint_active", "c")
            if signing
            else ("audit_keys", "audit_active", "a")
        )
        keys: dict[str, Any] = document[section]
        numbers = [
            int(m.group(2)) for k in keys if (m := _NUMBERED.fullmatch(k)) and m.group(1) == prefix
        ]
        new_id = f"{prefix}{max(numbers, default=0) + 1}"
        keys[new_id] = _b64(
            _private_raw(Ed25519PrivateKey.generate())
            if signing
            else secrets.token_bytes(MAC_KEY_BYTES)
        )
        document[active] = new_id
        _replace(path, document)
    return new_id


def _replace(path: Path, document: dict[str, Any]) -> None:
    from realname.security import keys as key_file

    temporary = key_file._write_temporary(path, document)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    key_file._sync_directory(path.parent)
