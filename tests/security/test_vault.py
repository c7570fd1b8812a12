from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realname.security import KeyRing, Sealed, VaultError, generate_key

NAME = "identity.name"
NUMBER = "identity.number"


def ring(
    keys: dict[str, bytes] | None = None, active: str = "k1", index_key: bytes | None = None
) -> KeyRing:
    return KeyRing(
        keys if keys is not None else {"k1": generate_key()}, active, index_key or generate_key()
    )


# Hypothesis dislikes function-scoped fixtures, so property tests share one module-level ring.
KEYRING_FOR_PROPERTIES = ring()


@pytest.fixture(scope="module")
def keyring() -> KeyRing:
    return ring()


@pytest.mark.parametrize(
    "plaintext",
    [
        "张伟",
        "欧阳娜娜",
        "阿卜杜热合曼·艾力",
        "",
        "广东省深圳市南山区粤海街道科技园科苑路15号讯美科技广场3号楼" * 40,
        "110105194912310021",
    ],
)
def test_round_trip(keyring: KeyRing, plaintext: str) -> None:
    sealed = keyring.seal(plaintext, NAME)
    assert sealed.key_id == "k1"
    assert plaintext.encode() not in sealed.blob or plaintext == ""
    assert keyring.open(sealed, NAME) == plaintext


@given(st.text())
def test_any_text_round_trips(plaintext: str) -> None:
    keyring = KEYRING_FOR_PROPERTIES
    assert keyring.open(keyring.seal(plaintext, NAME), NAME) == plaintext


def test_blob_is_nonce_ciphertext_and_tag(keyring: KeyRing) -> None:
    assert len(keyring.seal("张伟", NAME).blob) == 12 + len("张伟".encode()) + 16


def test_value_moved_to_another_column_does_not_open(keyring: KeyRing) -> None:
    sealed = keyring.seal("张伟", NAME)
    with pytest.raises(VaultError, match="authentication"):
        keyring.open(sealed, NUMBER)


@pytest.mark.parametrize("position", [0, 11, 12, -17, -1])
def test_tampered_blob_does_not_open(keyring: KeyRing, position: int) -> None:
    sealed = keyring.seal("张伟", NAME)
    blob = bytearray(sealed.blob)
    blob[position] ^= 0x01
    with pytest.raises(VaultError):
        keyring.open(Sealed(sealed.key_id, bytes(blob)), NAME)


def test_truncated_blob_does_not_open(keyring: KeyRing) -> None:
    sealed = keyring.seal("张伟", NAME)
    for length in (0, 12, 27, len(sealed.blob) - 1):
        with pytest.raises(VaultError):
            keyring.open(Sealed(sealed.key_id, sealed.blob[:length]), NAME)


def test_unknown_key_id_does_not_open(keyring: KeyRing) -> None:
    sealed = keyring.seal("张伟", NAME)
    with pytest.raises(VaultError, match="does not hold"):
        keyring.open(dataclasses.replace(sealed, key_id="k9"), NAME)


def test_other_key_ring_cannot_open(keyring: KeyRing) -> None:
    sealed = keyring.seal("张伟", NAME)
    with pytest.raises(VaultError):
        ring().open(sealed, NAME)


def test_every_seal_uses_a_fresh_nonce(keyring: KeyRing) -> None:
    blobs = {keyring.seal("张伟", NAME).blob for _ in range(50)}
    assert len(blobs) == 50
    assert len({blob[:12] for blob in blobs}) == 50


def test_sealed_is_immutable(keyring: KeyRing) -> None:
    sealed = keyring.seal("张伟", NAME)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sealed.key_id = "k2"  # type: ignore[misc]


@pytest.mark.parametrize("context", ["", "identity\x00name"])
def test_ambiguous_contexts_are_refused(keyring: KeyRing, context: str) -> None:
    with pytest.raises(VaultError, match="context"):
        keyring.seal("张伟", context)
    with pytest.raises(VaultError, match="context"):
        keyring.blind_index("张伟", context)


def test_unencodable_text_is_refused_without_quoting_it(keyring: KeyRing) -> None:
    with pytest.raises(VaultError) as raised:
        keyring.seal("张\udc80伟", NAME)
    assert "张" not in str(raised.value)
    assert raised.value.__cause__ is None


# --- blind index -------------------------------------------------------------------------


def test_blind_index_is_deterministic(keyring: KeyRing) -> None:
    first = keyring.blind_index("110105194912310021", NUMBER)
    assert len(first) == 32
    assert keyring.blind_index("110105194912310021", NUMBER) == first
    assert keyring.blind_index("110105194912310022", NUMBER) != first


def test_blind_index_depends_on_context(keyring: KeyRing) -> None:
    assert keyring.blind_index("张伟", NAME) != keyring.blind_index("张伟", NUMBER)


def test_blind_index_separates_context_from_value(keyring: KeyRing) -> None:
    assert keyring.blind_index("bc", "a") != keyring.blind_index("c", "ab")


def test_blind_index_depends_on_index_key() -> None:
    pii_key = generate_key()
    one = ring({"k1": pii_key}, index_key=generate_key())
    other = ring({"k1": pii_key}, index_key=generate_key())
    assert one.blind_index("张伟", NAME) != other.blind_index("张伟", NAME)


def test_blind_index_survives_pii_key_rotation() -> None:
    k1, index_key = generate_key(), generate_key()
    before = ring({"k1": k1}, "k1", index_key)
    after = ring({"k1": k1, "k2": generate_key()}, "k2", index_key)
    assert before.blind_index("张伟", NAME) == after.blind_index("张伟", NAME)


@given(st.text(), st.text())
def test_blind_index_distinguishes_distinct_values(first: str, second: str) -> None:
    keyring = KEYRING_FOR_PROPERTIES
    same_index = keyring.blind_index(first, NAME) == keyring.blind_index(second, NAME)
    assert same_index == (first == second)


# --- rotation ----------------------------------------------------------------------------


def test_rotation_keeps_old_values_readable_and_reseal_moves_them() -> None:
    k1, index_key = generate_key(), generate_key()
    old_ring = ring({"k1": k1}, "k1", index_key)
    old = old_ring.seal("欧阳娜娜", NAME)

    new_ring = ring({"k1": k1, "k2": generate_key()}, "k2", index_key)
    assert new_ring.active_key_id == "k2"
    assert new_ring.open(old, NAME) == "欧阳娜娜"
    assert new_ring.needs_rotation(old.key_id)

    moved = new_ring.reseal(old, NAME)
    assert moved.key_id == "k2"
    assert not new_ring.needs_rotation(moved.key_id)
    assert new_ring.open(moved, NAME) == "欧阳娜娜"
    assert new_ring.seal("张伟", NAME).key_id == "k2"
    with pytest.raises(VaultError):
        old_ring.open(moved, NAME)

    assert new_ring.reseal(moved, NAME) is moved


def test_reseal_checks_the_context() -> None:
    k1, index_key = generate_key(), generate_key()
    old = ring({"k1": k1}, "k1", index_key).seal("张伟", NAME)
    new_ring = ring({"k1": k1, "k2": generate_key()}, "k2", index_key)
    with pytest.raises(VaultError):
        new_ring.reseal(old, NUMBER)


# --- construction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "active", "index_key", "message"),
    [
        ({}, "k1", b"i" * 32, "at least one"),
        ({"k1": b"x" * 16}, "k1", b"i" * 32, "exactly 32 bytes"),
        ({"k1": b"x" * 33}, "k1", b"i" * 32, "exactly 32 bytes"),
        ({"k1": b"x" * 32}, "k2", b"i" * 32, "active key"),
        ({"k1": b"x" * 32}, "k1", b"i" * 31, "at least 32 bytes"),
        ({"k1": b"x" * 32}, "k1", b"x" * 32, "differ"),
        ({"": b"x" * 32}, "", b"i" * 32, "key ids"),
        ({"k" * 33: b"x" * 32}, "k" * 33, b"i" * 32, "key ids"),
    ],
)
def test_bad_key_rings_are_refused(
    keys: dict[str, bytes], active: str, index_key: bytes, message: str
) -> None:
    with pytest.raises(VaultError, match=message):
        KeyRing(keys, active, index_key)


def test_repr_shows_no_key_material() -> None:
    key = generate_key()
    text = repr(ring({"k1": key}))
    assert "k1" in text
    assert repr(key) not in text
    assert key.hex() not in text


def test_generate_key_is_random_and_32_bytes() -> None:
    keys = {generate_key() for _ in range(10)}
    assert len(keys) == 10
    assert all(len(key) == 32 for key in keys)
