"""Subscriber self-service over HTTP, on both engines: a token bound to one line reaches the
lines of that line's current owner at this operator, and nothing else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from realname.registry.check import run_integrity_check
from realname.selfservice.models import Dispute
from tests.api.conftest import Api, person_json


def register(api: Api, person: int, clerk: str = "clerk", number: str | None = None) -> int:
    response = api.client.post(
        "/v1/registrations",
        json={"msisdn": number or api.number(), "customer": person_json(api.people[person])},
        headers=api.headers(clerk),
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def me(api: Api, line_id: int) -> dict[str, str]:
    return api.device_headers("subscriber", line_id)


def line(api: Api, line_id: int) -> dict[str, Any]:
    response = api.client.get(f"/v1/lines/{line_id}", headers=api.headers("admin"))
    assert response.status_code == 200, response.text
    return dict(response.json())


def history(api: Api, line_id: int) -> list[dict[str, Any]]:
    return list(api.client.get(f"/v1/lines/{line_id}/history", headers=api.headers("admin")).json())


def test_lists_the_identitys_lines_and_no_one_elses(api: Api) -> None:
    a, b = register(api, 0), register(api, 0)
    c = register(api, 1)
    listed = api.client.get("/v1/me/lines", headers=me(api, a))
    assert listed.status_code == 200, listed.text
    rows = {row["id"]: row for row in listed.json()}
    assert {a, b} <= set(rows) and c not in rows
    assert rows[a]["proved"] and not rows[b]["proved"] and rows[b]["registered"]
    assert rows[b]["msisdn"].startswith("+86138")  # the full number: the subscriber holds it
    assert "owner" not in rows[a]  # nobody's identity comes back, not even their own
    # another identity's line answers exactly like a line nobody has
    for path in ("lock", "report-lost", "disputes"):
        refused = api.client.post(f"/v1/me/lines/{c}/{path}", headers=me(api, a))
        assert (refused.status_code, refused.json()["code"]) == (404, "REALNAME.LINE_NOT_FOUND")
    assert line(api, c)["state"] == "active" and len(history(api, c)) == 2


def test_another_enterprises_lines_stay_out_of_reach(api: Api) -> None:
    a = register(api, 2)
    other = register(api, 2, "other_clerk", api.other_enterprise_numbers.pop())
    ids = {row["id"] for row in api.client.get("/v1/me/lines", headers=me(api, a)).json()}
    assert other not in ids
    refused = api.client.post(f"/v1/me/lines/{other}/lock", headers=me(api, a))
    assert refused.status_code == 404
    # the same person, bound to their line at the other operator, sees only that operator's
    there = {row["id"] for row in api.client.get("/v1/me/lines", headers=me(api, other)).json()}
    assert there == {other}
    assert api.client.post(f"/v1/me/lines/{a}/lock", headers=me(api, other)).status_code == 404
    assert line(api, a)["state"] == "active"


def test_lock_and_report_lost_any_own_line_unlock_needs_the_owner(api: Api) -> None:
    a, b, c = register(api, 3), register(api, 3), register(api, 3)
    locked = api.client.post(f"/v1/me/lines/{b}/lock", headers=me(api, a))
    assert locked.status_code == 200, locked.text
    assert (locked.json()["state"], locked.json()["barring_reason"]) == ("suspended", "locked")
    before = history(api, b)
    stranger = person_json(api.people[4])
    wrong = api.client.post(
        f"/v1/me/lines/{b}/unlock", json={"owner": stranger}, headers=me(api, a)
    )
    assert (wrong.status_code, wrong.json()["code"]) == (403, "REALNAME.NOT_OWNER")
    assert history(api, b) == before and line(api, b)["state"] == "suspended"
    owner = person_json(api.people[3])
    unlocked = api.client.post(
        f"/v1/me/lines/{b}/unlock", json={"owner": owner}, headers=me(api, a)
    )
    assert unlocked.status_code == 200 and unlocked.json()["state"] == "active"
    # the phone of line c is lost: its owner proves line a and bars c at once
    lost = api.client.post(f"/v1/me/lines/{c}/report-lost", headers=me(api, a))
    assert lost.status_code == 200, lost.text
    assert (lost.json()["state"], lost.json()["barring_reason"]) == ("suspended", "lost")
    assert history(api, c)[-1]["actor"].startswith("subscriber:")


def test_a_transfer_takes_every_line_away_from_a_token_issued_before_it(api: Api) -> None:
    """The token stood for the owner who authenticated: after the line changes hands it
    reaches neither the old owner's other lines nor the new owner's (it used to reach the
    receiver's: a stale token could lock and bar a stranger's lines)."""
    a, b = register(api, 5), register(api, 5)
    c = register(api, 6)
    headers = me(api, a)  # the token is issued before the transfer and stays valid
    assert b in {row["id"] for row in api.client.get("/v1/me/lines", headers=headers).json()}
    api.clock.advance(timedelta(minutes=1))
    moved = api.client.post(
        f"/v1/lines/{a}/transfers",
        json={"owner": person_json(api.people[5]), "receiver": person_json(api.people[6])},
        headers=api.headers("clerk"),
    )
    assert moved.status_code == 201, moved.text
    listed = api.client.get("/v1/me/lines", headers=headers)
    assert (listed.status_code, listed.json()["code"]) == (403, "REALNAME.BOUND_LINE_GONE")
    for target in (b, c):
        refused = api.client.post(f"/v1/me/lines/{target}/lock", headers=headers)
        assert refused.status_code == 403 and line(api, target)["state"] == "active"
    # the receiver, authenticated on the line now, reaches her own lines
    ids = {row["id"] for row in api.client.get("/v1/me/lines", headers=me(api, a)).json()}
    assert {a, c} <= ids and b not in ids


def test_an_unregistered_line_reaches_only_itself(api: Api) -> None:
    stocked = api.client.post(
        "/v1/lines/lookup", json={"msisdn": api.number()}, headers=api.headers("admin")
    ).json()["id"]
    rows = api.client.get("/v1/me/lines", headers=me(api, stocked)).json()
    assert [(r["id"], r["registered"]) for r in rows] == [(stocked, False)]
    refused = api.client.post(f"/v1/me/lines/{stocked}/lock", headers=me(api, stocked))
    assert (refused.status_code, refused.json()["code"]) == (403, "REALNAME.NOT_OWNER")
    assert api.client.get("/v1/me/disputes", headers=me(api, stocked)).json() == []


def test_a_token_bound_to_no_line_is_refused(api: Api) -> None:
    refused = api.client.get("/v1/me/lines", headers=api.headers("subscriber"))
    assert (refused.status_code, refused.json()["code"]) == (403, "PERMISSION_DENIED")


def test_online_reverification_needs_face_and_liveness(api: Api) -> None:
    a, b = register(api, 7), register(api, 7)
    asked = api.client.post(
        f"/v1/lines/{b}/reverification-requests",
        json={"reason": "fraud complaint"},
        headers=api.headers("admin"),
    )
    assert asked.status_code == 200 and asked.json()["reverify_deadline"]
    owner = person_json(api.people[7])
    url = f"/v1/me/lines/{b}/reverification-answers"
    before = history(api, b)
    for body, code in (
        ({"owner": owner, "liveness_score": 0.2}, "REALNAME.FACE_MISMATCH"),
        ({"owner": owner}, "REALNAME.FACE_MISSING"),
        ({"owner": {**owner, "face_score": 0.5}, "liveness_score": 0.99}, "REALNAME.FACE_MISMATCH"),
        ({"owner": person_json(api.people[8]), "liveness_score": 0.99}, "REALNAME.NOT_OWNER"),
    ):
        refused = api.client.post(url, json=body, headers=me(api, a))
        assert refused.json()["code"] == code, refused.text
    assert history(api, b) == before and line(api, b)["reverify_deadline"]
    answered = api.client.post(
        url, json={"owner": owner, "liveness_score": 0.97}, headers=me(api, a)
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["reverify_deadline"] is None
    assert history(api, b)[-1]["operation"] == "answer_reverification"
    again = api.client.post(url, json={"owner": owner, "liveness_score": 0.97}, headers=me(api, a))
    assert again.json()["code"] == "REALNAME.REVERIFICATION_NOT_PENDING"


def test_a_not_mine_dispute_is_tracked(api: Api) -> None:
    a, b = register(api, 8), register(api, 8)
    opened = api.client.post(f"/v1/me/lines/{b}/disputes", headers=me(api, a))
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert case["status"] == "open" and case["reverification_requested"] is True
    assert case["msisdn"].count("*") == 4  # masked
    events = history(api, b)
    assert [e["operation"] for e in events[-2:]] == ["complain", "request_reverification"]
    assert events[-2]["reason"] == "not_mine"
    # asking again while the case runs is the same case
    again = api.client.post(f"/v1/me/lines/{b}/disputes", headers=me(api, a))
    assert again.json()["id"] == case["id"] and len(history(api, b)) == len(events)
    # the proved line is the caller's by definition
    proved = api.client.post(f"/v1/me/lines/{a}/disputes", headers=me(api, a))
    assert (proved.status_code, proved.json()["code"]) == (
        409,
        "REALNAME.CANNOT_DISPUTE_PROVED_LINE",
    )
    listed = api.client.get("/v1/me/disputes", headers=me(api, a)).json()
    assert [d["id"] for d in listed] == [case["id"]]
    # the operator cancels the disputed line: the case reads resolved
    api.client.post(f"/v1/lines/{b}/cancel", json={"reason": "x"}, headers=api.headers("admin"))
    assert api.client.get("/v1/me/disputes", headers=me(api, a)).json()[0]["status"] == "resolved"
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:
        row = session.scalar(select(Dispute).where(Dispute.id == case["id"]))
        assert row is not None and row.line_id == b and row.proved_line_id == a


def test_the_registry_is_clean_afterwards(api: Api) -> None:
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    # As `realname check` reads: one snapshot (the app's audit sequencer may be committing)
    with rt.transaction(readonly=True) as session:
        report = run_integrity_check(session, rt.policy, rt.keyring)
    assert report.ok, {r.name: r.violations for r in report.results if r.violations}
