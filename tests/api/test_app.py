"""How settings shape the app. The national platform's routes are served where the platform
runs (no REALNAME_NATIONAL_PLATFORM_URL), not on an enterprise instance that pushes to a
remote one: there they were open to anyone (一证通查 answered from the enterprise's empty
index, a feed client could push batches into it). FastAPI's OpenTelemetry is on only when
REALNAME_OPENTELEMETRY says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.telemetry import _asgi as fastapi_telemetry
from fastapi.testclient import TestClient

from realname.api.app import create_app
from realname.config import Settings

PLATFORM_PATHS = {
    "/v1/national/feeds/batches",
    "/v1/national/feeds/sealing-key",
    "/v1/national/feeds",
    "/v1/national/lookup/codes",
    "/v1/national/lookup/answers",
    "/v1/national/lookup/disputes",
    "/v1/national/feeds/disputes",
}


@pytest.mark.parametrize(
    ("remote", "platform", "served"),
    [
        (None, None, True),  # the platform in this instance (small deployments, the demo)
        ("https://national.example.cn", None, False),  # pushes to a remote platform
        # publishes by file drop with a pinned sealing key: no URL, and still not the platform
        (None, False, False),
        ("https://national.example.cn", True, True),  # said so explicitly
    ],
)
def test_platform_routes_are_mounted_only_where_the_platform_runs(
    tmp_path: Path, remote: str | None, platform: bool | None, served: bool
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'r.db'}",
        key_file=str(tmp_path / "keys.json"),
        national_platform_url=remote,
        national_platform=platform,
    )
    app = create_app(settings)
    document = set(app.openapi()["paths"])
    assert PLATFORM_PATHS & document == (PLATFORM_PATHS if served else set())
    assert "/v1/complaints" in document  # the enterprise's own routes stay
    client = TestClient(app)
    answer = client.post("/v1/national/lookup/codes", json={})
    assert answer.status_code == (400 if served else 404)  # 400: the body is checked


@pytest.mark.parametrize("opentelemetry", [False, True])
def test_requests_ask_opentelemetry_only_when_it_is_turned_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opentelemetry: bool
) -> None:
    """By default no request asks OpenTelemetry's global providers whether one is set up
    (FastAPI asked on every request: 8 % of a KYC Match call's Python time)."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'r.db'}",
        key_file=str(tmp_path / "keys.json"),
        opentelemetry=opentelemetry,
    )
    asked: list[str] = []
    real = fastapi_telemetry.trace.get_tracer_provider

    def get_tracer_provider() -> object:
        asked.append("tracer")
        return real()

    monkeypatch.setattr(fastapi_telemetry.trace, "get_tracer_provider", get_tracer_provider)
    client = TestClient(create_app(settings))
    assert client.get("/openapi.json").status_code == 200
    assert bool(asked) is opentelemetry
