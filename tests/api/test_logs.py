"""Logs carry no PII: a busy mix of requests, good and bad, leaves no document number, phone
number or name in any captured record, however it is formatted."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from realname.api.middleware import JsonLogFormatter
from realname.bench.load import ServerProcess
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from tests.api.conftest import Api, person_json
from tests.conftest import _postgres_database

# An 18- or 15-digit resident ID (with or without the X), and a Chinese mobile number in any
# of the forms people type it; standing alone, not inside a hex request id.
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
PHONE = re.compile(r"(?<![0-9A-Za-z])(\+?86)?1[3-9]\d{9}(?![0-9A-Za-z])")


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[Capture]:
    """Every logger, at DEBUG, including ours when `configure_logging` stopped propagation."""
    capture = Capture()
    loggers = [logging.getLogger(), logging.getLogger("realname")]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(capture)
        lg.setLevel(logging.DEBUG)
    yield capture
    for lg, level in saved:
        lg.removeHandler(capture)
        lg.setLevel(level)


_BOOKKEEPING = set(vars(logging.makeLogRecord({}))) - {"msg", "args", "exc_text"}


def _everything_in(record: logging.LogRecord) -> str:
    formatter = JsonLogFormatter()
    parts = [formatter.format(record), record.getMessage(), str(record.args)]
    # Every extra a handler could print (thread and process ids are digits, not PII).
    parts += [str(v) for k, v in vars(record).items() if k not in _BOOKKEEPING]
    if record.exc_info:
        parts.append(formatter.formatException(record.exc_info))
    return "\n".join(parts)


def test_no_pii_in_logs(api: Api, captured: Capture) -> None:
    person, other = api.people[9], api.people[3]
    msisdn = api.number()
    headers = api.headers("clerk")
    ok = api.client.post(
        "/v1/registrations",
        json={"msisdn": msisdn, "customer": person_json(person)},
        headers=headers,
    )
    assert ok.status_code == 201, ok.text
    line_id = ok.json()["id"]
    bad_checksum = person.document_number[:-1] + ("0" if person.document_number[-1] != "0" else "1")
    requests = [
        ("POST", "/v1/registrations", {"msisdn": msisdn, "customer": person_json(person)}),
        (
            "POST",
            "/v1/registrations",
            {"msisdn": api.free_numbers[-1], "customer": person_json(person, name=other.name)},
        ),
        (
            "POST",
            "/v1/registrations",
            {
                "msisdn": api.free_numbers[-1],
                "customer": {**person_json(other), "document": {"number": bad_checksum}},
            },
        ),
        ("POST", "/v1/registrations", {"msisdn": msisdn, "customer": {"name": person.name}}),
        ("POST", "/v1/lines/lookup", {"msisdn": msisdn}),
        ("POST", "/v1/lines/lookup", {"msisdn": msisdn, "extra": person.document_number}),
        ("POST", "/v1/identities/lines", {"document": {"number": person.document_number}}),
        ("POST", f"/v1/lines/{line_id}/owner", {"purpose": f"check {person.document_number}"}),
        ("POST", f"/v1/lines/{line_id}/lock", {"owner": person_json(other)}),
        ("GET", f"/v1/lines/{line_id}/history", None),
    ]
    for method, path, body in requests:
        for who in ("clerk", "admin", "other_admin"):
            api.client.request(method, path, json=body, headers=api.headers(who))
    # Malformed JSON that holds PII must not be echoed into a log either.
    api.client.post(
        "/v1/lines/lookup",
        content=f'{{"msisdn": "{msisdn}", "name": "{person.name}"',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert captured.records, "the access log should have recorded the requests"
    text = "\n".join(_everything_in(record) for record in captured.records)
    hit = ID_NUMBER.search(text)
    assert not hit, text[max(0, hit.start() - 300) : hit.end() + 50]
    hit = PHONE.search(text)
    assert not hit, text[max(0, hit.start() - 300) : hit.end() + 50]
    for name in (person.name, other.name):
        assert name not in text


def test_the_scan_catches_a_planted_leak(captured: Capture) -> None:
    """The scan above is only worth something if it sees a leak when there is one."""
    logging.getLogger("realname.api").info(
        "refused", extra={"route": "/v1/x", "outcome": "11010519491231002X"}
    )
    logging.getLogger("realname.api").warning("number %s", "+8613912345678")
    texts = [_everything_in(record) for record in captured.records]
    assert ID_NUMBER.search(texts[0]) and PHONE.search(texts[-1])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    urls: Iterator[str] = (
        iter([f"sqlite:///{tmp_path / 'served.db'}"])
        if request.param == "sqlite"
        else _postgres_database()
    )
    for url in urls:
        engine = create_engine_from_settings(Settings(database_url=url))
        migrate.upgrade(engine)
        engine.dispose()
        yield url


def test_every_worker_of_a_real_server_writes_json_access_logs(
    database_url: str, tmp_path: Path
) -> None:
    """`realname serve --workers 2`: the workers are fresh interpreters that never ran the
    CLI's logging set-up; each request must still leave one JSON access record."""
    log_file = tmp_path / "server.log"
    server = ServerProcess(
        database_url,
        tmp_path / "keys.json",
        workers=2,
        log_file=log_file,
        extra_env={"REALNAME_LOG_LEVEL": "INFO"},
    )
    with server:
        statuses = []
        for _ in range(10):
            with httpx.Client() as client:  # a new connection each time: any worker may answer
                statuses.append(client.get(f"{server.base_url}/v1/lines/1").status_code)
                statuses.append(client.get(f"{server.base_url}/healthz").status_code)
    assert sorted(set(statuses)) == [200, 401]
    records = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    access = [r for r in records if r.get("logger") == "realname.access"]
    lines = [r for r in access if r["route"].startswith("/v1/lines/{line_id")]
    assert len(lines) == 10 and {r["status"] for r in lines} == {401}, access
    assert len([r for r in access if r["route"] == "/healthz"]) == 10
    assert all(r["method"] == "GET" and isinstance(r["ms"], float | int) for r in access)
