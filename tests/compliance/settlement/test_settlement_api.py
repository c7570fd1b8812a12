"""The settlement statement over HTTP: an enterprise reads its own, the national regulator
any enterprise's; a yellow III (here a red card, which includes it) refuses both with
REALNAME.SETTLEMENT_SUSPENDED until lifted; every read is audited."""

from __future__ import annotations

from sqlalchemy import select

from realname.security.models import AuditLog
from tests.api.conftest import Api, api, person_json  # noqa: F401
from tests.registry.conftest import NOW

MONTH = f"{NOW:%Y-%m}"


def test_an_enterprise_reads_its_own_and_the_regulator_any(api: Api) -> None:  # noqa: F811
    sold = api.client.post(
        "/v1/registrations",
        json={"msisdn": api.other_enterprise_numbers[0], "customer": person_json(api.people[0])},
        headers=api.headers("other_clerk"),
    )
    assert sold.status_code == 201, sold.text
    own = api.client.get(f"/v1/settlement?period={MONTH}", headers=api.headers("other_admin"))
    assert own.status_code == 200, own.text
    body = own.json()
    assert body["period"] == MONTH
    assert [(r["month"], r["registered"], r["backfilled"], r["total"]) for r in body["lines"]] == [
        (MONTH, 1, 0, 1)
    ]
    # The other enterprise's sale is not in this one's statement.
    mine = api.client.get(f"/v1/settlement?period={MONTH}", headers=api.headers("admin"))
    assert mine.status_code == 200 and mine.json()["enterprise"] != body["enterprise"]
    assert all(r["channel"] != body["lines"][0]["channel"] for r in mine.json()["lines"])
    read = api.client.get(
        f"/v1/regulator/settlement?enterprise_id={api.other_enterprise_id}&period={MONTH}",
        headers=api.headers("regulator"),
    )
    assert read.status_code == 200 and read.json() == body
    # Not for a relying party, nor the enterprise route for a regulator.
    assert api.client.get("/v1/settlement", headers=api.headers("relying_party")).status_code == 403
    assert api.client.get("/v1/settlement", headers=api.headers("regulator")).status_code == 403
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction(readonly=True) as session:
        reads = session.scalars(
            select(AuditLog)
            .where(AuditLog.action == "regulator.figure_read", AuditLog.object_id == "settlement")
            .order_by(AuditLog.id)
        ).all()
    assert [r.detail["scope"] for r in reads] == [
        f"enterprise:{api.other_enterprise_id}",
        f"enterprise:{api.enterprise_id}",
        "national",
    ]


def test_a_red_card_suspends_it_until_lifted(api: Api) -> None:  # noqa: F811
    taken = api.client.post(
        "/v1/regulator/enforcement/actions",
        json={
            "enterprise_id": api.other_enterprise_id,
            "kind": "red",
            "evidence": [{"kind": "inspection_round", "ref": "2016-2"}],
        },
        headers=api.headers("regulator"),
    )
    assert taken.status_code == 201, taken.text
    regulator_url = f"/v1/regulator/settlement?enterprise_id={api.other_enterprise_id}"
    for url, who in (("/v1/settlement", "other_admin"), (regulator_url, "regulator")):
        refused = api.client.get(url, headers=api.headers(who))
        assert (refused.status_code, refused.json()["code"]) == (
            403,
            "REALNAME.SETTLEMENT_SUSPENDED",
        )
    lifted = api.client.post(
        f"/v1/regulator/enforcement/actions/{taken.json()['id']}/lift",
        json={"text": "rectified"},
        headers=api.headers("regulator"),
    )
    assert lifted.status_code == 200
    assert api.client.get("/v1/settlement", headers=api.headers("other_admin")).status_code == 200


def test_bad_input_is_a_clear_refusal(api: Api) -> None:  # noqa: F811
    bad = api.client.get("/v1/settlement?period=2026-13", headers=api.headers("admin"))
    assert (bad.status_code, bad.json()["code"]) == (422, "REALNAME.PERIOD_INVALID")
    missing = api.client.get(
        "/v1/regulator/settlement?enterprise_id=999999", headers=api.headers("regulator")
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "REALNAME.ENTERPRISE_NOT_FOUND")
