"""The operator API as a front-desk system and a back office use it."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import Api, person_json


def register(
    api: Api, person_index: int, who: str = "clerk", number: str | None = None, **headers: str
) -> object:
    return api.client.post(
        "/v1/registrations",
        json={"msisdn": number or api.number(), "customer": person_json(api.people[person_index])},
        headers=api.headers(who, **headers),
    )


def assert_error(response: object, status: int, code: str) -> dict[str, object]:
    body = response.json()  # type: ignore[attr-defined]
    assert response.status_code == status, body  # type: ignore[attr-defined]
    assert set(body) == {"status", "code", "message"}
    assert body["status"] == status and body["code"] == code and body["message"]
    return body


# --- operations endpoints --------------------------------------------------------------------


def test_health_readiness_metrics_and_docs(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json() == {"status": "ready"}
    register(api, 9)
    metrics = api.client.get("/metrics", headers=api.headers("monitor")).text
    assert 'realname_registrations_total{outcome="registered"}' in metrics
    assert 'route="/v1/registrations"' in metrics
    assert api.client.get("/docs").status_code == 200
    assert api.client.get("/redoc").status_code == 200
    spec = api.client.get("/openapi.json").json()
    assert "/v1/registrations" in spec["paths"] and "/oauth/token" in spec["paths"]
    # No path template carries a phone or document number.
    assert not any("msisdn" in path or "document" in path for path in spec["paths"])


def test_metrics_need_the_metrics_scope(api: Api) -> None:
    """Route counts and latencies are the operator's business: a `monitor` client's token (scope
    metrics:read) reads them; no token is 401, any other role 403."""
    assert_error(api.client.get("/metrics"), 401, "UNAUTHENTICATED")
    for who in ("clerk", "admin", "regulator", "relying_party", "subscriber"):
        assert_error(api.client.get("/metrics", headers=api.headers(who)), 403, "PERMISSION_DENIED")
    ok = api.client.get("/metrics", headers=api.headers("monitor"))
    assert ok.status_code == 200 and "realname_http_requests_total" in ok.text
    # ... and a monitor's token opens nothing else.
    for method, path in (("GET", "/v1/lines/1"), ("POST", "/v1/lines/lookup")):
        body = {"msisdn": api.free_numbers[0]} if method == "POST" else None
        refused = api.client.request(method, path, json=body, headers=api.headers("monitor"))
        assert_error(refused, 403, "PERMISSION_DENIED")


def test_settings_open_metrics_and_close_the_docs(api: Api) -> None:
    from fastapi.testclient import TestClient

    from realname.api.app import create_app

    settings = api.client.app.state.runtime.settings  # type: ignore[attr-defined]
    closed = settings.model_copy(update={"public_docs": False, "public_metrics": True})
    with TestClient(create_app(closed), raise_server_exceptions=False) as client:
        assert client.get("/metrics").status_code == 200
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
            assert_error(client.get(path), 404, "NOT_FOUND")


# --- authentication ----------------------------------------------------------------------------


def test_token_needs_the_right_secret(api: Api) -> None:
    client_id, secret = api.secrets["clerk"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    good = api.client.post(
        "/oauth/token",
        content=f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}",
        headers=form,
    )
    assert good.status_code == 200 and good.json()["token_type"] == "Bearer"
    assert good.json()["expires_in"] <= 3600
    wrong = api.client.post(
        "/oauth/token",
        content=f"grant_type=client_credentials&client_id={client_id}&client_secret=nope",
        headers=form,
    )
    assert_error(wrong, 401, "UNAUTHENTICATED")
    assert_error(
        api.client.post("/oauth/token", content="grant_type=password", headers=form),
        400,
        "INVALID_ARGUMENT",
    )


def test_requests_without_a_valid_token_are_401(api: Api) -> None:
    assert_error(api.client.get("/v1/lines/1"), 401, "UNAUTHENTICATED")
    assert_error(
        api.client.get("/v1/lines/1", headers={"Authorization": "Bearer x.y.z"}),
        401,
        "UNAUTHENTICATED",
    )
    forged = api.tokens["clerk"][:-4] + "AAAA"
    assert_error(
        api.client.get("/v1/lines/1", headers={"Authorization": f"Bearer {forged}"}),
        401,
        "UNAUTHENTICATED",
    )


# --- registration ----------------------------------------------------------------------------


def test_registration_returns_201_with_the_line_and_a_masked_owner(api: Api) -> None:
    response = register(api, 0)
    assert response.status_code == 201, response.text
    line = response.json()
    assert line["state"] == "active" and line["activated_at"]
    person = api.people[0]
    assert line["owner"]["name"].startswith(person.name[0]) and "*" in line["owner"]["name"]
    assert person.document_number not in response.text
    assert re.fullmatch(r"\d{6}\*{8}\d{3}[\dX]", line["owner"]["document_number"])
    read = api.client.get(f"/v1/lines/{line['id']}", headers=api.headers("admin"))
    assert read.json()["state"] == "active"
    history = api.client.get(f"/v1/lines/{line['id']}/history", headers=api.headers("admin"))
    assert [e["operation"] for e in history.json()] == ["stock", "register"]


def test_refusals_carry_stable_namespaced_codes(api: Api) -> None:
    for _ in range(5):
        assert register(api, 1).status_code == 201
    assert_error(register(api, 1), 409, "REALNAME.CAP_EXCEEDED")
    bad_document = api.client.post(
        "/v1/registrations",
        json={
            "msisdn": api.number(),
            "customer": person_json(api.people[2], document={"number": "110105194912310021"}),
        },
        headers=api.headers("clerk"),
    )
    assert_error(bad_document, 422, "REALNAME.DOCUMENT_INVALID")
    borrowed = api.client.post(
        "/v1/registrations",
        json={"msisdn": api.number(), "customer": person_json(api.people[2], name="李四")},
        headers=api.headers("clerk"),
    )
    assert_error(borrowed, 422, "REALNAME.AUTHORITY_NAME_MISMATCH")
    assert_error(
        register(api, 2, number=api.partner_numbers[0]), 422, "REALNAME.NOT_IN_CHANNEL_STOCK"
    )


def test_messages_in_chinese_when_asked(api: Api) -> None:
    for _ in range(5):
        register(api, 3)
    body = assert_error(
        register(api, 3, **{"Accept-Language": "zh-CN,zh;q=0.9"}), 409, "REALNAME.CAP_EXCEEDED"
    )
    assert "上限" in str(body["message"])


def test_validation_errors_are_400_and_name_the_field(api: Api) -> None:
    response = api.client.post(
        "/v1/registrations",
        json={"msisdn": api.number(), "customer": {"name": "张三"}},
        headers=api.headers("clerk"),
    )
    body = assert_error(response, 400, "INVALID_ARGUMENT")
    assert "customer.document" in str(body["message"])
    not_json = api.client.post(
        "/v1/registrations",
        content=b"{nope",
        headers=api.headers("clerk", **{"Content-Type": "application/json"}),
    )
    assert_error(not_json, 400, "INVALID_ARGUMENT")
    # Line ids are digits: /v1/lines/abc names no resource (and /v1/lines/lookup is POST only).
    assert_error(api.client.get("/v1/lines/abc", headers=api.headers("admin")), 404, "NOT_FOUND")
    lookup_by_get = api.client.get("/v1/lines/lookup", headers=api.headers("admin"))
    assert_error(lookup_by_get, 405, "METHOD_NOT_ALLOWED")
    assert lookup_by_get.headers["allow"] == "POST"
    assert_error(
        api.client.get(f"/v1/lines/{2**63}", headers=api.headers("admin")), 400, "INVALID_ARGUMENT"
    )
    assert_error(
        api.client.delete("/v1/registrations", headers=api.headers("admin")),
        405,
        "METHOD_NOT_ALLOWED",
    )


def test_correlator_is_echoed_and_validated(api: Api) -> None:
    ok = api.client.get(
        "/healthz", headers={"x-correlator": "b4333c46-49c0-4f62-80d7-f0ef930f1c46"}
    )
    assert ok.headers["x-correlator"] == "b4333c46-49c0-4f62-80d7-f0ef930f1c46"
    err = api.client.get("/v1/lines/1", headers={"x-correlator": "abc-123"})
    assert err.status_code == 401 and err.headers["x-correlator"] == "abc-123"
    assert_error(
        api.client.get("/healthz", headers={"x-correlator": "bad correlator!"}),
        400,
        "INVALID_ARGUMENT",
    )
    # The longest correlator CAMARA allows is kept with the write it came with.
    longest = "c" * 256
    written = register(api, 8, **{"x-correlator": longest})
    assert written.status_code == 201, written.text  # type: ignore[attr-defined]
    assert written.headers["x-correlator"] == longest  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "correlator",
    [
        "case-320622196108013026-tel-13900000794",
        "tel-139.0000.0266",
        "id-1101-0519-4912-3100-2X",
        "c-110105491231002",
        # Punctuation CAMARA's correlator pattern allows, which free-text separators do not
        # cover (a review found these stored verbatim).
        "tel:139:0000:0794",
        "case:320622:196108:013026",
        "3206;2219;6108;0130;26",
        "{139}{0000}{0794}",
    ],
)
def test_a_correlator_that_spells_an_id_or_phone_number_is_refused(
    api: Api, correlator: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 11 part 5: such a correlator used to be stored verbatim in the audit chain and
    the events, and logged. It is refused before anything runs, and never echoed."""
    with caplog.at_level("INFO", logger="realname"):
        refused = register(api, 9, **{"x-correlator": correlator})
    assert_error(refused, 400, "INVALID_ARGUMENT")  # type: ignore[arg-type]
    assert "x-correlator" not in refused.headers  # type: ignore[attr-defined]
    assert correlator not in caplog.text


# --- idempotency -----------------------------------------------------------------------------


def test_a_retry_with_the_same_key_changes_nothing(api: Api) -> None:
    number = api.number()
    body = {"msisdn": number, "customer": person_json(api.people[4])}
    headers = api.headers("clerk", **{"Idempotency-Key": "reg-0001"})
    first = api.client.post("/v1/registrations", json=body, headers=headers)
    again = api.client.post("/v1/registrations", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers.get("idempotent-replay") == "true"
    history = api.client.get(
        f"/v1/lines/{first.json()['id']}/history", headers=api.headers("admin")
    )
    assert len(history.json()) == 2  # stock + one registration, not two
    other_body = {"msisdn": api.number(), "customer": person_json(api.people[4])}
    assert_error(
        api.client.post("/v1/registrations", json=other_body, headers=headers),
        422,
        "REALNAME.IDEMPOTENCY_KEY_REUSED",
    )


# --- lifecycle over HTTP -----------------------------------------------------------------------


def test_lifecycle_operations(api: Api) -> None:
    line = register(api, 5).json()
    line_id, owner = line["id"], person_json(api.people[5])
    admin, clerk = api.headers("admin"), api.headers("clerk")
    subscriber = api.device_headers("subscriber", line_id)  # bound to the line by the network
    post = api.client.post
    assert (
        post(f"/v1/lines/{line_id}/suspend", json={"reason": "enforcement"}, headers=admin).json()[
            "state"
        ]
        == "suspended"
    )
    assert_error(
        post(f"/v1/lines/{line_id}/suspend", json={}, headers=admin),
        409,
        "REALNAME.ILLEGAL_TRANSITION",
    )
    assert post(f"/v1/lines/{line_id}/resume", json={}, headers=admin).json()["state"] == "active"
    assert (
        post(f"/v1/lines/{line_id}/lock", json={"owner": owner}, headers=subscriber).json()[
            "barring_reason"
        ]
        == "locked"
    )
    assert (
        post(f"/v1/lines/{line_id}/unlock", json={"owner": owner}, headers=subscriber).json()[
            "state"
        ]
        == "active"
    )
    stranger = person_json(api.people[6])
    assert_error(
        post(f"/v1/lines/{line_id}/lock", json={"owner": stranger}, headers=subscriber),
        403,
        "REALNAME.NOT_OWNER",
    )
    swapped = post(
        f"/v1/lines/{line_id}/sim-replacements",
        json={"owner": owner, "iccid": "89860000000000123456", "imsi": "460000000123456"},
        headers=clerk,
    )
    assert swapped.status_code == 201 and swapped.json()["sim_changed_at"]
    moved = post(
        f"/v1/lines/{line_id}/transfers", json={"owner": owner, "receiver": stranger}, headers=clerk
    )
    assert moved.status_code == 201
    assert post(
        f"/v1/lines/{line_id}/reverification-requests",
        json={"reason": "fraud complaint"},
        headers=admin,
    ).json()["reverify_deadline"]
    assert (
        post(
            f"/v1/lines/{line_id}/reverification-answers", json={"owner": stranger}, headers=clerk
        ).json()["reverify_deadline"]
        is None
    )
    assert (
        post(
            f"/v1/lines/{line_id}/cancel", json={"reason": "customer request"}, headers=admin
        ).json()["state"]
        == "cooling"
    )
    assert_error(
        post(f"/v1/lines/{line_id}/release", headers=admin), 409, "REALNAME.COOLING_NOT_OVER"
    )
    found = post("/v1/lines/lookup", json={"msisdn": line["msisdn"]}, headers=admin)
    assert found.json()["id"] == line_id
    lines = post(
        "/v1/identities/lines",
        json={"document": {"number": api.people[6].document_number}},
        headers=admin,
    )
    assert lines.status_code == 200
    stock = api.client.get(f"/v1/channels/{api.own_channel_id}/stock", headers=clerk)
    assert stock.status_code == 200 and all(kit["state"] == "stocked" for kit in stock.json())


def test_ids_past_a_columns_range_are_400_not_500(api: Api) -> None:
    """Found by schemathesis on PostgreSQL: channel 2**31 overflowed an int4 column."""
    response = api.client.get(f"/v1/channels/{2**31}/stock", headers=api.headers("admin"))
    assert response.status_code == 400, response.text
    kit = {"msisdn": "+8613800199991", "iccid": "89860000000000199991", "imsi": "460000000199991"}
    response = api.client.post(
        "/v1/stock", json={"channel_id": 2**31, "kits": [kit]}, headers=api.headers("admin")
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_ARGUMENT"


def test_another_enterprises_kit_numbers_are_no_oracle(api: Api) -> None:
    """Stocking a kit whose ICCID and IMSI another enterprise holds answers exactly as for a
    kit nobody holds (201): kit numbers are unique per enterprise, so a tenant cannot probe
    which SIMs another holds. Its own kits still collide (409 KIT_IN_USE)."""
    admin = api.headers("admin")
    theirs = {"iccid": "89860077000000000001", "imsi": "460770000000001"}  # the MVNO's kit 1
    nobodys = {"iccid": "89860000000000177702", "imsi": "460000000177702"}
    answers = []
    for n, numbers in ((1, theirs), (2, nobodys)):
        kit = {"msisdn": f"+861380017770{n}", **numbers}
        response = api.client.post(
            "/v1/stock",
            json={"channel_id": api.own_channel_id, "kits": [kit]},
            headers=admin,
        )
        answers.append((response.status_code, sorted(response.json())))
    assert answers[0] == answers[1] == (201, ["line_ids", "stocked"]), answers
    again = {"msisdn": "+8613800177703", **theirs}
    response = api.client.post(
        "/v1/stock", json={"channel_id": api.own_channel_id, "kits": [again]}, headers=admin
    )
    body = assert_error(response, 409, "REALNAME.KIT_IN_USE")
    assert "this operator" in str(body["message"])


def test_a_typed_reason_is_sealed_however_code_like_it_looks(api: Api) -> None:
    """A review found `owner_zhang_wei_of_chaoyang_road_asked` stored in clear as a "reason
    code": a reason a person types is a note, sealed, whatever its shape."""
    from sqlalchemy import text

    line = register(api, 4).json()  # type: ignore[attr-defined]
    typed = "owner_zhang_wei_of_chaoyang_road_asked"
    cancelled = api.client.post(
        f"/v1/lines/{line['id']}/cancel", json={"reason": typed}, headers=api.headers("admin")
    )
    assert cancelled.status_code == 200, cancelled.text
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:
        reasons = session.execute(
            text("SELECT reason FROM line_event WHERE line_id = :id ORDER BY seq"),
            {"id": line["id"]},
        ).scalars()
        reasons = list(reasons)
        assert "manual" in reasons and typed not in reasons, reasons
        details = session.execute(text("SELECT detail FROM audit_log")).scalars()
        assert not any(typed in str(detail) for detail in details)


def test_the_reverification_queue_lists_the_enterprises_pending_lines_soonest_first(
    api: Api,
) -> None:
    ids = []
    for person in api.people:  # the module's other tests fill some people's caps
        made = api.client.post(
            "/v1/registrations",
            json={"msisdn": api.number(), "customer": person_json(person)},
            headers=api.headers("clerk"),
        )
        if made.status_code == 201:
            ids.append(made.json()["id"])
        if len(ids) == 2:
            break
    assert len(ids) == 2
    for line_id in ids:
        asked = api.client.post(
            f"/v1/lines/{line_id}/reverification-requests",
            json={"reason": "fraud complaint"},
            headers=api.headers("admin"),
        )
        assert asked.status_code == 200, asked.text
    queue = api.client.get("/v1/lines/reverification-queue", headers=api.headers("admin"))
    assert queue.status_code == 200
    listed = [line["id"] for line in queue.json()]
    assert set(ids) <= set(listed)
    deadlines = [line["reverify_deadline"] for line in queue.json()]
    assert deadlines == sorted(deadlines)
    assert all("*" in line["owner"]["name"] for line in queue.json())  # masked
    other = api.client.get("/v1/lines/reverification-queue", headers=api.headers("other_admin"))
    assert not set(ids) & {line["id"] for line in other.json()}
    regulator = api.client.get(
        f"/v1/lines/reverification-queue?enterprise_id={api.enterprise_id}&limit=1",
        headers=api.headers("regulator"),
    )
    assert regulator.status_code == 200 and len(regulator.json()) == 1
    unnamed = api.client.get("/v1/lines/reverification-queue", headers=api.headers("regulator"))
    assert unnamed.status_code == 400
    for line_id in ids:  # the owners' caps are free again for the module's other tests
        api.client.post(
            f"/v1/lines/{line_id}/cancel", json={"reason": "done"}, headers=api.headers("admin")
        )
