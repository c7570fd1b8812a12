"""`/v1/national/lookup/codes` over HTTP (in process): the answer's time does not tell a
match, and the per-source limit counts the caller behind a trusted proxy, IPv6 per /64."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from realname.api.app import create_app
from realname.clock import FixedClock
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from realname.policy.loader import load_policy
from realname.security.keys import keyring_from_settings
from tests.national.conftest import NOW, Nation, build_nation

FLOOR_MS = 300


@dataclass
class Platform:
    app: FastAPI
    nation: Nation

    def ask(self, person: int = 0, **over: str) -> dict[str, str]:
        who = self.nation.world.people[person]
        body = {
            "document_type": "resident_id",
            "document_number": who.document_number,
            "name": who.name,
            "msisdn": self.nation.cmcc_lines[0],
        }
        body.update(over)
        return body


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    tmp: Path = tmp_path_factory.mktemp("lookup")
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'platform.db'}",
        key_file=str(tmp / "keys.json"),
        evidence_dir=str(tmp / "evidence"),
        national_lookup_floor_ms=FLOOR_MS,
        national_lookup_per_source_per_hour=2,
        national_lookup_per_identity_per_day=50,
        trusted_proxies="10.0.0.0/8",
    )
    engine = create_engine_from_settings(settings)
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        nation = build_nation(session, keyring_from_settings(settings), load_policy("china"))
        for signer in (nation.cmcc, nation.mvno):
            for envelope in nation.build(signer):
                nation.take(envelope)
    app = create_app(settings, clock=FixedClock(NOW))
    app.state.national_keys = lambda: nation.keys
    yield Platform(app, nation)
    engine.dispose()


def _timed(client: TestClient, body: dict[str, str], **headers: str) -> tuple[int, float]:
    started = time.perf_counter()
    answer = client.post("/v1/national/lookup/codes", json=body, headers=headers)
    return answer.status_code, time.perf_counter() - started


def test_a_match_and_a_stranger_both_take_at_least_the_floor(platform: Platform) -> None:
    client = TestClient(platform.app, client=("198.51.100.10", 4000))
    matched = _timed(client, platform.ask())
    stranger = _timed(client, platform.ask(document_number="11010519491231002X"))
    assert matched[0] == stranger[0] == 202
    assert matched[1] >= FLOOR_MS / 1000 and stranger[1] >= FLOOR_MS / 1000
    # a refusal (over the per-source limit) is no quicker
    refused = _timed(client, platform.ask(document_number="11010519491231002X"))
    assert refused[0] == 429 and refused[1] >= FLOOR_MS / 1000


def test_callers_behind_a_trusted_proxy_are_counted_apart(platform: Platform) -> None:
    proxy = TestClient(platform.app, client=("10.0.0.5", 4000))
    stranger = platform.ask(document_number="11010519491231002X")
    for caller in ("198.51.100.20", "198.51.100.21", "198.51.100.22"):
        for _ in range(2):  # each caller's own limit of two, not the proxy's
            status, _took = _timed(proxy, stranger, **{"X-Forwarded-For": caller})
            assert status == 202
    status, _took = _timed(proxy, stranger, **{"X-Forwarded-For": "198.51.100.20"})
    assert status == 429


def test_an_untrusted_peers_forwarded_header_is_ignored(platform: Platform) -> None:
    direct = TestClient(platform.app, client=("198.51.100.30", 4000))
    stranger = platform.ask(document_number="11010519491231002X")
    statuses = [
        _timed(direct, stranger, **{"X-Forwarded-For": f"192.0.2.{n}"})[0] for n in range(3)
    ]
    assert statuses == [202, 202, 429]


def test_ipv6_callers_in_one_64_share_a_limit(platform: Platform) -> None:
    stranger = platform.ask(document_number="11010519491231002X")
    statuses = [
        _timed(TestClient(platform.app, client=(f"2001:db8:5:6::{n}", 4000)), stranger)[0]
        for n in (1, 2, 3)
    ]
    assert statuses == [202, 202, 429]
