"""The TLS every outbound client of RealName uses (the identity authority's adapter, the
national feed's HTTP push): one place for the context and for "plain http only to loopback"."""

from __future__ import annotations

import ipaddress
import ssl

MINIMUM_TLS = ssl.TLSVersion.TLSv1_2


def is_loopback(host: str | None) -> bool:
    """`localhost` or a loopback address (`127.0.0.0/8`, `::1`, bracketed or not)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def client_tls_context(
    ca_file: str | None = None, client_cert: str | None = None, client_key: str | None = None
) -> ssl.SSLContext:
    """Server verification against the system store or `ca_file`, TLS 1.2 at least, and our
    client certificate when given (mutual TLS). Unreadable files raise OSError / ssl.SSLError."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = MINIMUM_TLS
    if client_cert:
        context.load_cert_chain(client_cert, client_key or None)
    return context
