"""The pages on the API's test world (tests/api/conftest.py: SQLite and PostgreSQL), with a
staff account per role acting as that world's API clients."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from realname.security.clients import hash_secret
from realname.security.staff import StaffAccount, StaffService
from tests.api.conftest import Api, _api
from tests.conftest import _postgres_database

PASSWORD = "correct horse battery"
ACCOUNTS = ("clerk", "admin", "other_admin", "regulator", "regulator_inspector")


@dataclass
class Web:
    api: Api

    def browser(self) -> TestClient:
        """A fresh browser (its own cookies) on https, so Secure cookies are sent."""
        return TestClient(
            self.api.client.app, base_url="https://testserver", follow_redirects=False
        )

    def signed_in(self, who: str) -> TestClient:
        browser = self.browser()
        csrf = csrf_of(browser.get("/web/login").text)
        response = browser.post(
            "/web/login", data={"username": who, "password": PASSWORD, "csrf_token": csrf}
        )
        assert response.status_code == 303, response.text
        return browser


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def form_id_of(html: str) -> str:
    """The rendering's form id: what makes a form sent again one request to the API."""
    found = re.search(r'name="form_id" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def web(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    tmp = tmp_path_factory.mktemp("web")
    urls: Iterator[str] = (
        iter([f"sqlite:///{tmp / 'web.db'}"]) if request.param == "sqlite" else _postgres_database()
    )
    for url in urls:
        for api in _api(url, tmp):
            rt = api.client.app.state.runtime  # type: ignore[attr-defined]
            with rt.transaction() as session:
                staff = StaffService(session, rt.keyring)
                for name in ACCOUNTS[:-1]:
                    staff.create_account(name, PASSWORD, api.secrets[name][0], rt.clock.now())
                # A role with no pages cannot be given an account any more; one written by
                # hand (or before that check) must still be refused by every page and the API.
                session.add(
                    StaffAccount(
                        username="regulator_inspector",
                        password_hash=hash_secret(PASSWORD),
                        client_id=api.secrets["regulator_inspector"][0],
                        status="active",
                        created_at=rt.clock.now(),
                    )
                )
            yield Web(api)
