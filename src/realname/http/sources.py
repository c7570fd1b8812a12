"""Who is calling, as a rate limit should count them: the caller's address, taken from a
proxy's `X-Forwarded-For` only when the peer is a trusted proxy, and an IPv6 caller counted
per /64 (one subscriber's line is given a whole /64 and rotates through it at will)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN = "unknown"


def parse_networks(spec: str | Iterable[str] | None) -> tuple[Network, ...]:
    """`10.0.0.1, 192.168.0.0/16, fd00::/8` (or a list of them) as networks. A malformed
    entry raises ValueError naming it (an address is not PII here: it is configuration)."""
    if spec is None:
        return ()
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    networks: list[Network] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"not an address or network: {item!r}") from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> Address | None:
    """The caller's address. When the peer is a trusted proxy, the `X-Forwarded-For` chain is
    read from the right (each proxy appends the address it saw) past every trusted proxy; the
    first untrusted hop is the caller (whatever the caller wrote to the left is not believed).
    A header from an untrusted peer is ignored: anyone can send one."""
    address = _address(peer) if peer else None
    if address is None or not _trusted(address, trusted):
        return address
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        parsed = _address(hop)
        if parsed is None:
            return address  # a chain we cannot read: count the proxy, not a guess
        address = parsed
        if not _trusted(parsed, trusted):
            return parsed
    return address


def source_key(address: Address | None) -> str:
    """The unit a per-source limit counts: an IPv4 address, an IPv6 /64."""
    if address is None:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@lru_cache(maxsize=8)
def _trusted_networks(spec: str | None) -> tuple[Network, ...]:
    return parse_networks(spec)  # checked at start-up; parsed once, not per request


def request_source(request: Request, trusted_proxies: str | None) -> str:
    """What every per-source limit counts (logins, 一证通查, login codes, staff sign-in): the
    caller behind the trusted proxies (REALNAME_TRUSTED_PROXIES), an IPv6 caller's /64."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.getlist("x-forwarded-for")
    return source_key(client_address(peer, forwarded, _trusted_networks(trusted_proxies)))
