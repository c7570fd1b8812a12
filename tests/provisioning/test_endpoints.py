"""The provisioning API as its callers see it: the regulator licenses enterprises and
allocates blocks, an admin builds and staffs its own channel tree and nobody else's, and a
disabled clerk registers no one. Both engines (the `api` fixture)."""

from __future__ import annotations

import pytest

from realname.security.clients import ClientService
from realname.security.models import ApiClient
from realname.security.principals import Role
from tests.api.conftest import Api, api, person_json, token_for

__all__ = ["api"]


def test_the_regulator_licenses_an_mvno_and_allocates_its_block(api: Api) -> None:
    regulator = api.headers("regulator")
    host = api.client.post(
        "/v1/enterprises",
        json={"code": "APIMNO", "name": "基础", "kind": "mno", "provinces": ["11"]},
        headers=regulator,
    )
    assert host.status_code == 201, host.text
    body = {
        "code": "APIMVNO",
        "name": "虚拟",
        "kind": "mvno",
        "host_code": "APIMNO",
        "licence_status": "pilot",
        "licence_since": "2026-06-01",
        "provinces": ["11"],
    }
    mvno = api.client.post("/v1/enterprises", json=body, headers=regulator)
    assert mvno.status_code == 201, mvno.text
    assert mvno.json()["host_code"] == "APIMNO" and mvno.json()["licence_status"] == "pilot"
    again = api.client.post("/v1/enterprises", json=body, headers=regulator)
    assert again.status_code == 201 and again.json()["id"] == mvno.json()["id"]
    clash = api.client.post("/v1/enterprises", json=body | {"name": "另一个"}, headers=regulator)
    assert (clash.status_code, clash.json()["code"]) == (409, "REALNAME.ENTERPRISE_EXISTS")
    no_host = api.client.post(
        "/v1/enterprises", json=body | {"code": "X1", "host_code": None}, headers=regulator
    )
    assert (no_host.status_code, no_host.json()["code"]) == (422, "REALNAME.HOST_REQUIRED")

    mvno_id = mvno.json()["id"]
    block = api.client.post(
        "/v1/blocks", json={"enterprise_id": mvno_id, "prefix": "+86 170 66"}, headers=regulator
    )
    assert block.status_code == 201, block.text
    assert block.json()["size"] == 1_000_000
    overlap = api.client.post(
        "/v1/blocks",
        json={"enterprise_id": mvno_id, "first": "+8617066000000", "last": "+8617066000009"},
        headers=regulator,
    )
    assert (overlap.status_code, overlap.json()["code"]) == (409, "REALNAME.BLOCK_OVERLAPS")
    licence = api.client.post(
        f"/v1/enterprises/{mvno_id}/licence",
        json={"status": "official", "effective_on": "2026-11-01"},
        headers=regulator,
    )
    assert licence.json()["licence_status"] == "official"
    # An admin sees its own enterprise and blocks only.
    own = api.client.get("/v1/enterprises", headers=api.headers("admin")).json()
    assert [e["id"] for e in own] == [api.enterprise_id]
    blocks = api.client.get("/v1/blocks", headers=api.headers("admin")).json()
    assert {b["enterprise_id"] for b in blocks} == {api.enterprise_id}
    hidden = api.client.get(f"/v1/blocks?enterprise_id={mvno_id}", headers=api.headers("admin"))
    assert hidden.status_code == 404


def test_an_admin_builds_its_own_tree_and_cannot_touch_another(api: Api) -> None:
    admin, other = api.headers("admin"), api.headers("other_admin")
    agent = api.client.post(
        "/v1/channels",
        json={"code": "T-AGENT", "name": "代理", "kind": "social", "region_code": "110105"},
        headers=admin,
    ).json()
    sub = api.client.post(
        "/v1/channels",
        json={
            "code": "T-SUB",
            "name": "下级",
            "kind": "social",
            "region_code": "110105",
            "parent_id": agent["id"],
        },
        headers=admin,
    )
    assert sub.status_code == 201 and sub.json()["parent_id"] == agent["id"]
    cycle = api.client.post(
        f"/v1/channels/{agent['id']}/move", json={"parent_id": sub.json()["id"]}, headers=admin
    )
    assert (cycle.status_code, cycle.json()["code"]) == (409, "REALNAME.CHANNEL_CYCLE")
    # Tenant isolation: another enterprise's admin finds none of it.
    for method, url, body in (
        ("POST", f"/v1/channels/{agent['id']}/move", {"parent_id": None}),
        ("POST", "/v1/clerks", {"channel_id": agent["id"], "code": "T-X", "name": "x"}),
    ):
        response = api.client.request(method, url, json=body, headers=other)
        assert response.status_code == 404, response.text
    under_foreign = api.client.post(
        "/v1/channels",
        json={
            "code": "T-F",
            "name": "f",
            "kind": "social",
            "region_code": "110105",
            "parent_id": agent["id"],
        },
        headers=other,
    )
    assert under_foreign.json()["code"] == "REALNAME.PARENT_NOT_FOUND"
    clerks = api.client.get("/v1/clerks", headers=other).json()
    assert all(c["channel_id"] != agent["id"] for c in clerks)


def test_a_disabled_clerk_registers_no_one_and_loses_its_clients(api: Api) -> None:
    admin = api.headers("admin")
    clerk = api.client.post(
        "/v1/clerks",
        json={"channel_id": api.own_channel_id, "code": "T-K9", "name": "临时营业员"},
        headers=admin,
    ).json()
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:
        client, secret = ClientService(session, rt.keyring).create(
            role=Role.CLERK,
            at=rt.clock.now(),
            enterprise_id=api.enterprise_id,
            channel_id=api.own_channel_id,
            clerk_id=clerk["id"],
        )
        client_id = client.client_id
    headers = {"Authorization": f"Bearer {token_for(api.client, client_id, secret)}"}
    first = api.client.post(
        "/v1/registrations",
        json={"msisdn": api.number(), "customer": person_json(api.people[0])},
        headers=headers,
    )
    assert first.status_code == 201, first.text
    elsewhere = api.client.post(
        f"/v1/clerks/{clerk['id']}/disable", headers=api.headers("other_admin")
    )
    assert elsewhere.status_code == 404
    disabled = api.client.post(f"/v1/clerks/{clerk['id']}/disable", headers=admin)
    assert disabled.json()["status"] == "disabled"
    number = api.number()
    refused = api.client.post(
        "/v1/registrations",
        json={"msisdn": number, "customer": person_json(api.people[1])},
        headers=headers,
    )
    assert refused.status_code in (401, 403), refused.text
    with rt.transaction() as session:
        stored = session.query(ApiClient).filter_by(client_id=client_id).one()
        assert stored.status == "revoked"
    token = api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert token.status_code == 401
    api.free_numbers.append(number)  # unused
    # nor can the disabled clerk be given a new client (it outlived the decision before)
    with rt.transaction() as session, pytest.raises(ValueError, match="disabled"):
        ClientService(session, rt.keyring).create(
            role=Role.CLERK,
            at=rt.clock.now(),
            enterprise_id=api.enterprise_id,
            channel_id=api.own_channel_id,
            clerk_id=clerk["id"],
        )


def test_a_suspended_licence_takes_on_no_new_customers_until_restored(api: Api) -> None:
    """It used to: a revoked MVNO still registered new customers (201)."""
    regulator = api.headers("regulator")
    path = f"/v1/enterprises/{api.other_enterprise_id}/licence"
    suspended = api.client.post(
        path, json={"status": "suspended", "effective_on": "2026-11-20"}, headers=regulator
    )
    assert suspended.status_code == 200, suspended.text
    number = api.other_enterprise_numbers.pop()
    body = {"msisdn": number, "customer": person_json(api.people[2])}
    refused = api.client.post("/v1/registrations", json=body, headers=api.headers("other_clerk"))
    assert (refused.status_code, refused.json()["code"]) == (403, "REALNAME.LICENCE_NOT_IN_FORCE")
    looked = api.client.post(
        "/v1/lines/lookup", json={"msisdn": number}, headers=api.headers("other_admin")
    )
    assert looked.json()["state"] == "stocked"  # the refusal changed nothing
    restored = api.client.post(
        path, json={"status": "official", "effective_on": "2026-11-22"}, headers=regulator
    )
    assert restored.status_code == 200, restored.text
    again = api.client.post("/v1/registrations", json=body, headers=api.headers("other_clerk"))
    assert again.status_code == 201, again.text
