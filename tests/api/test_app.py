"""The national platform's routes are served where the platform runs (no
REALNAME_NATIONAL_PLATFORM_URL), not on an enterprise instance that pushes to a remote one:
there they were open to anyone (一证通查 answered from the enterprise's empty index, a
feed client could push batches into it)."""

from __future__ import annotations

from pathlib import Path

import pytest
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
