from __future__ import annotations

import pytest

from realname.security.audit_keys import AuditKeys
from realname.security.vault import KeyRing, generate_key


@pytest.fixture(scope="session")
def keyring() -> KeyRing:
    return KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())
