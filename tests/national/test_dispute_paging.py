"""The enterprise's forwarded-disputes feed, a page at a time by an opaque cursor, on both
engines (and over HTTP on the platform's app). It paged by the platform-wide dispute id and
each row carried it: the ids between two of an enterprise's disputes counted every other
enterprise's, so each enterprise could watch how many disputes the others get."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import asdict
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from realname.national.feeds.transport import HttpConfig, HttpPush
from realname.national.index.models import NationalLine
from realname.national.lookup.disputes import DisputeService
from realname.national.lookup.errors import LookupErrorCode, NationalLookupError
from realname.national.lookup.models import NationalDispute
from realname.national.lookup.service import LookupLimits, LookupService
from realname.security.clients import ClientService
from realname.security.principals import Role
from tests.national.conftest import NOW, Nation, PlatformApp

L = LookupErrorCode
LATER = NOW + timedelta(days=1)


def _service(nation: Nation) -> DisputeService:
    return DisputeService(
        LookupService(
            nation.session, keys=nation.keys, keyring=nation.keyring, limits=LookupLimits()
        )
    )


def _forward(session: Session, enterprise_id: int, reference: str, minute: int) -> None:
    """A dispute of one of the enterprise's national lines, forwarded to its own instance,
    opened `minute` minutes after NOW."""
    line = session.scalars(
        select(NationalLine)
        .where(NationalLine.enterprise_id == enterprise_id, NationalLine.identity_id.is_not(None))
        .order_by(NationalLine.id)
        .limit(1)
    ).one()
    assert line.identity_id is not None
    opened = NOW + timedelta(minutes=minute)
    session.add(
        NationalDispute(
            reference=reference,
            line_id=line.id,
            identity_id=line.identity_id,
            enterprise_id=enterprise_id,
            opened_at=opened,
            due_at=opened + timedelta(days=15),
            status="forwarded",
        )
    )
    session.flush()


def _pages(
    service: DisputeService, enterprise_id: int, limit: int
) -> Iterator[tuple[list[str], str | None]]:
    """Every page from the first: (its references, its `next`)."""
    after = None
    while True:
        page = service.forwarded(enterprise_id, LATER, after=after, limit=limit)
        yield [d.reference for d in page.disputes], page.next
        if page.next is None:
            return
        after = page.next


def test_the_feed_pages_oldest_first_to_a_last_page_without_next(fed: Nation) -> None:
    a = fed.world.enterprise_id
    for n, minute in enumerate([5, 1, 4, 2, 3]):
        _forward(fed.session, a, f"NDA{'abcde'[n]}", minute)
    _forward(fed.session, a, "NDAf", 3)  # the same minute as another: the reference orders
    pages = list(_pages(_service(fed), a, limit=2))
    assert [refs for refs, _next in pages] == [["NDAb", "NDAd"], ["NDAe", "NDAf"], ["NDAc", "NDAa"]]
    assert [cursor is None for _refs, cursor in pages] == [False, False, True]
    # exactly a page's worth left: that page is the last (no empty page after it)
    first = _service(fed).forwarded(a, LATER, limit=6)
    assert len(first.disputes) == 6 and first.next is None
    # a dispute closed since a page was given is not listed again; the paging goes on
    second_cursor = pages[0][1]
    closed = fed.session.scalars(
        select(NationalDispute).where(NationalDispute.reference == "NDAe")
    ).one()
    closed.status = "closed"
    fed.session.flush()
    page = _service(fed).forwarded(a, LATER, after=second_cursor, limit=2)
    assert [d.reference for d in page.disputes] == ["NDAf", "NDAc"]


def _as_enterprise_a_sees_it(fed: Nation, others_between: int) -> list[dict[str, object]]:
    """A's four disputes, with `others_between` of B's opened (and numbered) between each two
    of A's, paged two at a time: every page as A receives it. Rolled back afterwards."""
    a, b = fed.world.enterprise_id, fed.world.other_enterprise_id
    with fed.session.begin_nested() as scenario:
        for n in range(4):
            _forward(fed.session, a, f"NDA{'abcd'[n]}", minute=10 * n)
            for m in range(others_between):
                _forward(fed.session, b, f"NDB{'abcd'[n]}{'abcdefghij'[m]}", 10 * n + 1 + m)
        service, after, seen = _service(fed), None, []
        while True:
            page = service.forwarded(a, LATER, after=after, limit=2)
            seen.append(asdict(page))
            if page.next is None:
                break
            after = page.next
        scenario.rollback()
    return seen


def test_an_enterprises_pages_do_not_depend_on_how_many_disputes_others_get(
    fed: Nation,
) -> None:
    """A's pages, rows and cursors alike, are the same whether B has no dispute or many
    between each two of A's: nothing A is given counts B's (a cursor or a row made of the
    platform-wide id did)."""
    alone = _as_enterprise_a_sees_it(fed, others_between=0)
    crowded = _as_enterprise_a_sees_it(fed, others_between=7)
    assert len(alone) == 2 and all(page["next"] for page in alone[:-1])
    assert crowded == alone
    assert all("id" not in row for page in alone for row in page["disputes"])  # type: ignore[attr-defined]


def _tampered(cursor: str) -> str:
    """The cursor with one byte of its position changed, re-encoded cleanly."""
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[7] ^= 1  # the position's time, a microsecond off
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "garble",
    [
        lambda c: "",
        lambda c: "not-a-cursor",
        lambda c: "!!!!",
        lambda c: "游标",
        lambda c: c[:-3],  # cut short
        lambda c: c + "AAAA",  # extended
        lambda c: c * 3,  # too long to be one
        _tampered,  # well formed, another position: forged
    ],
)
def test_a_garbled_or_forged_cursor_is_refused(fed: Nation, garble: object) -> None:
    a = fed.world.enterprise_id
    for n in range(3):
        _forward(fed.session, a, f"NDA{'abc'[n]}", n)
    service = _service(fed)
    cursor = service.forwarded(a, LATER, limit=1).next
    assert cursor is not None
    assert service.forwarded(a, LATER, after=cursor, limit=1).disputes  # the cursor as given
    with pytest.raises(NationalLookupError) as refused:
        service.forwarded(a, LATER, after=garble(cursor), limit=1)  # type: ignore[operator]
    assert refused.value.code is L.DISPUTE_CURSOR_INVALID
    assert refused.value.http_status == 422 and cursor not in str(refused.value)


def test_another_enterprises_cursor_gives_nothing_of_its_disputes(fed: Nation) -> None:
    a, b = fed.world.enterprise_id, fed.world.other_enterprise_id
    for n in range(3):
        _forward(fed.session, a, f"NDA{'abc'[n]}", n)
        _forward(fed.session, b, f"NDB{'abc'[n]}", n)
    service = _service(fed)
    cursor_of_a = service.forwarded(a, LATER, limit=1).next
    assert cursor_of_a is not None
    with pytest.raises(NationalLookupError) as refused:
        service.forwarded(b, LATER, after=cursor_of_a, limit=10)
    assert refused.value.code is L.DISPUTE_CURSOR_INVALID
    listed_to_b = [ref for refs, _next in _pages(service, b, limit=2) for ref in refs]
    assert listed_to_b == ["NDBa", "NDBb", "NDBc"]


# --- over HTTP: the platform's route and the enterprise's client ------------------------------


@pytest.fixture
def forwarded_at_the_platform(platform_app: PlatformApp) -> Iterator[PlatformApp]:
    """Five of CMCC's disputes and three of MVNO1's, forwarded, in the module's platform
    (removed afterwards: the app is shared by the module)."""
    runtime = platform_app.app.state.runtime
    world = platform_app.nation.world
    with runtime.transaction() as session:
        for n in range(5):
            _forward(session, world.enterprise_id, f"NDC{'abcde'[n]}", 2 * n)
        for n in range(3):
            _forward(session, world.other_enterprise_id, f"NDM{'abc'[n]}", 2 * n + 1)
    try:
        yield platform_app
    finally:
        with runtime.transaction() as session:
            session.execute(delete(NationalDispute))


def _client_of_the_other_enterprise(platform_app: PlatformApp) -> tuple[str, str]:
    runtime = platform_app.app.state.runtime
    with runtime.transaction() as session:
        client, secret = ClientService(session, platform_app.nation.keyring).create(
            role=Role.FEED_CLIENT,
            at=NOW,
            enterprise_id=platform_app.nation.world.other_enterprise_id,
        )
    return client.client_id, secret


def test_the_route_pages_by_cursor_and_refuses_a_garbled_one(
    forwarded_at_the_platform: PlatformApp,
) -> None:
    platform_app = forwarded_at_the_platform
    client = TestClient(platform_app.app)
    headers = platform_app.feed_headers(client)
    url = "/v1/national/feeds/disputes"
    first = client.get(url, params={"limit": 2}, headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"disputes", "next"} and isinstance(body["next"], str)
    assert [d["reference"] for d in body["disputes"]] == ["NDCa", "NDCb"]
    assert all("id" not in row for row in body["disputes"])
    rest = client.get(url, params={"limit": 3, "after": body["next"]}, headers=headers).json()
    assert [d["reference"] for d in rest["disputes"]] == ["NDCc", "NDCd", "NDCe"]
    assert rest["next"] is None
    for garbled in ("not-a-cursor", body["next"][:-2], "A" * 5000):
        refused = client.get(url, params={"after": garbled}, headers=headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "REALNAME.DISPUTE_CURSOR_INVALID"
        assert "cursor" in refused.json()["message"]
    # MVNO1's client with CMCC's cursor: refused, and its own pages hold none of CMCC's
    other = _client_of_the_other_enterprise(platform_app)
    token = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=other
    ).json()["access_token"]
    theirs = {"Authorization": f"Bearer {token}"}
    crossed = client.get(url, params={"after": body["next"]}, headers=theirs)
    assert crossed.status_code == 422
    assert crossed.json()["code"] == "REALNAME.DISPUTE_CURSOR_INVALID"
    own = client.get(url, params={"limit": 10}, headers=theirs).json()
    assert [d["reference"] for d in own["disputes"]] == ["NDMa", "NDMb", "NDMc"]


def test_the_enterprises_client_reads_every_page_of_the_route(
    forwarded_at_the_platform: PlatformApp,
) -> None:
    """`disputes pull`'s client against the platform's own route: every dispute of its
    enterprise once, oldest first, a page at a time, and none of the other's."""
    platform_app = forwarded_at_the_platform
    client_id, secret = platform_app.feed_client
    push = HttpPush(HttpConfig(url="http://127.0.0.1", client_id=client_id, client_secret=secret))
    asked: list[dict[str, str]] = []
    push.client = TestClient(platform_app.app, base_url="http://127.0.0.1")
    push.client.event_hooks = {"request": [lambda r: asked.append(dict(r.url.params))]}
    listed = [d["reference"] for d in push.forwarded_disputes(page=2)]
    assert listed == ["NDCa", "NDCb", "NDCc", "NDCd", "NDCe"]
    pages = [a for a in asked if "limit" in a]
    assert len(pages) == 3 and "after" not in pages[0]
    assert all(set(a) == {"after", "limit"} for a in pages[1:])


def test_a_client_from_before_the_cursor_gets_every_open_dispute_in_one_list_without_ids(
    forwarded_at_the_platform: PlatformApp,
) -> None:
    """An enterprise's client not yet upgraded asks `?after_id=0&limit=2`: the answer is the
    shape a platform from before paging gave (a plain list, no id), which that client reads
    as the whole list, so upgrading the platform first breaks no enterprise's pull and
    leaks no platform-wide id."""
    from realname.national.feeds.transport import DISPUTE_FIELDS

    platform_app = forwarded_at_the_platform
    client = TestClient(platform_app.app)
    headers = platform_app.feed_headers(client)
    old = client.get(
        "/v1/national/feeds/disputes", params={"after_id": 0, "limit": 2}, headers=headers
    )
    assert old.status_code == 200, old.text
    rows = old.json()
    assert isinstance(rows, list)
    assert [row["reference"] for row in rows] == ["NDCa", "NDCb", "NDCc", "NDCd", "NDCe"]
    assert all("id" not in row and set(DISPUTE_FIELDS) <= set(row) for row in rows)


def test_the_list_for_a_client_from_before_the_cursor_is_bounded(
    forwarded_at_the_platform: PlatformApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its oldest disputes, at most LEGACY_LIST, in one read: the unbounded list walked the
    whole backlog a page at a time on every request."""
    from realname.national.lookup import disputes

    monkeypatch.setattr(disputes, "LEGACY_LIST", 2)
    platform_app = forwarded_at_the_platform
    client = TestClient(platform_app.app)
    headers = platform_app.feed_headers(client)
    old = client.get("/v1/national/feeds/disputes", params={"after_id": 0}, headers=headers)
    assert [row["reference"] for row in old.json()] == ["NDCa", "NDCb"]
