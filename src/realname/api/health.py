"""Liveness, readiness and metrics: what an orchestrator and Prometheus scrape."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from realname.db import migrate
from realname.http.deps import PrincipalDep, RuntimeDep
from realname.http.errors import ApiError, protocol_error

router = APIRouter(tags=["operations"])
METRICS_SCOPE = "metrics:read"


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    """The process is up (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None, summary="Readiness")
def readyz(request: Request, rt: RuntimeDep) -> dict[str, str] | Response:
    """Ready to serve: the database answers and its schema is at the latest migration."""
    try:
        with rt.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        at_head = migrate.is_at_head(rt.engine)
    except Exception:  # any failure to reach the database means "not ready"
        return protocol_error(request, 503, "The database is not reachable.")
    if not at_head:
        return protocol_error(request, 503, "The database schema is not at the latest migration.")
    return {"status": "ready"}


def metrics_reader(principal: PrincipalDep) -> None:
    """Route counts and latencies tell an outsider what the operator does and how busy it is:
    /metrics takes a token with the `metrics:read` scope (a `monitor` client; Prometheus
    fetches one itself with its `oauth2` client-credentials scrape setting)."""
    if METRICS_SCOPE not in principal.scopes:
        raise ApiError(
            403, "PERMISSION_DENIED", "This caller may not do this.", "当前调用方无权执行此操作。"
        )


def metrics_router(public: bool) -> APIRouter:
    """/metrics, behind `metrics_reader` unless REALNAME_PUBLIC_METRICS says otherwise."""
    guarded = APIRouter(
        tags=["operations"], dependencies=[] if public else [Depends(metrics_reader)]
    )

    @guarded.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus text format: request counts and latencies by route, registrations."""
        return Response(
            generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
        )

    return guarded
