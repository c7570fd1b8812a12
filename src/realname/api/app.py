"""The app factory: everything is built from Settings here, nothing at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from realname import __version__
from realname.api import counter, health, oauth
from realname.api.middleware import Metrics, RequestContextMiddleware
from realname.backfill import endpoints as backfill_endpoints
from realname.backfill.service import CampaignService
from realname.channels import endpoints as channels_endpoints
from realname.channels.service import ChannelService
from realname.clock import Clock
from realname.compliance.complaints import endpoints as complaints_endpoints
from realname.compliance.complaints.service import ComplaintService
from realname.compliance.enforcement import endpoints as enforcement_endpoints
from realname.compliance.enforcement.service import EnforcementService
from realname.compliance.figures import endpoints as figures_endpoints
from realname.compliance.inspections import endpoints as inspections_endpoints
from realname.compliance.segments import endpoints as segments_endpoints
from realname.compliance.settlement import endpoints as settlement_endpoints
from realname.compliance.settlement.service import SettlementService
from realname.config import Settings, get_settings
from realname.db.engine import async_pool_from_settings, create_engine_from_settings
from realname.http.deps import Runtime, ServiceFactory
from realname.http.errors import ErrorInfo, install_error_handlers
from realname.http.principals import access_of, api_routes
from realname.national.feeds import endpoints as national_feeds_endpoints
from realname.national.feeds.keys import PlatformKeys
from realname.national.lookup import endpoints as national_lookup_endpoints
from realname.possession import endpoints as possession_endpoints
from realname.possession.service import PossessionService
from realname.provisioning import endpoints as provisioning_endpoints
from realname.registry import endpoints as registry_endpoints
from realname.registry.cardreads import endpoints as card_reads_endpoints
from realname.registry.reverification import ReverificationTriggers
from realname.registry.service import RegistryService
from realname.security.audit import DEFERRED_AUDIT
from realname.security.clients import ClientStatusCache
from realname.selfservice import endpoints as selfservice_endpoints
from realname.verification import endpoints as verification_endpoints
from realname.verification.ahead import KycMatchAhead
from realname.verification.audit_batch import AsyncAuditBatcher, AuditBatcher
from realname.verification.counters import AsyncRedisCounters, RedisCounters
from realname.verification.parties import PartyCache
from realname.verification.repository import AsyncVerificationReads
from realname.verification.service import AsyncKycMatch
from realname.web import pages as web_pages
from realname.wiring import (
    Process,
    Services,
    complaint_service,
    enforcement_service,
    services,
    settlement_service,
)

DESCRIPTION = """
Operator API of RealName, the mobile-subscriber real-name registration platform.

Authenticate with OAuth2 client credentials (`POST /oauth/token`), then send
`Authorization: Bearer <token>`. Every error has the body `{"status", "code", "message"}`;
domain refusals use stable `REALNAME.*` codes. Send `x-correlator` to trace a request, and
`Idempotency-Key` on creating POSTs to retry safely. Phone and document numbers travel only in
request bodies, never in URLs. `Accept-Language: zh-CN` gives Chinese messages.
"""


# The async KYC route's audit writer: its own connections (and as many batches in flight).
AUDIT_CONNECTIONS = 2


def async_connections(pool_size: int) -> tuple[int, int]:
    """How REALNAME_DATABASE_POOL_SIZE is shared by the async KYC Match route's two pools:
    (the reads', the audit writer's), together never more than the operator allowed. The
    writer has a pool of its own (up to AUDIT_CONNECTIONS, at most half) so a burst's batches
    never queue ahead of the reads; with a size of 1 there is no connection to spare for it,
    and it is 0: the writer shares the reads' one connection (each holds it for one statement,
    so neither waits on the other for long). Two pools of one would open 2 connections."""
    if pool_size < 2:
        return 1, 0
    audit = min(AUDIT_CONNECTIONS, pool_size // 2)
    return pool_size - audit, audit


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """`clock` defaults to the settings' one (the machine's, or REALNAME_CLOCK_START)."""
    settings = settings or get_settings()
    process = Process(settings, clock=clock)
    try:
        _ = process.keyring.audit  # no audit keys, no service: every write appends to the chain
    except BaseException:
        process.close()
        raise
    runtime = Runtime(
        settings=settings,
        engine=process.engine,
        uow=process.uow,
        policy=process.policy,
        keyring=process.keyring,
        token_keys=process.token_keys,
        clock=process.clock,
        client_status=ClientStatusCache(settings.client_status_cache_seconds),
        authority=process.authority,
        factories=http_factories(),
        providers={PlatformKeys: lambda: process.national_keys},
    )

    # The relying parties' hot counters: Redis when configured (one per worker, its own
    # connection pool), else the database's counters in each request's transaction. With
    # Redis, a CAMARA call is a read and its audit entry goes to the worker's audit writer
    # (group commit, verification/audit_batch.py).
    counters = writer = reads = read_engine = async_pool = async_counters = kyc_match = None
    async_writer = audit_pool = None
    parties = PartyCache(settings.verification_cache_seconds)
    if settings.redis_url:
        counters = RedisCounters.from_url(settings.redis_url, settings.redis_key_prefix)
        one_statement = None
        if process.engine.dialect.name == "postgresql":
            # The calls' reads on a pool of their own: autocommit (no BEGIN, no COMMIT) and
            # no pre-ping, so a call is one round trip to PostgreSQL. A connection the
            # server dropped fails one call (503, retry) and the pool is renewed.
            read_engine = create_engine_from_settings(
                settings, isolation_level="AUTOCOMMIT", pool_pre_ping=False
            )
            reads = sessionmaker(bind=read_engine, expire_on_commit=False)
            if process.audit_deferral is not None:
                # The audit writer's batch on the same pool: one multi-row INSERT that is
                # its own transaction, one round trip (BEGIN, INSERT, COMMIT were three).
                one_statement = sessionmaker(
                    bind=read_engine, info={DEFERRED_AUDIT: process.audit_deferral}
                )
        writer = AuditBatcher(process.uow, process.keyring, one_statement=one_statement)
        if read_engine is not None and settings.verification_async:
            # KYC Match on the event loop: async psycopg (one prepared statement per call)
            # and redis.asyncio; the pool opens and closes with the app (lifespan).
            # Two pools within REALNAME_DATABASE_POOL_SIZE per worker: the reads', and the
            # audit writer's own (a burst's full batches queue there, never ahead of reads);
            # one shared pool when the setting is 1 (`async_connections`). Each opens a few
            # connections and grows under load (a worker beside the two lazily-filled
            # SQLAlchemy pools no longer opens the whole pool size at start).
            read_connections, audit_connections = async_connections(settings.database_pool_size)
            async_pool = async_pool_from_settings(
                settings, min_size=min(2, read_connections), max_size=read_connections
            )
            async_counters = AsyncRedisCounters.from_url(
                settings.redis_url, settings.redis_key_prefix
            )
            kyc_match = AsyncKycMatch(
                AsyncVerificationReads(async_pool),
                async_counters,
                keyring=process.keyring,
                parties=parties,
            )
            if process.audit_deferral is not None:
                # Its audit entries group-committed on the event loop, on their own pool
                # (or on the reads' when there is one connection for both).
                if audit_connections:
                    audit_pool = async_pool_from_settings(
                        settings, min_size=1, max_size=audit_connections
                    )
                async_writer = AsyncAuditBatcher(
                    audit_pool if audit_pool is not None else async_pool,
                    process.keyring,
                    process.audit_deferral,
                    max_in_flight=audit_connections or read_connections,
                )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        process.start_audit_sequencer()  # deferred audit mode only; close() stops and drains
        for pool in (async_pool, audit_pool):
            if pool is not None:
                await pool.open()
        yield
        for pool in (async_pool, audit_pool):
            if pool is not None:
                await pool.close()
        if async_counters is not None:
            await async_counters.close()
        if writer is not None:
            writer.close()
        if counters is not None:
            counters.close()
        if read_engine is not None:
            read_engine.dispose()
        process.close()

    app = _assemble(
        lifespan,
        public_docs=settings.public_docs,
        public_metrics=settings.public_metrics,
        national_platform=settings.runs_national_platform,
        opentelemetry=settings.opentelemetry,
    )
    app.state.runtime = runtime
    app.state.verification_counters = counters
    app.state.verification_audit = writer
    app.state.verification_reads = reads
    app.state.verification_parties = parties
    app.state.verification_kyc = kyc_match  # None: KYC Match goes through the service
    app.state.verification_audit_async = async_writer  # None: the async route uses `writer`
    # KYC Match's async path answered ahead of FastAPI (`KycMatchAhead`); false: by its route.
    app.state.verification_kyc_ahead = kyc_match is not None
    app.state.registration_ahead = True
    return app


def _assemble(
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None,
    *,
    public_docs: bool = True,
    public_metrics: bool = False,
    national_platform: bool = True,
    opentelemetry: bool = False,
) -> FastAPI:
    """The routes, error model and middleware, without a database: also what /openapi.json
    describes, so the document can be produced offline. `public_docs=False` serves neither
    /docs, /redoc nor /openapi.json; /metrics needs the `metrics:read` scope unless
    `public_metrics`. `national_platform`: this instance runs the national platform (no
    REALNAME_NATIONAL_PLATFORM_URL): it takes feeds and answers 一证通查; an enterprise
    instance that pushes to a remote platform serves neither. `opentelemetry` off: FastAPI's
    native telemetry off, so no request asks OpenTelemetry's global providers whether one is
    configured (py-spy: 8 % of a KYC Match call's Python time, docs/benchmarks.md)."""
    app = FastAPI(
        telemetry={"tracing": opentelemetry, "metrics": opentelemetry, "logs": opentelemetry},
        docs_url="/docs" if public_docs else None,
        redoc_url="/redoc" if public_docs else None,
        openapi_url="/openapi.json" if public_docs else None,
        title="RealName operator API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        responses={
            400: {"model": ErrorInfo, "description": "Invalid argument"},
            401: {"model": ErrorInfo, "description": "Not authenticated"},
            403: {"model": ErrorInfo, "description": "Not allowed for this caller"},
            500: {"model": ErrorInfo, "description": "Server error; nothing changed"},
            503: {"model": ErrorInfo, "description": "Database unavailable; retry"},
        },
    )
    metrics = Metrics()
    app.state.metrics = metrics
    install_error_handlers(app)
    # KYC Match's async path and the registration served ahead of FastAPI's routing, inside
    # the request context (the last middleware added is the outermost).
    app.add_middleware(KycMatchAhead)
    app.add_middleware(counter.RegistrationAhead)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    # The CAMARA router first: FastAPI tries the routes in order, and KYC Match is the
    # busiest path (py-spy: matching through every router before it took ~8% of a call).
    app.include_router(verification_endpoints.router)
    app.include_router(health.router)
    app.include_router(health.metrics_router(public_metrics))
    app.include_router(oauth.router)
    app.include_router(counter.router)
    app.include_router(card_reads_endpoints.router)
    app.include_router(registry_endpoints.router)
    app.include_router(channels_endpoints.router)
    app.include_router(selfservice_endpoints.router)
    app.include_router(backfill_endpoints.router)
    app.include_router(provisioning_endpoints.router)
    app.include_router(possession_endpoints.router)
    app.include_router(verification_endpoints.consents)
    app.include_router(inspections_endpoints.router)
    app.include_router(figures_endpoints.router)
    app.include_router(settlement_endpoints.router)
    app.include_router(segments_endpoints.router)
    app.include_router(enforcement_endpoints.router)
    app.include_router(complaints_endpoints.router)
    if national_platform:
        app.include_router(national_feeds_endpoints.router)
        app.include_router(national_lookup_endpoints.router)
        app.include_router(national_lookup_endpoints.enterprise_router)
        app.include_router(national_lookup_endpoints.disputes_router)
    web_pages.install(app)  # the staff's pages: not in the OpenAPI document
    _document_access(app)
    return app


def _document_access(app: FastAPI) -> None:
    """Each operation's `x-roles`: the roles its role dependency lets through (the scopes are
    already in its security requirement)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        for route in api_routes(app):
            access = access_of(route)
            if access is None or not route.include_in_schema:
                continue
            for method in route.methods or ():
                operation = document["paths"][route.path_format][method.lower()]
                operation["x-roles"] = sorted(role.value for role in access.roles)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def openapi_document() -> dict[str, Any]:
    """The OpenAPI description of the API, built without settings or a database."""
    return _assemble(None).openapi()


def http_factories() -> dict[type[Any], ServiceFactory]:
    """Each service an HTTP endpoint may ask for by its class (`Runtime.service`), built from
    the runtime's primitives by the composition root's `services`. The routes live in their
    domains, below the root: they name the service, the root says how it is made. One unit of
    work builds its services once (kept on the session), so the services a route asks for
    share one registry, as `services` builds them."""

    def bundle(rt: Runtime, session: Session) -> Services:
        built = session.info.get("realname.services")
        if not isinstance(built, Services):
            built = services(session, rt.settings, rt.keyring, rt.policy, rt.authority)
            session.info["realname.services"] = built
        return built

    return {
        RegistryService: lambda rt, session: bundle(rt, session).registry,
        ChannelService: lambda rt, session: bundle(rt, session).channels,
        CampaignService: lambda rt, session: bundle(rt, session).campaigns,
        ReverificationTriggers: lambda rt, session: bundle(rt, session).reverification,
        PossessionService: lambda rt, session: bundle(rt, session).possession,
        EnforcementService: lambda rt, session: enforcement_service(bundle(rt, session)),
        ComplaintService: lambda rt, session: complaint_service(bundle(rt, session)),
        SettlementService: lambda rt, session: settlement_service(bundle(rt, session)),
    }
