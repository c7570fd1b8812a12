"""The circuit breaker's states under threads, and citizens files (line-numbered errors)."""

from __future__ import annotations

import threading

import pytest

from realname.authority.breaker import BreakerOpenError, BreakerState, CircuitBreaker
from realname.authority.citizens import parse_citizens
from tests.authority.conftest import people
from tests.registry.conftest import NOW


def test_half_open_lets_exactly_one_probe_through_among_many_threads() -> None:
    now = [0.0]
    breaker = CircuitBreaker(2, 10, monotonic=lambda: now[0])
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    now[0] = 10
    probes: list[bool] = []
    refused: list[int] = []
    barrier = threading.Barrier(16)

    def caller() -> None:
        barrier.wait()
        try:
            probes.append(breaker.acquire())
        except BreakerOpenError as error:
            refused.append(error.retry_after)

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert probes == [True] and len(refused) == 15
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.acquire() is False


def test_failures_must_be_consecutive() -> None:
    breaker = CircuitBreaker(3, 5, monotonic=lambda: 0.0)
    for _ in range(5):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


def test_concurrent_failures_open_the_breaker_once() -> None:
    breaker = CircuitBreaker(50, 5, monotonic=lambda: 0.0)
    threads = [threading.Thread(target=breaker.record_failure) for _ in range(49)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.state is BreakerState.CLOSED and breaker.consecutive_failures == 49
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN


def test_a_citizens_csv_with_bad_rows_names_each_line_and_no_pii() -> None:
    good, other = people(2)
    text = (
        "document_type,document_number,name,revoked\n"
        f"resident_id,{good.document_number},{good.name},false\n"
        "\n"
        f",{other.document_number},{other.name},yes\n"
        f"resident_id,{good.document_number[:-1]}0,某人,\n"  # wrong check character, probably
        f"resident_id,{good.document_number},{good.name},\n"
        "resident_id,,无号,\n"
        f"resident_id,{other.document_number[:6]},短号,maybe\n"
        "passport,E12345678\n"
    )
    parsed = parse_citizens(text, today=NOW.date())
    assert [c.revoked for c in parsed.citizens] == [False, True]
    lines = [e.line for e in parsed.errors]
    assert lines[-4:] == [6, 7, 8, 9]
    assert "the same document as line 2" in str(parsed.errors[-4])
    shown = " ".join(str(e) for e in parsed.errors)
    assert good.document_number not in shown and other.document_number[:6] not in shown
    assert "某人" not in shown


def test_json_lines_citizens() -> None:
    person = people(1)[0]
    text = (
        f'{{"document_number": "{person.document_number}", "name": "{person.name}", '
        '"revoked": true}\n'
        "[1, 2]\n"
        '{"document_number": "x", "name": "y", "colour": "red"}\n'
    )
    parsed = parse_citizens(text, today=NOW.date())
    assert len(parsed.citizens) == 1 and parsed.citizens[0].revoked
    assert [(e.line, e.problem) for e in parsed.errors] == [
        (2, "not a JSON object"),
        (3, "unknown column(s): colour"),
    ]


@pytest.mark.parametrize("text", ["", "document_type,document_number,name\n", "number,who\n1,2\n"])
def test_an_empty_or_headless_file_is_an_error(text: str) -> None:
    assert parse_citizens(text, today=NOW.date()).errors
