"""A stub identity authority speaking our contract (docs/identity-authority.md), for tests, drills
and the README walkthrough: `realname authority stub --citizens FILE --port 9001`.

It answers from a citizens file held in memory and can misbehave on purpose:
`latency_ms` (every answer is that slow), `fail_rate` (that share of requests get a 500 or a
503 with Retry-After), `flap_seconds` (alternately up for S seconds and down, answering 503,
for S seconds). It keeps the contract's idempotency: a repeated `request_id` with the same
body gets the first answer again, with another body a 409. It logs no request bodies.

Not for production: it is the other side of the contract, with test citizens.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from realname.authority.citizens import Citizen
from realname.identity.authority import AuthorityVerdict
from realname.identity.documents import DocumentType
from realname.identity.names import normalize_name
from realname.identity.resident_id import normalize_document_number

REQUIRED = ("document_type", "document_number", "name", "request_id")
REMEMBERED_REQUESTS = 100_000


@dataclass
class StubBehaviour:
    latency_ms: int = 0
    fail_rate: float = 0.0
    flap_seconds: float = 0.0
    seed: int | None = None
    monotonic: Callable[[], float] = time.monotonic


@dataclass
class StubState:
    """What the stub knows and what it has seen (tests read the counters)."""

    register: dict[tuple[str, str], tuple[str, bool]]
    behaviour: StubBehaviour
    requests: int = 0
    answered: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    seen: OrderedDict[str, tuple[str, dict[str, Any]]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, outcome: str) -> None:
        with self.lock:
            self.answered[outcome] = self.answered.get(outcome, 0) + 1


def register_of(citizens: list[Citizen]) -> dict[tuple[str, str], tuple[str, bool]]:
    return {(str(c.document.type), c.document.number): (c.name, c.revoked) for c in citizens}


def stub_app(citizens: list[Citizen], behaviour: StubBehaviour | None = None) -> Starlette:
    behaviour = behaviour or StubBehaviour()
    state = StubState(register_of(citizens), behaviour, started=behaviour.monotonic())
    rng = random.Random(behaviour.seed)  # noqa: S311  (fault injection, not a secret)

    def down() -> bool:
        if behaviour.flap_seconds <= 0:
            return False
        elapsed = behaviour.monotonic() - state.started
        return int(elapsed // behaviour.flap_seconds) % 2 == 1

    def failing() -> JSONResponse | None:
        if down():
            state.count("flap_down")
            return _error(503, "down (flapping)", retry_after=1)
        if behaviour.fail_rate > 0 and rng.random() < behaviour.fail_rate:
            status = rng.choice((500, 503))
            state.count(f"fail_{status}")
            return _error(status, "injected failure", retry_after=1 if status == 503 else None)
        return None

    async def verifications(request: Request) -> JSONResponse:
        with state.lock:
            state.requests += 1
        if behaviour.latency_ms:
            await asyncio.sleep(behaviour.latency_ms / 1000)
        failure = failing()
        if failure is not None:
            return failure
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            state.count("bad_request")
            return _error(400, "the body must be a JSON object")
        problem = _invalid(body)
        if problem:
            state.count("bad_request")
            return _error(400, problem)
        fingerprint = hashlib.sha256(
            json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()
        with state.lock:
            earlier = state.seen.get(body["request_id"])
        if earlier is not None:
            if earlier[0] != fingerprint:
                state.count("conflict")
                return _error(409, "request_id reused with a different request")
            state.count("replay")
            return JSONResponse(earlier[1])
        verdict = _verdict(state.register, body)
        answer = {"verdict": str(verdict), "request_id": body["request_id"]}
        with state.lock:
            state.seen[body["request_id"]] = (fingerprint, answer)
            while len(state.seen) > REMEMBERED_REQUESTS:
                state.seen.popitem(last=False)
        state.count(str(verdict))
        return JSONResponse(answer)

    async def health(_request: Request) -> JSONResponse:
        if down():
            return _error(503, "down (flapping)", retry_after=1)
        return JSONResponse({"status": "ok", "citizens": len(state.register)})

    app = Starlette(
        routes=[
            Route("/v1/verifications", verifications, methods=["POST"]),
            Route("/v1/health", health, methods=["GET"]),
        ]
    )
    app.state.stub = state
    return app


def _invalid(body: object) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    for key in REQUIRED:
        if not isinstance(body.get(key), str) or not body[key]:
            return f"{key} is required"
    if body["document_type"] not in {str(t) for t in DocumentType}:
        return "unknown document_type"
    return None


def _verdict(
    register: dict[tuple[str, str], tuple[str, bool]], body: dict[str, str]
) -> AuthorityVerdict:
    number = normalize_document_number(body["document_number"])
    known = register.get((body["document_type"], number))
    if known is None:
        return AuthorityVerdict.UNKNOWN_DOCUMENT
    name, revoked = known
    if revoked:
        return AuthorityVerdict.REVOKED
    if normalize_name(body["name"]) != name:
        return AuthorityVerdict.NAME_MISMATCH
    return AuthorityVerdict.CONFIRMED


def _error(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return JSONResponse({"status": status, "error": message}, status_code=status, headers=headers)


@dataclass(frozen=True)
class StubTls:
    cert_file: str
    key_file: str
    client_ca: str | None = None  # set: clients must present a certificate it signed (mTLS)


def stub_config(app: Starlette, host: str, port: int, tls: StubTls | None = None) -> uvicorn.Config:
    options: dict[str, Any] = {}
    if tls is not None:
        options = {"ssl_certfile": tls.cert_file, "ssl_keyfile": tls.key_file}
        if tls.client_ca:
            options |= {"ssl_ca_certs": tls.client_ca, "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="off", **options
    )


class StubServer:
    """The stub in a background thread (tests): `start()` returns once it listens, `stop()`
    closes it (a real outage: connections are refused until the next `start()`)."""

    def __init__(
        self, app: Starlette, port: int, host: str = "127.0.0.1", tls: StubTls | None = None
    ):
        self.app, self.host, self.port, self.tls = app, host, port, tls
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> StubState:
        value = self.app.state.stub
        assert isinstance(value, StubState)
        return value

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        server = uvicorn.Server(stub_config(self.app, self.host, self.port, self.tls))
        thread = threading.Thread(target=server.run, daemon=True, name="authority-stub")
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the stub authority did not start on port {self.port}")
            time.sleep(0.01)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None
