"""The publisher's HTTP push against answers that are not the platform's: each is a feed
error the command reports, not a traceback (a proxy's page, another service on the port, a
CA file that is not there all were: JSONDecodeError, KeyError, FileNotFoundError)."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from realname.national.feeds.errors import FeedError, FeedErrorCode
from realname.national.feeds.transport import HttpConfig, HttpPush
from tests.national.conftest import Nation

F = FeedErrorCode
CONFIG = HttpConfig(url="http://127.0.0.1:9", client_id="feed", client_secret="s")


def _push_answering(handler: httpx.MockTransport) -> HttpPush:
    push = HttpPush(CONFIG)
    push.client = httpx.Client(base_url=CONFIG.url, transport=handler)
    return push


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (httpx.Response(200, text="<html>proxy</html>"), F.FEED_PLATFORM_REFUSED),
        (httpx.Response(200, json={"hello": "world"}), F.FEED_PLATFORM_REFUSED),
        (httpx.Response(409, json=["not", "an", "object"]), F.FEED_PLATFORM_REFUSED),
        (httpx.Response(409, json={"code": "REALNAME.FEED_BATCH_CONFLICT"}), F.FEED_BATCH_CONFLICT),
    ],
)
def test_an_answer_that_is_not_the_platforms_is_a_feed_error(
    nation: Nation, answer: httpx.Response, code: FeedErrorCode
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t"})
        return answer

    push = _push_answering(httpx.MockTransport(handler))
    with pytest.raises(FeedError) as refused:
        push.push(nation.build(nation.cmcc)[0])
    assert refused.value.code is code


def test_a_token_answer_without_a_token_is_a_feed_error() -> None:
    push = _push_answering(httpx.MockTransport(lambda _: httpx.Response(200, text="ok")))
    with pytest.raises(FeedError) as refused:
        push.sealing_key()
    assert refused.value.code is F.FEED_PLATFORM_REFUSED


def test_a_ca_file_that_is_not_there_is_a_feed_error(tmp_path: Path) -> None:
    config = HttpConfig(
        url="https://platform.example", client_id="f", client_secret="s",
        ca_file=str(tmp_path / "none.pem"),
    )  # fmt: skip
    with pytest.raises(FeedError) as refused:
        HttpPush(config)
    assert refused.value.code is F.FEED_PLATFORM_UNREACHABLE


def test_the_push_speaks_tls_1_2_at_least_through_the_shared_context() -> None:
    """HttpPush built its own default context (whatever minimum the system's OpenSSL had);
    it now takes security/tls.py's, as the identity authority's adapter does."""
    push = HttpPush(HttpConfig(url="https://platform.example", client_id="f", client_secret="s"))
    assert push.tls is not None
    assert push.tls.minimum_version is ssl.TLSVersion.TLSv1_2
    assert push.tls.verify_mode is ssl.CERT_REQUIRED and push.tls.check_hostname
    assert HttpPush(CONFIG).tls is None  # plain http to loopback


@pytest.mark.parametrize("host", ["[::1]", "127.0.0.2", "localhost"])
def test_plain_http_is_allowed_to_loopback_only(host: str) -> None:
    HttpPush(HttpConfig(url=f"http://{host}:9", client_id="f", client_secret="s"))
    with pytest.raises(FeedError):
        HttpPush(HttpConfig(url="http://platform.example", client_id="f", client_secret="s"))


def _disputes_platform(
    disputes: list[dict[str, object]],
    asked: list[dict[str, str]],
    *,
    stuck: bool = False,
    by_id: bool = False,
) -> HttpPush:
    """A platform listing `disputes` a page at a time: `{disputes, next}` with an opaque cursor
    (here, the last reference reversed); `by_id`, a plain list paged by `after_id` (the
    platform from before the cursor); `stuck`, the same answer whatever is asked (the first
    page; `by_id`, every dispute)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t"})
        params = dict(request.url.params)
        asked.append(params)
        if len(asked) > 20:  # a client that never stops: fail the test, do not hang it
            return httpx.Response(500)
        limit = int(params["limit"])
        if by_id:
            if stuck:
                return httpx.Response(200, json=disputes)
            after = int(params.get("after_id", "0"))
            return httpx.Response(
                200, json=[d for d in disputes if int(str(d["id"])) > after][:limit]
            )
        after_reference = "" if stuck else params.get("after", "")[::-1]
        rest = [d for d in disputes if str(d["reference"]) > after_reference]
        page = rest[:limit]
        cursor = str(page[-1]["reference"])[::-1] if len(rest) > limit else None
        return httpx.Response(200, json={"disputes": page, "next": cursor})

    return _push_answering(httpx.MockTransport(handler))


def _dispute(n: int) -> dict[str, object]:
    return {"reference": f"ND{n}", "msisdn": f"+861700000000{n}", "status": "forwarded",
            "outcome": None, "overdue": False}  # fmt: skip


def test_forwarded_disputes_are_read_a_page_at_a_time_by_the_cursor() -> None:
    """More open disputes than one page: every one is listed once, each page asked with the
    page before's `next` as `after`, to the page whose `next` is null."""
    asked: list[dict[str, str]] = []
    push = _disputes_platform([_dispute(n) for n in range(1, 6)], asked)
    listed = list(push.forwarded_disputes(page=2))
    assert [d["reference"] for d in listed] == ["ND1", "ND2", "ND3", "ND4", "ND5"]
    assert [a.get("after") for a in asked] == [None, "2DN", "4DN"]
    assert all("after_id" not in a for a in asked)


def test_pages_that_do_not_advance_are_a_feed_error_not_a_loop() -> None:
    asked: list[dict[str, str]] = []
    push = _disputes_platform([_dispute(n) for n in range(1, 4)], asked, stuck=True)
    with pytest.raises(FeedError) as refused:
        list(push.forwarded_disputes(page=2))
    assert refused.value.code is F.FEED_PLATFORM_REFUSED and len(asked) == 2


@pytest.mark.parametrize(
    "answer",
    [
        {"disputes": [_dispute(1)], "next": 7},  # a cursor that is not a string
        {"disputes": [{"reference": "ND1"}], "next": None},  # rows without their fields
        {"next": None},
        "a page",
    ],
)
def test_a_page_that_is_not_the_platforms_is_a_feed_error(answer: object) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t"})
        return httpx.Response(200, json=answer)

    push = _push_answering(httpx.MockTransport(handler))
    with pytest.raises(FeedError) as refused:
        list(push.forwarded_disputes(page=2))
    assert refused.value.code is F.FEED_PLATFORM_REFUSED


def test_a_platform_paging_by_id_is_still_read_to_the_end() -> None:
    """A platform from before the cursor answers a plain list whose rows carry `id`: it is
    paged by `after_id`, and a page that does not advance is still a feed error."""
    rows = [{**_dispute(n), "id": n} for n in range(1, 6)]
    asked: list[dict[str, str]] = []
    push = _disputes_platform(rows, asked, by_id=True)
    assert [d["reference"] for d in push.forwarded_disputes(page=2)] == [
        "ND1", "ND2", "ND3", "ND4", "ND5",
    ]  # fmt: skip
    assert [a.get("after_id") for a in asked] == [None, "2", "4"]
    stuck: list[dict[str, str]] = []
    push = _disputes_platform(rows, stuck, by_id=True, stuck=True)
    with pytest.raises(FeedError):
        list(push.forwarded_disputes(page=2))
    assert len(stuck) == 2


def test_a_platform_from_before_paging_lists_every_dispute_in_one_answer() -> None:
    """An enterprise upgraded before its platform: the old platform's rows have no `id` and
    its one list is every open dispute (before, a KeyError read as not the platform's answer
    on every pull)."""
    asked: list[dict[str, str]] = []
    rows = [_dispute(n) for n in range(1, 4)]
    push = _disputes_platform(rows, asked, by_id=True, stuck=True)
    assert [d["reference"] for d in push.forwarded_disputes(page=2)] == ["ND1", "ND2", "ND3"]
    assert len(asked) == 1
