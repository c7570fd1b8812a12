"""The segments over HTTP (both engines): the regulator's table with totals and withheld
counts, a provincial administration confined to its province, bad requests refused with a
stable code."""

from __future__ import annotations

from tests.api.conftest import Api, api

__all__ = ["api"]

SEGMENTS = "/v1/regulator/segments"


def test_the_regulator_reads_segments_with_small_counts_withheld(api: Api) -> None:
    response = api.client.get(f"{SEGMENTS}?by=enterprise,sex", headers=api.headers("regulator"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["by"] == ["enterprise", "sex"] and body["k"] == 10 and body["province"] is None
    assert body["rows"], "every cell and total of the table"
    for row in body["rows"]:
        assert set(row["values"]) == {"enterprise", "sex"}
        if row["lines"] is None:
            assert row["withheld"] in {"primary", "complementary"}
        else:
            assert row["lines"] == 0 or row["lines"] >= 10  # nothing small is ever shown


def test_a_provincial_administration_sees_its_province_only(api: Api) -> None:
    own = api.client.get(SEGMENTS, headers=api.headers("provincial"))
    assert own.status_code == 200, own.text
    province = own.json()["province"]
    assert province is not None
    other = "44" if province != "44" else "11"
    refused = api.client.get(f"{SEGMENTS}?province={other}", headers=api.headers("provincial"))
    assert refused.status_code == 403
    assert refused.json()["code"] == "REALNAME.OUTSIDE_PROVINCE"


def test_bad_requests_are_refused_with_a_code(api: Api) -> None:
    regulator = api.headers("regulator")
    for query, code in (
        ("?by=planet", "REALNAME.SEGMENT_DIMENSION_INVALID"),
        ("?k=3", "REALNAME.SEGMENT_THRESHOLD_TOO_SMALL"),
        ("?province=99", "REALNAME.PROVINCE_INVALID"),
    ):
        response = api.client.get(SEGMENTS + query, headers=regulator)
        assert response.status_code == 400, (query, response.text)
        assert response.json()["code"] == code
    assert api.client.get(SEGMENTS, headers=api.headers("clerk")).status_code == 403
