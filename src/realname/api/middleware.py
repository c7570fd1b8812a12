"""Per-request plumbing as one pure ASGI middleware (cheaper than Starlette's
BaseHTTPMiddleware on the hot registration path): the `x-correlator` header (validated,
echoed), Prometheus request metrics by route template, and one structured log line per
request that names the route template, never the raw path."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from realname.security.redact import identifier_holds_pii

log = logging.getLogger("realname.access")

# CAMARA Commonalities XCorrelator pattern.
CORRELATOR = re.compile(r"^[a-zA-Z0-9\-_:;./<>{}]{0,256}$")


class Metrics:
    """The app's own registry, so two apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "realname_http_requests_total",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "realname_http_request_seconds",
            "HTTP request latency by route template",
            ["route", "method"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.registrations = Counter(
            "realname_registrations_total",
            "Registration attempts by outcome (registered or the refusal code)",
            ["outcome"],
            registry=self.registry,
        )


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        correlator = _header(scope, b"x-correlator")
        state = scope.setdefault("state", {})
        if correlator is not None and (
            not CORRELATOR.match(correlator) or identifier_holds_pii(correlator)
        ):
            # A correlator that spells an ID or a phone number is refused, never stored,
            # echoed or logged: it would land verbatim in the audit chain and the events.
            await _bad_correlator(send)
            self._observe(scope, 400, started)
            return
        state["correlator"] = correlator
        state["request_id"] = correlator or uuid.uuid4().hex
        status_holder = {"status": 500}

        async def send_with_correlator(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                if correlator:
                    headers = [
                        (k, v) for k, v in message.get("headers", []) if k != b"x-correlator"
                    ]
                    headers.append((b"x-correlator", correlator.encode()))
                    message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_correlator)
        finally:
            self._observe(scope, status_holder["status"], started)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        method = scope.get("method", "")
        elapsed = time.perf_counter() - started
        self.metrics.requests.labels(route, method, str(status)).inc()
        self.metrics.latency.labels(route, method).observe(elapsed)
        log.info(
            "request",
            extra={
                "route": route,
                "method": method,
                "status": status,
                "ms": round(elapsed * 1000, 2),
                "request_id": scope.get("state", {}).get("request_id"),
            },
        )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _bad_correlator(send: Send) -> None:
    body = json.dumps(
        {
            "status": 400,
            "code": "INVALID_ARGUMENT",
            "message": "Invalid x-correlator header: letters, digits and -_:;./<>{} only, "
            "at most 256, and no ID or phone number in it.",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line. Only whitelisted fields: nothing from a request body."""

    FIELDS = ("route", "method", "status", "ms", "request_id", "path", "error_type", "outcome")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in self.FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger("realname")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def logging_config(level: str) -> dict[str, Any]:
    """`configure_logging` as a `logging.config.dictConfig` document, for Uvicorn's
    `log_config`: Uvicorn applies it in the supervisor *and in every worker process* (a worker
    is a fresh interpreter that never runs the CLI), so `--workers N` logs JSON like one."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonLogFormatter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "realname": {"handlers": ["json"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["json"], "level": level.upper(), "propagate": False},
        },
    }
