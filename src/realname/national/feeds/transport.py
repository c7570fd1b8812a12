"""The three ways a feed reaches the platform, behind one `Transport` (jobs.py):

- `InProcess`: the platform runs in this instance (REALNAME_NATIONAL_PLATFORM_URL unset):
  the very checks of the HTTP route, without a network.
- `HttpPush`: `POST /v1/national/feeds/batches` on the platform's API as its `feed_client`
  (OAuth2 client credentials, as every client of the API), over TLS (a CA bundle and a client
  certificate are settings; plain http only to loopback unless allowed).
- `FileDrop`: each batch written as a Parquet file into a directory the platform reads
  (`realname national take-drop`), for bulk back-loads.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from realname.config import Settings
from realname.db.uow import UnitOfWork
from realname.national.feeds.drop import write_batch
from realname.national.feeds.envelope import Envelope
from realname.national.feeds.errors import EXPECTED_HEADER, FeedError, FeedErrorCode
from realname.national.feeds.jobs import take_batch
from realname.national.feeds.keys import PlatformKeys, SealingKey
from realname.national.feeds.service import Taken
from realname.security.tls import client_tls_context, is_loopback

F = FeedErrorCode
BATCHES = "/v1/national/feeds/batches"
SEALING_KEY = "/v1/national/feeds/sealing-key"
DISPUTES = "/v1/national/feeds/disputes"
DISPUTE_FIELDS = ("reference", "msisdn", "status", "outcome")


class InProcess:
    name = "local"

    def __init__(self, uow: UnitOfWork, keys: PlatformKeys, now: Callable[[], datetime]) -> None:
        self.uow, self.keys, self.now = uow, keys, now

    def sealing_key(self) -> SealingKey:
        return self.keys.public

    def push(self, envelope: Envelope) -> Taken:
        return take_batch(self.uow, self.keys, envelope, at=self.now(), transport=self.name)


class FileDrop:
    name = "file"

    def __init__(self, directory: str | Path, sealing: SealingKey) -> None:
        self.directory, self.sealing = Path(directory), sealing

    def sealing_key(self) -> SealingKey:
        return self.sealing

    def push(self, envelope: Envelope) -> None:
        write_batch(envelope, self.directory)


@dataclass(frozen=True)
class HttpConfig:
    url: str
    client_id: str
    client_secret: str
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    allow_plain_http: bool = False
    pinned_key: str | None = None
    timeout_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpConfig:
        if not settings.national_platform_url:
            raise FeedError(F.FEED_PLATFORM_UNREACHABLE, "REALNAME_NATIONAL_PLATFORM_URL is unset")
        if not settings.national_feed_client_id or not settings.national_feed_client_secret:
            raise FeedError(
                F.FEED_PLATFORM_UNREACHABLE,
                "REALNAME_NATIONAL_FEED_CLIENT_ID and _SECRET are needed to push",
            )
        return cls(
            url=settings.national_platform_url.rstrip("/"),
            client_id=settings.national_feed_client_id,
            client_secret=settings.national_feed_client_secret,
            ca_file=settings.national_ca_file,
            client_cert=settings.national_client_cert,
            client_key=settings.national_client_key,
            allow_plain_http=settings.national_allow_plain_http,
            pinned_key=settings.national_sealing_public_key,
        )


TAKEN_FIELDS = ("enterprise", "batch", "digest", "items", "applied", "duplicate", "next_batch")


def _fields(response: httpx.Response, *names: str) -> list[Any]:
    """The named fields of a JSON answer; an answer without them (a proxy's page, another
    service on the port) is the platform refusing, not a traceback in the publisher."""
    try:
        document = response.json()
        return [document[name] for name in names]
    except (ValueError, KeyError, TypeError):
        raise FeedError(
            F.FEED_PLATFORM_REFUSED, f"HTTP {response.status_code}: not the platform's answer"
        ) from None


class HttpPush:
    name = "http"

    def __init__(self, config: HttpConfig) -> None:
        parts = urlsplit(config.url)
        if parts.scheme not in ("http", "https"):
            raise FeedError(F.FEED_PLATFORM_UNREACHABLE, "the platform URL is not http(s)")
        if parts.scheme == "http" and not (is_loopback(parts.hostname) or config.allow_plain_http):
            raise FeedError(
                F.FEED_PLATFORM_UNREACHABLE,
                "plain http to a platform that is not loopback: use https "
                "(or REALNAME_NATIONAL_ALLOW_PLAIN_HTTP on a test network)",
            )
        try:
            # the one outbound TLS context (security/tls.py): TLS 1.2 at least, mutual TLS
            self.tls: ssl.SSLContext | None = (
                client_tls_context(config.ca_file, config.client_cert, config.client_key)
                if parts.scheme == "https"
                else None
            )
        except (OSError, ssl.SSLError) as error:  # a CA file or client certificate unreadable
            raise FeedError(
                F.FEED_PLATFORM_UNREACHABLE, f"TLS files: {error.strerror or error}"
            ) from None
        self.client = httpx.Client(
            base_url=config.url, verify=self.tls or True, timeout=config.timeout_seconds
        )
        self.config = config
        self._token: str | None = None

    def close(self) -> None:
        self.client.close()

    def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        for attempt in range(2):
            if self._token is None:
                self._token = self._fetch_token()
            try:
                response = self.client.request(
                    method,
                    path,
                    headers={"Authorization": f"Bearer {self._token}"},
                    **kwargs,  # type: ignore[arg-type]
                )
            except httpx.HTTPError:
                raise FeedError(F.FEED_PLATFORM_UNREACHABLE) from None
            if response.status_code == 401 and attempt == 0 and not _is_feed_refusal(response):
                self._token = None  # expired: one new token, one more try
                continue
            return response
        raise FeedError(F.FEED_PLATFORM_UNREACHABLE)

    def _fetch_token(self) -> str:
        try:
            response = self.client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(self.config.client_id, self.config.client_secret),
            )
        except httpx.HTTPError:
            raise FeedError(F.FEED_PLATFORM_UNREACHABLE) from None
        if response.status_code != 200:
            raise FeedError(F.FEED_PLATFORM_REFUSED, f"token: HTTP {response.status_code}")
        (token,) = _fields(response, "access_token")
        return str(token)

    def sealing_key(self) -> SealingKey:
        if self.config.pinned_key:
            return SealingKey.parse(self.config.pinned_key)
        response = self._request("GET", SEALING_KEY)
        if response.status_code != 200:
            raise FeedError(F.FEED_PLATFORM_REFUSED, f"sealing key: HTTP {response.status_code}")
        key_id, public_key = _fields(response, "key_id", "public_key")
        return SealingKey.parse(f"{key_id}:{public_key}")

    def forwarded_disputes(self, page: int = 200) -> Iterator[dict[str, Any]]:
        """The platform's open "not mine" disputes of this enterprise's lines (its own
        numbers, in the body only), oldest first, fetched a page at a time as they are used:
        each page's opaque `next` is the following one's `after`, until it is null. A page
        with more to come must list a dispute not listed yet (one that does not would never
        end). Platforms from before the cursor answer a plain list: paged by the rows' `id`
        (`after_id`), or, rows without `id`, every open dispute in one list."""
        asked: dict[str, str | int] = {}  # the first page: no position
        listed: set[str] = set()
        while True:
            response = self._request("GET", DISPUTES, params={**asked, "limit": page})
            if response.status_code != 200:
                raise FeedError(F.FEED_PLATFORM_REFUSED, f"disputes: HTTP {response.status_code}")
            try:
                rows, following = _disputes_page(response.json(), page)
                fresh = [row for row in rows if str(row["reference"]) not in listed]
            except (ValueError, KeyError, TypeError):
                raise FeedError(
                    F.FEED_PLATFORM_REFUSED, "disputes: not the platform's answer"
                ) from None
            if following is not None and (not fresh or following == asked):
                raise FeedError(F.FEED_PLATFORM_REFUSED, "disputes: the pages do not advance")
            listed.update(str(row["reference"]) for row in fresh)
            yield from fresh
            if following is None:
                return
            asked = following

    def answer_dispute(self, reference: str, status: str, outcome: str | None) -> None:
        """Post the enterprise's handling of a forwarded dispute (traced | acted | closed)."""
        response = self._request(
            "POST", f"{DISPUTES}/{reference}", json={"status": status, "outcome": outcome}
        )
        if response.status_code != 200:
            raise FeedError(
                F.FEED_PLATFORM_REFUSED, f"dispute handling: HTTP {response.status_code}"
            )

    def push(self, envelope: Envelope) -> Taken:
        response = self._request("POST", BATCHES, content=envelope.to_bytes())
        if response.status_code >= 500:
            raise FeedError(F.FEED_PLATFORM_UNREACHABLE, f"HTTP {response.status_code}")
        if response.status_code == 200:
            return Taken(*_fields(response, *TAKEN_FIELDS))
        (answered,) = _fields(response, "code")
        code = str(answered).removeprefix("REALNAME.")
        expected = response.headers.get(EXPECTED_HEADER)
        try:
            refusal = FeedErrorCode(code)
        except ValueError:
            raise FeedError(F.FEED_PLATFORM_REFUSED, f"HTTP {response.status_code}") from None
        raise FeedError(
            refusal,
            expected=int(expected) if expected and expected.isdigit() else None,
            number=envelope.number,
        )


def _disputes_page(
    document: Any, page: int
) -> tuple[list[dict[str, Any]], dict[str, str | int] | None]:
    """A disputes answer's rows (the fields the pull uses) and what to ask for the next page
    (None: this was the last). KeyError, TypeError or ValueError: not the platform's answer."""
    if isinstance(document, dict):  # {disputes, next}: the opaque cursor
        rows = [{name: row[name] for name in DISPUTE_FIELDS} for row in document["disputes"]]
        following = document["next"]
        if following is not None and not isinstance(following, str):
            raise TypeError("a cursor is a string")
        return rows, None if following is None else {"after": following}
    if not isinstance(document, list):
        raise TypeError("neither a page nor a list")
    rows = [{name: row[name] for name in DISPUTE_FIELDS} for row in document]
    if not document or any("id" not in row for row in document):
        return rows, None  # from before paging: its one list is every open dispute
    # paged by the platform-wide id (`after_id`), the last page being a short one
    last = max(int(row["id"]) for row in document)
    return rows, {"after_id": last} if len(document) >= page else None


def _is_feed_refusal(response: httpx.Response) -> bool:
    try:
        (code,) = _fields(response, "code")
    except FeedError:
        return False
    return str(code).startswith("REALNAME.FEED_")
