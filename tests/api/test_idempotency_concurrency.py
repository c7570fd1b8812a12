"""Idempotency under real concurrency (issue 11, part 7), on SQLite and PostgreSQL: twins that
share an Idempotency-Key and arrive together get one answer between them, the work is done
once, and a twin's wait is never mistaken for a refusal (no channel-risk evidence)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from realname.channels.models import RegistrationRefusal
from realname.http import idempotency
from realname.registry.models import Line, LineEvent
from realname.security.models import IdempotentRequest
from tests.api.conftest import Api, person_json

Outcome = tuple[int, dict[str, Any], bool]  # status, body, replayed


def _together(calls: list[Callable[[], Any]]) -> list[Outcome]:
    """Run every call at once (one thread each, released by one barrier)."""
    barrier = threading.Barrier(len(calls))
    results: list[Outcome | None] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        response = calls[i]()
        results[i] = (
            response.status_code,
            response.json(),
            response.headers.get("idempotent-replay") == "true",
        )

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def _count(api: Api, query: Any) -> int:
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:
        return int(session.scalar(query) or 0)


REFUSALS = select(func.count()).select_from(RegistrationRefusal)


def test_twin_registrations_get_one_answer_and_one_line(api: Api) -> None:
    pairs = 20
    jobs = []
    for i in range(pairs):
        body = {"msisdn": api.number(), "customer": person_json(api.people[i % 10])}
        headers = api.headers("clerk", **{"Idempotency-Key": f"twin-reg-{i}"})
        jobs.append((body, headers))
    refusals_before = _count(api, REFUSALS)
    calls = [
        (
            lambda body=body, headers=headers: api.client.post(
                "/v1/registrations", json=body, headers=headers
            )
        )
        for body, headers in jobs
        for _ in range(2)
    ]
    outcomes = _together(calls)
    for i in range(len(jobs)):
        first, second = outcomes[2 * i], outcomes[2 * i + 1]
        assert first[0] == second[0] == 201, (first, second)
        assert first[1] == second[1]
        assert [first[2], second[2]].count(True) == 1  # one did the work, one replayed it
        line_id = first[1]["id"]
        events = select(func.count()).select_from(LineEvent).where(LineEvent.line_id == line_id)
        assert _count(api, events) == 2  # stocked, registered once
    assert _count(api, REFUSALS) == refusals_before  # no twin was taken for a refusal


def test_twin_refusals_are_one_answer_and_one_piece_of_evidence(api: Api) -> None:
    """A refused registration is answered once and replayed: its twin neither re-runs it nor
    adds a second piece of channel-risk evidence."""
    refusals_before = _count(api, REFUSALS)
    outside = api.partner_numbers[0]  # stocked at another channel: not this clerk's to sell
    body = {"msisdn": outside, "customer": person_json(api.people[1])}
    calls = [
        (
            lambda i=i: api.client.post(
                "/v1/registrations",
                json=body,
                headers=api.headers("clerk", **{"Idempotency-Key": f"twin-refused-{i // 2}"}),
            )
        )
        for i in range(8)
    ]
    outcomes = _together(calls)
    for i in range(0, 8, 2):
        first, second = outcomes[i], outcomes[i + 1]
        assert first[0] == second[0] == 422, (first, second)
        assert first[1] == second[1]
        assert first[1]["code"] == "REALNAME.NOT_IN_CHANNEL_STOCK"
        assert [first[2], second[2]].count(True) == 1
    assert _count(api, REFUSALS) == refusals_before + 4  # one per request, not per twin


def test_twin_stockings_get_one_answer(api: Api) -> None:
    pairs = 6
    bodies = [
        {
            "channel_id": api.own_channel_id,
            "kits": [
                {
                    "msisdn": f"+86138001500{i:02d}",
                    "iccid": f"898600150000000000{i:02d}",
                    "imsi": f"4600015000000{i:02d}",
                }
            ],
        }
        for i in range(pairs)
    ]
    calls = [
        (
            lambda i=i: api.client.post(
                "/v1/stock",
                json=bodies[i // 2],
                headers=api.headers("admin", **{"Idempotency-Key": f"twin-stock-{i // 2}"}),
            )
        )
        for i in range(2 * pairs)
    ]
    outcomes = _together(calls)
    for i in range(pairs):
        first, second = outcomes[2 * i], outcomes[2 * i + 1]
        assert first[0] == second[0] == 201, (first, second)
        assert first[1] == second[1] and first[1]["stocked"] == 1
        assert [first[2], second[2]].count(True) == 1
    stocked = select(func.count()).select_from(Line).where(Line.msisdn.like("+86138001500%"))
    assert _count(api, stocked) == pairs


@pytest.mark.postgres
def test_a_twin_waits_boundedly_and_a_dead_first_request_leaves_the_key_free(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first request still running (its claim uncommitted) holds the twin for at most
    WAIT_SECONDS, then 409 IDEMPOTENCY_IN_PROGRESS with Retry-After. When the first dies, the
    database drops its claim with its transaction: the retry does the work, 201."""
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: the twin waits for the lock (busy timeout)")
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.3)
    key = "twin-crashed"
    body = {"msisdn": api.number(), "customer": person_json(api.people[2])}
    headers = api.headers("clerk", **{"Idempotency-Key": key})
    first = rt.engine.connect()  # the first request, mid-work
    transaction = first.begin()
    first.execute(
        insert(IdempotentRequest).values(
            client_id=api.secrets["clerk"][0],
            key=key,
            route="/v1/registrations",
            body_hash=b"\0" * 32,
            status=idempotency.PENDING,
            response={},
            created_at=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
        )
    )
    try:
        waiting = api.client.post("/v1/registrations", json=body, headers=headers)
        assert waiting.status_code == 409, waiting.text
        assert waiting.json()["code"] == "REALNAME.IDEMPOTENCY_IN_PROGRESS"
        assert waiting.headers["Retry-After"] == "1"
    finally:
        transaction.rollback()  # the first request's process dies: nothing was committed
        first.close()
    retry = api.client.post("/v1/registrations", json=body, headers=headers)
    assert retry.status_code == 201, retry.text
    again = api.client.post("/v1/registrations", json=body, headers=headers)
    assert (again.status_code, again.json()) == (201, retry.json())
    assert again.headers["idempotent-replay"] == "true"
