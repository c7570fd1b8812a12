"""docs/api.md is the source of truth for who may call what: this test parses its roles tables
and checks every role/route cell against the live API, on both engines, and against the role
each route declares (`realname.http.principals`, shown in the OpenAPI document).

A `yes` cell (any qualifier after a colon) must get past authorisation: no 401, no 403
`PERMISSION_DENIED`, no 5xx. A `—` cell must be exactly 403 `PERMISSION_DENIED`. The table must
name every `/v1` route of the app, its `yes` cells must be the roles the route's dependency
lets through (`x-roles`), and the roles table's default scopes must be the code's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from realname.api.app import openapi_document
from realname.security.clients import DEFAULT_SCOPES
from realname.security.principals import Role
from tests.api.conftest import Api, person_json

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
# The column's role -> the `api` fixture's client of that role (all of the line's enterprise).
CLIENT = {
    "clerk": "clerk",
    "enterprise_admin": "admin",
    "regulator": "regulator",
    "regulator_inspector": "regulator_inspector",
    "subscriber": "subscriber",
    "relying_party": "relying_party",
    "provincial_regulator": "provincial",
}
# The compliance table (its own heading) adds the complaint centre's column.
COMPLIANCE_CLIENT = {**CLIENT, "complaint_centre": "complaint_centre"}


def _rows(markdown: str, heading: str) -> list[list[str]]:
    """The cells of the first table after `heading` (header row included, rule dropped)."""
    section = markdown.split(heading, 1)[1]
    rows: list[list[str]] = []
    for line in section.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if not all(re.fullmatch(r"-+", cell) for cell in cells):
            rows.append(cells)
    return rows


def route_table(
    heading: str = "### Who may call what\n", clients: dict[str, str] = CLIENT
) -> dict[tuple[str, str], dict[str, str]]:
    header, *body = _rows(DOCS.read_text(encoding="utf-8"), heading)
    assert header[0] == "route" and header[1:] == list(clients), header
    table = {}
    for cells in body:
        method, path = cells[0].strip("`").split(" ", 1)
        table[(method, path)] = dict(zip(header[1:], cells[1:], strict=True))
    return table


# The national platform's table adds the enterprise feeds' client.
NATIONAL_CLIENT = {**COMPLIANCE_CLIENT, "feed_client": "feed_client"}
# The card reads' table adds the counter's card reader.
CARD_CLIENT = {**NATIONAL_CLIENT, "card_reader": "card_reader"}
TABLE = (
    route_table()
    | route_table("### Who may call what: compliance", COMPLIANCE_CLIENT)
    | route_table("### Who may call what: national", NATIONAL_CLIENT)
    | route_table("### Who may call what: card reads", CARD_CLIENT)
)


def test_the_roles_table_states_the_default_scopes() -> None:
    header, *body = _rows(DOCS.read_text(encoding="utf-8"), "## Authentication and roles")
    assert header == ["role", "may", "scopes by default"]
    documented = {cells[0].strip("`"): cells[2] for cells in body}
    for role in Role:
        scopes = documented[role.value]
        if role is Role.RELYING_PARTY:
            assert scopes == "—"  # its CAMARA scopes come with its registration
        else:
            assert scopes.strip("`").split() == list(DEFAULT_SCOPES[role]), role


def test_the_table_names_every_v1_route(api: Api) -> None:
    spec = api.client.app.openapi()  # type: ignore[attr-defined]
    live = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    }
    assert set(TABLE) == live - LOOKUP


# The operations anyone may call: liveness, readiness, and the token endpoint itself.
# 一证通查 answers anyone: what protects a person is the code sent to a number they hold, the
# limits and the one refusal for every failure (docs/national.md), not a token.
LOOKUP = {
    ("POST", "/v1/national/lookup/codes"),
    ("POST", "/v1/national/lookup/answers"),
    ("POST", "/v1/national/lookup/disputes"),
    ("GET", "/v1/national/lookup/disputes/{reference}"),
}
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/oauth/token"), *LOOKUP}


def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, operations in openapi_document()["paths"].items()
        for method, operation in operations.items()
    }


def test_every_operation_but_the_public_ones_states_its_scopes_and_roles() -> None:
    """The OpenAPI document says what each operation needs: the bearer token's scopes (its
    security requirement) and the roles allowed (`x-roles`), both from the route's role
    dependency; a route without one would take any authenticated caller."""
    undeclared = []
    for key, operation in sorted(_operations().items()):
        if key in PUBLIC:
            assert "security" not in operation and "x-roles" not in operation, key
            continue
        security = operation.get("security", [])
        scopes = [scope for requirement in security for scope in requirement.get("OAuth2", [])]
        if not scopes or not operation.get("x-roles"):
            undeclared.append(key)
    assert not undeclared, undeclared


def test_the_table_is_what_the_routes_declare() -> None:
    operations = _operations()
    wrong = {}
    for key, cells in TABLE.items():
        documented = {role for role, cell in cells.items() if cell.startswith("yes")}
        declared = set(operations[key]["x-roles"])
        if documented != declared:
            wrong[key] = (sorted(documented), sorted(declared))
    assert not wrong, wrong


@dataclass
class World:
    api: Api
    line_id: int
    msisdn: str
    owner: dict[str, object]
    stranger: dict[str, object]


Request = tuple[str, dict[str, Any] | None]  # path (with query), JSON body
BUILDERS: dict[str, Callable[[World], Request]] = {
    "/v1/registrations": lambda w: (
        "/v1/registrations",
        {"msisdn": w.api.number(), "customer": w.stranger},
    ),
    "/v1/stock": lambda w: (
        "/v1/stock",
        {
            "channel_id": w.api.own_channel_id,
            "kits": [
                {
                    "msisdn": "+8613800199990",
                    "iccid": "89860000000000199990",
                    "imsi": "460000000199990",
                }
            ],
        },
    ),
    "/v1/lines/lookup": lambda w: ("/v1/lines/lookup", {"msisdn": w.msisdn}),
    "/v1/lines/{line_id}": lambda w: (f"/v1/lines/{w.line_id}", None),
    "/v1/lines/{line_id}/history": lambda w: (f"/v1/lines/{w.line_id}/history", None),
    "/v1/lines/{line_id}/owner": lambda w: (
        f"/v1/lines/{w.line_id}/owner",
        {"purpose": "fraud case 17"},
    ),
    "/v1/identities/lines": lambda w: (
        "/v1/identities/lines",
        {"document": w.owner["document"]},
    ),
    "/v1/lines/reverification-queue": lambda w: (
        f"/v1/lines/reverification-queue?enterprise_id={w.api.enterprise_id}",
        None,
    ),
    "/v1/channels/{channel_id}/stock": lambda w: (
        f"/v1/channels/{w.api.own_channel_id}/stock",
        None,
    ),
    "/v1/lines/{line_id}/suspend": lambda w: (
        f"/v1/lines/{w.line_id}/suspend",
        {"reason": "enforcement"},
    ),
    "/v1/lines/{line_id}/resume": lambda w: (f"/v1/lines/{w.line_id}/resume", {}),
    "/v1/lines/{line_id}/restrict": lambda w: (
        f"/v1/lines/{w.line_id}/restrict",
        {"reason": "enforcement"},
    ),
    "/v1/lines/{line_id}/unrestrict": lambda w: (f"/v1/lines/{w.line_id}/unrestrict", {}),
    "/v1/lines/{line_id}/report-lost": lambda w: (
        f"/v1/lines/{w.line_id}/report-lost",
        {"owner": w.owner},
    ),
    "/v1/lines/{line_id}/cancel": lambda w: (
        f"/v1/lines/{w.line_id}/cancel",
        {"reason": "customer request", "owner": w.owner},
    ),
    "/v1/lines/{line_id}/release": lambda w: (f"/v1/lines/{w.line_id}/release", None),
    "/v1/lines/{line_id}/reverification-requests": lambda w: (
        f"/v1/lines/{w.line_id}/reverification-requests",
        {"reason": "fraud complaint"},
    ),
    "/v1/lines/{line_id}/reverification-answers": lambda w: (
        f"/v1/lines/{w.line_id}/reverification-answers",
        {"owner": w.owner},
    ),
    "/v1/lines/{line_id}/lock": lambda w: (f"/v1/lines/{w.line_id}/lock", {"owner": w.owner}),
    "/v1/lines/{line_id}/unlock": lambda w: (f"/v1/lines/{w.line_id}/unlock", {"owner": w.owner}),
    "/v1/lines/{line_id}/sim-replacements": lambda w: (
        f"/v1/lines/{w.line_id}/sim-replacements",
        {"owner": w.owner, "iccid": f"8986009{w.line_id:013d}", "imsi": f"46009{w.line_id:010d}"},
    ),
    "/v1/lines/{line_id}/transfers": lambda w: (
        f"/v1/lines/{w.line_id}/transfers",
        {"owner": w.owner, "receiver": w.stranger},
    ),
    # GET lists (the body is ignored), POST creates.
    "/v1/channels": lambda w: (
        f"/v1/channels?enterprise_id={w.api.enterprise_id}",
        {"code": f"RT-{w.line_id}", "name": "角色", "kind": "social", "region_code": "110105"},
    ),
    "/v1/channels/{channel_id}/stock-moves": lambda w: (
        f"/v1/channels/{w.api.own_channel_id}/stock-moves",
        {"msisdns": ["+8613800199990"], "to_channel_id": w.api.partner_channel_id},
    ),
    "/v1/channels/{channel_id}/stock-returns": lambda w: (
        f"/v1/channels/{w.api.own_channel_id}/stock-returns",
        {"msisdns": ["+8613800199990"]},
    ),
    "/v1/stock/summary": lambda w: (f"/v1/stock/summary?enterprise_id={w.api.enterprise_id}", None),
    "/v1/stock/aged": lambda w: (f"/v1/stock/aged?enterprise_id={w.api.enterprise_id}", None),
    "/v1/stock/where": lambda w: ("/v1/stock/where", {"msisdn": w.msisdn}),
    "/v1/channels/risk": lambda w: (f"/v1/channels/risk?enterprise_id={w.api.enterprise_id}", None),
    "/v1/channels/{channel_id}/suspend": lambda w: (
        f"/v1/channels/{w.api.partner_channel_id}/suspend",
        {"reason": "inspection found pre-registered cards"},
    ),
    "/v1/channels/{channel_id}/resume": lambda w: (
        f"/v1/channels/{w.api.partner_channel_id}/resume",
        {"reason": "retrained"},
    ),
    "/v1/lines/{line_id}/complaints": lambda w: (
        f"/v1/lines/{w.line_id}/complaints",
        {"kind": "harassment"},
    ),
    "/v1/usage": lambda w: (
        "/v1/usage",
        {"uses": [{"msisdn": w.msisdn, "used_at": "2026-01-02T03:04:05Z"}]},
    ),
    "/v1/backfill/campaigns": lambda w: ("/v1/backfill/campaigns", {"starts_on": "2026-01-01"}),
    "/v1/backfill/progress": lambda w: (
        f"/v1/backfill/progress?enterprise_id={w.api.enterprise_id}",
        None,
    ),
    "/v1/backfill/campaigns/amendments": lambda w: (
        "/v1/backfill/campaigns/amendments",
        {"deadline": "2031-01-01", "reason": "extension"},
    ),
    "/v1/backfill/schedule": lambda w: (
        f"/v1/backfill/schedule?enterprise_id={w.api.enterprise_id}",
        None,
    ),
    "/v1/lines/{line_id}/consents": lambda w: (
        f"/v1/lines/{w.line_id}/consents",
        {"relying_party_client_id": "relying_party-000000000000"},
    ),
    "/v1/consents/{consent_id}/revoke": lambda w: ("/v1/consents/999999/revoke", None),
    "/v1/lines/{line_id}/possession-challenges": lambda w: (
        f"/v1/lines/{w.line_id}/possession-challenges",
        None,
    ),
    "/v1/subscriber/otp": lambda w: ("/v1/subscriber/otp", {"phone_number": w.msisdn}),
    "/v1/subscriber/otp/verify": lambda w: (
        "/v1/subscriber/otp/verify",
        {"challenge_id": "NoSuchChallengeAtAll", "code": "123456"},
    ),
    "/v1/me/lines": lambda w: ("/v1/me/lines", None),
    "/v1/me/lines/{line_id}/report-lost": lambda w: (f"/v1/me/lines/{w.line_id}/report-lost", None),
    "/v1/me/lines/{line_id}/lock": lambda w: (f"/v1/me/lines/{w.line_id}/lock", None),
    "/v1/me/lines/{line_id}/unlock": lambda w: (
        f"/v1/me/lines/{w.line_id}/unlock",
        {"owner": w.owner},
    ),
    "/v1/me/lines/{line_id}/reverification-answers": lambda w: (
        f"/v1/me/lines/{w.line_id}/reverification-answers",
        {"owner": w.owner, "liveness_score": 0.97},
    ),
    "/v1/me/lines/{line_id}/disputes": lambda w: (f"/v1/me/lines/{w.line_id}/disputes", None),
    "/v1/me/disputes": lambda w: ("/v1/me/disputes", None),
    "/v1/enterprises": lambda w: (
        "/v1/enterprises",
        {"code": f"RT{w.line_id}", "name": "角色测试", "kind": "mno"},
    ),
    "/v1/enterprises/{enterprise_id}/licence": lambda w: (
        f"/v1/enterprises/{w.api.other_enterprise_id}/licence",
        {"status": "official", "effective_on": "2026-11-01"},
    ),
    "/v1/blocks": lambda w: (
        "/v1/blocks",
        {
            "enterprise_id": w.api.other_enterprise_id,
            "first": f"+86170990{w.line_id:05d}",
            "last": f"+86170990{w.line_id:05d}",
        },
    ),
    "/v1/channels/{channel_id}/move": lambda w: (
        f"/v1/channels/{w.api.partner_channel_id}/move",
        {"parent_id": None},
    ),
    "/v1/clerks": lambda w: (
        "/v1/clerks",
        {"channel_id": w.api.own_channel_id, "code": f"RTK{w.line_id}", "name": "营业员"},
    ),
    "/v1/clerks/{clerk_id}/disable": lambda w: ("/v1/clerks/999999/disable", None),
    # The compliance routes, on round 1 (a 404 before any round exists is past authorisation).
    "/v1/regulator/inspections/rounds": lambda w: (
        "/v1/regulator/inspections/rounds",
        {
            "code": f"RT-{w.line_id}",
            "name": "roles",
            "starts_on": "2026-11-01",
            "ends_on": "2026-11-30",
            "seed": 1,
        },
    ),
    "/v1/regulator/inspections/rounds/{round_id}": lambda w: (
        "/v1/regulator/inspections/rounds/1",
        None,
    ),
    "/v1/regulator/inspections/rounds/{round_id}/plan": lambda w: (
        "/v1/regulator/inspections/rounds/1/plan",
        None,
    ),
    "/v1/regulator/inspections/rounds/{round_id}/assignments": lambda w: (
        "/v1/regulator/inspections/rounds/1/assignments",
        {"inspector": w.api.secrets["regulator_inspector"][0]},
    ),
    "/v1/regulator/inspections/rounds/{round_id}/visits": lambda w: (
        "/v1/regulator/inspections/rounds/1/visits",
        {
            "target_id": 1,
            "visited_at": "2026-11-20T10:00:00Z",
            "place_region": "110105",
            "outcome": "compliant",
        },
    ),
    "/v1/regulator/inspections/rounds/{round_id}/visits/{visit_id}": lambda w: (
        "/v1/regulator/inspections/rounds/1/visits/1",
        None,
    ),
    "/v1/regulator/inspections/rounds/{round_id}/visits/{visit_id}/evidence/{sha256}": lambda w: (
        "/v1/regulator/inspections/rounds/1/visits/1/evidence/" + "0" * 64,
        None,
    ),
    "/v1/regulator/inspections/rounds/{round_id}/purchases": lambda w: (
        "/v1/regulator/inspections/rounds/1/purchases",
        {"visit_id": 1, "msisdn": w.msisdn, "bought_at": "2026-11-20T10:00:00Z"},
    ),
    "/v1/regulator/inspections/rounds/{round_id}/purchase-checks": lambda w: (
        "/v1/regulator/inspections/rounds/1/purchase-checks",
        None,
    ),
    "/v1/regulator/inspections/rates": lambda w: (
        "/v1/regulator/inspections/rates?round_id=1",
        None,
    ),
    "/v1/regulator/figures": lambda w: ("/v1/regulator/figures?period=2026-11", None),
    "/v1/regulator/segments": lambda w: ("/v1/regulator/segments?by=enterprise,sex", None),
    # The compliance routes (ids that exist nowhere: a 404 is past authorisation).
    "/v1/regulator/enforcement/actions": lambda w: (
        "/v1/regulator/enforcement/actions",
        {
            "enterprise_id": w.api.enterprise_id,
            "kind": "notice",
            "evidence": [{"kind": "document", "ref": "MIIT-2026-17"}],
        },
    ),
    "/v1/regulator/enforcement/actions/{action_id}": lambda w: (
        "/v1/regulator/enforcement/actions/999999",
        None,
    ),
    "/v1/regulator/enforcement/actions/{action_id}/lift": lambda w: (
        "/v1/regulator/enforcement/actions/999999/lift",
        {"text": "rectified"},
    ),
    "/v1/regulator/enforcement/actions/{action_id}/appeal-decision": lambda w: (
        "/v1/regulator/enforcement/actions/999999/appeal-decision",
        {"decision": "uphold", "reason": "the findings stand"},
    ),
    "/v1/regulator/enforcement/actions/{action_id}/follow-up": lambda w: (
        "/v1/regulator/enforcement/actions/999999/follow-up",
        {"passed": True, "evidence": [{"kind": "inspection_round", "ref": "R2"}]},
    ),
    "/v1/regulator/enforcement/proposals": lambda w: ("/v1/regulator/enforcement/proposals", None),
    "/v1/regulator/enforcement/proposals/violation-rates": lambda w: (
        "/v1/regulator/enforcement/proposals/violation-rates",
        {
            "enterprise_id": w.api.enterprise_id,
            "rounds": [{"round_ref": "R1", "inspected": 10, "violations": 0}],
        },
    ),
    "/v1/regulator/enforcement/proposals/sweep": lambda w: (
        "/v1/regulator/enforcement/proposals/sweep",
        None,
    ),
    "/v1/regulator/enforcement/proposals/{proposal_id}/accept": lambda w: (
        "/v1/regulator/enforcement/proposals/999999/accept",
        {},
    ),
    "/v1/regulator/enforcement/proposals/{proposal_id}/dismiss": lambda w: (
        "/v1/regulator/enforcement/proposals/999999/dismiss",
        {"text": "not this time"},
    ),
    "/v1/enforcement/actions": lambda w: ("/v1/enforcement/actions", None),
    "/v1/settlement": lambda w: ("/v1/settlement", None),
    "/v1/regulator/settlement": lambda w: (
        f"/v1/regulator/settlement?enterprise_id={w.api.enterprise_id}",
        None,
    ),
    "/v1/enforcement/actions/{action_id}": lambda w: ("/v1/enforcement/actions/999999", None),
    "/v1/enforcement/actions/{action_id}/appeal": lambda w: (
        "/v1/enforcement/actions/999999/appeal",
        {"text": "we disagree"},
    ),
    "/v1/enforcement/actions/{action_id}/rectification-report": lambda w: (
        "/v1/enforcement/actions/999999/rectification-report",
        {"text": "retrained the halls"},
    ),
    "/v1/complaints": lambda w: (
        "/v1/complaints",
        {"category": "other", "msisdn": "+8613800199991", "occurred_at": "2026-11-23T08:00:00Z"},
    ),
    "/v1/complaint-imports": lambda w: (
        "/v1/complaint-imports",
        {"csv": "category,msisdn,occurred_at,content_sha256,centre_ref\n"},
    ),
    "/v1/complaints/counts": lambda w: ("/v1/complaints/counts", None),
    "/v1/complaints/flags": lambda w: ("/v1/complaints/flags", None),
    "/v1/complaints/{complaint_id}": lambda w: ("/v1/complaints/999999", None),
    "/v1/complaints/{complaint_id}/close": lambda w: (
        "/v1/complaints/999999/close",
        {"outcome": "resolved"},
    ),
    # A body that is no feed batch: refused FEED_MALFORMED, past authorisation.
    "/v1/national/feeds/batches": lambda w: ("/v1/national/feeds/batches", {"batch": 1}),
    "/v1/national/feeds/sealing-key": lambda w: ("/v1/national/feeds/sealing-key", None),
    "/v1/national/feeds": lambda w: ("/v1/national/feeds", None),
    "/v1/national/feeds/disputes": lambda w: ("/v1/national/feeds/disputes", None),
    "/v1/national/disputes": lambda w: ("/v1/national/disputes", None),
    # no such case: DISPUTE_NOT_FOUND, past authorisation
    "/v1/national/feeds/disputes/{reference}": lambda w: (
        "/v1/national/feeds/disputes/NDnosuchcase",
        {"status": "traced"},
    ),
    "/v1/card-reads": lambda w: (
        "/v1/card-reads",
        {"document": w.stranger["document"], "name": w.stranger["name"]},
    ),
    "/v1/card-reads/latest": lambda w: ("/v1/card-reads/latest", None),
}


def _fresh_line(api: Api, index: int) -> World:
    """Each route gets a line of its own, so no route's cells depend on another's."""
    # Person 9 owns at most 3 of these lines, so as registrant and receiver it stays in the cap.
    owner, stranger = api.people[index % 10], api.people[9]
    response = api.client.post(
        "/v1/registrations",
        json={"msisdn": api.number(), "customer": person_json(owner)},
        headers=api.headers("clerk"),
    )
    assert response.status_code == 201, response.text
    line = response.json()
    return World(api, line["id"], line["msisdn"], person_json(owner), person_json(stranger))


@pytest.mark.parametrize(("method", "path"), sorted(TABLE), ids=lambda v: str(v))
def test_each_cell_of_the_table_holds(api: Api, method: str, path: str) -> None:
    world = _fresh_line(api, sorted(TABLE).index((method, path)))
    url, body = BUILDERS[path](world)
    wrong = []
    for role, cell in TABLE[(method, path)].items():
        allowed = cell.startswith("yes")
        assert allowed or cell == "—", f"{role}: unknown cell {cell!r}"
        who = CARD_CLIENT[role]
        headers = (
            api.device_headers(who, world.line_id)
            if allowed and "own line" in cell
            else api.headers(who)
        )
        response = api.client.request(method, url, json=body, headers=headers)
        code = response.json().get("code") if response.status_code >= 400 else None
        if allowed:
            denied = response.status_code in (401, 403) and code in (
                "PERMISSION_DENIED",
                "UNAUTHENTICATED",
            )
            if denied or response.status_code >= 500:
                wrong.append((role, cell, response.status_code, response.text))
        elif (response.status_code, code) != (403, "PERMISSION_DENIED"):
            wrong.append((role, cell, response.status_code, response.text))
    # End the line (whatever state the cells left it in), so its owner's cap is free again.
    api.client.post(
        f"/v1/lines/{world.line_id}/cancel", json={"reason": "done"}, headers=api.headers("admin")
    )
    assert not wrong, wrong
