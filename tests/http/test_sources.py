"""The caller's address a per-source limit counts (realname/http/sources.py)."""

from __future__ import annotations

import pytest

from realname.http.sources import client_address, parse_networks, source_key

PROXIES = parse_networks("10.0.0.0/8, 2001:db8:ffff::1")


def _source(peer: str | None, *forwarded: str) -> str:
    return source_key(client_address(peer, list(forwarded), PROXIES))


def test_a_direct_caller_is_its_peer_and_its_header_is_not_believed() -> None:
    assert _source("203.0.113.7") == "203.0.113.7"
    assert _source("203.0.113.7", "198.51.100.1") == "203.0.113.7"


def test_behind_a_trusted_proxy_the_caller_is_the_first_untrusted_hop_from_the_right() -> None:
    assert _source("10.0.0.2", "198.51.100.1") == "198.51.100.1"
    # the caller wrote a spoofed hop; the proxies appended what they saw
    assert _source("10.0.0.2", "192.0.2.99, 198.51.100.1, 10.0.0.3") == "198.51.100.1"
    assert _source("10.0.0.2", "192.0.2.99", "198.51.100.1") == "198.51.100.1"  # two headers
    assert _source("10.0.0.2") == "10.0.0.2"  # no header: the proxy itself
    assert _source("10.0.0.2", "not-an-address") == "10.0.0.2"


def test_ipv6_callers_count_per_64() -> None:
    one = _source("2001:db8:1:2:aaaa::1")
    assert one == _source("2001:db8:1:2:ffff:1:2:3") == "2001:db8:1:2::/64"
    assert one != _source("2001:db8:1:3::1")
    assert _source("2001:db8:ffff::1", "[2001:db8:1:2::9]") == "2001:db8:1:2::/64"
    assert _source("::ffff:203.0.113.7") == "203.0.113.7"  # a v4 caller on a dual stack


def test_an_unreadable_peer_is_unknown_and_a_bad_proxy_list_is_refused() -> None:
    assert _source(None) == _source("testclient") == "unknown"
    with pytest.raises(ValueError, match="not an address"):
        parse_networks("10.0.0.0/8, proxy.example")


def test_every_per_source_limit_reads_the_caller_one_way() -> None:
    """The token endpoint, login codes and the staff sign-in counted `request.client.host`
    (every caller behind a proxy shared one limit; an IPv6 caller rotated its /64); they now
    count what 一证通查 counts."""
    from starlette.requests import Request

    from realname.http.sources import request_source

    def request(peer: str, forwarded: str | None = None) -> Request:
        headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
        return Request({"type": "http", "client": (peer, 1234), "headers": headers})

    assert request_source(request("10.0.0.5", "203.0.113.9"), "10.0.0.0/8") == "203.0.113.9"
    assert request_source(request("198.51.100.1", "203.0.113.9"), "10.0.0.0/8") == "198.51.100.1"
    assert request_source(request("2001:db8:1:2::7"), None) == "2001:db8:1:2::/64"
