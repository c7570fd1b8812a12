"""The inspections and figures over HTTP, on SQLite and PostgreSQL: the whole path of a round
(create, plan, assign, visit with evidence, purchase, check), stable error codes, and a
provincial administration that sees nothing of another province."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from sqlalchemy import func, select

from realname.compliance.inspections.access import confined_to
from realname.http.errors import ApiError
from realname.security.clients import DEFAULT_SCOPES, ClientService
from realname.security.models import AuditLog
from realname.security.principals import Principal, Role
from tests.api.conftest import Api, api, person_json, token_for

__all__ = ["api"]

ROUNDS = "/v1/regulator/inspections/rounds"


def _client(api: Api, role: Role, scopes: list[str] | None = None) -> dict[str, str]:
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:
        client, secret = ClientService(session, rt.keyring).create(
            role=role, at=rt.clock.now(), scopes=scopes
        )
        client_id = client.client_id
    return {"Authorization": f"Bearer {token_for(api.client, client_id, secret)}", "id": client_id}


def _audit_count(api: Api) -> int:
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction(readonly=True) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.object_type == "inspection_round")
            )
            or 0
        )


def _code(response: Any) -> str:
    return str(response.json()["code"])


def test_a_round_over_http(api: Api) -> None:
    regulator = api.headers("regulator")
    inspector = _client(api, Role.REGULATOR_INSPECTOR)
    body = {
        "code": "HTTP-1",
        "name": "own halls of the test MNO",
        "starts_on": "2026-11-01",
        "ends_on": "2026-11-30",
        "seed": 11,
        "provinces": ["11"],
        "kinds": ["own_hall", "partner_hall"],
    }
    created = api.client.post(ROUNDS, json=body, headers=regulator)
    assert created.status_code == 201, created.text
    round_id = created.json()["id"]
    assert api.client.post(ROUNDS, json=body, headers=regulator).json()["code"] == (
        "REALNAME.ROUND_EXISTS"
    )
    planned = api.client.post(f"{ROUNDS}/{round_id}/plan", headers=regulator)
    assert planned.status_code == 201, planned.text
    targets = planned.json()["targets"]
    assert {t["channel_kind"] for t in targets} == {"own_hall", "partner_hall"}
    assert {t["province_name"] for t in targets} == {"北京市"}
    again = api.client.post(f"{ROUNDS}/{round_id}/plan", headers=regulator)
    assert (again.status_code, _code(again)) == (409, "REALNAME.ALREADY_PLANNED")
    own = next(t for t in targets if t["channel_id"] == api.own_channel_id)
    # Before assignment the inspector sees none of the plan, and may not visit.
    seen = api.client.get(f"{ROUNDS}/{round_id}/plan", headers=inspector)
    assert seen.status_code == 200 and seen.json()["targets"] == []
    visit = {
        "target_id": own["id"],
        "visited_at": "2026-11-20T10:00:00Z",
        "place_region": "110105",
        "outcome": "compliant",
        "evidence": [
            {
                "content_base64": base64.b64encode(b"receipt").decode(),
                "media_type": "image/jpeg",
                "sha256": hashlib.sha256(b"receipt").hexdigest(),
            }
        ],
    }
    refused = api.client.post(f"{ROUNDS}/{round_id}/visits", json=visit, headers=inspector)
    assert (refused.status_code, _code(refused)) == (403, "REALNAME.NOT_ASSIGNED")
    assigned = api.client.post(
        f"{ROUNDS}/{round_id}/assignments",
        json={"inspector": inspector["id"], "target_ids": [own["id"]]},
        headers=regulator,
    )
    assert assigned.status_code == 200 and assigned.json()["target_ids"] == [own["id"]]
    mine = api.client.get(f"{ROUNDS}/{round_id}/plan", headers=inspector).json()["targets"]
    assert [t["id"] for t in mine] == [own["id"]]
    recorded = api.client.post(f"{ROUNDS}/{round_id}/visits", json=visit, headers=inspector)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["evidence"][0]["sha256"] == hashlib.sha256(b"receipt").hexdigest()
    visit_id = recorded.json()["id"]
    digest = hashlib.sha256(b"receipt").hexdigest()
    served = api.client.get(
        f"{ROUNDS}/{round_id}/visits/{visit_id}/evidence/{digest}", headers=regulator
    )
    assert served.status_code == 200 and served.content == b"receipt"
    assert served.headers["content-type"] == "image/jpeg"
    missing = api.client.get(
        f"{ROUNDS}/{round_id}/visits/{visit_id}/evidence/{'0' * 64}", headers=regulator
    )
    assert (missing.status_code, _code(missing)) == (404, "REALNAME.EVIDENCE_NOT_FOUND")
    # The own hall sold the inspector a card registered to someone else.
    stranger, cover = api.people[5], api.people[6]
    sold = api.client.post(
        "/v1/registrations",
        json={"msisdn": api.number(), "customer": person_json(stranger)},
        headers=api.headers("clerk"),
    )
    assert sold.status_code == 201, sold.text
    purchase = {
        "visit_id": visit_id,
        "msisdn": sold.json()["msisdn"],
        "bought_at": "2026-11-23T09:30:00Z",
        "document_number": cover.document_number,
    }
    bought = api.client.post(f"{ROUNDS}/{round_id}/purchases", json=purchase, headers=inspector)
    assert bought.status_code == 201, bought.text
    assert bought.json()["with_document"] is True
    assert cover.document_number not in bought.text and sold.json()["msisdn"] not in bought.text
    # Another inspector sees neither this visit nor this purchase.
    other = _client(api, Role.REGULATOR_INSPECTOR)
    unseen = api.client.get(f"{ROUNDS}/{round_id}/visits/{visit_id}", headers=other)
    assert (unseen.status_code, _code(unseen)) == (404, "REALNAME.VISIT_NOT_FOUND")
    assert api.client.get(f"{ROUNDS}/{round_id}/purchases", headers=other).json() == []
    assert len(api.client.get(f"{ROUNDS}/{round_id}/purchases", headers=inspector).json()) == 1
    assert api.client.get(f"{ROUNDS}/{round_id}/visits/{visit_id}", headers=regulator).is_success
    checked = api.client.post(f"{ROUNDS}/{round_id}/purchase-checks", headers=regulator)
    assert checked.status_code == 200, checked.text
    (finding,) = checked.json()
    assert (finding["finding"], finding["violation"]) == ("registered_to_someone_else", True)
    assert finding["registered_channel_id"] == api.own_channel_id
    rates = api.client.get(
        "/v1/regulator/inspections/rates", params={"round_id": round_id}, headers=regulator
    )
    assert rates.status_code == 200
    (row,) = rates.json()
    assert (row["inspected"], row["violations"], row["violation_rate"]) == (1, 1, 1.0)
    assert 0 < row["violation_rate_low"] < 1 and row["violation_rate_high"] == 1.0
    figures = api.client.get(
        "/v1/regulator/figures", params={"period": "2026-11"}, headers=regulator
    )
    assert figures.status_code == 200, figures.text
    by_code = {e["kind"]: e for e in figures.json()["enterprises"]}
    assert by_code["mno"]["inspected"] == 1 and by_code["mno"]["violations"] == 1
    assert figures.json()["cap_breaches"] == 0


def test_bad_input_is_a_clear_error_and_changes_nothing(api: Api) -> None:
    regulator = api.headers("regulator")
    before = _audit_count(api)
    cases: list[tuple[str, str, dict[str, Any] | None, int, str]] = [
        (
            "POST",
            ROUNDS,
            {
                "code": "X",
                "name": "x",
                "starts_on": "2026-11-02",
                "ends_on": "2026-11-01",
                "seed": 1,
            },
            422,
            "REALNAME.ROUND_DATES_INVALID",
        ),
        (
            "POST",
            ROUNDS,
            {
                "code": "X",
                "name": "x",
                "starts_on": "2026-11-01",
                "ends_on": "2026-11-02",
                "seed": 1,
                "margin": 2,
            },
            422,
            "REALNAME.PRECISION_INVALID",
        ),
        (
            "POST",
            ROUNDS,
            {
                "code": "X",
                "name": "x",
                "starts_on": "2026-11-01",
                "ends_on": "2026-11-02",
                "seed": "1",
            },
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "POST",
            ROUNDS,
            {
                "code": "X",
                "name": "x",
                "starts_on": "2026-11-01",
                "ends_on": "2026-11-02",
                "seed": 1,
                "kinds": ["kiosk"],
            },
            400,
            "INVALID_ARGUMENT",
        ),
        ("POST", f"{ROUNDS}/999999/plan", None, 404, "REALNAME.ROUND_NOT_FOUND"),
        ("GET", "/v1/regulator/figures?period=2026-13", None, 422, "REALNAME.PERIOD_INVALID"),
        ("GET", "/v1/regulator/figures?province=99", None, 400, "REALNAME.PROVINCE_INVALID"),
        (
            "GET",
            "/v1/regulator/inspections/rates?round_id=999999",
            None,
            404,
            "REALNAME.ROUND_NOT_FOUND",
        ),
    ]
    for method, url, body, status, code in cases:
        response = api.client.request(method, url, json=body, headers=regulator)
        assert (response.status_code, _code(response)) == (status, code), (url, response.text)
    assert _audit_count(api) == before
    listed = api.client.get(ROUNDS, headers=regulator).json()
    assert "X" not in {r["code"] for r in listed}


def test_a_provincial_administration_sees_no_other_province(api: Api) -> None:
    beijing = api.headers("provincial")  # province:11
    shanghai = _client(
        api, Role.PROVINCIAL_REGULATOR, [*DEFAULT_SCOPES[Role.PROVINCIAL_REGULATOR], "province:31"]
    )
    body = {
        "code": "BJ-1",
        "name": "北京 own halls",
        "starts_on": "2026-11-01",
        "ends_on": "2026-11-30",
        "seed": 3,
    }
    created = api.client.post(ROUNDS, json=body, headers=beijing)
    assert created.status_code == 201, created.text
    assert created.json()["province"] == "11" and created.json()["scope"]["provinces"] == ["11"]
    round_id = created.json()["id"]
    hidden = api.client.get(f"{ROUNDS}/{round_id}", headers=shanghai)
    assert (hidden.status_code, _code(hidden)) == (404, "REALNAME.ROUND_NOT_FOUND")
    assert all(r["code"] != "BJ-1" for r in api.client.get(ROUNDS, headers=shanghai).json())
    plan = api.client.post(f"{ROUNDS}/{round_id}/plan", headers=shanghai)
    assert plan.status_code == 404
    outside = api.client.post(
        ROUNDS, json={**body, "code": "SH-1", "provinces": ["11"]}, headers=shanghai
    )
    assert (outside.status_code, _code(outside)) == (403, "REALNAME.OUTSIDE_PROVINCE")
    figures = api.client.get("/v1/regulator/figures?province=11", headers=shanghai)
    assert (figures.status_code, _code(figures)) == (403, "REALNAME.OUTSIDE_PROVINCE")
    own = api.client.get("/v1/regulator/figures", headers=shanghai)
    assert own.status_code == 200 and own.json()["province"] == "31"
    assert own.json()["province_name"] == "上海市"
    # The Beijing lines are not in Shanghai's figures; the nation's figures have them.
    national = api.client.get("/v1/regulator/figures", headers=api.headers("regulator")).json()
    assert sum(e["lines"] for e in national["enterprises"]) > 0
    assert sum(e["lines"] for e in own.json()["enterprises"]) < sum(
        e["lines"] for e in national["enterprises"]
    )
    # A provincial client cannot be created without a province; a token that somehow names
    # none is refused, never widened to the nation.
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with (
        rt.transaction() as session,
        pytest.raises(ValueError, match="needs one province"),
    ):
        ClientService(session, rt.keyring).create(role=Role.PROVINCIAL_REGULATOR, at=rt.clock.now())
    with pytest.raises(ApiError) as refused:
        confined_to(
            Principal("p", Role.PROVINCIAL_REGULATOR, scopes=frozenset({"compliance:read"}))
        )
    assert refused.value.http_status == 403
    assert (
        confined_to(Principal("p", Role.PROVINCIAL_REGULATOR, scopes=frozenset({"province:44"})))
        == "44"
    )
    assert confined_to(Principal("r", Role.REGULATOR)) is None
