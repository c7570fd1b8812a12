"""The CAMARA APIs on the operator API's module-scoped app (SQLite and PostgreSQL): a bank
registered for every API with a consented customer, a second bank without consent, and a
payment app allowed only SIM Swap."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from realname.security.clients import ClientRepository, issue_device_token
from realname.verification.service import register_relying_party
from tests.api import conftest as api_conftest
from tests.api.conftest import Api, person_json, token_for

api = api_conftest.api  # the shared module-scoped app fixture, on both engines

REDIS_URL = os.environ.get("REALNAME_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def redis_or_skip() -> None:
    """Locally without Redis these tests skip and say why; with CI=true they fail."""
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=3, socket_connect_timeout=3)
        client.ping()
        client.close()
    except redis.RedisError as error:
        reason = f"Redis not reachable at {REDIS_URL}: {error}"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: Redis tests must run)")
        pytest.skip(reason)


def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the test Redis; its keys are deleted afterwards."""
    redis_or_skip()
    prefix = f"realname-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


ALL = ["kyc-match", "sim-swap", "kyc-age-verification", "kyc-tenure", "number-verification"]


@dataclass
class Camara:
    api: Api
    tokens: dict[str, str]
    lines: dict[str, dict[str, object]]  # name -> the registered line (id, msisdn, ...)

    def post(self, path: str, body: dict[str, object], who: str = "bank", **headers: str):  # type: ignore[no-untyped-def]
        return self.api.client.post(
            path, json=body, headers={"Authorization": f"Bearer {self.tokens[who]}", **headers}
        )

    def fresh(self, person_index: int, consent_for: str = "bank") -> tuple[str, str, str]:
        """A new line for a person, consented to `consent_for`: (msisdn, document, name)."""
        app, person = self.api, self.api.people[person_index]
        line = app.client.post(
            "/v1/registrations",
            json={"msisdn": app.number(), "customer": person_json(person)},
            headers=app.headers("clerk"),
        )
        assert line.status_code == 201, line.text
        consent = app.client.post(
            f"/v1/lines/{line.json()['id']}/consents",
            json={"relying_party_client_id": _client_of(consent_for, self.tokens[consent_for])},
            headers=app.headers("admin"),
        )
        assert consent.status_code == 201, consent.text
        return str(line.json()["msisdn"]), person.document_number, person.name

    def device_token(self, who: str, line: str) -> str:
        rt = self.api.client.app.state.runtime  # type: ignore[attr-defined]
        with rt.transaction() as session:
            client_id = _client_of(who, self.tokens[who])
            client = ClientRepository(session).by_client_id(client_id)
            assert client is not None
            return issue_device_token(
                client, rt.token_keys, int(str(self.lines[line]["id"])), now=rt.clock.now()
            ).access_token


def _client_of(who: str, token: str) -> str:
    """The client id a token was issued to (its subject), for the helpers above."""
    import jwt

    del who
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


@pytest.fixture(scope="module")
def camara(api: Api) -> Camara:
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    now = api.clock.now()
    parties = {
        "bank": ALL,
        "other_bank": ALL,
        "wallet": ["sim-swap"],
    }
    tokens = {}
    with rt.transaction() as session:
        created = {
            who: register_relying_party(
                session, rt.keyring, name=who, purpose="account opening", apis=apis, at=now
            )
            for who, apis in parties.items()
        }
        credentials = {who: (party.client_id, secret) for who, (party, secret) in created.items()}
    for who, (client_id, secret) in credentials.items():
        tokens[who] = token_for(api.client, client_id, secret)
    lines = {}
    for name, person in (("customer", api.people[5]), ("second", api.people[6])):
        response = api.client.post(
            "/v1/registrations",
            json={"msisdn": api.number(), "customer": person_json(person)},
            headers=api.headers("clerk"),
        )
        assert response.status_code == 201, response.text
        lines[name] = response.json()
        consent = api.client.post(
            f"/v1/lines/{lines[name]['id']}/consents",
            json={"relying_party_client_id": credentials["bank"][0]},
            headers=api.headers("admin"),
        )
        assert consent.status_code == 201, consent.text
        lines[name]["consent_id"] = consent.json()["id"]
    return Camara(api, tokens, lines)
