"""`POST /v1/national/feeds/batches` in process: the batch is parsed and verified in a worker
thread, not on the event loop (a 64 MB batch stalled every request of the worker)."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient

from realname.national.feeds.envelope import Envelope
from tests.national.conftest import PlatformApp


def test_a_batch_is_parsed_off_the_event_loop(
    platform_app: PlatformApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    where: list[str] = []
    parse = Envelope.from_bytes

    def spied(data: bytes) -> Envelope:
        try:
            asyncio.get_running_loop()
            where.append("event loop")
        except RuntimeError:
            where.append("worker thread")
        return parse(data)

    monkeypatch.setattr(Envelope, "from_bytes", staticmethod(spied))
    envelope = platform_app.cmcc_batches[0]
    client = TestClient(platform_app.app)
    answer = client.post(
        "/v1/national/feeds/batches",
        content=envelope.to_bytes(),
        headers=platform_app.feed_headers(client),
    )
    assert answer.status_code == 200 and answer.json()["duplicate"], answer.text
    assert where == ["worker thread"]
