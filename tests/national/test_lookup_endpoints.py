"""`/v1/national/lookup/codes` over HTTP (in process): the answer's time does not tell a
match, and the per-source limit counts the caller behind a trusted proxy, IPv6 per /64."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from tests.national.conftest import PLATFORM_FLOOR_MS, PlatformApp

FLOOR_MS = PLATFORM_FLOOR_MS


def _timed(client: TestClient, body: dict[str, str], **headers: str) -> tuple[int, float]:
    started = time.perf_counter()
    answer = client.post("/v1/national/lookup/codes", json=body, headers=headers)
    return answer.status_code, time.perf_counter() - started


def test_a_match_and_a_stranger_both_take_at_least_the_floor(platform_app: PlatformApp) -> None:
    client = TestClient(platform_app.app, client=("198.51.100.10", 4000))
    matched = _timed(client, platform_app.ask())
    stranger = _timed(client, platform_app.ask(document_number="11010519491231002X"))
    assert matched[0] == stranger[0] == 202
    assert matched[1] >= FLOOR_MS / 1000 and stranger[1] >= FLOOR_MS / 1000
    # a refusal (over the per-source limit) is no quicker
    refused = _timed(client, platform_app.ask(document_number="11010519491231002X"))
    assert refused[0] == 429 and refused[1] >= FLOOR_MS / 1000


def test_callers_behind_a_trusted_proxy_are_counted_apart(platform_app: PlatformApp) -> None:
    proxy = TestClient(platform_app.app, client=("10.0.0.5", 4000))
    stranger = platform_app.ask(document_number="11010519491231002X")
    for caller in ("198.51.100.20", "198.51.100.21", "198.51.100.22"):
        for _ in range(2):  # each caller's own limit of two, not the proxy's
            status, _took = _timed(proxy, stranger, **{"X-Forwarded-For": caller})
            assert status == 202
    status, _took = _timed(proxy, stranger, **{"X-Forwarded-For": "198.51.100.20"})
    assert status == 429


def test_an_untrusted_peers_forwarded_header_is_ignored(platform_app: PlatformApp) -> None:
    direct = TestClient(platform_app.app, client=("198.51.100.30", 4000))
    stranger = platform_app.ask(document_number="11010519491231002X")
    statuses = [
        _timed(direct, stranger, **{"X-Forwarded-For": f"192.0.2.{n}"})[0] for n in range(3)
    ]
    assert statuses == [202, 202, 429]


def test_ipv6_callers_in_one_64_share_a_limit(platform_app: PlatformApp) -> None:
    stranger = platform_app.ask(document_number="11010519491231002X")
    statuses = [
        _timed(TestClient(platform_app.app, client=(f"2001:db8:5:6::{n}", 4000)), stranger)[0]
        for n in (1, 2, 3)
    ]
    assert statuses == [202, 202, 429]
