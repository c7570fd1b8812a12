"""`realname bench verify`: CAMARA KYC Match over HTTP against the same checks run bare.

A bank with consent on file asks about registered customers (document number and name, the
question a bank asks at account opening, answered "true"): the server runs as `realname
serve` on a scratch PostgreSQL database, the load comes from a separate process over
loopback. The baseline calls `VerificationService.kyc_match` in one process, one transaction
each: the same SQL (relying party, line, identity, consent, quota counter, audit) without
HTTP, JSON or the worker pool. Checks per number stay under the policy's daily quota.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from realname.bench.load import (
    HttpBenchResult,
    Progress,
    build_load_world,
    serve_and_drive,
    timed_each,
)
from realname.bench.register import CAP_SHARE, register_bare
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from realname.policy.loader import load_policy
from realname.registry.repository import RegistryRepository
from realname.security.keys import keyring_from_settings
from realname.security.principals import Principal, Role
from realname.verification.repository import VerificationRepository
from realname.verification.service import VerificationService, register_relying_party

CUSTOMERS = 400


def run_verify_bench(
    database_url: str,
    *,
    requests: int,
    concurrency: int,
    workers: int,
    time_limit: float,
    work_dir: Path | None = None,
    progress: Progress | None = None,
) -> HttpBenchResult:
    if work_dir is None:  # keys and the server log live only as long as the run
        with tempfile.TemporaryDirectory(prefix="realname-bench-") as tmp:
            return run_verify_bench(
                database_url=database_url,
                requests=requests,
                concurrency=concurrency,
                workers=workers,
                time_limit=time_limit,
                progress=progress,
                work_dir=Path(tmp),
            )
    work = work_dir
    settings = Settings(database_url=database_url, key_file=str(work / "keys.json"))
    engine = create_engine_from_settings(settings)
    migrate.upgrade(engine)
    keyring = keyring_from_settings(settings)
    policy = load_policy(settings.policy)
    quota = policy.verification.calls_per_number_per_day
    customers = max(CUSTOMERS, math.ceil((requests * 2 + concurrency) / (quota - 1)))
    now = settings.clock().now()
    with Session(engine) as session, session.begin():
        world = build_load_world(
            session,
            keyring,
            policy,
            counters=1,
            kits_per_counter=customers,
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
        client_id = party.client_id
    registrations = list(world.registrations(per_person=CAP_SHARE))
    register_bare(settings, world, registrations, progress, "registering customers")
    with Session(engine) as session, session.begin():
        service = VerificationService(session, policy=policy, keyring=keyring)
        bank = VerificationRepository(session).relying_party(client_id)
        assert bank is not None
        lines = RegistryRepository(session)
        for _, body in registrations:
            line = lines.line(body["msisdn"])
            assert line is not None
            service.grant_consent(line, bank, [], now, None, "bench")
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
    bare = _bare(settings, client_id, asked, progress)
    seconds, outcomes = serve_and_drive(
        database_url,
        work,
        [(client_id, secret)],
        [(0, questions[n % len(questions)]) for n in range(concurrency * 2)],
        [(0, question) for question in asked],
        workers=workers,
        concurrency=concurrency,
        time_limit=time_limit,
        path="/kyc-match/v0.4/match",
        progress=progress,
    )
    return HttpBenchResult(200, concurrency, workers, seconds, outcomes, bare)


def _bare(
    settings: Settings, client_id: str, questions: list[dict[str, Any]], progress: Progress | None
) -> list[float]:
    engine = create_engine_from_settings(settings)
    keyring = keyring_from_settings(settings)
    policy = load_policy(settings.policy)
    principal = Principal(
        client_id=client_id, role=Role.RELYING_PARTY, scopes=frozenset({"kyc-match:match"})
    )
    clock = settings.clock()

    def ask(question: dict[str, Any]) -> None:
        claims = {k: v for k, v in question.items() if k != "phoneNumber"}
        with Session(engine) as session, session.begin():
            answer = VerificationService(session, policy=policy, keyring=keyring).kyc_match(
                principal, clock.now(), question["phoneNumber"], claims
            )
        assert answer["nameMatch"] == "true", answer

    try:
        return timed_each(questions, ask, progress, "bare KYC Match")
    finally:
        engine.dispose()
