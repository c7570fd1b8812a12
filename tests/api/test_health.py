"""Readiness tells an orchestrator the truth: no database or an old schema is not ready."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from realname.api.app import create_app
from realname.config import Settings


def _client(tmp_path: Path, url: str) -> TestClient:
    return TestClient(
        create_app(Settings(database_url=url, key_file=str(tmp_path / "keys.json"))),
        raise_server_exceptions=False,
    )


def test_not_ready_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    # Nothing listens on port 1: the connection is refused, as when PostgreSQL is down.
    with _client(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/test") as client:
        assert client.get("/healthz").status_code == 200  # the process itself is fine
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "UNAVAILABLE"
    assert "not reachable" in response.json()["message"]


def test_not_ready_until_the_schema_is_migrated(tmp_path: Path) -> None:
    with _client(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}") as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "latest migration" in response.json()["message"]


def test_requests_while_the_database_is_down_get_503_with_retry_after(tmp_path: Path) -> None:
    with _client(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/test") as client:
        response = client.post(
            "/oauth/token",
            content="grant_type=client_credentials",
            headers={
                "Authorization": "Basic YTpi",
                "Content-Type": "application/x-www-form-urlencoded",
                "x-correlator": "db-down-1",
            },
        )
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "UNAVAILABLE"
    assert response.headers["retry-after"] == "1"
    assert response.headers["x-correlator"] == "db-down-1"
