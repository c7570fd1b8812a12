"""The http adapter against the stub authority over real loopback HTTP: verdicts, time-outs,
retries, the circuit breaker, mutual TLS, and what never leaves the request body."""

from __future__ import annotations

import json
import logging
import random

import httpx
import pytest

from realname.authority.breaker import BreakerState
from realname.authority.http import AuthorityConfigError, HttpAuthority, HttpAuthorityConfig
from realname.authority.stub import StubServer
from realname.identity.authority import AuthorityUnavailableError, AuthorityVerdict
from realname.identity.documents import parse_document
from realname.registry.commands import Person
from tests.authority.conftest import Pki, free_port
from tests.registry.conftest import NOW


class FakeTime:
    """Injected monotonic clock and sleeper: back-off and the breaker without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def adapter(
    url: str,
    time: FakeTime | None = None,
    transport: httpx.BaseTransport | None = None,
    **config: object,
) -> HttpAuthority:
    time = time or FakeTime()
    return HttpAuthority(
        HttpAuthorityConfig(url=url, **config),  # type: ignore[arg-type]
        transport=transport,
        sleep=time.sleep,
        monotonic=time.monotonic,
        rng=random.Random(3),
    )


def ask(authority: HttpAuthority, person: Person, name: str | None = None) -> AuthorityVerdict:
    document = parse_document(person.document_number, today=NOW.date())
    return authority.verify(document, name or person.name)


def test_the_four_verdicts(stub: StubServer, persons: list[Person]) -> None:
    authority = adapter(stub.url)
    assert ask(authority, persons[0]) is AuthorityVerdict.CONFIRMED
    assert ask(authority, persons[1], name="冒名顶替") is AuthorityVerdict.NAME_MISMATCH
    assert ask(authority, persons[3]) is AuthorityVerdict.REVOKED
    from tests.authority.conftest import people

    stranger = people(1, seed=999)[0]
    assert ask(authority, stranger) is AuthorityVerdict.UNKNOWN_DOCUMENT
    assert stub.state.requests == 4
    assert authority.breaker_state is BreakerState.CLOSED


def test_a_slow_authority_times_out_and_is_not_asked_again(
    stub: StubServer, persons: list[Person]
) -> None:
    stub.state.behaviour.latency_ms = 600
    authority = adapter(stub.url, timeout_seconds=0.2, retries=2)
    with pytest.raises(AuthorityUnavailableError) as raised:
        ask(authority, persons[0])
    assert raised.value.reason == "timeout"
    assert stub.state.requests == 1  # a read time-out is not retried


def test_server_errors_are_retried_a_bounded_number_of_times(
    stub: StubServer, persons: list[Person]
) -> None:
    stub.state.behaviour.fail_rate = 1.0
    time = FakeTime()
    authority = adapter(stub.url, time, retries=3)
    with pytest.raises(AuthorityUnavailableError) as raised:
        ask(authority, persons[0])
    assert raised.value.reason == "server_error"
    assert stub.state.requests == 4  # one attempt and three retries
    assert len(time.sleeps) == 3
    assert all(0 <= wait <= 5 for wait in time.sleeps)


def test_an_authority_that_recovers_within_the_retries_answers(
    stub: StubServer, persons: list[Person]
) -> None:
    stub.state.behaviour.fail_rate = 0.5  # seeded: some attempts fail, one gets through
    authority = adapter(stub.url, retries=5)
    verdicts = [ask(authority, persons[0]) for _ in range(5)]
    assert verdicts == [AuthorityVerdict.CONFIRMED] * 5
    assert stub.state.requests > 5


def test_an_unreachable_authority_is_unavailable(persons: list[Person]) -> None:
    time = FakeTime()
    authority = adapter(f"http://127.0.0.1:{free_port()}", time, retries=2)
    with pytest.raises(AuthorityUnavailableError) as raised:
        ask(authority, persons[0])
    assert raised.value.reason == "unreachable"
    assert len(time.sleeps) == 2  # connection failures are retried
    assert raised.value.retry_after >= 1


def test_the_breaker_opens_fails_fast_and_recovers_through_one_probe(
    stub: StubServer, persons: list[Person]
) -> None:
    time = FakeTime()
    authority = adapter(stub.url, time, retries=0, breaker_failures=3, breaker_reset_seconds=20)
    stub.state.behaviour.fail_rate = 1.0
    for _ in range(3):
        with pytest.raises(AuthorityUnavailableError):
            ask(authority, persons[0])
    assert authority.breaker_state is BreakerState.OPEN
    sent = stub.state.requests
    with pytest.raises(AuthorityUnavailableError) as raised:
        ask(authority, persons[0])
    assert raised.value.reason == "breaker_open"
    assert raised.value.retry_after == 20
    assert stub.state.requests == sent  # open: the authority is not even asked

    time.now += 20  # half-open: one probe; it fails, the breaker opens again
    assert authority.breaker_state is BreakerState.HALF_OPEN
    with pytest.raises(AuthorityUnavailableError) as raised:
        ask(authority, persons[0])
    assert raised.value.reason == "server_error"
    assert stub.state.requests == sent + 1
    assert authority.breaker_state is BreakerState.OPEN

    stub.state.behaviour.fail_rate = 0.0  # the authority is back
    time.now += 19
    with pytest.raises(AuthorityUnavailableError):
        ask(authority, persons[0])  # still open: 19 s of 20
    time.now += 1
    assert ask(authority, persons[0]) is AuthorityVerdict.CONFIRMED  # the probe
    assert authority.breaker_state is BreakerState.CLOSED
    assert ask(authority, persons[1]) is AuthorityVerdict.CONFIRMED


def test_a_restarted_authority_is_reached_again(stub: StubServer, persons: list[Person]) -> None:
    """Pooled keep-alive connections to the old process are dead: the retry reconnects."""
    authority = adapter(stub.url, retries=2)
    assert ask(authority, persons[0]) is AuthorityVerdict.CONFIRMED
    stub.stop()
    with pytest.raises(AuthorityUnavailableError):
        ask(authority, persons[0])
    stub.start()
    assert ask(authority, persons[0]) is AuthorityVerdict.CONFIRMED


def test_mutual_tls(tls_stub: StubServer, persons: list[Person], pki: Pki) -> None:
    trusted = adapter(
        tls_stub.url,
        client_cert=str(pki.client_cert),
        client_key=str(pki.client_key),
        ca_file=str(pki.ca),
    )
    assert ask(trusted, persons[0]) is AuthorityVerdict.CONFIRMED

    for stranger in (
        adapter(tls_stub.url, ca_file=str(pki.ca), retries=0),  # no client certificate
        adapter(
            tls_stub.url,
            client_cert=str(pki.other_client_cert),
            client_key=str(pki.other_client_key),
            ca_file=str(pki.ca),
            retries=0,
        ),
        adapter(  # a server we cannot authenticate (system CAs do not know the test CA)
            tls_stub.url,
            client_cert=str(pki.client_cert),
            client_key=str(pki.client_key),
            retries=0,
        ),
    ):
        with pytest.raises(AuthorityUnavailableError):
            ask(stranger, persons[0])
    assert tls_stub.state.requests == 1  # only the trusted client got a request through


def test_plain_http_is_for_loopback_only() -> None:
    for url in ("http://127.0.0.1:9001", "http://localhost:9001", "http://[::1]:9001"):
        HttpAuthorityConfig(url=url)
    with pytest.raises(AuthorityConfigError, match="not loopback"):
        HttpAuthorityConfig(url="http://authority.example:9001")
    HttpAuthorityConfig(url="http://10.0.0.7:9001", allow_plain_http=True)
    HttpAuthorityConfig(url="https://authority.example")
    with pytest.raises(AuthorityConfigError):
        HttpAuthorityConfig(url="https://user:pw@authority.example")
    with pytest.raises(AuthorityConfigError):
        HttpAuthorityConfig(url="ftp://authority.example")


def _mock(responses: list[httpx.Response], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = responses.pop(0)
        if answer.status_code == 200 and not answer.content:
            body = json.loads(request.content)
            return httpx.Response(
                200, json={"verdict": "confirmed", "request_id": body["request_id"]}
            )
        return answer

    return httpx.MockTransport(handle)


def test_429_with_retry_after_is_retried_with_the_same_request_id(persons: list[Person]) -> None:
    seen: list[httpx.Request] = []
    time = FakeTime()
    transport = _mock(
        [
            httpx.Response(429, headers={"Retry-After": "2"}),
            httpx.Response(503),
            httpx.Response(200),
        ],
        seen,
    )
    authority = adapter("https://authority.test", time, transport, retries=2)
    assert ask(authority, persons[0]) is AuthorityVerdict.CONFIRMED
    ids = {json.loads(r.content)["request_id"] for r in seen}
    assert len(seen) == 3 and len(ids) == 1  # idempotent: one request id for every attempt
    assert time.sleeps[0] >= 2  # the authority's Retry-After is honoured


def test_a_4xx_is_not_retried_and_does_not_open_the_breaker(persons: list[Person]) -> None:
    seen: list[httpx.Request] = []
    transport = _mock([httpx.Response(400)] * 3 + [httpx.Response(429)], seen)
    authority = adapter("https://authority.test", transport=transport, breaker_failures=2)
    for _ in range(3):
        with pytest.raises(AuthorityUnavailableError) as raised:
            ask(authority, persons[0])
        assert raised.value.reason == "rejected"
    assert len(seen) == 3
    assert authority.breaker_state is BreakerState.CLOSED
    with pytest.raises(AuthorityUnavailableError) as raised:
        ask(authority, persons[0])  # 429 without Retry-After: not retried
    assert raised.value.reason == "rate_limited" and len(seen) == 4


def test_an_answer_for_another_request_is_not_a_verdict(persons: list[Person]) -> None:
    seen: list[httpx.Request] = []
    wrong = httpx.Response(200, json={"verdict": "confirmed", "request_id": "someone-else"})
    garbage = httpx.Response(200, json={"verdict": "probably", "request_id": "x"})
    authority = adapter(
        "https://authority.test", transport=_mock([wrong, garbage], seen), retries=0
    )
    for _ in range(2):
        with pytest.raises(AuthorityUnavailableError) as raised:
            ask(authority, persons[0])
        assert raised.value.reason == "bad_response"


def test_pii_travels_in_the_body_only(
    persons: list[Person], caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[httpx.Request] = []
    person = persons[0]
    transport = _mock([httpx.Response(200), httpx.Response(500)], seen)
    authority = adapter("https://authority.test", transport=transport, retries=0)
    with caplog.at_level(logging.DEBUG):
        ask(authority, person)
        with pytest.raises(AuthorityUnavailableError) as raised:
            ask(authority, person)
    body = json.loads(seen[0].content)
    assert set(body) == {"document_type", "document_number", "name", "request_id"}
    assert body["document_number"] == person.document_number and body["name"] == person.name
    for request in seen:
        assert str(request.url) == "https://authority.test/v1/verifications"
        assert person.document_number not in str(request.headers)
    shown = caplog.text + str(raised.value) + repr(raised.value)
    assert person.document_number not in shown and person.name not in shown
    assert "identity authority unavailable" in caplog.text


def test_a_flapping_stub_is_down_every_other_period(persons: list[Person]) -> None:
    from realname.authority.stub import StubBehaviour, stub_app
    from tests.authority.conftest import citizens_of

    clock = FakeTime()
    behaviour = StubBehaviour(flap_seconds=10, monotonic=clock.monotonic)
    server = StubServer(stub_app(citizens_of(persons), behaviour), free_port())
    server.start()
    try:
        authority = adapter(server.url, retries=0, breaker_failures=100)
        assert ask(authority, persons[0]) is AuthorityVerdict.CONFIRMED  # 0-10 s: up
        clock.now += 10  # 10-20 s: down
        with pytest.raises(AuthorityUnavailableError) as raised:
            ask(authority, persons[0])
        assert raised.value.reason == "server_error"
        assert authority.probe() == "HTTP 503"
        clock.now += 10  # 20-30 s: up again
        assert ask(authority, persons[0]) is AuthorityVerdict.CONFIRMED
        assert authority.probe() == "ok"
        assert server.state.answered["flap_down"] == 1
    finally:
        server.stop()


def test_an_unexpected_fault_is_no_verdict_and_frees_the_probe(persons: list[Person]) -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug")

    time = FakeTime()
    authority = adapter(
        "https://authority.test", time, httpx.MockTransport(explode), breaker_failures=1
    )
    with pytest.raises(AuthorityUnavailableError) as raised:
        ask(authority, persons[0])
    assert raised.value.reason == "error"
    assert authority.breaker_state is BreakerState.OPEN
    time.now += 30
    with pytest.raises(AuthorityUnavailableError) as raised:
        ask(authority, persons[0])  # the probe fails the same way
    assert raised.value.reason == "error" and authority.breaker_state is BreakerState.OPEN
    time.now += 30
    assert authority.breaker_state is BreakerState.HALF_OPEN  # a new probe may go
