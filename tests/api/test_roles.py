"""Each role reaches what it should and is refused (403, or 404 for another tenant's line)
elsewhere, with no data in the refusal."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, person_json

ROLES = ["clerk", "admin", "other_admin", "other_clerk", "regulator", "subscriber", "relying_party"]


@pytest.fixture(scope="module")
def line(api: Api) -> dict[str, object]:
    response = api.client.post(
        "/v1/registrations",
        json={"msisdn": api.number(), "customer": person_json(api.people[7])},
        headers=api.headers("clerk"),
    )
    assert response.status_code == 201
    return dict(response.json())


# (method, path template, body, roles that get through the permission check)
MATRIX = [
    ("GET", "/v1/lines/{id}", None, {"clerk", "admin", "regulator"}),
    ("GET", "/v1/lines/{id}/history", None, {"clerk", "admin", "regulator"}),
    ("POST", "/v1/lines/lookup", {"msisdn": "{msisdn}"}, {"clerk", "admin", "regulator"}),
    ("POST", "/v1/lines/{id}/owner", {"purpose": "fraud case 17"}, {"admin", "regulator"}),
    ("POST", "/v1/lines/{id}/restrict", {"reason": "enforcement"}, {"admin"}),
    ("POST", "/v1/lines/{id}/unrestrict", {}, {"admin"}),
    (
        "POST",
        "/v1/stock",
        {
            "channel_id": 1,
            "kits": [
                {
                    "msisdn": "+8613800199990",
                    "iccid": "89860000000000199990",
                    "imsi": "460000000199990",
                }
            ],
        },
        {"admin"},
    ),
]
# Callers of another enterprise see "no such line" (404), never a 403 that confirms it exists.
OTHER_TENANT = {"other_admin", "other_clerk"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "template", "body", "allowed"), MATRIX)
def test_role_matrix(
    api: Api,
    line: dict[str, object],
    role: str,
    method: str,
    template: str,
    body: dict[str, object] | None,
    allowed: set[str],
) -> None:
    path = template.format(id=line["id"])
    payload = None
    if body is not None:
        payload = {k: (line["msisdn"] if v == "{msisdn}" else v) for k, v in body.items()}
    response = api.client.request(method, path, json=payload, headers=api.headers(role))
    text = response.text
    if role in allowed:
        assert response.status_code < 400 or response.status_code == 409, text
    elif role in OTHER_TENANT:
        assert response.status_code in (403, 404), text
        assert str(line["msisdn"]) not in text
    else:
        assert response.status_code == 403, text
        assert response.json()["code"] == "PERMISSION_DENIED"
    if response.status_code >= 400:
        assert str(line["msisdn"]) not in text


def test_guessing_another_enterprises_numbers_reveals_nothing(
    api: Api, line: dict[str, object]
) -> None:
    for role in ("other_admin", "other_clerk"):
        response = api.client.post(
            "/v1/lines/lookup", json={"msisdn": line["msisdn"]}, headers=api.headers(role)
        )
        assert response.status_code == 404
        missing = api.client.post(
            "/v1/lines/lookup", json={"msisdn": "+8613800199999"}, headers=api.headers(role)
        )
        assert missing.status_code == 404
        assert response.json() == missing.json()  # the same answer as a number nobody has


def test_only_clerks_register(api: Api) -> None:
    for role in ("admin", "regulator", "subscriber", "relying_party"):
        response = api.client.post(
            "/v1/registrations",
            json={"msisdn": api.free_numbers[-1], "customer": person_json(api.people[8])},
            headers=api.headers(role),
        )
        assert response.status_code == 403, (role, response.text)


def test_a_clerk_sees_only_its_own_channel_stock(api: Api) -> None:
    assert (
        api.client.get(
            f"/v1/channels/{api.own_channel_id}/stock", headers=api.headers("clerk")
        ).status_code
        == 200
    )
    assert (
        api.client.get(
            f"/v1/channels/{api.partner_channel_id}/stock", headers=api.headers("clerk")
        ).status_code
        == 403
    )
    assert (
        api.client.get(
            f"/v1/channels/{api.own_channel_id}/stock", headers=api.headers("other_admin")
        ).status_code
        == 404
    )


def test_revealing_an_owner_is_audited_with_its_purpose(api: Api, line: dict[str, object]) -> None:
    from sqlalchemy import select

    from realname.security.audit import open_note
    from realname.security.models import AuditLog, SealedNote

    owner = api.people[7]
    before = api.client.post(
        f"/v1/lines/{line['id']}/owner",
        json={"purpose": "case 9", "at": "2000-01-01T00:00:00Z"},
        headers=api.headers("regulator", **{"x-correlator": "reveal-1"}),
    )
    assert before.status_code == 200, before.text
    assert before.json()["owned"] is False and before.json()["document_number"] is None
    response = api.client.post(
        f"/v1/lines/{line['id']}/owner",
        json={"purpose": f"police request about {owner.document_number}"},
        headers=api.headers("regulator", **{"x-correlator": "reveal-2"}),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["owned"], body["document_number"], body["name"]) == (
        True,
        owner.document_number,
        owner.name,
    )
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:
        entries = session.scalars(
            select(AuditLog).where(
                AuditLog.action == "identity.unmasked_read",
                AuditLog.object_id == str(line["id"]),
            )
        ).all()
    by_correlator = {e.correlation_id: e for e in entries}
    assert {"reveal-1", "reveal-2"} <= set(by_correlator)
    entry = by_correlator["reveal-2"]
    assert entry.actor.startswith("regulator:")
    assert entry.detail["identity"] == str(body["identity_id"])
    # The purpose is kept sealed in the vault: the chain holds only its reference and digest,
    # so neither the typed document number nor anything else typed is in clear (issue 11).
    reference = entry.detail["purpose"]
    assert set(reference) == {"note", "sha256"}
    assert owner.document_number not in str(entry.detail)
    with rt.transaction() as session:
        note = session.get(SealedNote, reference["note"])
        assert note is not None
        assert open_note(rt.keyring, note).startswith("police request about")


def test_an_owner_is_revealed_only_with_a_purpose_and_a_zone(
    api: Api, line: dict[str, object]
) -> None:
    path = f"/v1/lines/{line['id']}/owner"
    for body in ({}, {"purpose": "x"}, {"purpose": "a case", "at": "2026-01-01T00:00:00"}):
        response = api.client.post(path, json=body, headers=api.headers("admin"))
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "INVALID_ARGUMENT"


# --- reporting a line lost (issue 11, part 6) --------------------------------------------------


def _registered(api: Api, person: int) -> dict[str, object]:
    response = api.client.post(
        "/v1/registrations",
        json={"msisdn": api.number(), "customer": person_json(api.people[person])},
        headers=api.headers("clerk"),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _state(api: Api, line_id: object) -> str:
    response = api.client.get(f"/v1/lines/{line_id}", headers=api.headers("admin"))
    return str(response.json()["state"])


def test_a_clerk_reports_a_loss_only_at_a_hall_with_the_owner_present(api: Api) -> None:
    line = _registered(api, 2)
    path = f"/v1/lines/{line['id']}/report-lost"
    owner, stranger = person_json(api.people[2]), person_json(api.people[3])
    refusals = [
        ("clerk", None, 403, "PERMISSION_DENIED"),  # a number and a story are not enough
        ("clerk", {}, 403, "PERMISSION_DENIED"),
        ("clerk", {"owner": stranger}, 403, "REALNAME.NOT_OWNER"),
        ("social_clerk", {"owner": owner}, 403, "REALNAME.CHANNEL_NOT_AUTHORISED"),
        ("other_clerk", {"owner": owner}, 404, "REALNAME.LINE_NOT_FOUND"),
        ("regulator", None, 403, "PERMISSION_DENIED"),
        ("subscriber", None, 403, "PERMISSION_DENIED"),
        ("relying_party", None, 403, "PERMISSION_DENIED"),
    ]
    for who, body, status, code in refusals:
        response = api.client.post(path, json=body, headers=api.headers(who))
        assert (response.status_code, response.json()["code"]) == (status, code), (who, body)
        assert api.people[2].document_number not in response.text
        assert _state(api, line["id"]) == "active", who  # a refusal changes nothing

    # A suspended hall takes no reports either.
    partner = f"/v1/channels/{api.partner_channel_id}"
    suspended = api.client.post(
        f"{partner}/suspend", json={"reason": "inspection"}, headers=api.headers("admin")
    )
    assert suspended.status_code == 200, suspended.text
    response = api.client.post(path, json={"owner": owner}, headers=api.headers("partner_clerk"))
    assert (response.status_code, response.json()["code"]) == (
        403,
        "REALNAME.CHANNEL_NOT_AUTHORISED",
    )
    resumed = api.client.post(
        f"{partner}/resume", json={"reason": "retrained"}, headers=api.headers("admin")
    )
    assert resumed.status_code == 200, resumed.text

    # The owner at a partner hall: barred as lost, the event says where and by which clerk.
    response = api.client.post(path, json={"owner": owner}, headers=api.headers("partner_clerk"))
    assert response.status_code == 200, response.text
    assert (response.json()["state"], response.json()["barring_reason"]) == ("suspended", "lost")
    history = api.client.get(f"/v1/lines/{line['id']}/history", headers=api.headers("admin"))
    event = history.json()[-1]
    assert (event["operation"], event["channel_id"]) == ("report_lost", api.partner_channel_id)
    assert event["actor"].startswith("clerk:")


def test_the_back_office_reports_a_loss_without_a_body(api: Api) -> None:
    line = _registered(api, 2)
    response = api.client.post(f"/v1/lines/{line['id']}/report-lost", headers=api.headers("admin"))
    assert response.status_code == 200, response.text
    assert response.json()["barring_reason"] == "lost"


# --- subscribers act only on the line they hold ------------------------------------------------


def test_a_subscriber_knowing_the_owners_id_and_name_cannot_lock_the_line(api: Api) -> None:
    line, other = _registered(api, 3), _registered(api, 4)
    proof = {"owner": person_json(api.people[3])}
    lock = f"/v1/lines/{line['id']}/lock"
    # A subscriber client not bound to any line: the owner's ID number and name prove nothing.
    response = api.client.post(lock, json=proof, headers=api.headers("subscriber"))
    assert (response.status_code, response.json()["code"]) == (403, "PERMISSION_DENIED")
    # Bound to another line: this one reads as missing.
    elsewhere = api.device_headers("subscriber", int(str(other["id"])))
    response = api.client.post(lock, json=proof, headers=elsewhere)
    assert (response.status_code, response.json()["code"]) == (404, "REALNAME.LINE_NOT_FOUND")
    # A relying party's network-bound token is no subscriber's.
    rp = api.device_headers("relying_party", int(str(line["id"])))
    assert api.client.post(lock, json=proof, headers=rp).status_code == 403
    assert _state(api, line["id"]) == "active"

    # Bound to this line (network authentication) and the owner's proof: lock, then unlock.
    mine = api.device_headers("subscriber", int(str(line["id"])))
    wrong_owner = {"owner": person_json(api.people[4])}
    response = api.client.post(lock, json=wrong_owner, headers=mine)
    assert (response.status_code, response.json()["code"]) == (403, "REALNAME.NOT_OWNER")
    response = api.client.post(lock, json=proof, headers=mine)
    assert response.status_code == 200, response.text
    assert response.json()["barring_reason"] == "locked"
    unlock = f"/v1/lines/{line['id']}/unlock"
    assert api.client.post(unlock, json=proof, headers=api.headers("subscriber")).status_code == 403
    response = api.client.post(unlock, json=proof, headers=mine)
    assert response.status_code == 200 and response.json()["state"] == "active", response.text
