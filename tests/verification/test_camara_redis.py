"""The CAMARA APIs with the relying parties' counters in Redis (REALNAME_REDIS_URL), on both
engines: the quota, mismatch-budget and audit tests of test_camara_api run here again
unchanged (the calls are reads, their audit entries go through the worker's audit writer),
the counts land in Redis, never in the database; with Redis down nothing is answered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import redis
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from realname.security.audit_sequencer import has_pending, sequence_all
from realname.security.models import AuditLog
from realname.verification.ahead import KycMatchAhead
from realname.verification.counters import AsyncRedisCounters, RedisCounters
from realname.verification.models import Consent, QuotaCounter
from realname.verification.service import AsyncKycMatch
from tests.api.conftest import Api, _api
from tests.conftest import _postgres_database
from tests.verification.conftest import REDIS_URL, Camara, redis_prefix

# Collected here again, run against this module's Redis-backed `api`.
from tests.verification.test_camara_api import (  # noqa: F401
    MATCH,
    SWAP_CHECK,
    TENURE,
    _customer,
    test_consent_scope_and_registration_gate_every_call,
    test_guessing_birth_dates_or_documents_is_cut_off,
    test_guessing_document_numbers_is_cut_off,
    test_identifier_rules,
    test_kyc_match_answers_each_attribute_sent,
    test_kyc_match_needs_at_least_one_property,
    test_kyc_match_scores_a_wrong_name_but_never_a_wrong_date,
    test_probes_spend_the_clients_budget_until_429,
    test_revoked_consent_stops_the_checks,
    test_sim_swap_sees_the_registration_as_the_latest_change,
    test_the_policy_requires_the_document_and_a_wrong_one_reveals_nothing,
    test_without_consent_a_registered_number_answers_like_an_unregistered_one,
)

PREFIX: list[str] = []


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        # KYC Match on the event loop (async psycopg, redis.asyncio), answered ahead of
        # FastAPI's routing (`ahead.KycMatchAhead`): the default here.
        pytest.param("postgresql", marks=pytest.mark.postgres),
        # The same async read through its FastAPI route (the handler ahead turned off).
        pytest.param("postgresql-route", marks=pytest.mark.postgres),
        # The same tests through the service in the thread pool (REALNAME_VERIFICATION_ASYNC
        # false): both paths give the same answers, refusals and counts.
        pytest.param("postgresql-sync", marks=pytest.mark.postgres),
    ],
)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("api-redis")
    for prefix in redis_prefix():
        PREFIX[:] = [prefix]
        urls = (
            iter([f"sqlite:///{tmp / 'api.db'}"])
            if request.param == "sqlite"
            else _postgres_database()
        )
        for url in urls:
            for built in _api(
                url,
                tmp,
                redis_url=REDIS_URL,
                redis_key_prefix=prefix,
                verification_async=request.param != "postgresql-sync",
            ):
                state = built.client.app.state  # type: ignore[attr-defined]
                state.verification_kyc_ahead = request.param == "postgresql"
                yield built


def test_kyc_match_is_async_exactly_on_postgresql_with_redis(
    camara: Camara, request: pytest.FixtureRequest
) -> None:
    """The parametrisation above runs what it says: the async read on PostgreSQL unless
    turned off, the service everywhere else."""
    state = camara.api.client.app.state  # type: ignore[attr-defined]
    expected = request.node.callspec.params["api"] in ("postgresql", "postgresql-route")
    assert isinstance(state.verification_kyc, AsyncKycMatch) is expected


def test_the_counts_are_in_redis_not_in_the_database(camara: Camara) -> None:
    msisdn, document, _ = camara.fresh(9)
    rt = camara.api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:
        before = session.scalar(select(func.count()).select_from(QuotaCounter))
    response = camara.post(MATCH, {"phoneNumber": msisdn, "idDocument": document + "0"})
    assert response.status_code == 403  # KNOW_YOUR_CUSTOMER.ID_DOCUMENT_MISMATCH: counted
    with rt.transaction() as session:
        assert session.scalar(select(func.count()).select_from(QuotaCounter)) == before
    client = redis.Redis.from_url(REDIS_URL)
    kinds = {k.decode().split(":")[-3] for k in client.scan_iter(match=f"{PREFIX[0]}q:*")}
    client.close()
    assert {"calls", "mismatch"} <= kinds


def test_with_redis_down_nothing_is_answered(camara: Camara) -> None:
    """The count comes before the answer: without the store there is no answer (503)."""
    msisdn, document, _ = _customer(camara)
    state = camara.api.client.app.state  # type: ignore[attr-defined]
    working = state.verification_counters
    state.verification_counters = RedisCounters.from_url("redis://127.0.0.1:1/15", PREFIX[0])
    kyc = state.verification_kyc
    if kyc is not None:  # the async read has its own client
        working_async = kyc.counters
        kyc.counters = AsyncRedisCounters.from_url("redis://127.0.0.1:1/15", PREFIX[0])
    try:
        response = camara.post(MATCH, {"phoneNumber": msisdn, "idDocument": document})
    finally:
        state.verification_counters.close()
        state.verification_counters = working
        if kyc is not None:
            kyc.counters = working_async
    assert (response.status_code, response.json()["code"]) == (503, "UNAVAILABLE")
    assert response.headers["Retry-After"] == "1"


def test_a_consent_revoked_anywhere_holds_at_once(camara: Camara) -> None:
    """Consents are read with the line on every call, never cached: a revocation committed by
    another process (here, straight in the database) stops the next call."""
    msisdn, document, _ = camara.fresh(7)
    body = {"phoneNumber": msisdn, "idDocument": document}
    assert camara.post(MATCH, body).status_code == 200
    rt = camara.api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:
        line_id = session.scalar(select(Consent.line_id).order_by(Consent.id.desc()).limit(1))
        session.execute(
            update(Consent).where(Consent.line_id == line_id).values(revoked_at=rt.clock.now())
        )
    after = camara.post(MATCH, body)
    assert (after.status_code, after.json()["code"]) == (403, "PERMISSION_DENIED")


def test_every_answer_is_audited_through_the_writer_without_pii(camara: Camara) -> None:
    """The calls' entries are committed by the worker's audit writer before they answer."""
    msisdn, document, name = _customer(camara)
    rt = camara.api.client.app.state.runtime  # type: ignore[attr-defined]
    writer = camara.api.client.app.state.verification_audit  # type: ignore[attr-defined]
    batches = writer.batches
    day = camara.api.clock.now().date().isoformat()
    calls = [
        (MATCH, {"phoneNumber": msisdn, "idDocument": document, "name": name}),
        (SWAP_CHECK, {"phoneNumber": msisdn}),
        (TENURE, {"phoneNumber": msisdn, "tenureDate": day}),
    ]
    with rt.transaction() as session:
        before = session.scalar(select(func.count()).select_from(AuditLog))
    for path, body in calls:
        assert camara.post(path, body).status_code == 200
    assert writer.batches >= batches + 1
    with rt.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog)) == before + 3
        entries = session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(3)).all()
    assert {e.action for e in entries} == {
        "verify.kyc-match",
        "verify.sim-swap",
        "verify.kyc-tenure",
    }
    text = " ".join(str(e.detail) for e in entries)
    assert msisdn not in text and document not in text and name not in text
    # Whichever writer inserted them, the sequencer accepts their content MACs. The app's own
    # sequencer thread may hold a batch (SKIP LOCKED: this pass skips it) and commit it a
    # moment later: chained means nothing is pending any more.
    for _ in range(200):
        sequence_all(rt.uow, rt.keyring.audit)
        if not has_pending(rt.uow):
            break
        time.sleep(0.05)
    with rt.transaction() as session:
        kyc = session.scalars(select(AuditLog).where(AuditLog.action == "verify.kyc-match")).all()
    unchained = [(e.id, e.position, e.refused) for e in kyc if e.position is None or e.refused]
    assert kyc and not unchained, unchained


def _fresh_counts() -> None:
    """Today's counts of this module's app forgotten (its lines and people are few: the
    tests below ask about the consented customer again from zero)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{PREFIX[0]}q:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _concurrently(camara: Camara, bodies: list[dict[str, object]]) -> list[tuple[int, str]]:
    """POST every body to KYC Match at once, on the app's own event loop (the test client's
    portal), through ASGI: (status, code) of each answer."""
    client = camara.api.client
    headers = {"Authorization": f"Bearer {camara.tokens['bank']}"}

    async def fire() -> list[tuple[int, str]]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            responses = await asyncio.gather(
                *(http.post(MATCH, json=body, headers=headers) for body in bodies)
            )
        return [(r.status_code, r.json().get("code", "")) for r in responses]

    return client.portal.call(fire)  # type: ignore[union-attr]


def test_the_per_number_quota_is_exact_under_concurrency(
    camara: Camara, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many calls about one number at once: exactly the quota is answered, the rest 429
    QUOTA_EXCEEDED; asked again, the number stays refused."""
    rt = camara.api.client.app.state.runtime  # type: ignore[attr-defined]
    rules = rt.policy.verification.model_copy(update={"calls_per_number_per_day": 7})
    monkeypatch.setattr(rt, "policy", rt.policy.model_copy(update={"verification": rules}))
    _fresh_counts()
    msisdn, document, _ = _customer(camara)
    body = {"phoneNumber": msisdn, "idDocument": document}
    answers = _concurrently(camara, [body] * 40)
    assert answers.count((200, "")) == 7, answers
    assert answers.count((429, "QUOTA_EXCEEDED")) == 33, answers
    response = camara.post(MATCH, body)
    assert (response.status_code, response.json()["code"]) == (429, "QUOTA_EXCEEDED")


def test_the_mismatch_budget_is_exact_under_concurrency(camara: Camara) -> None:
    """Wrong documents at once: each call's answer is decided before it is counted, and the
    count takes the call and its mismatch in one atomic step, so exactly the budget (3) get
    a mismatch answer and every other call is 429 QUOTA_EXCEEDED; so is the right question
    afterwards. (When the mismatch was counted after the match, a second step, 4-5 of 12 got
    a mismatch answer; then places held under the budget made some calls retry.)"""
    _fresh_counts()
    msisdn, document, _ = _customer(camara)
    wrong = [{"phoneNumber": msisdn, "idDocument": f"{document[:-4]}{n:03d}X"} for n in range(12)]
    answers = _concurrently(camara, wrong)
    assert answers.count((403, "KNOW_YOUR_CUSTOMER.ID_DOCUMENT_MISMATCH")) == 3, answers
    assert answers.count((429, "QUOTA_EXCEEDED")) == 9, answers
    after = camara.post(MATCH, {"phoneNumber": msisdn, "idDocument": document})
    assert (after.status_code, after.json()["code"]) == (429, "QUOTA_EXCEEDED")
    assert _redis_counts("mismatch") == [3]


def test_right_answers_at_once_are_all_answered_and_spend_no_mismatch(camara: Camara) -> None:
    """Right answers never touch the mismatch budget: a burst about one number is answered
    whole (no call is told to retry while others are matched), and a wrong guess afterwards
    still finds the whole budget."""
    _fresh_counts()
    msisdn, document, _ = _customer(camara)
    answers = _concurrently(camara, [{"phoneNumber": msisdn, "idDocument": document}] * 10)
    assert answers == [(200, "")] * 10, answers
    assert _redis_counts("mismatch") == []
    assert _redis_counts("calls") == [10]
    wrong = camara.post(MATCH, {"phoneNumber": msisdn, "idDocument": f"{document[:-1]}X"})
    assert wrong.json()["code"] == "KNOW_YOUR_CUSTOMER.ID_DOCUMENT_MISMATCH", wrong.text


def _redis_counts(kind: str) -> list[int]:
    """This module's counts of one kind in Redis (`calls`, `mismatch`), one per key."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        names = client.scan_iter(match=f"{PREFIX[0]}q:*:{kind}:*")
        return sorted(int(client.get(name) or 0) for name in names)
    finally:
        client.close()


def test_no_answer_without_its_committed_audit_entry(
    camara: Camara, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer waits for its audit entry's commit: a batch that fails answers nothing
    (and the answer that would have gone out is not in the body)."""
    _fresh_counts()
    msisdn, document, name = _customer(camara)
    state = camara.api.client.app.state  # type: ignore[attr-defined]
    if state.verification_audit_async is not None:  # the async read's writer, on the loop
        writer = state.verification_audit_async

        async def failing_async(_batch: object) -> None:
            raise psycopg.OperationalError("the disk is full")

        failing: object = failing_async
    else:  # the writer thread: its batch fails as a failed commit would

        def failing_sync(batch: object) -> None:
            error = OperationalError("INSERT", {}, Exception("the disk is full"))
            batch.done.set_exception(error)  # type: ignore[attr-defined]

        writer, failing = state.verification_audit, failing_sync
    original = writer._write
    monkeypatch.setattr(writer, "_write", failing)
    response = camara.post(MATCH, {"phoneNumber": msisdn, "idDocument": document, "name": name})
    assert (response.status_code, response.json()["code"]) == (503, "UNAVAILABLE")
    assert "Match" not in response.text
    monkeypatch.setattr(writer, "_write", original)
    assert camara.post(MATCH, {"phoneNumber": msisdn, "idDocument": document}).status_code == 200


# Requests every KYC Match path must refuse alike: (body bytes, content type, token, headers).
_ODD_REQUESTS: list[tuple[bytes, str | None, str | None, dict[str, str]]] = [
    (b"", "application/json", "bank", {}),
    (b"{}", "application/json", "bank", {}),
    (b"{not json", "application/json", "bank", {}),
    (b"\xff\xfe{", "application/json", "bank", {}),
    (b'{"phoneNumber": 8613800138000}', "application/json", "bank", {}),
    (b'{"phoneNumber": "+8613800138000", "idDocument": ""}', "application/json", "bank", {}),
    (b'{"phoneNumber": "+86", "name": "x"}', "application/json", "bank", {}),
    (b'{"phoneNumber": "+8613800138000", "shoeSize": "44"}', "application/json", "bank", {}),
    (
        b'{"phoneNumber": "+8613800138000", "birthdate": "1949-13-31"}',
        "application/json",
        "bank",
        {},
    ),
    (b'{"phoneNumber": "+8613800138000", "gender": "X"}', "application/json", "bank", {}),
    (b'{"phoneNumber": "+8613800138000", "name": "x"}', "text/plain", "bank", {}),
    (b'{"phoneNumber": "+8613800138000", "name": "x"}', None, "bank", {}),
    (b'{"phoneNumber": "+8613800138000", "name": "x"}', "application/vnd.x+json", "bank", {}),
    (b"[1, 2]", "application/json; charset=utf-8", "bank", {}),
    (b'{"phoneNumber": "+8613800138000", "name": "x"}', "application/json", None, {}),
    (b'{"phoneNumber": "+8613800138000", "name": "x"}', "application/json", "bogus", {}),
    (b'{"phoneNumber": "+8613800138000", "name": "x"}', "application/json", "wallet", {}),
    (b"{not json", "application/json", None, {}),
    (b"{}", "application/json", None, {}),
    (b'{"phoneNumber": "+8613800138000", "name": "x"}', "application/json", "other_bank", {}),
    (b"{}", "application/json", "bank", {"Accept-Language": "zh-CN"}),
    (b"{}", "application/json", "bank", {"x-correlator": "abc-123"}),
    (b"{}", "application/json", "bank", {"x-correlator": "bad correlator!"}),
    (
        b'{"phoneNumber": "+8613800138000", "name": "x"}',
        "application/json",
        "other_bank",
        {"x-correlator": "c-1", "Accept-Language": "zh-CN"},
    ),
]


@pytest.mark.parametrize(("raw", "content_type", "who", "extra"), _ODD_REQUESTS)
def test_the_handler_ahead_refuses_as_the_route_does(
    camara: Camara,
    request: pytest.FixtureRequest,
    raw: bytes,
    content_type: str | None,
    who: str | None,
    extra: dict[str, str],
) -> None:
    """KYC Match served ahead of FastAPI answers every odd request (no body, bad JSON, a wrong
    type or content type, no token or the wrong one, a correlator, Chinese) with the status,
    body and headers of its FastAPI route, never a 500."""
    if request.node.callspec.params["api"] != "postgresql":
        pytest.skip("compares the handler ahead with the route: the async read only")
    state = camara.api.client.app.state  # type: ignore[attr-defined]
    headers = dict(extra)
    if content_type is not None:
        headers["Content-Type"] = content_type
    if who is not None:
        headers["Authorization"] = f"Bearer {camara.tokens.get(who, 'not.a.token')}"
    answers = []
    for ahead in (True, False):
        state.verification_kyc_ahead = ahead
        try:
            response = camara.api.client.post(MATCH, content=raw, headers=headers)
        finally:
            state.verification_kyc_ahead = True  # this test runs on the "postgresql" app only
        kept = {k: v for k, v in response.headers.items() if k not in ("date", "content-length")}
        answers.append((response.status_code, response.json(), kept))
    assert answers[0] == answers[1]
    assert 400 <= answers[0][0] < 500, answers[0]


def test_the_handler_ahead_answers_as_the_route_does(
    camara: Camara, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same answer, byte for byte apart from the order of the keys, and the same metrics
    label (the route's template) and correlator echo; the handler ahead answered the first."""
    msisdn, document, name = _customer(camara)
    state = camara.api.client.app.state  # type: ignore[attr-defined]
    if not isinstance(state.verification_kyc, AsyncKycMatch):
        pytest.skip("the async read only")
    was = state.verification_kyc_ahead
    served: list[int] = []
    answer_ahead = KycMatchAhead._answer

    async def counted(self: KycMatchAhead, *args: Any) -> dict[str, object]:
        served.append(1)
        return await answer_ahead(self, *args)

    monkeypatch.setattr(KycMatchAhead, "_answer", counted)
    body = {"phoneNumber": msisdn, "idDocument": document, "name": name + "x", "gender": "MALE"}
    answers = []
    for ahead in (True, False):
        state.verification_kyc_ahead = ahead
        try:
            response = camara.post(MATCH, body, **{"x-correlator": "kyc-1"})
        finally:
            state.verification_kyc_ahead = was
        assert served == [1], served  # the first call only, whatever this app's default
        assert response.status_code == 200, response.text
        assert response.headers["x-correlator"] == "kyc-1"
        assert response.headers["content-type"] == "application/json"
        answers.append(response.json())
    assert answers[0] == answers[1] and "nameMatchScore" in answers[0]
    metrics = state.metrics.registry.get_sample_value(
        "realname_http_requests_total",
        {"route": MATCH, "method": "POST", "status": "200"},
    )
    assert metrics is not None and metrics >= 2


def test_a_wrong_guess_past_the_number_quota_is_counted_but_adds_no_mismatch(
    camara: Camara, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the number's daily quota a call is refused 429 QUOTA_EXCEEDED and counted; a
    wrong document sent then is not counted as a mismatch (it was never answered)."""
    rt = camara.api.client.app.state.runtime  # type: ignore[attr-defined]
    rules = rt.policy.verification.model_copy(update={"calls_per_number_per_day": 2})
    monkeypatch.setattr(rt, "policy", rt.policy.model_copy(update={"verification": rules}))
    _fresh_counts()
    msisdn, document, _ = _customer(camara)
    body = {"phoneNumber": msisdn, "idDocument": document}
    assert [camara.post(MATCH, body).status_code for _ in range(2)] == [200, 200]
    wrong = {"phoneNumber": msisdn, "idDocument": f"{document[:-1]}X"}
    refused = [camara.post(MATCH, wrong) for _ in range(3)]
    assert {(r.status_code, r.json()["code"]) for r in refused} == {(429, "QUOTA_EXCEEDED")}
    assert _redis_counts("mismatch") == []
    assert _redis_counts("calls") == [5]  # the refusals are counted


def test_the_async_audit_writer_has_connections_of_its_own(camara: Camara) -> None:
    """The async read's audit writer inserts on a pool of its own, as many batches at once as
    it has connections: a burst's full batches queue there, never ahead of the calls' reads;
    both pools together stay within REALNAME_DATABASE_POOL_SIZE, and neither opens all of
    its connections at start."""
    state = camara.api.client.app.state  # type: ignore[attr-defined]
    if state.verification_audit_async is None:
        pytest.skip("the async read only")
    reads, audit = state.verification_kyc.reads.pool, state.verification_audit_async.pool
    assert reads is not audit
    assert state.verification_audit_async.max_in_flight == audit.max_size
    size = state.runtime.settings.database_pool_size
    assert reads.max_size + audit.max_size <= size
    assert reads.min_size < reads.max_size and audit.min_size < audit.max_size
