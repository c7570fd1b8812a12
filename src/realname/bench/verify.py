"""`realname bench verify`: CAMARA KYC Match over HTTP against the same read as bare SQL, in
one run, on one scratch PostgreSQL database.

A bank with consent on file asks about registered customers (document number and name, the
question a bank asks at account opening, answered "true"). Runs, all at the same concurrency:

- **bare read** (the baseline the ratio is against, DESIGN.md §7 "≥ 40 % of the bare read"):
  N threads, each on its own psycopg connection in autocommit, one statement per call — the
  line by MSISDN joined with its owner's identity and the party's live consent — and the
  document's blind index compared with the claim's (computed before the clock starts);
- **bare read + writes**: the same read in a transaction with what today's path also writes
  per call: the per-number quota counter upsert, the audit entry
  (`baresql.append_audit_entry`), the commit;
- **our service, no HTTP**: `VerificationService.kyc_match` from N threads, one transaction
  each;
- **HTTP**: `POST /kyc-match/v0.4/match` to `realname serve` from N keep-alive clients in a
  separate process, after a short warm-up.

Calls per number stay under the policy's daily quota (the bare runs count under keys of
their own, so they never spend the HTTP run's quota).
"""

from __future__ import annotations

import math
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from realname.bench.baresql import (
    AuditEntry,
    Run,
    append_audit_entry,
    fresh_statistics,
    psycopg_conninfo,
    run_concurrently,
    run_on_connections,
)
from realname.bench.load import HttpBenchResult, Progress, build_load_world, serve_and_drive
from realname.bench.register import CAP_SHARE, register_with_service
from realname.clock import Clock
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from realname.identity.documents import parse_document
from realname.policy.loader import load_policy
from realname.registry.repository import RegistryRepository
from realname.security.keys import keyring_from_settings
from realname.security.principals import Principal, Role
from realname.verification.repository import VerificationRepository
from realname.verification.service import VerificationService, register_relying_party

CUSTOMERS = 400
WARM_UP_READS = 6  # psycopg prepares a statement on its 5th execution on a connection

KYC_READ_SQL = (
    "SELECT l.id, i.doc_type, i.number_index, i.name_index, i.key_id, i.number_sealed,"
    " i.name_sealed, i.birth_date, i.verified_at"
    " FROM line l"
    " JOIN identity i ON i.id = l.owner_identity_id"
    " JOIN consent c ON c.line_id = l.id AND c.owner_identity_id = l.owner_identity_id"
    " WHERE l.msisdn = %s AND l.state IN ('active', 'restricted')"
    " AND c.relying_party_id = %s AND c.revoked_at IS NULL"
    " AND (c.expires_at IS NULL OR c.expires_at > %s)"
    " LIMIT 1"
)
QUOTA_SQL = (
    "INSERT INTO quota_counter (key, count, expires_at) VALUES (%s, 1, %s)"
    " ON CONFLICT (key) DO UPDATE SET count = quota_counter.count + 1 RETURNING count"
)


@dataclass(frozen=True)
class BareQuestion:
    msisdn: str
    number_index: bytes  # the claim's blind index, computed before the clock starts
    quota_key: str  # this run's own counter key for the number


class MismatchError(Exception):
    """The bare read found no consented line or a different document: the run is wrong."""


def _read(cursor: psycopg.Cursor[Any], party_id: int, question: BareQuestion, at: datetime) -> int:
    cursor.execute(KYC_READ_SQL, (question.msisdn, party_id, at))
    row = cursor.fetchone()
    if row is None or bytes(row[2]) != question.number_index:
        raise MismatchError("no consented line with that document")
    return int(row[0])


def run_bare_kyc(
    database_url: str,
    questions: list[BareQuestion],
    *,
    party_id: int,
    client_id: str,
    concurrency: int,
    time_limit: float,
    with_writes: bool,
    quota: int,
    mac_key_id: str,
    mac_key: bytes,
    clock: Clock,
) -> Run:
    """The bare read (autocommit, one statement), or with `with_writes` the read plus the
    quota counter upsert and the audit entry in one transaction (`mac_key`: the active audit
    key, so the sequencer chains these entries as it does the service's)."""
    actor = f"relying_party:{client_id}"

    def read(connection: psycopg.Connection[Any], question: BareQuestion) -> None:
        with connection.cursor() as cursor:
            _read(cursor, party_id, question, clock.now())

    def read_and_write(connection: psycopg.Connection[Any], question: BareQuestion) -> None:
        at = clock.now()
        with connection.cursor() as cursor:
            line_id = _read(cursor, party_id, question, at)
            midnight = datetime.combine(at.astimezone(UTC).date(), datetime.min.time(), UTC)
            cursor.execute(QUOTA_SQL, (question.quota_key, midnight + timedelta(days=1)))
            calls = cursor.fetchone()
            assert calls is not None
            if int(calls[0]) > quota:
                raise MismatchError("over the daily quota")
            masked = question.msisdn[:-8] + "****" + question.msisdn[-4:]
            append_audit_entry(
                cursor,
                AuditEntry(
                    occurred_at=at,
                    actor=actor,
                    action="verify.kyc-match",
                    object_type="line",
                    object_id=str(line_id),
                    detail={
                        "msisdn": masked,
                        "outcome": "idDocumentMatch=true,nameMatch=true",
                        "relying_party": str(party_id),
                        "fields": "idDocument,name",
                    },
                ),
                mac_key,
                mac_key_id,
            )
        connection.commit()

    def warm_up(connection: psycopg.Connection[Any]) -> None:
        with connection.cursor() as cursor:
            for _ in range(WARM_UP_READS):
                _read(cursor, party_id, questions[0], clock.now())

    if with_writes:
        key, label = "bare_sql_with_writes", "bare SQL read + quota + audit"
    else:
        key, label = "bare_sql", "bare SQL read (psycopg)"
    return run_on_connections(
        key,
        label,
        psycopg_conninfo(database_url),
        questions,
        read_and_write if with_writes else read,
        concurrency=concurrency,
        time_limit=time_limit,
        autocommit=not with_writes,
        warm_up=warm_up if questions else None,
    )


def run_verify_bench(
    database_url: str,
    *,
    requests: int,
    concurrency: int,
    workers: int,
    time_limit: float,
    service_row: bool = True,
    redis_url: str | None = None,
    work_dir: Path | None = None,
    progress: Progress | None = None,
) -> HttpBenchResult:
    """`redis_url`: the server keeps the per-number quotas and mismatch budgets there (as a
    deployment at scale does: KYC Match is then a read); None: in the database."""
    if work_dir is None:  # keys and the server log live only as long as the run
        with tempfile.TemporaryDirectory(prefix="realname-bench-") as tmp:
            return run_verify_bench(
                database_url=database_url,
                requests=requests,
                concurrency=concurrency,
                workers=workers,
                time_limit=time_limit,
                service_row=service_row,
                redis_url=redis_url,
                progress=progress,
                work_dir=Path(tmp),
            )
    say = progress or (lambda _text: None)
    bench_policy = bench_policy_file(Settings().policy, work_dir)
    settings = Settings(
        database_url=database_url, key_file=str(work_dir / "keys.json"), policy=str(bench_policy)
    )
    engine = create_engine_from_settings(settings)
    migrate.upgrade(engine)
    keyring = keyring_from_settings(settings)
    policy = load_policy(settings.policy)
    clock = settings.clock()
    quota = policy.verification.calls_per_number_per_day
    # Up to CUSTOMERS numbers asked about in turn; enough of them that the service and HTTP
    # runs (and the warm-up), which spend the real per-number quota, stay under it.
    customers = max(
        min(CUSTOMERS, requests), math.ceil((requests * 2 + concurrency * 2) / (quota - 1))
    )
    now = clock.now()
    with Session(engine) as session, session.begin():
        world = build_load_world(
            session,
            keyring,
            policy,
            counters=concurrency,
            kits_per_counter=math.ceil(customers / concurrency),
            people=math.ceil(customers / CAP_SHARE),
            at=now,
        )
        party, secret = register_relying_party(
            session,
            keyring,
            name="bench bank",
            purpose="account opening",
            apis=["kyc-match"],
            at=now,
            actor="system:bench",
        )
        client_id, party_id = party.client_id, party.id
    (registrations,) = world.registration_runs([customers], CAP_SHARE)
    say(f"registering {customers:,} customers")
    filled = register_with_service(
        settings, world, registrations, concurrency=concurrency, key="setup"
    )
    if filled.errors:
        raise RuntimeError(f"registering the customers failed: {filled.first_error}")
    with Session(engine) as session, session.begin():
        service = VerificationService(session, policy=policy, keyring=keyring)
        bank = VerificationRepository(session).relying_party(client_id)
        assert bank is not None
        lines = RegistryRepository(session)
        for _, body in registrations:
            line = lines.line(body["msisdn"])
            assert line is not None
            service.grant_consent(line, bank, [], now, None, "bench")
    fresh_statistics(engine)
    engine.dispose()
    questions = [
        {
            "phoneNumber": body["msisdn"],
            "idDocument": body["customer"]["document"]["number"],
            "name": body["customer"]["name"],
        }
        for _, body in registrations
    ]
    asked = [questions[n % len(questions)] for n in range(requests)]
    day = f"{now.astimezone(UTC):%Y%m%d}"
    bare_questions = [
        BareQuestion(
            q["phoneNumber"],
            keyring.blind_index(
                parse_document(q["idDocument"], today=now.date()).number, "identity.number"
            ),
            f"bench:calls:{client_id}:{q['phoneNumber'][-8:]}:{day}",
        )
        for q in asked
    ]
    options: dict[str, Any] = {
        "party_id": party_id, "client_id": client_id, "concurrency": concurrency,
        "time_limit": time_limit, "quota": quota, "mac_key_id": keyring.audit.mac_active,
        "mac_key": keyring.audit.mac_keys[keyring.audit.mac_active],
        "clock": clock,
    }  # fmt: skip
    say(f"{requests:,} bare reads ({concurrency} connections)")
    bare = run_bare_kyc(database_url, bare_questions, with_writes=False, **options)
    say(f"{requests:,} bare reads with the writes")
    others = [run_bare_kyc(database_url, bare_questions, with_writes=True, **options)]
    if service_row:
        say(f"{requests:,} KYC Match through our service, no HTTP")
        others.append(
            _with_service(
                settings, client_id, asked, concurrency=concurrency, time_limit=time_limit
            )
        )
    seconds, outcomes, server_cpu = serve_and_drive(
        database_url,
        work_dir,
        [(client_id, secret)],
        [(0, questions[n % len(questions)]) for n in range(concurrency * 2)],
        [(0, question) for question in asked],
        workers=workers,
        concurrency=concurrency,
        time_limit=time_limit,
        path="/kyc-match/v0.4/match",
        progress=progress,
        server_env={
            "REALNAME_POLICY": str(bench_policy),
            **(
                {
                    "REALNAME_REDIS_URL": redis_url,
                    "REALNAME_REDIS_KEY_PREFIX": f"realname-bench:{secrets.token_hex(6)}:",
                }
                if redis_url
                else {}
            ),
        },
    )
    return HttpBenchResult(
        path="KYC Match over HTTP",
        success_status=200,
        concurrency=concurrency,
        workers=workers,
        http_seconds=seconds,
        server_cpu_seconds=server_cpu,
        outcomes=outcomes,
        bare_sql=bare,
        others=tuple(others),
        extra={"counters": "redis" if redis_url else "database"},
    )


# The bench's one relying party asks far more often than a bank would: its per-client rate
# (the policy's 6,000 calls a minute, ~100/s) would refuse most of a run long enough to show
# thousands a second. The bench's own policy lifts that limit only; every other rule (consent,
# the per-number quota and mismatch budget, the unanswered budget) is the deployment's.
BENCH_CALLS_PER_CLIENT_PER_MINUTE = 100_000_000


def bench_policy_file(policy: str, work_dir: Path) -> Path:
    """`policy` (a preset name or a TOML file) with the per-client rate limit lifted, written
    to `work_dir` for the bench's server; checked by loading it."""
    source = (
        Path(policy)
        if policy.endswith(".toml") or os.sep in policy
        else Path(str(resources.files("realname.policy") / "presets" / f"{policy}.toml"))
    )
    lifted = f"calls_per_client_per_minute = {BENCH_CALLS_PER_CLIENT_PER_MINUTE}"
    text = source.read_text(encoding="utf-8")
    text, found = re.subn(r"(?m)^calls_per_client_per_minute\s*=.*$", lifted, text)
    if not found:  # the schema's default applies: set it in the [verification] table
        text, found = re.subn(r"(?m)^\[verification\]\s*$", f"[verification]\n{lifted}", text)
    if not found:
        text += f"\n[verification]\n{lifted}\n"
    target = work_dir / "bench-policy.toml"
    target.write_text(text, encoding="utf-8")
    limit = load_policy(target).verification.calls_per_client_per_minute
    if limit != BENCH_CALLS_PER_CLIENT_PER_MINUTE:
        raise RuntimeError(f"the bench policy's rate limit is {limit}")
    return target


def _with_service(
    settings: Settings,
    client_id: str,
    questions: list[dict[str, Any]],
    *,
    concurrency: int,
    time_limit: float,
) -> Run:
    engine = create_engine_from_settings(settings, pool_size=max(5, concurrency))
    keyring = keyring_from_settings(settings)
    policy = load_policy(settings.policy)
    principal = Principal(
        client_id=client_id, role=Role.RELYING_PARTY, scopes=frozenset({"kyc-match:match"})
    )
    clock = settings.clock()

    def ask(bound: Engine, question: dict[str, Any]) -> None:
        claims = {k: v for k, v in question.items() if k != "phoneNumber"}
        with Session(bound) as session, session.begin():
            answer = VerificationService(session, policy=policy, keyring=keyring).kyc_match(
                principal, clock.now(), question["phoneNumber"], claims
            )
        if answer["nameMatch"] != "true":
            raise AssertionError("the service did not match a registered customer")

    try:
        return run_concurrently(
            "service",
            "our service, no HTTP",
            questions,
            concurrency=concurrency,
            open_worker=lambda: engine,
            call=ask,
            close_worker=lambda _engine: None,
            time_limit=time_limit,
        )
    finally:
        engine.dispose()
