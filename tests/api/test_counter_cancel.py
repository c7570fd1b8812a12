"""A clerk cancels a line at the counter with its owner present (both engines): an active
own or partner hall, the owner's document and name matching the sealed identity; a refusal
leaves no state; the cap holding is released as for any cancel."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, person_json


def register(api: Api, person: int) -> int:
    response = api.client.post(
        "/v1/registrations",
        json={"msisdn": api.number(), "customer": person_json(api.people[person])},
        headers=api.headers("clerk"),
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def history(api: Api, line_id: int) -> list[dict[str, Any]]:
    return list(api.client.get(f"/v1/lines/{line_id}/history", headers=api.headers("admin")).json())


def cancel(api: Api, line_id: int, who: str, owner: dict[str, object] | None) -> Any:
    body: dict[str, object] = {"reason": "moving abroad"}
    if owner is not None:
        body["owner"] = owner
    return api.client.post(f"/v1/lines/{line_id}/cancel", json=body, headers=api.headers(who))


def test_the_owner_cancels_at_a_hall(api: Api) -> None:
    line_id = register(api, 0)
    done = cancel(api, line_id, "clerk", person_json(api.people[0]))
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "cooling" and done.json()["owner"] is None
    cancelled = history(api, line_id)[-2]
    assert cancelled["operation"] == "cancel" and cancelled["actor"].startswith("clerk:")
    assert cancelled["channel_id"] == api.own_channel_id
    partner = register(api, 0)
    assert cancel(api, partner, "partner_clerk", person_json(api.people[0])).status_code == 200


def test_refusals_leave_no_state(api: Api) -> None:
    line_id = register(api, 1)
    before = history(api, line_id)
    for who, owner, status, code in (
        ("clerk", person_json(api.people[2]), 403, "REALNAME.NOT_OWNER"),
        ("clerk", person_json(api.people[1], name="王五"), 422, "REALNAME.AUTHORITY_NAME_MISMATCH"),
        ("social_clerk", person_json(api.people[1]), 403, "REALNAME.CHANNEL_NOT_AUTHORISED"),
        ("clerk", None, 403, "PERMISSION_DENIED"),
        ("other_clerk", person_json(api.people[1]), 404, "REALNAME.LINE_NOT_FOUND"),
        ("regulator", person_json(api.people[1]), 403, "PERMISSION_DENIED"),
    ):
        refused = cancel(api, line_id, who, owner)
        assert (refused.status_code, refused.json()["code"]) == (status, code), (who, refused.text)
    assert history(api, line_id) == before
    read = api.client.get(f"/v1/lines/{line_id}", headers=api.headers("admin")).json()
    assert read["state"] == "active"


def test_the_back_office_still_cancels(api: Api) -> None:
    line_id = register(api, 3)
    done = cancel(api, line_id, "admin", None)
    assert done.status_code == 200 and done.json()["state"] == "cooling"


def test_a_counter_cancel_releases_the_cap(api: Api) -> None:
    held = [register(api, 4) for _ in range(5)]
    sixth = api.number()
    customer = person_json(api.people[4])
    refused = api.client.post(
        "/v1/registrations",
        json={"msisdn": sixth, "customer": customer},
        headers=api.headers("clerk"),
    )
    assert refused.json()["code"] == "REALNAME.CAP_EXCEEDED"
    assert cancel(api, held[0], "clerk", customer).status_code == 200
    again = api.client.post(
        "/v1/registrations",
        json={"msisdn": sixth, "customer": customer},
        headers=api.headers("clerk"),
    )
    assert again.status_code == 201, again.text
