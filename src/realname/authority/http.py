"""The identity authority over HTTP: our JSON contract (docs/identity-authority.md).

`POST {url}/v1/verifications` with `{"document_type", "document_number", "name", "request_id"}`
(plus `nationality` for documents that carry one) answers 200 with
`{"verdict": "confirmed|unknown_document|name_mismatch|revoked", "request_id": ...}`.
A national service (NIMC, NADRA, PhilSys, the public-security citizen-ID service) sits behind
a gateway that speaks this contract.

What this adapter guarantees:
- PII only in the request body, over TLS to anything but the loopback interface; never in the
  URL, a header, a log line or an exception's text.
- One `httpx.Client` per process (a connection pool, mutual TLS configured once).
- Bounded retries with exponential back-off and jitter, only where a retry is safe: connection
  failures, 5xx, and 429 with a `Retry-After`. The request id is the same on every attempt, so
  the authority answers a repeat from its idempotency record. A read time-out is not retried
  (the authority is slow: asking again would only multiply the clerk's wait), nor is any 4xx.
- A circuit breaker (realname.authority.breaker) in front of every call.
- Every failure becomes `AuthorityUnavailableError`; there is no path to a verdict without a 200.
"""

from __future__ import annotations

import json
import logging
import math
import random
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from realname.authority.breaker import BreakerOpenError, BreakerState, CircuitBreaker
from realname.config import Settings
from realname.identity.authority import AuthorityUnavailableError, AuthorityVerdict
from realname.identity.documents import ParsedDocument
from realname.security.tls import client_tls_context, is_loopback

log = logging.getLogger("realname.authority")

VERIFICATIONS_PATH = "/v1/verifications"
HEALTH_PATH = "/v1/health"
BACKOFF_BASE_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 2.0
# A 429's Retry-After longer than this is not waited for: the clerk is standing at the counter.
MAX_RETRY_AFTER_SECONDS = 5.0
# Documents whose number is only unique within the issuing country.
_WITH_NATIONALITY = frozenset({"passport", "permanent_residence"})


class AuthorityConfigError(ValueError):
    """The http authority's settings cannot work (no URL, plain http to a remote host, ...)."""


@dataclass(frozen=True)
class HttpAuthorityConfig:
    url: str
    client_cert: str | None = None
    client_key: str | None = None
    ca_file: str | None = None
    timeout_seconds: float = 5.0
    retries: int = 2
    breaker_failures: int = 5
    breaker_reset_seconds: float = 30.0
    allow_plain_http: bool = False

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise AuthorityConfigError(
                "REALNAME_AUTHORITY_URL must be an http(s) URL with a host, e.g. "
                "https://authority-gateway.internal:8443"
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise AuthorityConfigError(
                "REALNAME_AUTHORITY_URL takes no query, fragment or credentials "
                "(authenticate with the client certificate)"
            )
        if parts.scheme == "http" and not is_loopback(parts.hostname) and not self.allow_plain_http:
            raise AuthorityConfigError(
                "REALNAME_AUTHORITY_URL is plain http to a host that is not loopback: "
                "identity documents would cross the network in clear. Use https (with "
                "REALNAME_AUTHORITY_CLIENT_CERT/_KEY for mutual TLS), or set "
                "REALNAME_AUTHORITY_ALLOW_PLAIN_HTTP=true for a private test network"
            )
        if parts.scheme == "http" and (self.client_cert or self.ca_file):
            raise AuthorityConfigError(
                "client certificate / CA file given for a plain http URL: use https://"
            )
        if self.client_key and not self.client_cert:
            raise AuthorityConfigError(
                "REALNAME_AUTHORITY_CLIENT_KEY needs REALNAME_AUTHORITY_CLIENT_CERT"
            )

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    @property
    def shown_url(self) -> str:
        return self.base_url  # no credentials can be in it (refused above)


def tls_context(config: HttpAuthorityConfig) -> ssl.SSLContext:
    """Server verification against the system store or `ca_file`, plus our client certificate."""
    return client_tls_context(config.ca_file, config.client_cert, config.client_key)


class HttpAuthority:
    """`IdentityAuthority` over our JSON contract. Thread-safe; build once per process."""

    def __init__(
        self,
        config: HttpAuthorityConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.breaker = CircuitBreaker(
            config.breaker_failures, config.breaker_reset_seconds, monotonic=monotonic
        )
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311  (jitter, not a secret)
        self._lock = threading.Lock()
        verify: ssl.SSLContext | bool = (
            tls_context(config) if config.base_url.startswith("https") else True
        )
        self.client = httpx.Client(
            base_url=config.base_url,
            timeout=httpx.Timeout(config.timeout_seconds),
            verify=verify,
            transport=transport,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            headers={"user-agent": "realname-authority-client"},
            follow_redirects=False,
        )
        self.attempts = 0  # requests sent, for `authority status` and tests

    # --- the port ---------------------------------------------------------------------------

    def verify(self, document: ParsedDocument, name: str) -> AuthorityVerdict:
        body: dict[str, str] = {
            "document_type": str(document.type),
            "document_number": document.number,
            "name": name,
            "request_id": uuid.uuid4().hex,
        }
        if document.nationality and str(document.type) in _WITH_NATIONALITY:
            body["nationality"] = document.nationality
        try:
            probe = self.breaker.acquire()
        except BreakerOpenError as error:
            raise AuthorityUnavailableError("breaker_open", error.retry_after) from None
        try:
            verdict = self._call(body, attempts=1 if probe else 1 + self.config.retries)
        except _RejectedError as error:
            if probe:
                self.breaker.release_probe()
            self._warn(error.reason, error.status)
            raise AuthorityUnavailableError(error.reason, self._retry_after()) from None
        except _AttemptFailedError as error:
            self.breaker.record_failure()
            self._warn(error.reason, error.status)
            raise AuthorityUnavailableError(
                error.reason, self._retry_after(error.retry_after)
            ) from None
        except Exception as error:  # a fault of ours or the library's: still no verdict
            self.breaker.record_failure()  # and a probe must not stay out for ever
            log.error(
                "identity authority call failed unexpectedly",
                extra={"error_type": type(error).__name__, "outcome": "error"},
            )
            raise AuthorityUnavailableError("error", self._retry_after()) from None
        self.breaker.record_success()
        return verdict

    # --- operations -------------------------------------------------------------------------

    def probe(self) -> str:
        """`GET /v1/health` once, bypassing the breaker: 'ok' or why not (no PII involved)."""
        try:
            response = self.client.get(HEALTH_PATH)
        except httpx.TimeoutException:
            return "timeout"
        except httpx.TransportError as error:
            return f"unreachable ({type(error).__name__})"
        return "ok" if response.status_code == 200 else f"HTTP {response.status_code}"

    @property
    def breaker_state(self) -> BreakerState:
        return self.breaker.state

    def close(self) -> None:
        self.client.close()

    # --- internals --------------------------------------------------------------------------

    def _call(self, body: dict[str, str], *, attempts: int) -> AuthorityVerdict:
        last: _AttemptFailedError | None = None
        for attempt in range(attempts):
            if last is not None:
                self._sleep(self._backoff(attempt - 1, last.retry_after))
            try:
                with self._lock:
                    self.attempts += 1
                response = self.client.post(VERIFICATIONS_PATH, json=body)
            except httpx.TimeoutException as error:
                if isinstance(error, httpx.ConnectTimeout):
                    last = _AttemptFailedError("unreachable")
                    continue
                raise _AttemptFailedError("timeout") from None
            except httpx.RequestError:
                # Refused, reset, a TLS handshake refused, or a pooled connection the server
                # closed: the request id makes the repeat safe even if the first one got
                # through.
                last = _AttemptFailedError("unreachable")
                continue
            status = response.status_code
            if status == 200:
                return _verdict_of(response, body["request_id"])
            if status >= 500:
                last = _AttemptFailedError("server_error", status, _retry_after_header(response))
                continue
            if status == 429:
                wait = _retry_after_header(response)
                if wait is None or wait > MAX_RETRY_AFTER_SECONDS:
                    raise _AttemptFailedError("rate_limited", status, wait)
                last = _AttemptFailedError("rate_limited", status, wait)
                continue
            raise _RejectedError("rejected", status)
        assert last is not None
        raise last

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential back-off with full jitter, at least what a 429/503 asked for."""
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
        with self._lock:
            delay = self._rng.uniform(0, ceiling)
        return max(delay, min(retry_after or 0.0, MAX_RETRY_AFTER_SECONDS))

    def _retry_after(self, hint: float | None = None) -> int:
        left = self.breaker.retry_after()
        if left:
            return left
        if hint:
            return max(1, math.ceil(hint))
        return max(1, math.ceil(min(self.config.breaker_reset_seconds, 30.0) / 6))

    def _warn(self, reason: str, status: int | None) -> None:
        # `outcome` and `status` are fields the JSON log formatter keeps; no request content.
        log.warning(
            "identity authority unavailable: %s (breaker %s)",
            reason,
            self.breaker.state,
            extra={"outcome": reason, "status": status},
        )


class _AttemptFailedError(Exception):
    """An attempt that says the authority is unwell (counts towards the breaker)."""

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None):
        self.reason, self.status, self.retry_after = reason, status, retry_after
        super().__init__(reason)


class _RejectedError(Exception):
    """The authority refused our request (a 4xx other than 429): not an outage, not retried."""

    def __init__(self, reason: str, status: int) -> None:
        self.reason, self.status = reason, status
        super().__init__(reason)


def _retry_after_header(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP-date would need the wall clock; treat it as absent
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _verdict_of(response: httpx.Response, request_id: str) -> AuthorityVerdict:
    try:
        data: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _AttemptFailedError("bad_response", response.status_code) from None
    if not isinstance(data, dict) or data.get("request_id") != request_id:
        raise _AttemptFailedError("bad_response", response.status_code)
    try:
        return AuthorityVerdict(str(data.get("verdict")))
    except ValueError:
        raise _AttemptFailedError("bad_response", response.status_code) from None


_http_authorities: dict[HttpAuthorityConfig, HttpAuthority] = {}
_http_authorities_lock = threading.Lock()


def http_config(settings: Settings) -> HttpAuthorityConfig:
    """The http adapter's settings, checked (raises AuthorityConfigError)."""
    if not settings.authority_url:
        raise AuthorityConfigError("REALNAME_AUTHORITY=http needs REALNAME_AUTHORITY_URL")
    return HttpAuthorityConfig(
        url=settings.authority_url,
        client_cert=settings.authority_client_cert,
        client_key=settings.authority_client_key,
        ca_file=settings.authority_ca_file,
        timeout_seconds=settings.authority_timeout_seconds,
        retries=settings.authority_retries,
        breaker_failures=settings.authority_breaker_failures,
        breaker_reset_seconds=settings.authority_breaker_reset_seconds,
        allow_plain_http=settings.authority_allow_plain_http,
    )


def http_authority(config: HttpAuthorityConfig) -> HttpAuthority:
    """This process's client for `config`, built on first use and shared by every thread (one
    connection pool and one circuit breaker per process and configuration)."""
    with _http_authorities_lock:
        authority = _http_authorities.get(config)
        if authority is None:
            authority = _http_authorities[config] = HttpAuthority(config)
        return authority
