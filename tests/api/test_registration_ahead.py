"""`POST /v1/registrations` served ahead of FastAPI (`counter.RegistrationAhead`, the default)
answers exactly as its FastAPI route does: the same statuses, bodies, codes and headers for
a registration, its refusals, a bad token, the wrong role, a token without the route's
scope, broken bodies (bad JSON, not UTF-8, other content types, with and without a token, in
Chinese) and an idempotent replay; the metrics name the route's template. Both engines."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from realname.api import counter
from realname.api.counter import RegistrationAhead
from realname.http import deps
from tests.api.conftest import Api, person_json, token_for

PATH = "/v1/registrations"
# Values that differ between two registrations of two numbers: ids, numbers, times.
_VARYING = re.compile(r'"(id|msisdn|iccid|imsi|activated_at|owner_since|[a-z_]*_at)":"?[^,"}]*"?')


@pytest.fixture
def served(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the requests the handler ahead served; the app's flag restored after."""
    state = api.client.app.state  # type: ignore[attr-defined]
    was = state.registration_ahead
    counted: list[int] = []
    serve = RegistrationAhead.serve

    async def counting(self: RegistrationAhead, *args: Any) -> None:
        counted.append(1)
        await serve(self, *args)

    monkeypatch.setattr(RegistrationAhead, "serve", counting)
    yield counted
    state.registration_ahead = was


def _cases(api: Api) -> dict[str, Callable[[], httpx.Response]]:
    """Each case sends one request of its own (new numbers each time it is called)."""
    client = api.client
    clerk = api.headers("clerk", **{"x-correlator": "ahead-1"})

    def registration(**headers: str) -> httpx.Response:
        body = {"msisdn": api.number(), "customer": person_json(api.people[0])}
        return client.post(PATH, json=body, headers={**clerk, **headers})

    def twice() -> httpx.Response:
        number = api.number()
        body = {"msisdn": number, "customer": person_json(api.people[1])}
        assert client.post(PATH, json=body, headers=clerk).status_code == 201
        return client.post(PATH, json=body, headers=clerk)

    def replayed() -> httpx.Response:
        key = {"Idempotency-Key": f"ahead-{api.number()}"}
        body = {"msisdn": api.number(), "customer": person_json(api.people[2])}
        first = client.post(PATH, json=body, headers={**clerk, **key})
        assert first.status_code == 201, first.text
        again = client.post(PATH, json=body, headers={**clerk, **key})
        assert again.json() == first.json()
        return again

    def post(content: bytes, headers: dict[str, str]) -> Callable[[], httpx.Response]:
        return lambda: client.post(PATH, content=content, headers=headers)

    json_type = {"content-type": "application/json"}
    # The clerk's token narrowed to reading: the route's scope (registry:write) is missing.
    narrowed = token_for(client, *api.secrets["clerk"], "registry:read")
    reader = {"Authorization": f"Bearer {narrowed}"}
    return {
        "registered": registration,
        "already registered": twice,
        "replayed": replayed,
        "no token": post(b"{}", json_type),
        "bad token": post(b"{}", {**json_type, "Authorization": "Bearer nope"}),
        "not a clerk": post(b"{}", {**json_type, **api.headers("admin")}),
        "without the scope": lambda: client.post(
            PATH,
            json={"msisdn": api.number(), "customer": person_json(api.people[6])},
            headers=reader,
        ),
        "charset and +json": post(
            b'{"msisdn": 5}', {**clerk, "content-type": "application/vnd.x+json; charset=utf-8"}
        ),
        "not utf-8, in Chinese": post(
            b'{"msisdn": "\xff"}', {**clerk, **json_type, "Accept-Language": "zh-CN"}
        ),
        "invalid json": post(b'{"msisdn": ', {**clerk, **json_type}),
        "invalid json, no token": post(b'{"msisdn": ', json_type),
        "wrong types, no token": post(b'{"msisdn": 5}', json_type),
        "no body": post(b"", {**clerk, **json_type}),
        "not json": post(b"msisdn=1", {**clerk, "content-type": "text/plain"}),
        "wrong types": post(b'{"msisdn": 5, "customer": []}', {**clerk, **json_type}),
        "bad number": lambda: client.post(
            PATH,
            json={"msisdn": "+86 12", "customer": person_json(api.people[3])},
            headers=clerk,
        ),
        "no entry method": lambda: client.post(
            PATH,
            json={
                "msisdn": api.number(),
                "customer": {**person_json(api.people[4]), "entry_method": None},
            },
            headers=clerk,
        ),
    }


def _seen(response: httpx.Response) -> tuple[int, str, dict[str, str]]:
    headers = {
        name: response.headers[name]
        for name in ("content-type", "x-correlator", "retry-after")
        if name in response.headers
    }
    return response.status_code, _VARYING.sub(r'"\1":_', response.text), headers


def test_the_registration_ahead_answers_as_its_route(api: Api, served: list[int]) -> None:
    state = api.client.app.state  # type: ignore[attr-defined]
    cases = _cases(api)
    for name, send in cases.items():
        state.registration_ahead = True
        before = len(served)
        ahead = send()
        assert len(served) > before, name  # the handler ahead served it
        state.registration_ahead = False
        before = len(served)
        route = send()
        assert len(served) == before, name  # FastAPI's route served it
        assert _seen(ahead) == _seen(route), name


def test_the_metrics_name_the_route_served_ahead(api: Api, served: list[int]) -> None:
    registry = api.client.app.state.metrics.registry  # type: ignore[attr-defined]

    def count() -> float:
        labels = {"route": PATH, "method": "POST", "status": "201"}
        return registry.get_sample_value("realname_http_requests_total", labels) or 0.0

    before = count()
    body = {"msisdn": api.number(), "customer": person_json(api.people[5])}
    response = api.client.post(PATH, json=body, headers=api.headers("clerk"))
    assert response.status_code == 201, response.text
    assert served and count() == before + 1


def test_an_unexpected_error_goes_on_as_from_the_route(
    api: Api, served: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug outside the route function (here in the token check) goes on to Starlette's
    server-error middleware as from the route: answered 500 by the app's handler there, then
    raised to the server, which logs it. The handler ahead answered it itself, and the server
    never heard of it."""

    async def broken(*_: object, **__: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(deps, "authenticate", broken)  # the route's dependency
    monkeypatch.setattr(counter, "authenticate", broken)  # the handler ahead's
    state = api.client.app.state  # type: ignore[attr-defined]
    raising = TestClient(api.client.app)  # raises what reached the server
    seen = []
    for ahead in (True, False):
        state.registration_ahead = ahead
        body = {"msisdn": api.number(), "customer": person_json(api.people[7])}
        headers = api.headers("clerk", **{"x-correlator": "bug-1"})
        seen.append(_seen(api.client.post(PATH, json=body, headers=headers)))
        with pytest.raises(RuntimeError, match="a bug"):
            raising.post(PATH, json=body, headers=headers)
    assert len(served) == 2  # ahead, both times
    assert seen[0] == seen[1] and seen[0][0] == 500, seen
