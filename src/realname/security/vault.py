"""Encryption at rest and blind indexes for subscriber PII.

Document numbers, names and addresses are stored only as AES-256-GCM ciphertext, so a leaked
database dump or backup reveals nothing without the keys. Equality look-ups ("is this
document number already registered?") go through a keyed HMAC of the value instead, so no
query ever has to filter on plaintext and the index cannot be reversed by hashing a list of
all possible document numbers (an unkeyed hash of an 18-digit ID would fall to brute force).

Every operation takes a `context` (for example ``"identity.number"``). It is bound into the
ciphertext as associated data and into the blind index, so a value copied from one column to
another fails to open, and equal values in different columns do not share an index that would
let someone correlate them.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from realname.security.audit_keys import AuditKeys

KEY_BYTES = 32
MIN_INDEX_KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16

# Key ids are stored next to every sealed value, so they are kept short and plain. The limit
# also means a key pasted where its id belongs (44 base64 characters) is refused before any
# message could quote it.
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")


class VaultError(Exception):
    """Any refusal by the vault. Messages must stay safe to log: no plaintext, no key bytes."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """A ciphertext together with the id of the key that opens it.

    The key id travels with the value so keys can be rotated lazily: old rows keep opening
    under their old key until they are resealed.
    """

    key_id: str
    blob: bytes  # 12-byte random nonce || AES-256-GCM ciphertext || 16-byte tag


def generate_key() -> bytes:
    """A fresh 32-byte key from the OS CSPRNG, usable for sealing or for the blind index."""
    return secrets.token_bytes(KEY_BYTES)


def is_valid_key_id(key_id: object) -> bool:
    return isinstance(key_id, str) and KEY_ID_PATTERN.fullmatch(key_id) is not None


def _check_context(context: str) -> bytes:
    # NUL separates context from value in the blind index; allowing it inside a context would
    # make ("a\0b", "c") and ("a", "b\0c") collide.
    if not context or "\x00" in context:
        raise VaultError("context must be a non-empty string without NUL characters")
    return context.encode("utf-8")


def _encode(value: str, what: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        # The exception text would quote the offending characters, so it is not chained.
        raise VaultError(f"{what} is not encodable as UTF-8") from None


class KeyRing:
    """All PII keys known to this process, the one new values are sealed with, and the index key.

    Retired keys stay in the ring so that values sealed before a rotation still open; only
    the active key ever seals.
    """

    __slots__ = ("_active_key_id", "_audit", "_ciphers", "_index_key")

    def __init__(
        self,
        keys: Mapping[str, bytes],
        active_key_id: str,
        index_key: bytes,
        *,
        audit: AuditKeys | None = None,
    ) -> None:
        if not keys:
            raise VaultError("the key ring needs at least one PII key")
        ciphers: dict[str, AESGCM] = {}
        for key_id, key in keys.items():
            if not is_valid_key_id(key_id):
                raise VaultError(
                    "PII key ids must be 1-32 characters of letters, digits, '.', '_' or '-'"
                )
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise VaultError(f"PII key {key_id!r} must be exactly {KEY_BYTES} bytes")
            ciphers[key_id] = AESGCM(key)
        if active_key_id not in ciphers:
            raise VaultError("the active key id is not among the PII keys")
        if not isinstance(index_key, bytes) or len(index_key) < MIN_INDEX_KEY_BYTES:
            raise VaultError(f"the blind index key must be at least {MIN_INDEX_KEY_BYTES} bytes")
        if any(hmac.compare_digest(index_key, key) for key in keys.values()):
            # One key doing both jobs would tie the index's lifetime to a PII key's rotation.
            raise VaultError("the blind index key must differ from every PII key")
        self._ciphers = ciphers
        self._active_key_id = active_key_id
        self._index_key = bytes(index_key)
        self._audit = audit

    def __repr__(self) -> str:
        # Never show key bytes, even in a debugger or a traceback with locals.
        return f"KeyRing(key_ids={sorted(self._ciphers)!r}, active={self._active_key_id!r})"

    @property
    def audit(self) -> AuditKeys:
        """The audit chain's MAC and checkpoint keys (security/audit_keys.py)."""
        if self._audit is None:
            raise VaultError(
                "no audit keys: set REALNAME_AUDIT_KEYS (required when the PII keys are set)"
            )
        return self._audit

    def with_audit(self, audit: AuditKeys | None) -> KeyRing:
        """The same PII keys with these audit keys."""
        ring = KeyRing.__new__(KeyRing)
        ring._ciphers, ring._active_key_id = self._ciphers, self._active_key_id
        ring._index_key, ring._audit = self._index_key, audit
        return ring

    @property
    def active_key_id(self) -> str:
        return self._active_key_id

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._ciphers)

    def seal(self, plaintext: str, context: str) -> Sealed:
        """Encrypt under the active key with a fresh random nonce.

        Random 96-bit nonces are safe for about 2**32 seals per key; rotating keys keeps any
        one key well below that.
        """
        associated = _check_context(context)
        data = _encode(plaintext, "plaintext")
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = self._ciphers[self._active_key_id].encrypt(nonce, data, associated)
        return Sealed(key_id=self._active_key_id, blob=nonce + ciphertext)

    def open(self, sealed: Sealed, context: str) -> str:
        """Decrypt and authenticate; any tampering, wrong key or wrong context is a VaultError."""
        associated = _check_context(context)
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise VaultError("value is sealed with a key this key ring does not hold")
        blob = sealed.blob
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise VaultError("sealed value is too short to be genuine")
        try:
            data = cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated)
        except InvalidTag:
            raise VaultError(
                "sealed value failed authentication (tampered, or opened in the wrong context)"
            ) from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:  # pragma: no cover - authenticated data came from seal()
            raise VaultError("sealed value is not UTF-8 text") from None

    def blind_index(self, value: str, context: str) -> bytes:
        """A deterministic 32-byte HMAC for equality look-ups.

        Callers must normalise the value first (case, width, whitespace): the index matches
        exact bytes only, which is what keeps it from leaking anything beyond equality.
        """
        message = _check_context(context) + b"\x00" + _encode(value, "value")
        return hmac.digest(self._index_key, message, "sha256")  # one-shot C path

    def needs_rotation(self, key_id: str) -> bool:
        """Whether a stored value should be resealed so its old key can one day be retired."""
        return key_id != self._active_key_id

    def reseal(self, sealed: Sealed, context: str) -> Sealed:
        """Move a value onto the active key; a no-op (same object) when it is already there.

        Returning the same object lets a rotation job skip the write with an identity check.
        """
        if not self.needs_rotation(sealed.key_id):
            return sealed
        return self.seal(self.open(sealed, context), context)
