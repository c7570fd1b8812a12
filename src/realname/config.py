"""All configuration, from `REALNAME_*` environment variables (or a `.env` file)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from pydantic import AwareDatetime, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from realname.clock import Clock, clock_for


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REALNAME_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/realname.db",
        description="SQLAlchemy URL; SQLite file by default, postgresql+psycopg://… in production",
    )
    database_echo: bool = Field(default=False, description="log every SQL statement")
    database_pool_size: int = Field(
        default=10,
        ge=1,
        description="PostgreSQL connections per pool, in each worker: the SQLAlchemy engines' "
        "pools (each with its overflow), and the async KYC Match route's reads and audit "
        "writer together (a writer's pool of its own of up to 2 from it; at 1 the two share "
        "one connection)",
    )
    database_pool_pre_ping: bool = Field(
        default=False,
        description="test each pooled PostgreSQL connection with a round trip before use. "
        "Off by default: that round trip was 7 % of a registration's time; without it a "
        "connection the server dropped (a restart, a failover) fails the one request that "
        "finds it (503, retry) and the pool is renewed",
    )
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    sqlite_cache_mib: int = Field(default=256, ge=2, description="SQLite page cache per connection")
    log_level: str = Field(default="INFO")
    clock_start: AwareDatetime | None = Field(
        default=None,
        description="start the process clock at this instant (ISO 8601 with a time zone) and let "
        "it run from there: drills, reproducible demos, test servers; unset = the machine's clock",
    )
    clock_anchor: AwareDatetime | None = Field(
        default=None,
        description="with clock_start: the machine's instant at which the clock read clock_start, "
        "so every process given both agrees on the time (a server and the CLI run against it); "
        "unset = each process starts its clock at clock_start",
    )

    policy: str = Field(
        default="china", description="policy preset name (realname/policy/presets) or a TOML path"
    )
    pii_keys: str | None = Field(
        default=None,
        description='AES-256-GCM keys for PII as JSON {"key-id": "<base64 32 bytes>", ...}',
    )
    pii_active_key: str | None = Field(
        default=None, description="id of the key new values are sealed with (default: last)"
    )
    blind_index_key: str | None = Field(
        default=None, description="base64 HMAC key for equality look-ups on encrypted PII"
    )
    # Tamper evidence (docs/registry.md): the audit chain's MAC keys and the checkpoint keys.
    audit_keys: str | None = Field(
        default=None,
        description='HMAC keys of the audit chain and row MACs, JSON {"key-id": "<base64>", ...}; '
        "unset = the key file (only when the PII keys come from it too)",
    )
    audit_active_key: str | None = Field(
        default=None, description="id of the audit key new entries are MAC'd with (default: last)"
    )
    checkpoint_signing_keys: str | None = Field(
        default=None,
        description='Ed25519 checkpoint signing keys, JSON {"key-id": "<base64 32-byte seed>"}',
    )
    checkpoint_active_key: str | None = Field(
        default=None, description="id of the signing key new checkpoints use (default: last)"
    )
    checkpoint_public_keys: str | None = Field(
        default=None,
        description="extra Ed25519 public keys that verify checkpoints, "
        'JSON {"key-id": "<base64>"}',
    )
    audit_sequencing: str = Field(
        default="auto",
        pattern="^(auto|inline|deferred)$",
        description="how audit entries enter their chain (docs/audit.md): 'inline' locks the "
        "chain's head in the writer's transaction; 'deferred' only inserts the entry and a "
        "sequencer chains it milliseconds later (no shared row locked on the hot path); "
        "'auto' = deferred on PostgreSQL, inline on SQLite",
    )
    audit_sequence_interval_ms: float = Field(
        default=200.0,
        gt=0,
        le=10_000,
        description="deferred mode: the server's sequencer runs this often while there is work",
    )
    audit_sequencer: str = Field(
        default="worker",
        pattern="^(worker|external)$",
        description="deferred mode: where the server's background sequencer runs. 'worker': a "
        "thread in each serving worker (they take turns); 'external': none in the workers, "
        "one sequencer process beside them (`realname serve --workers N` on Linux runs it "
        "and sets this for its workers; docs/audit.md)",
    )
    audit_sequence_batch: int = Field(
        default=1000, ge=1, le=100_000, description="deferred mode: entries chained per pass"
    )
    audit_pending_alarm_seconds: float = Field(
        default=60.0,
        gt=0,
        description="`realname check` reports pending audit entries older than this (the "
        "sequencer is not running)",
    )
    checkpoint_file: str = Field(
        default="./var/checkpoints.jsonl",
        description="where `realname audit checkpoint` appends signed checkpoints",
    )
    token_keys: str | None = Field(
        default=None,
        description='HS256 keys that sign bearer tokens, JSON {"kid": "<base64, >= 32 bytes>", '
        "...}; required when REALNAME_PII_KEYS is set, else taken from the key file",
    )
    token_active_key: str | None = Field(
        default=None, description="kid of the token key new tokens are signed with (default: last)"
    )
    token_ttl_seconds: int = Field(default=900, ge=30, description="bearer token lifetime")
    otp_token_ttl_seconds: int = Field(
        default=600,
        ge=30,
        le=900,
        description="lifetime of a subscriber's line-bound token from a one-time-code login",
    )
    client_status_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        le=30,
        description="how long a worker trusts its last look at a client's status: a revoked "
        "client's tokens are refused at most this long after the revocation",
    )
    redis_url: str | None = Field(
        default=None,
        description="redis://… for the relying parties' per-number quotas and mismatch budgets "
        "(one atomic script per KYC call, keys expire at the window's end); unset = the "
        "database's quota_counter table (SQLite-only deployments)",
    )
    redis_key_prefix: str = Field(
        default="realname:", description="prefix of every Redis key this deployment writes"
    )
    verification_async: bool = Field(
        default=True,
        description="with REALNAME_REDIS_URL on PostgreSQL, answer KYC Match on the event loop "
        "(async psycopg pool, redis.asyncio, the audit batch awaited) instead of in the thread "
        "pool through the service; the same answers, refusals and counts either way",
    )
    verification_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="how long a worker trusts its last look at a relying party's registration "
        "(its APIs and status); consents are read with the line on every call, never cached",
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="failed /oauth/token logins per client id before a lockout"
    )
    login_max_failures_per_source: int = Field(
        default=20, ge=1, description="failed /oauth/token logins per source address before one"
    )
    login_failure_window_seconds: int = Field(
        default=300,
        ge=1,
        description="failures count within this window; a lockout lasts as long (429)",
    )
    host: str = Field(default="127.0.0.1", description="realname serve: address to bind")
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    tls_cert_file: str | None = Field(
        default=None,
        description="realname serve: serve HTTPS with this certificate chain (PEM); with "
        "tls_key_file (the national platform's feeds arrive over TLS)",
    )
    tls_key_file: str | None = Field(default=None, description="realname serve: its key (PEM)")
    key_file: str = Field(
        default="./var/keys.json",
        description="where development keys (PII and token keys) are created when the key "
        "settings above are unset",
    )

    authority: str = Field(
        default="simulated",
        pattern="^(simulated|http)$",
        description="identity authority: 'simulated' (a table of test citizens, `realname "
        "authority enrol`) or 'http' (our JSON contract, docs/identity-authority.md)",
    )
    authority_url: str | None = Field(
        default=None,
        description="http authority: base URL (https://…; plain http only to loopback)",
    )
    authority_client_cert: str | None = Field(
        default=None, description="http authority: client certificate (PEM) for mutual TLS"
    )
    authority_client_key: str | None = Field(
        default=None, description="http authority: the client certificate's private key (PEM)"
    )
    authority_ca_file: str | None = Field(
        default=None,
        description="http authority: CA bundle that signs the authority's server certificate "
        "(default: the system store)",
    )
    authority_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="http authority: time-out of one attempt"
    )
    authority_retries: int = Field(
        default=2,
        ge=0,
        le=5,
        description="http authority: extra attempts after a connection failure, 5xx or 429 "
        "with Retry-After (exponential back-off with jitter)",
    )
    authority_breaker_failures: int = Field(
        default=5,
        ge=1,
        description="http authority: consecutive failed calls that open the breaker",
    )
    authority_breaker_reset_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="http authority: how long the open breaker refuses before one probe",
    )
    authority_allow_plain_http: bool = Field(
        default=False,
        description="http authority: allow plain http to a host that is not loopback "
        "(private test networks only; documents would cross the network in clear)",
    )

    sms_gateway: str = Field(
        default="file",
        pattern="^(file|smpp)$",
        description="how reminders leave: 'file' appends them to sms_file, 'smpp' sends to an SMSC",
    )
    sms_file: str = Field(default="./var/sms.jsonl", description="the file gateway's sink")
    evidence_dir: str = Field(
        default="./var/evidence",
        description="secret inspections' evidence files, stored under their SHA-256",
    )
    smsc_host: str = Field(default="127.0.0.1", description="SMPP: the SMSC's address")
    smsc_port: int = Field(default=2775, ge=1, le=65535, description="SMPP: the SMSC's port")
    smsc_system_id: str = Field(default="realname", description="SMPP bind system_id")
    smsc_password: str = Field(default="", description="SMPP bind password")
    sms_source_address: str = Field(
        default="10690000", description="the sender number subscribers see"
    )
    sms_max_attempts: int = Field(
        default=8, ge=1, description="send attempts before a message is marked failed"
    )
    sms_lease_seconds: int = Field(
        default=60, ge=1, description="how long a sender holds a claimed message before another may"
    )
    public_docs: bool = Field(
        default=True,
        description="serve /docs, /redoc and /openapi.json to anyone (they describe the API, "
        "hold no data); false: not served at all",
    )
    public_metrics: bool = Field(
        default=False,
        description="serve /metrics without a token (only where the port is reachable from the "
        "monitoring network alone); false: a bearer token with the metrics:read scope",
    )
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's OpenTelemetry spans, metrics and logs for every request, through "
        "the process's globally configured providers (an OpenTelemetry SDK set up by the "
        "deployment); false: none, and no request asks the providers",
    )

    # The national platform (docs/national.md): enterprise feeds, the national index, 一证通查.
    national_platform_url: str | None = Field(
        default=None,
        description="where this enterprise instance pushes its feed: the platform's base URL "
        "(https://…; plain http only to loopback); unset = the platform runs in this instance "
        "(small deployments, the demo): batches are taken in-process, same checks",
    )
    national_platform: bool | None = Field(
        default=None,
        description="this instance runs the national platform (serves its feed and 一证通查 "
        "routes); unset = it does when national_platform_url is unset. Set false on an "
        "enterprise that publishes by file drop with a pinned sealing key and no URL",
    )
    national_feed_client_id: str | None = Field(
        default=None, description="the platform's feed_client credentials of this enterprise"
    )
    national_feed_client_secret: str | None = Field(default=None)
    national_ca_file: str | None = Field(
        default=None, description="CA bundle that signs the platform's certificate"
    )
    national_client_cert: str | None = Field(
        default=None, description="client certificate (PEM) for mutual TLS to the platform"
    )
    national_client_key: str | None = Field(default=None)
    national_allow_plain_http: bool = Field(
        default=False,
        description="push to a plain-http platform that is not loopback (test networks only)",
    )
    national_sealing_public_key: str | None = Field(
        default=None,
        description="the platform's X25519 sealing key as 'key-id:<base64>', pinned; unset = "
        "asked of the platform (over TLS) before each push",
    )
    national_feed_keys: str | None = Field(
        default=None,
        description="Ed25519 feed signing keys per enterprise code, JSON "
        '{"CODE": {"key-id": "<base64 32-byte seed>"}} (the last id is the active one); '
        "unset = the key file's, created on first use",
    )
    national_sealing_keys: str | None = Field(
        default=None,
        description="platform: X25519 private keys that open sealed document numbers, JSON "
        '{"key-id": "<base64 32 bytes>"} (the last is the one enterprises seal to); with '
        "national_index_key; unset = the key file's",
    )
    national_index_key: str | None = Field(
        default=None, description="platform: base64 HMAC key of the national blind index"
    )
    national_feed_batch_size: int = Field(
        default=2000, ge=1, le=100_000, description="line changes per feed batch"
    )
    national_feed_late_seconds: int = Field(
        default=3600, ge=1, description="platform: a feed silent this long is reported late"
    )
    national_drop_dir: str = Field(
        default="./var/national/drop", description="Parquet file drop of feed batches"
    )
    national_lookup_code_ttl_seconds: int = Field(default=300, ge=30, le=1800)
    national_lookup_max_attempts: int = Field(
        default=3, ge=1, le=10, description="wrong codes before a 一证通查 challenge is void"
    )
    national_lookup_per_identity_per_day: int = Field(
        default=3, ge=1, description="一证通查 codes sent per identity per day"
    )
    national_lookup_per_source_per_hour: int = Field(
        default=10, ge=1, description="一证通查 requests per source address per hour"
    )
    national_lookup_answer_seconds: int = Field(
        default=900, ge=60, le=3600, description="how long a proved answer may open disputes"
    )
    national_lookup_floor_ms: int = Field(
        default=250,
        ge=0,
        le=5000,
        description="一证通查: a code request is answered no sooner than this after it came, "
        "so its time does not tell whether document, name and number matched",
    )
    trusted_proxies: str = Field(
        default="",
        description="addresses or networks of the reverse proxies in front of the API, "
        "comma-separated: only from these is X-Forwarded-For believed (per-source limits)",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in (i.strip() for i in value.split(",")):
            if item:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(f"not an address or network: {item!r}") from None
        return value

    @property
    def runs_national_platform(self) -> bool:
        """Whether this instance is (also) the national platform."""
        if self.national_platform is not None:
            return self.national_platform
        return not self.national_platform_url

    def clock(self) -> Clock:
        """The process clock these settings choose (realname/clock.py)."""
        return clock_for(self.clock_start, self.clock_anchor)


@lru_cache
def get_settings() -> Settings:
    return Settings()
