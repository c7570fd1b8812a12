"""Complaints over HTTP: the centre takes them, each enterprise sees the cases traced to its
own lines, numbers go out masked."""

from __future__ import annotations

from tests.api.conftest import Api, api, person_json  # noqa: F401


def test_the_centre_takes_a_complaint_and_only_its_enterprise_sees_it(api: Api) -> None:  # noqa: F811
    msisdn = api.number()
    registered = api.client.post(
        "/v1/registrations",
        json={"msisdn": msisdn, "customer": person_json(api.people[1])},
        headers=api.headers("clerk"),
    )
    assert registered.status_code == 201, registered.text
    taken = api.client.post(
        "/v1/complaints",
        json={
            "category": "fraud_call",
            "msisdn": msisdn,
            "occurred_at": "2026-11-23T09:35:00+00:00",
            "centre_ref": "12321-0001",
        },
        headers=api.headers("complaint_centre"),
    )
    assert taken.status_code == 201, taken.text
    case = taken.json()
    assert case["status"] == "acted" and case["outcome"] == "reverification_requested"
    assert case["line_id"] == registered.json()["id"] and case["owner_traced"]
    assert msisdn not in taken.text  # masked
    again = api.client.post(
        "/v1/complaints",
        json={
            "category": "fraud_call",
            "msisdn": msisdn,
            "occurred_at": "2026-11-23T09:35:00+00:00",
            "centre_ref": "12321-0001",
        },
        headers=api.headers("complaint_centre"),
    )
    assert (again.status_code, again.json()["code"]) == (409, "REALNAME.DUPLICATE_COMPLAINT")

    own = api.client.get("/v1/complaints", headers=api.headers("admin"))
    assert [c["id"] for c in own.json()] == [case["id"]]
    other = api.client.get("/v1/complaints", headers=api.headers("other_admin"))
    assert other.json() == []
    hidden = api.client.get(f"/v1/complaints/{case['id']}", headers=api.headers("other_admin"))
    assert (hidden.status_code, hidden.json()["code"]) == (404, "REALNAME.COMPLAINT_NOT_FOUND")
    counts = api.client.get("/v1/complaints/counts", headers=api.headers("regulator"))
    assert [(r["enterprise"], r["fraud_call"]) for r in counts.json()] == [("CMCC", 1)]
    assert api.client.get("/v1/complaints/counts", headers=api.headers("other_admin")).json() == []


def test_a_file_reports_its_bad_rows_by_line(api: Api) -> None:  # noqa: F811
    text = (
        "category,msisdn,occurred_at,content_sha256,centre_ref\n"
        "other,+8613900000001,2026-11-23T08:00:00+08:00,,F-1\n"
        "other,not-a-number,2026-11-23T08:00:00+08:00,,F-2\n"
    )
    response = api.client.post(
        "/v1/complaint-imports", json={"csv": text}, headers=api.headers("complaint_centre")
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["accepted"] == 1
    assert [(r["line"], r["code"]) for r in report["refused"]] == [(3, "NUMBER_INVALID")]
