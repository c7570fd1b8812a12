"""Tokens and logins against a real app on a pinned clock: revocation takes effect within
the status cache's seconds, tokens verify only under their own keys, failed logins are
throttled per client id and per source address, and scrypt runs off the event loop."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from realname.api.app import create_app
from realname.clock import FixedClock
from realname.config import Settings
from realname.security import clients as clients_module
from realname.security.clients import ClientService
from realname.security.keys import keyring_from_settings
from realname.security.principals import Role

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
CACHE_SECONDS = 2.0
WINDOW = 300
ANY_LINE = "/v1/lines/987654321"  # no such line: 404 once authenticated, 401 before


@dataclass
class App:
    client: TestClient
    clock: FixedClock
    engine: Engine
    settings: Settings

    def new_client(self) -> tuple[str, str]:
        with Session(self.engine) as session, session.begin():
            client, secret = ClientService(session, keyring_from_settings(self.settings)).create(
                role=Role.REGULATOR, at=NOW
            )
            return client.client_id, secret

    def login(self, client_id: str, secret: str, source: str | None = None) -> Response:
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        client = self.client
        if source is not None:
            client = TestClient(self.client.app, client=(source, 50000))
        return client.post(
            "/oauth/token",
            content="grant_type=client_credentials",
            headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )

    def token(self, client_id: str, secret: str) -> str:
        response = self.login(client_id, secret)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def read(self, token: str) -> int:
        return self.client.get(ANY_LINE, headers={"Authorization": f"Bearer {token}"}).status_code


@pytest.fixture
def app(fresh_engine: Engine, tmp_path: Path) -> Iterator[App]:
    settings = Settings(
        database_url=fresh_engine.url.render_as_string(hide_password=False),
        key_file=str(tmp_path / "keys.json"),
        client_status_cache_seconds=CACHE_SECONDS,
        login_max_failures=3,
        login_max_failures_per_source=6,
        login_failure_window_seconds=WINDOW,
    )
    clock = FixedClock(NOW)
    with TestClient(create_app(settings, clock=clock), raise_server_exceptions=False) as client:
        yield App(client, clock, fresh_engine, settings)


def test_a_revoked_clients_token_is_refused_within_seconds(app: App) -> None:
    client_id, secret = app.new_client()
    token = app.token(client_id, secret)
    assert app.read(token) == 404
    with Session(app.engine) as session, session.begin():
        assert ClientService(session, keyring_from_settings(app.settings)).revoke(client_id, NOW)
    app.clock.advance(timedelta(seconds=CACHE_SECONDS))  # the cache window, not the token's life
    assert app.read(token) == 401
    assert app.login(client_id, secret).status_code == 401


def test_a_disabled_client_is_refused_too(app: App) -> None:
    from sqlalchemy import update

    from realname.security.models import ApiClient

    client_id, secret = app.new_client()
    token = app.token(client_id, secret)
    with Session(app.engine) as session, session.begin():
        session.execute(
            update(ApiClient).where(ApiClient.client_id == client_id).values(status="disabled")
        )
    app.clock.advance(timedelta(seconds=CACHE_SECONDS))
    assert app.read(token) == 401


def test_a_token_signed_with_the_blind_index_key_is_refused(app: App) -> None:
    """Anyone holding the blind-index key could mint a token for any role."""
    client_id, _secret = app.new_client()
    keyring = keyring_from_settings(app.settings)
    derived = keyring.blind_index("jwt-signing-key", "realname.tokens")
    claims = {
        "iss": "realname",
        "sub": client_id,
        "role": "regulator",
        "scope": "registry:read registry:reveal",
        "iat": int(NOW.timestamp()),
        # long-lived, so only the key decides, whatever the machine's date
        "exp": int((NOW + timedelta(days=3650)).timestamp()),
    }
    for headers in (None, {"kid": "t1"}):
        forged = jwt.encode(claims, derived, algorithm="HS256", headers=headers)
        assert app.read(forged) == 401


def test_tokens_carry_a_kid_and_an_unknown_kid_is_refused(app: App) -> None:
    client_id, secret = app.new_client()
    token = app.token(client_id, secret)
    assert jwt.get_unverified_header(token)["kid"] == "t1"
    claims = jwt.decode(token, options={"verify_signature": False})
    signing_key = app.client.app.state.runtime.token_keys.signing_key
    for kid in ("t2", "", None):
        headers = {"kid": kid} if kid is not None else None
        assert app.read(jwt.encode(claims, signing_key, algorithm="HS256", headers=headers)) == 401
    assert app.read(token) == 404


def test_token_expiry_follows_the_injected_clock(app: App) -> None:
    client_id, secret = app.new_client()
    token = app.token(client_id, secret)
    app.clock.advance(timedelta(seconds=app.settings.token_ttl_seconds - 1))
    assert app.read(token) == 404
    app.clock.advance(timedelta(seconds=1))
    assert app.read(token) == 401


def test_failed_logins_lock_a_client_out_even_with_the_right_secret(app: App) -> None:
    client_id, secret = app.new_client()
    for _ in range(3):
        assert app.login(client_id, "wrong").status_code == 401
    refused = app.login(client_id, secret)
    assert refused.status_code == 429
    assert refused.json()["code"] == "TOO_MANY_REQUESTS"
    assert refused.headers["retry-after"] == str(WINDOW)
    # from another address too: the client id is locked, not only the address
    assert app.login(client_id, secret, source="192.0.2.7").status_code == 429
    app.clock.advance(timedelta(seconds=WINDOW - 1))
    assert app.login(client_id, secret).headers["retry-after"] == "1"
    app.clock.advance(timedelta(seconds=1))
    assert app.token(client_id, secret)
    # a success clears the client's count: two more failures do not lock it
    for _ in range(2):
        assert app.login(client_id, "wrong").status_code == 401
    assert app.token(client_id, secret)


def test_failed_logins_lock_a_source_address_out(app: App) -> None:
    client_id, secret = app.new_client()
    for n in range(6):
        response = app.login(f"invented-{n}", "guess", source="198.51.100.9")
        assert response.status_code == 401
    blocked = app.login(client_id, secret, source="198.51.100.9")
    assert blocked.status_code == 429
    assert app.login(client_id, secret, source="198.51.100.10").status_code == 200


def test_scrypt_runs_off_the_event_loop(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    on_loop: list[bool] = []
    real = clients_module.verify_secret

    def spy(secret: str, stored: str) -> bool:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return real(secret, stored)

    monkeypatch.setattr(clients_module, "verify_secret", spy)
    client_id, secret = app.new_client()
    app.token(client_id, secret)
    app.login(client_id, "wrong")
    app.login("nobody", "wrong")
    assert on_loop == [False, False, False]


def test_simultaneous_guesses_get_no_more_secret_checks_than_the_limit(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review sent 24 wrong logins at once for one client id: 18 reached the secret check
    against a limit of 5 (check, hash, then count). The attempt is now counted first."""
    from concurrent.futures import ThreadPoolExecutor

    checks: list[str] = []
    real = clients_module.verify_secret

    def counting(secret: str, stored: str) -> bool:
        checks.append(secret)
        return real(secret, stored)

    monkeypatch.setattr(clients_module, "verify_secret", counting)
    client_id, _secret = app.new_client()
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda _n: app.login(client_id, "wrong").status_code, range(12)))
    assert sorted(statuses) == [401] * 3 + [429] * 9, statuses
    assert len(checks) == 3
