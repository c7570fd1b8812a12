"""The platform's keys from settings: a mistake in them is named, never quoted (a private key
pasted where a key id belongs was echoed in the error, and so on the console and in logs)."""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from realname.config import Settings
from realname.national.feeds.keys import platform_keys
from realname.security.vault import VaultError


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


PRIVATE = _b64(secrets.token_bytes(32))
INDEX = _b64(secrets.token_bytes(32))


@pytest.mark.parametrize(
    "sealing",
    [
        {PRIVATE: PRIVATE},  # the key pasted as its own id
        {PRIVATE: "n1"},
        {"n1": PRIVATE[:-4]},  # a key cut short
        {"n1": PRIVATE + "AAAA"},  # too long
        {},
    ],
)
def test_a_wrong_sealing_key_map_is_refused_without_quoting_a_key(
    sealing: dict[str, str],
) -> None:
    settings = Settings(national_sealing_keys=json.dumps(sealing), national_index_key=INDEX)
    with pytest.raises(VaultError) as refused:
        platform_keys(settings)
    message = str(refused.value)
    assert PRIVATE not in message and PRIVATE[:16] not in message
    assert "REALNAME_NATIONAL_SEALING_KEYS" in message


def test_a_right_sealing_key_map_gives_the_platform_its_keys() -> None:
    settings = Settings(
        national_sealing_keys=json.dumps({"n1": _b64(secrets.token_bytes(32)), "n2": PRIVATE}),
        national_index_key=INDEX,
    )
    keys = platform_keys(settings)
    assert sorted(keys.sealing) == ["n1", "n2"] and keys.active == "n2"
    assert PRIVATE not in repr(keys)
