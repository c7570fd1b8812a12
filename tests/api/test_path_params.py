"""Every path parameter of the app, fed absurd values: a clear 4xx, never a 500."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import Api

# Python refuses int() on strings of more than 4,300 digits; Starlette's `int` converter called
# it while matching routes, so `GET /v1/lines/<4301 digits>` was a 500 with a traceback.
ABSURD = ["1" * 4301, "9" * 20, str(2**63), "0", "-1", "1e3", "x"]


def _routes(api: Api) -> list[tuple[str, str]]:
    """Every (method, path template) with a path parameter, from the app's own description."""
    paths = api.client.get("/openapi.json").json()["paths"]
    return [
        (method.upper(), template)
        for template, operations in paths.items()
        if "{" in template
        for method in operations
    ]


def test_the_app_has_routes_with_path_parameters(api: Api) -> None:
    assert ("GET", "/v1/lines/{line_id}") in _routes(api)


@pytest.mark.parametrize("value", ABSURD)
def test_no_path_parameter_value_is_a_server_error(api: Api, value: str) -> None:
    for method, template in _routes(api):
        path = re.sub(r"\{[^}]+\}", value, template)
        for who in ("admin", "regulator", "clerk"):
            response = api.client.request(method, path, json={}, headers=api.headers(who))
            assert response.status_code < 500, (method, template, response.text)
            body = response.json()
            assert set(body) == {"status", "code", "message"}, (method, template)
            assert value not in body["message"]


def test_a_line_id_of_4301_digits_is_not_found(api: Api) -> None:
    for value in ("1" * 4301, "9" * 20):
        response = api.client.get(f"/v1/lines/{value}", headers=api.headers("admin"))
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "NOT_FOUND"
    too_big = api.client.get(f"/v1/lines/{2**63}", headers=api.headers("admin"))
    assert too_big.status_code == 400 and too_big.json()["code"] == "INVALID_ARGUMENT"
    history = api.client.get(f"/v1/lines/{'1' * 4301}/history", headers=api.headers("admin"))
    assert history.status_code == 400 and history.json()["code"] == "INVALID_ARGUMENT"
