"""The channels and back-fill API end to end, on both engines."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import Api, api, person_json  # noqa: F401


def register(api: Api, person: int, who: str = "clerk", **changes: object) -> object:  # noqa: F811
    return api.client.post(
        "/v1/registrations",
        json={"msisdn": api.number(), "customer": person_json(api.people[person], **changes)},
        headers=api.headers(who),
    )


def test_stock_reports_and_where_a_kit_is(api: Api) -> None:  # noqa: F811
    stock = api.client.get("/v1/stock/summary", headers=api.headers("admin"))
    assert stock.status_code == 200, stock.text
    own = next(s for s in stock.json() if s["channel"]["id"] == api.own_channel_id)
    assert own["unsold"] > 0 and set(own["older_than_days"]) == {"30", "90", "180"}
    number = api.free_numbers[-1]
    where = api.client.post(
        "/v1/stock/where", json={"msisdn": number}, headers=api.headers("admin")
    )
    assert where.status_code == 200, where.text
    assert where.json()["channel"]["id"] == api.own_channel_id
    assert [e["operation"] for e in where.json()["trail"]] == ["stock"]
    hidden = api.client.post(
        "/v1/stock/where", json={"msisdn": number}, headers=api.headers("other_admin")
    )
    assert hidden.status_code == 404
    aged = api.client.get("/v1/stock/aged?days=1", headers=api.headers("admin"))
    assert aged.status_code == 200 and aged.json() == []


def test_stock_moves_follow_the_tree_and_returns_free_the_number(api: Api) -> None:  # noqa: F811
    number = api.number()
    off_tree = api.client.post(
        f"/v1/channels/{api.own_channel_id}/stock-moves",
        json={"msisdns": [number], "to_channel_id": api.partner_channel_id},
        headers=api.headers("admin"),
    )
    assert off_tree.status_code == 409
    assert off_tree.json()["code"] == "REALNAME.STOCK_MOVE_NOT_ALLOWED"
    by_clerk = api.client.post(
        f"/v1/channels/{api.own_channel_id}/stock-returns",
        json={"msisdns": [number]},
        headers=api.headers("clerk"),
    )
    assert by_clerk.status_code == 403
    returned = api.client.post(
        f"/v1/channels/{api.own_channel_id}/stock-returns",
        json={"msisdns": [number], "write_off": True, "reason": "damaged"},
        headers=api.headers("admin"),
    )
    assert returned.status_code == 201, returned.text
    where = api.client.post(
        "/v1/stock/where", json={"msisdn": number}, headers=api.headers("admin")
    )
    assert where.json()["state"] == "pooled" and where.json()["channel"] is None


def test_refusals_feed_channel_risk_and_a_suspended_channel_cannot_register(
    api: Api,  # noqa: F811
) -> None:
    for _ in range(3):
        assert register(api, 4, name="李四").status_code == 422  # a borrowed identity
    risk = api.client.get("/v1/channels/risk", headers=api.headers("admin"))
    assert risk.status_code == 200, risk.text
    own = next(r for r in risk.json() if r["channel"]["id"] == api.own_channel_id)
    rejections = next(s for s in own["signals"] if s["name"] == "authority_rejections")
    assert rejections["value"] > 0 and "AUTHORITY_NAME_MISMATCH: 3" in rejections["evidence"]
    assert api.client.get("/v1/channels/risk", headers=api.headers("regulator")).status_code == 400
    regulator = api.client.get(
        f"/v1/channels/risk?enterprise_id={api.enterprise_id}", headers=api.headers("regulator")
    )
    assert regulator.status_code == 200 and regulator.json() == risk.json()

    suspend = f"/v1/channels/{api.own_channel_id}/suspend"
    not_risky = api.client.post(suspend, json={}, headers=api.headers("admin"))
    assert not_risky.status_code == 409 and not_risky.json()["code"] == "REALNAME.CHANNEL_NOT_RISKY"
    assert (
        api.client.post(suspend, json={"reason": "x"}, headers=api.headers("clerk")).status_code
        == 403
    )
    foreign = api.client.post(suspend, json={"reason": "x"}, headers=api.headers("other_admin"))
    assert foreign.status_code == 404
    done = api.client.post(
        suspend, json={"reason": "secret inspection"}, headers=api.headers("admin")
    )
    assert done.status_code == 200 and done.json()["status"] == "suspended"
    refused = register(api, 5)
    assert refused.status_code == 403
    assert refused.json()["code"] == "REALNAME.CHANNEL_NOT_AUTHORISED"
    resumed = api.client.post(
        f"/v1/channels/{api.own_channel_id}/resume",
        json={"reason": "rectified"},
        headers=api.headers("admin"),
    )
    assert resumed.json()["status"] == "active"
    assert register(api, 5).status_code == 201


def test_a_fraud_complaint_asks_for_reverification(api: Api) -> None:  # noqa: F811
    line = register(api, 6).json()  # type: ignore[attr-defined]
    complaint = api.client.post(
        f"/v1/lines/{line['id']}/complaints",
        json={"kind": "fraud", "note": "reported by a bank"},
        headers=api.headers("admin"),
    )
    assert complaint.status_code == 201, complaint.text
    assert complaint.json()["reverification_requested"] is True
    read = api.client.get(f"/v1/lines/{line['id']}", headers=api.headers("admin"))
    assert read.json()["reverify_deadline"]
    unknown_kind = api.client.post(
        f"/v1/lines/{line['id']}/complaints", json={"kind": "bad"}, headers=api.headers("admin")
    )
    assert unknown_kind.status_code in (400, 422)


def test_usage_feed_wakes_dormant_lines(api: Api) -> None:  # noqa: F811
    line = register(api, 7).json()  # type: ignore[attr-defined]
    long_ago = (api.clock.now() - timedelta(days=400)).isoformat()
    now = api.clock.now().isoformat()
    first = api.client.post(
        "/v1/usage",
        json={"uses": [{"msisdn": line["msisdn"], "used_at": long_ago}]},
        headers=api.headers("admin"),
    )
    assert first.json() == {
        "updated": 1,
        "unknown": 0,
        "refused": 0,
        "reverification_requested": [],
    }
    woke = api.client.post(
        "/v1/usage",
        json={
            "uses": [
                {"msisdn": line["msisdn"], "used_at": now},
                {"msisdn": "+8613900000000", "used_at": now},
            ]
        },
        headers=api.headers("admin"),
    )
    assert woke.json() == {
        "updated": 1,
        "unknown": 1,
        "refused": 0,
        "reverification_requested": [line["id"]],
    }
    future = (api.clock.now() + timedelta(days=3)).isoformat()
    ahead = api.client.post(
        "/v1/usage",
        json={"uses": [{"msisdn": line["msisdn"], "used_at": future}]},
        headers=api.headers("admin"),
    )
    assert ahead.json()["refused"] == 1 and ahead.json()["updated"] == 0
    naive = api.client.post(
        "/v1/usage",
        json={"uses": [{"msisdn": line["msisdn"], "used_at": "2026-11-01T08:00:00"}]},
        headers=api.headers("admin"),
    )
    assert naive.status_code == 400, naive.text  # an instant without a zone is refused
    assert "uses.0.used_at: give a time zone" in naive.text
    far = api.client.post(
        "/v1/usage",
        json={"uses": [{"msisdn": line["msisdn"], "used_at": "9999-12-31T23:59:59-01:00"}]},
        headers=api.headers("admin"),
    )
    assert far.status_code == 400, far.text


def test_backfill_campaign_start_and_progress(api: Api) -> None:  # noqa: F811
    today = api.clock.now().date()
    missing = api.client.get("/v1/backfill/progress", headers=api.headers("admin"))
    assert missing.status_code == 404
    assert missing.json()["code"] == "REALNAME.CAMPAIGN_NOT_FOUND"
    # Started ten days ago with the policy's shortest deadline: lines reminded today would get
    # less than the 60 days' notice before the campaign's first bar.
    too_early = api.client.post(
        "/v1/backfill/campaigns",
        json={"starts_on": (today - timedelta(days=10)).isoformat()},
        headers=api.headers("admin"),
    )
    assert too_early.status_code == 422, too_early.text
    assert too_early.json()["code"] == "REALNAME.START_TOO_EARLY"
    deadline = today + timedelta(days=3 * 365)
    started = api.client.post(
        "/v1/backfill/campaigns",
        json={
            "starts_on": (today - timedelta(days=10)).isoformat(),
            "deadline": deadline.isoformat(),
            "milestones": [{"due_on": (today + timedelta(days=365)).isoformat(), "percent": 30}],
        },
        headers=api.headers("admin"),
    )
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["phase"] == "remind"
    assert body["deadline"] == deadline.isoformat()
    assert body["phase_dates"] == {
        "remind": (today - timedelta(days=10)).isoformat(),
        "bar_outgoing": deadline.isoformat(),
        "bar_both": (deadline + timedelta(days=30)).isoformat(),
        "terminate": (deadline + timedelta(days=60)).isoformat(),
    }
    assert [m["percent"] for m in body["milestones"]] == [30]
    again = api.client.post(
        "/v1/backfill/campaigns",
        json={"starts_on": today.isoformat()},
        headers=api.headers("admin"),
    )
    assert again.status_code == 409
    progress = api.client.get("/v1/backfill/progress", headers=api.headers("admin"))
    assert progress.status_code == 200 and progress.json()["overall"]["group"] == "all"
    assert progress.json()["milestones"][0]["status"] in ("on track", "behind")
    later = deadline + timedelta(days=90)
    amended = api.client.post(
        "/v1/backfill/campaigns/amendments",
        json={"deadline": later.isoformat(), "reason": "regulator extension"},
        headers=api.headers("admin"),
    )
    assert amended.status_code == 200, amended.text
    assert amended.json()["phase_dates"]["bar_outgoing"] == later.isoformat()
    assert [a["reason"] for a in amended.json()["amendments"]] == ["regulator extension"]
    refused = api.client.post(
        "/v1/backfill/campaigns/amendments",
        json={"milestones": [{"due_on": later.isoformat(), "percent": 101}], "reason": "x"},
        headers=api.headers("admin"),
    )
    assert refused.status_code == 400, refused.text
    unordered = api.client.post(
        "/v1/backfill/campaigns/amendments",
        json={
            "milestones": [
                {"due_on": (today + timedelta(days=30)).isoformat(), "percent": 50},
                {"due_on": (today + timedelta(days=60)).isoformat(), "percent": 40},
            ],
            "reason": "x",
        },
        headers=api.headers("admin"),
    )
    assert unordered.status_code == 422
    assert unordered.json()["code"] == "REALNAME.MILESTONES_INVALID"
    schedule = api.client.get("/v1/backfill/schedule", headers=api.headers("admin"))
    assert schedule.status_code == 200 and schedule.json()["deadline"] == later.isoformat()
    assert schedule.json()["notice_days"] == 60
    assert [m["percent"] for m in schedule.json()["milestones"]] == [30]
    regulator = api.client.get(
        f"/v1/backfill/schedule?enterprise_id={body['enterprise_id']}",
        headers=api.headers("regulator"),
    )
    assert regulator.status_code == 200, regulator.text
    other = api.client.get("/v1/backfill/schedule", headers=api.headers("other_admin"))
    assert other.status_code == 404
    assert (
        api.client.post(
            "/v1/backfill/campaigns/amendments",
            json={"deadline": later.isoformat(), "reason": "x"},
            headers=api.headers("clerk"),
        ).status_code
        == 403
    )
    assert (
        api.client.post(
            "/v1/backfill/campaigns",
            json={"starts_on": today.isoformat()},
            headers=api.headers("clerk"),
        ).status_code
        == 403
    )
