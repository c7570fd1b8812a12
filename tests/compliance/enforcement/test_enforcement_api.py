"""The ladder over HTTP: a red card refuses a registration at the counter with its code until
it is lifted; an enterprise sees its own actions only."""

from __future__ import annotations

from tests.api.conftest import Api, api, person_json  # noqa: F401

EVIDENCE = [{"kind": "inspection_round", "ref": "2016-2"}]


def register(api: Api, who: str, msisdn: str, person: int) -> tuple[int, dict[str, object]]:  # noqa: F811
    response = api.client.post(
        "/v1/registrations",
        json={"msisdn": msisdn, "customer": person_json(api.people[person])},
        headers=api.headers(who),
    )
    return response.status_code, response.json()


def test_a_red_card_refuses_registrations_until_lifted(api: Api) -> None:  # noqa: F811
    taken = api.client.post(
        "/v1/regulator/enforcement/actions",
        json={"enterprise_id": api.other_enterprise_id, "kind": "red", "evidence": EVIDENCE},
        headers=api.headers("regulator"),
    )
    assert taken.status_code == 201, taken.text
    action = taken.json()
    assert {c["measure"] for c in action["consequences"]} == {
        "block_allocation",
        "settlement",
        "licence",
    }
    status, body = register(api, "other_clerk", api.other_enterprise_numbers[0], 0)
    assert (status, body["code"]) == (403, "REALNAME.LICENCE_NOT_IN_FORCE")

    # The enterprise sees it, with its appeal period; the other enterprise does not.
    mine = api.client.get("/v1/enforcement/actions", headers=api.headers("other_admin"))
    assert [a["id"] for a in mine.json()] == [action["id"]]
    theirs = api.client.get("/v1/enforcement/actions", headers=api.headers("admin"))
    assert theirs.status_code == 200 and theirs.json() == []
    hidden = api.client.get(f"/v1/enforcement/actions/{action['id']}", headers=api.headers("admin"))
    assert (hidden.status_code, hidden.json()["code"]) == (404, "REALNAME.ACTION_NOT_FOUND")
    appeal = api.client.post(
        f"/v1/enforcement/actions/{action['id']}/appeal",
        json={"text": "not ours"},
        headers=api.headers("admin"),
    )
    assert appeal.status_code == 404

    lifted = api.client.post(
        f"/v1/regulator/enforcement/actions/{action['id']}/lift",
        json={"text": "rectified"},
        headers=api.headers("regulator"),
    )
    assert lifted.status_code == 200 and lifted.json()["status"] == "lifted"
    status, body = register(api, "other_clerk", api.other_enterprise_numbers[0], 0)
    assert status == 201, body


def test_bad_input_is_a_clear_refusal(api: Api) -> None:  # noqa: F811
    no_evidence = api.client.post(
        "/v1/regulator/enforcement/actions",
        json={"enterprise_id": api.enterprise_id, "kind": "notice", "evidence": []},
        headers=api.headers("regulator"),
    )
    assert no_evidence.status_code in (400, 422)
    interview = api.client.post(
        "/v1/regulator/enforcement/actions",
        json={"enterprise_id": api.enterprise_id, "kind": "interview", "evidence": EVIDENCE},
        headers=api.headers("regulator"),
    )
    assert (interview.status_code, interview.json()["code"]) == (
        422,
        "REALNAME.MINUTES_REQUIRED",
    )
    listed = api.client.get(
        f"/v1/regulator/enforcement/actions?enterprise_id={api.enterprise_id}",
        headers=api.headers("regulator"),
    )
    assert listed.json() == []
