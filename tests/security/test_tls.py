"""The one outbound TLS context and loopback check (realname/security/tls.py)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from realname.authority.http import HttpAuthorityConfig, tls_context
from realname.security.tls import client_tls_context, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("localhost.example", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_context_verifies_and_refuses_below_tls_1_2() -> None:
    context = client_tls_context()
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    authority = tls_context(HttpAuthorityConfig(url="https://authority.example"))
    assert authority.minimum_version is ssl.TLSVersion.TLSv1_2


def test_an_unreadable_ca_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        client_tls_context(ca_file=str(tmp_path / "none.pem"))
