from __future__ import annotations

import base64
import json
import os
import stat
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from realname.config import Settings
from realname.security import KeyRing, VaultError, generate_key, keyring_from_settings
from realname.security.keys import (
    TokenKeys,
    add_key_to_file,
    add_token_key_to_file,
    remove_token_key_from_file,
    token_keys_from_settings,
)

NAME = "identity.name"


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def explicit(
    pii_keys: str | None, blind_index_key: str | None, active: str | None = None
) -> Settings:
    return Settings(pii_keys=pii_keys, pii_active_key=active, blind_index_key=blind_index_key)


def from_file(path: Path) -> Settings:
    return Settings(key_file=str(path), pii_keys=None, pii_active_key=None, blind_index_key=None)


def same_keys(first: KeyRing, second: KeyRing) -> bool:
    """Two rings agree when each opens the other's values and they index alike."""
    return (
        first.active_key_id == second.active_key_id
        and second.open(first.seal("张伟", NAME), NAME) == "张伟"
        and first.blind_index("张伟", NAME) == second.blind_index("张伟", NAME)
    )


# --- explicit settings -------------------------------------------------------------------


def test_explicit_keys_default_to_the_last_one() -> None:
    k1, k2, index_key = generate_key(), generate_key(), generate_key()
    keyring = keyring_from_settings(
        explicit(json.dumps({"k1": b64(k1), "k2": b64(k2)}), b64(index_key))
    )
    assert keyring.active_key_id == "k2"
    assert keyring.key_ids == {"k1", "k2"}
    expected = KeyRing({"k1": k1, "k2": k2}, "k2", index_key)
    assert same_keys(keyring, expected)


def test_explicit_active_key_is_honoured() -> None:
    pii_keys = json.dumps({"k1": b64(generate_key()), "k2": b64(generate_key())})
    keyring = keyring_from_settings(explicit(pii_keys, b64(generate_key()), active="k1"))
    assert keyring.active_key_id == "k1"


def test_explicit_keys_do_not_touch_the_key_file(tmp_path: Path) -> None:
    settings = explicit(json.dumps({"k1": b64(generate_key())}), b64(generate_key()))
    settings.key_file = str(tmp_path / "keys.json")
    keyring_from_settings(settings)
    assert not (tmp_path / "keys.json").exists()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key, index_key = generate_key(), generate_key()
    monkeypatch.setenv("REALNAME_PII_KEYS", json.dumps({"prod-2024": b64(key)}))
    monkeypatch.setenv("REALNAME_BLIND_INDEX_KEY", b64(index_key) + "\n")
    monkeypatch.delenv("REALNAME_PII_ACTIVE_KEY", raising=False)
    keyring = keyring_from_settings(Settings(_env_file=None))
    assert same_keys(keyring, KeyRing({"prod-2024": key}, "prod-2024", index_key))


SECRET = b64(b"S" * 32)  # a recognisable "key" that must never show up in a message
SECRET_SHORT = b64(b"S" * 16)


@pytest.mark.parametrize(
    ("pii_keys", "index_key", "active", "setting", "bad_value"),
    [
        (f'{{"k1": "{SECRET}"', SECRET, None, "REALNAME_PII_KEYS", SECRET),
        (json.dumps([SECRET]), SECRET, None, "REALNAME_PII_KEYS", SECRET),
        ("{}", SECRET, None, "REALNAME_PII_KEYS", "{}"),
        (json.dumps({"k1": SECRET + "!"}), b64(generate_key()), None, "REALNAME_PII_KEYS", SECRET),
        (json.dumps({"k1": SECRET_SHORT}), SECRET, None, "REALNAME_PII_KEYS", SECRET_SHORT),
        (json.dumps({"k1": 12345}), SECRET, None, "REALNAME_PII_KEYS", "12345"),
        (json.dumps({SECRET: "k1"}), SECRET, None, "REALNAME_PII_KEYS", SECRET),
        (json.dumps({"k1": b64(generate_key())}), SECRET + "%", None, "BLIND_INDEX", SECRET),
        (json.dumps({"k1": b64(generate_key())}), SECRET_SHORT, None, "BLIND_INDEX", SECRET_SHORT),
        (json.dumps({"k1": b64(generate_key())}), SECRET, SECRET, "ACTIVE_KEY", SECRET),
    ],
    ids=[
        "truncated-json",
        "json-list",
        "no-keys",
        "key-not-base64",
        "key-too-short",
        "key-not-a-string",
        "key-pasted-as-id",
        "index-key-not-base64",
        "index-key-too-short",
        "active-key-unknown",
    ],
)
def test_malformed_settings_are_named_but_not_quoted(
    pii_keys: str, index_key: str, active: str | None, setting: str, bad_value: str
) -> None:
    with pytest.raises(VaultError, match=setting) as raised:
        keyring_from_settings(explicit(pii_keys, index_key, active))
    error = raised.value
    assert bad_value not in str(error)
    assert SECRET not in str(error)
    # Chained exceptions (JSONDecodeError.doc, binascii messages) would leak into tracebacks.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


@pytest.mark.parametrize("which", ["pii_keys", "blind_index_key"])
def test_setting_only_one_key_is_refused(tmp_path: Path, which: str) -> None:
    values = {
        "pii_keys": json.dumps({"k1": b64(generate_key())}),
        "blind_index_key": b64(generate_key()),
    }
    settings = from_file(tmp_path / "keys.json")
    setattr(settings, which, values[which])
    with pytest.raises(VaultError, match="set together"):
        keyring_from_settings(settings)
    assert not (tmp_path / "keys.json").exists()


def test_active_key_without_explicit_keys_is_refused(tmp_path: Path) -> None:
    settings = from_file(tmp_path / "keys.json")
    settings.pii_active_key = "k1"
    with pytest.raises(VaultError, match="REALNAME_PII_ACTIVE_KEY"):
        keyring_from_settings(settings)


# --- the key file --------------------------------------------------------------------------


def test_key_file_is_created_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "nested" / "keys.json"
    first = keyring_from_settings(from_file(path))

    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert set(document) == {
        "pii_keys",
        "active",
        "blind_index_key",
        "audit_keys",
        "audit_active",
        "checkpoint_keys",
        "checkpoint_active",
        "token_keys",
        "token_active",
    }
    assert list(document["pii_keys"]) == ["k1"]
    assert document["active"] == "k1"
    assert len(base64.b64decode(document["pii_keys"]["k1"])) == 32
    assert len(base64.b64decode(document["blind_index_key"])) == 32
    assert first.active_key_id == "k1"
    assert [p.name for p in path.parent.iterdir()] == ["keys.json"]  # no temporary left over

    content = path.read_bytes()
    second = keyring_from_settings(from_file(path))
    assert path.read_bytes() == content
    assert same_keys(first, second)


def test_key_file_written_by_hand_is_used(tmp_path: Path) -> None:
    k1, k2, index_key = generate_key(), generate_key(), generate_key()
    path = tmp_path / "keys.json"
    path.write_text(
        json.dumps(
            {
                "pii_keys": {"k1": b64(k1), "k2": b64(k2)},
                "active": "k1",
                "blind_index_key": b64(index_key),
            }
        )
    )
    keyring = keyring_from_settings(from_file(path))
    assert same_keys(keyring, KeyRing({"k1": k1, "k2": k2}, "k1", index_key))


def test_processes_starting_together_agree_on_the_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    workers = 16
    barrier = threading.Barrier(workers)

    def start() -> KeyRing:
        barrier.wait()
        return keyring_from_settings(from_file(path))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        rings = list(pool.map(lambda _: start(), range(workers)))

    assert all(same_keys(rings[0], other) for other in rings[1:])
    assert same_keys(rings[0], keyring_from_settings(from_file(path)))
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]


def test_key_file_that_appears_meanwhile_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the link guards against: another process publishes between look and write."""
    path = tmp_path / "keys.json"
    other = keyring_from_settings(from_file(tmp_path / "other.json"))
    real_link = os.link

    def link_after_rival(source: str, destination: str) -> None:
        os.replace(tmp_path / "other.json", path)
        real_link(source, destination)

    monkeypatch.setattr(os, "link", link_after_rival)
    keyring = keyring_from_settings(from_file(path))
    assert same_keys(keyring, other)
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]


def test_key_file_without_hard_links_is_still_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: str, destination: str) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "keys.json"
    first = keyring_from_settings(from_file(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert same_keys(first, keyring_from_settings(from_file(path)))
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]


def test_key_path_under_a_file_is_a_vault_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(VaultError, match="key file"):
        keyring_from_settings(from_file(blocker / "keys.json"))


def test_unwritable_key_directory_is_a_vault_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only(**kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(VaultError, match=r"cannot create key file .*Permission denied"):
        keyring_from_settings(from_file(tmp_path / "keys.json"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "JSON object"),
        (json.dumps({"active": "k1", "blind_index_key": SECRET}), "'pii_keys'"),
        (
            json.dumps({"pii_keys": {"k1": SECRET}, "active": "k2", "blind_index_key": SECRET}),
            "'active'",
        ),
        (
            json.dumps({"pii_keys": {"k1": SECRET}, "active": "k1", "blind_index_key": "?"}),
            "'blind_index_key'",
        ),
    ],
)
def test_broken_key_file_is_refused_and_kept(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(VaultError, match=message) as raised:
        keyring_from_settings(from_file(path))
    assert SECRET not in str(raised.value)
    assert path.read_text() == content


# --- rotation in the key file ----------------------------------------------------------------


def test_add_key_to_file_rotates_and_keeps_old_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    before = keyring_from_settings(from_file(path))
    old = before.seal("欧阳娜娜", NAME)

    assert add_key_to_file(path) == "k2"
    assert add_key_to_file(str(path)) == "k3"

    after = keyring_from_settings(from_file(path))
    assert after.active_key_id == "k3"
    assert after.key_ids == {"k1", "k2", "k3"}
    assert after.open(old, NAME) == "欧阳娜娜"
    assert after.needs_rotation(old.key_id)
    assert after.reseal(old, NAME).key_id == "k3"
    assert after.blind_index("张伟", NAME) == before.blind_index("张伟", NAME)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.json", "keys.json.lock"]


def test_add_key_numbers_after_the_highest_existing_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    document = {
        "pii_keys": {"k7": b64(generate_key()), "legacy": b64(generate_key())},
        "active": "k7",
        "blind_index_key": b64(generate_key()),
        "note": "kept as is",
    }
    path.write_text(json.dumps(document))
    assert add_key_to_file(path) == "k8"
    rewritten = json.loads(path.read_text())
    assert list(rewritten["pii_keys"]) == ["k7", "legacy", "k8"]
    assert rewritten["note"] == "kept as is"


def test_concurrent_rotations_lose_no_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keyring_from_settings(from_file(path))
    with ThreadPoolExecutor(max_workers=8) as pool:
        new_ids = list(pool.map(lambda _: add_key_to_file(path), range(8)))
    assert sorted(new_ids) == sorted(f"k{n}" for n in range(2, 10))
    assert keyring_from_settings(from_file(path)).key_ids == {f"k{n}" for n in range(1, 10)}


def test_add_key_needs_an_existing_file(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="nothing to rotate"):
        add_key_to_file(tmp_path / "missing" / "keys.json")
    assert not (tmp_path / "missing").exists()


# --- token keys ----------------------------------------------------------------------------


def token_settings(path: Path, **values: str | None) -> Settings:
    base: dict[str, str | None] = {
        "key_file": str(path),
        "pii_keys": None,
        "pii_active_key": None,
        "blind_index_key": None,
        "token_keys": None,
        "token_active_key": None,
    }
    return Settings(**(base | values))  # type: ignore[arg-type]


def test_token_keys_are_not_derived_from_the_vault_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keyring = keyring_from_settings(from_file(path))
    tokens = token_keys_from_settings(token_settings(path))
    document = json.loads(path.read_text())
    assert tokens.active == document["token_active"] == "t1"
    assert tokens.signing_key == base64.b64decode(document["token_keys"]["t1"])
    assert tokens.signing_key != keyring.blind_index("jwt-signing-key", "realname.tokens")
    assert tokens.signing_key not in {base64.b64decode(document["blind_index_key"])}


def test_an_old_key_file_gets_token_keys_once_and_keeps_its_pii_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    k1, index_key = generate_key(), generate_key()
    old = {"pii_keys": {"k1": b64(k1)}, "active": "k1", "blind_index_key": b64(index_key)}
    path.write_text(json.dumps(old))
    workers = 8
    barrier = threading.Barrier(workers)

    def start() -> TokenKeys:
        barrier.wait()
        return token_keys_from_settings(token_settings(path))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda _: start(), range(workers)))
    assert all(r.keys == results[0].keys and r.active == "t1" for r in results)
    document = json.loads(path.read_text())
    assert {k: document[k] for k in old} == old
    assert same_keys(keyring_from_settings(from_file(path)), KeyRing({"k1": k1}, "k1", index_key))


def test_rotate_and_retire_token_keys_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = token_keys_from_settings(token_settings(path))
    assert add_token_key_to_file(path) == "t2"
    rotated = token_keys_from_settings(token_settings(path))
    assert rotated.active == "t2" and rotated.keys["t1"] == first.keys["t1"]
    with pytest.raises(VaultError, match="active"):
        remove_token_key_from_file(path, "t2")
    with pytest.raises(VaultError, match="no token key"):
        remove_token_key_from_file(path, "t9")
    remove_token_key_from_file(path, "t1")
    retired = token_keys_from_settings(token_settings(path))
    assert retired.key_ids == ("t2",) and retired.keys["t2"] == rotated.keys["t2"]
    assert keyring_from_settings(from_file(path)).active_key_id == "k1"  # PII keys untouched


def test_explicit_token_keys(tmp_path: Path) -> None:
    t1, t2 = generate_key(), generate_key()
    value = json.dumps({"2026-a": b64(t1), "2026-b": b64(t2)})
    keys = token_keys_from_settings(token_settings(tmp_path / "k.json", token_keys=value))
    assert keys.active == "2026-b" and keys.signing_key == t2
    keys = token_keys_from_settings(
        token_settings(tmp_path / "k.json", token_keys=value, token_active_key="2026-a")
    )
    assert keys.active == "2026-a" and keys.verifying_key("2026-b") == t2
    assert not (tmp_path / "k.json").exists()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"token_keys": "{"}, "REALNAME_TOKEN_KEYS is not valid JSON"),
        ({"token_keys": json.dumps({"t1": b64(b"short")})}, "at least 32 bytes"),
        (
            {"token_keys": json.dumps({"t1": b64(generate_key())}), "token_active_key": "t9"},
            "lacks",
        ),
        ({"token_active_key": "t1"}, "only applies together"),
        (
            {
                "pii_keys": json.dumps({"k1": b64(generate_key())}),
                "blind_index_key": b64(generate_key()),
            },
            "REALNAME_TOKEN_KEYS must be set",
        ),
    ],
)
def test_token_key_settings_are_checked(
    tmp_path: Path, values: dict[str, str], message: str
) -> None:
    with pytest.raises(VaultError, match=message) as caught:
        token_keys_from_settings(token_settings(tmp_path / "k.json", **values))
    assert "short" not in str(caught.value) and b64(b"short") not in str(caught.value)
