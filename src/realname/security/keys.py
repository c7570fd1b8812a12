"""Where the keys come from: settings in production, a local key file in development.

Two families of keys: the vault's (PII sealing keys and the blind-index key) and the keys
that sign API bearer tokens (HS256, each with a `kid`). They are separate on purpose: whoever
holds the blind-index key (every process that looks up an identity) must not thereby be able
to mint a token for any role.

Production passes keys through `REALNAME_PII_KEYS` and `REALNAME_BLIND_INDEX_KEY` (from a
secret store), so they never touch the application's disk. Development and tests leave both
unset and get a key file that is created on first use, so nobody has to invent keys to start
the service. Losing that file makes every sealed value unreadable, which is why it is created
exactly once, even when several processes start at the same moment, and never overwritten
except by an explicit rotation.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realname.config import Settings
from realname.security.audit_keys import audit_keys_from_settings, new_audit_sections
from realname.security.vault import (
    KEY_BYTES,
    MIN_INDEX_KEY_BYTES,
    KeyRing,
    VaultError,
    generate_key,
    is_valid_key_id,
)

PII_KEYS_SETTING = "REALNAME_PII_KEYS"
ACTIVE_KEY_SETTING = "REALNAME_PII_ACTIVE_KEY"
INDEX_KEY_SETTING = "REALNAME_BLIND_INDEX_KEY"
TOKEN_KEYS_SETTING = "REALNAME_TOKEN_KEYS"  # noqa: S105 (a name, not a secret)
TOKEN_ACTIVE_KEY_SETTING = "REALNAME_TOKEN_ACTIVE_KEY"  # noqa: S105
MIN_TOKEN_KEY_BYTES = 32  # HS256: at least the hash's output size (RFC 7518 §3.2)

_NUMBERED_KEY_ID = re.compile(r"k([0-9]+)")
_NUMBERED_TOKEN_KEY_ID = re.compile(r"t([0-9]+)")


@dataclass(frozen=True)
class TokenKeys:
    """The keys that sign and verify bearer tokens: new tokens are signed with `active` and
    carry its id as the JWT `kid`; a token verifies only under the key its `kid` names, so an
    older key keeps verifying the tokens it signed until it is removed."""

    keys: Mapping[str, bytes]
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise VaultError("the active token key is not among the token keys")

    @property
    def signing_key(self) -> bytes:
        return self.keys[self.active]

    def verifying_key(self, kid: object) -> bytes | None:
        return self.keys.get(kid) if isinstance(kid, str) else None

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self.keys)

    def __repr__(self) -> str:  # never the key bytes
        return f"TokenKeys(ids={list(self.keys)!r}, active={self.active!r})"


def keyring_from_settings(settings: Settings) -> KeyRing:
    """The key ring the application should use, from explicit keys or the key file.

    Setting only one of the two keys is refused rather than filled in from the key file: a
    half-configured production host would otherwise quietly seal data with development keys.
    """
    return _pii_keyring(settings).with_audit(audit_keys_from_settings(settings))


def _pii_keyring(settings: Settings) -> KeyRing:
    pii_keys, index_key = settings.pii_keys, settings.blind_index_key
    if pii_keys is not None and index_key is not None:
        return _keyring_from_values(pii_keys, settings.pii_active_key, index_key)
    if pii_keys is not None or index_key is not None:
        raise VaultError(
            f"{PII_KEYS_SETTING} and {INDEX_KEY_SETTING} must be set together, or both left "
            "unset to use the key file"
        )
    if settings.pii_active_key is not None:
        # The key file names its own active key; honouring the setting here would make a
        # `keys rotate` appear to do nothing.
        raise VaultError(f"{ACTIVE_KEY_SETTING} only applies together with {PII_KEYS_SETTING}")
    return _keyring_from_file(Path(settings.key_file))


def token_keys_from_settings(settings: Settings) -> TokenKeys:
    """The token keys: `REALNAME_TOKEN_KEYS` (+ `REALNAME_TOKEN_ACTIVE_KEY`), else the key file.

    A host whose PII keys come from settings is a production host: it must get its token keys
    from settings too rather than quietly sign tokens with a key file's development key."""
    if settings.token_keys is not None:
        return _token_keys_from_values(settings.token_keys, settings.token_active_key)
    if settings.token_active_key is not None:
        raise VaultError(
            f"{TOKEN_ACTIVE_KEY_SETTING} only applies together with {TOKEN_KEYS_SETTING}"
        )
    if settings.pii_keys is not None or settings.blind_index_key is not None:
        raise VaultError(
            f"{TOKEN_KEYS_SETTING} must be set when the PII keys come from settings "
            f"({PII_KEYS_SETTING}): tokens are not signed with a key file's keys in production"
        )
    return _token_keys_from_file(Path(settings.key_file))


def add_token_key_to_file(path: str | os.PathLike[str]) -> str:
    """Add a fresh token key to the key file and make it the one new tokens are signed with;
    return its id. Older token keys stay, so tokens they signed keep verifying until expiry."""
    key_path = Path(path)

    def change(document: dict[str, Any]) -> None:
        keys: dict[str, Any] = document["token_keys"]
        new_id = _next_key_id(keys, _NUMBERED_TOKEN_KEY_ID, "t")
        keys[new_id] = _b64(generate_key())
        document["token_active"] = new_id

    return _change_token_keys(key_path, change).active


def remove_token_key_from_file(path: str | os.PathLike[str], key_id: str) -> None:
    """Remove a retired token key (never the active one): tokens it signed stop verifying."""
    key_path = Path(path)

    def change(document: dict[str, Any]) -> None:
        if key_id == document["token_active"]:
            raise VaultError(f"token key {key_id!r} is the active one; rotate first")
        if key_id not in document["token_keys"]:
            raise VaultError(f"the key file has no token key {key_id!r}")
        del document["token_keys"][key_id]

    _change_token_keys(key_path, change)


def add_key_to_file(path: str | os.PathLike[str]) -> str:
    """Add a fresh key to the key file and make it the active one; return its id.

    Old keys stay in the file because values sealed with them must keep opening until they
    are resealed. Concurrent rotations are serialised so neither one's new key is lost.
    """
    key_path = Path(path)
    if not key_path.is_file():
        raise VaultError(f"no key file at {key_path}; nothing to rotate")
    with _exclusive_lock(key_path):
        try:
            document = _load_document(key_path)
        except FileNotFoundError:
            raise VaultError(f"no key file at {key_path}; nothing to rotate") from None
        _keyring_from_document(document, key_path)  # refuse to extend a broken file
        keys: dict[str, Any] = document["pii_keys"]
        new_id = _next_key_id(keys, _NUMBERED_KEY_ID, "k")
        keys[new_id] = _b64(generate_key())
        document["active"] = new_id
        _replace_document(key_path, document)
    return new_id


def key_file_section(
    path: str | os.PathLike[str], name: str, fill: Callable[[dict[str, Any]], bool]
) -> Any:
    """One section of the key file (the national platform's and feeds' keys), read under the
    file lock; `fill(section)` may add to it (a key created on first use) and says whether it
    did, and the file is then rewritten. The key file is created first when missing."""
    key_path = Path(path)
    if not key_path.is_file():
        _create_key_file(key_path)
    with _exclusive_lock(key_path):
        document = _load_document(key_path)
        section = document.setdefault(name, {})
        if not isinstance(section, dict):
            raise VaultError(f"key file {key_path} '{name}' must be a JSON object")
        if fill(section):
            _replace_document(key_path, document)
        return section


# --- explicit settings -------------------------------------------------------------------


def _keyring_from_values(pii_keys: str, active: str | None, index_key: str) -> KeyRing:
    try:
        parsed = json.loads(pii_keys)
    except ValueError:
        # Not chained: JSONDecodeError carries the whole document, key bytes included.
        raise VaultError(f"{PII_KEYS_SETTING} is not valid JSON") from None
    keys = parse_key_map(parsed, PII_KEYS_SETTING)
    if active is None:
        active = next(reversed(keys))
    elif active not in keys:
        raise VaultError(f"{ACTIVE_KEY_SETTING} names a key that {PII_KEYS_SETTING} lacks")
    return KeyRing(keys, active, _parse_index_key(index_key, INDEX_KEY_SETTING))


def parse_key_map(
    value: object, source: str, *, min_bytes: int = KEY_BYTES, exact: bool = True
) -> dict[str, bytes]:
    """`{key id: base64 key}`; AES keys are exactly KEY_BYTES, HMAC keys at least `min_bytes`.
    Every key map of the project is read by it (the national feeds' too): no message quotes a
    key, nor an id before it is known to be one."""
    if not isinstance(value, dict) or not value:
        raise VaultError(f"{source} must be a non-empty JSON object of key id to base64 key")
    keys: dict[str, bytes] = {}
    for key_id, encoded in value.items():
        # The id is checked before it is quoted, in case a key was pasted where an id belongs.
        if not is_valid_key_id(key_id):
            raise VaultError(
                f"{source} has a key id that is not 1-32 letters, digits, '.', '_' or '-'"
            )
        key = decode_b64(encoded, f"{source} key {key_id!r}")
        if exact and len(key) != min_bytes:
            raise VaultError(f"{source} key {key_id!r} must decode to exactly {min_bytes} bytes")
        if len(key) < min_bytes:
            raise VaultError(f"{source} key {key_id!r} must decode to at least {min_bytes} bytes")
        keys[key_id] = key
    return keys


def _token_keys_from_values(token_keys: str, active: str | None) -> TokenKeys:
    try:
        parsed = json.loads(token_keys)
    except ValueError:
        raise VaultError(f"{TOKEN_KEYS_SETTING} is not valid JSON") from None
    keys = parse_key_map(parsed, TOKEN_KEYS_SETTING, min_bytes=MIN_TOKEN_KEY_BYTES, exact=False)
    if active is None:
        active = next(reversed(keys))
    elif active not in keys:
        raise VaultError(f"{TOKEN_ACTIVE_KEY_SETTING} names a key that {TOKEN_KEYS_SETTING} lacks")
    return TokenKeys(keys, active)


def _parse_index_key(value: object, source: str) -> bytes:
    key = decode_b64(value, source)
    if len(key) < MIN_INDEX_KEY_BYTES:
        raise VaultError(f"{source} must decode to at least {MIN_INDEX_KEY_BYTES} bytes")
    return key


def decode_b64(value: object, what: str) -> bytes:
    """A key or public value from its base64 text; what is wrong with it, never the value."""
    if not isinstance(value, str):
        raise VaultError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise VaultError(f"{what} is not valid base64") from None


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


# --- the key file --------------------------------------------------------------------------


def _keyring_from_file(path: Path) -> KeyRing:
    with contextlib.suppress(FileNotFoundError):
        return _keyring_from_document(_load_document(path), path)
    _create_key_file(path)
    return _keyring_from_document(_load_document(path), path)


def _load_document(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except OSError as error:
        raise VaultError(f"cannot read key file {path}: {error.strerror}") from None
    try:
        document = json.loads(text)
    except ValueError:
        raise VaultError(f"key file {path} is not valid JSON") from None
    if not isinstance(document, dict):
        raise VaultError(f"key file {path} must hold a JSON object")
    return document


def _keyring_from_document(document: dict[str, Any], path: Path) -> KeyRing:
    source = f"key file {path}"
    keys = parse_key_map(document.get("pii_keys"), f"{source} 'pii_keys'")
    active = document.get("active")
    if not isinstance(active, str) or active not in keys:
        raise VaultError(f"{source} 'active' must name one of its 'pii_keys'")
    index_key = _parse_index_key(document.get("blind_index_key"), f"{source} 'blind_index_key'")
    return KeyRing(keys, active, index_key)


def _token_keys_from_document(document: dict[str, Any], path: Path) -> TokenKeys:
    source = f"key file {path}"
    keys = parse_key_map(
        document.get("token_keys"),
        f"{source} 'token_keys'",
        min_bytes=MIN_TOKEN_KEY_BYTES,
        exact=False,
    )
    active = document.get("token_active")
    if not isinstance(active, str) or active not in keys:
        raise VaultError(f"{source} 'token_active' must name one of its 'token_keys'")
    return TokenKeys(keys, active)


def _token_keys_from_file(path: Path) -> TokenKeys:
    """The key file's token keys; a file written before tokens had keys of their own gets
    them now (once, under the file lock, whoever else starts at the same moment)."""
    with contextlib.suppress(FileNotFoundError):
        document = _load_document(path)
        if "token_keys" in document or "token_active" in document:
            return _token_keys_from_document(document, path)
        return _change_token_keys(path)
    _create_key_file(path)
    return _token_keys_from_document(_load_document(path), path)


def _change_token_keys(
    path: Path, change: Callable[[dict[str, Any]], None] | None = None
) -> TokenKeys:
    """Read-modify-write of the key file's token keys under the file lock (a file without
    token keys gets them first); the token keys as they are afterwards."""
    if not path.is_file():
        raise VaultError(f"no key file at {path}")
    with _exclusive_lock(path):
        document = _load_document(path)
        before = json.dumps(document, sort_keys=True)
        if "token_keys" not in document and "token_active" not in document:
            document["token_keys"] = {"t1": _b64(generate_key())}
            document["token_active"] = "t1"  # noqa: S105 (a key id)
        _token_keys_from_document(document, path)  # refuse to extend a broken file
        if change is not None:
            change(document)
        keys = _token_keys_from_document(document, path)
        if json.dumps(document, sort_keys=True) != before:
            _replace_document(path, document)
    return keys


def _replace_document(path: Path, document: dict[str, Any]) -> None:
    temporary = _write_temporary(path, document)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def _create_key_file(path: Path) -> None:
    """Write a fresh key file unless one appears first; the first writer's keys win.

    `os.link` publishes the fully written temporary file under the final name only if that
    name is still free, so a process that loses the race keeps nothing of its own and reads
    the winner's keys. A plain `os.replace` would let the loser overwrite keys the winner may
    already have sealed data with.
    """
    document = {
        "pii_keys": {"k1": _b64(generate_key())},
        "active": "k1",
        "blind_index_key": _b64(generate_key()),
        "token_keys": {"t1": _b64(generate_key())},
        "token_active": "t1",
    } | new_audit_sections()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = _write_temporary(path, document)
    except OSError as error:
        raise VaultError(f"cannot create key file {path}: {error.strerror}") from None
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process created it meanwhile; its keys are everybody's keys
    except OSError:
        # Filesystems without hard links: replace, after a last look, is the best on offer.
        if not path.exists():
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _sync_directory(path.parent)


def _write_temporary(path: Path, document: dict[str, Any]) -> Path:
    """A durable 0600 copy of `document` beside `path`, ready to be moved into place."""
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            json.dump(document, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _sync_directory(directory: Path) -> None:
    # Makes the new directory entry survive a crash; a key file that vanishes on power loss
    # would take every value sealed with it along.
    if sys.platform == "win32":  # pragma: no cover - directories cannot be opened there
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _next_key_id(keys: dict[str, Any], pattern: re.Pattern[str], prefix: str) -> str:
    numbers = [int(m.group(1)) for k in keys if (m := pattern.fullmatch(k))]
    return f"{prefix}{max(numbers, default=0) + 1}"


if sys.platform == "win32":  # pragma: no cover

    @contextlib.contextmanager
    def _exclusive_lock(path: Path) -> Iterator[None]:
        yield

else:
    import fcntl

    @contextlib.contextmanager
    def _exclusive_lock(path: Path) -> Iterator[None]:
        """Serialise read-modify-write of the key file across processes."""
        lock_path = path.with_name(path.name + ".lock")
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)
