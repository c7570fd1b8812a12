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
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from realname.bench.load import (
    HttpBenchResult,
    ServerProcess,
    build_load_world,
    drive,
    fetch_token,
)
from realname.bench.register import CAP_SHARE
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from realname.policy.loader import load_policy
from realname.registry.commands import Actor, Context, Person
from realname.registry.schemas import RegistrationIn
from realname.registry.wiring import registry_service
from realname.security.keys import keyring_from_settings
from realname.security.principals import Principal, Role
from realname.verification.models import RelyingParty
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
) -> HttpBenchResult:
    work = work_dir or Path(tempfile.mkdtemp(prefix="realname-bench-"))
    key_file = work / "keys.json"
    settings = Settings(database_url=database_url, key_file=str(key_file))
    engine = create_engine_from_settings(settings)
    migrate.upgrade(engine)
    keyring = keyring_from_settings(settings)
    policy = load_policy(settings.policy)
    quota = policy.verification.calls_per_number_per_day
    customers = max(CUSTOMERS, math.ceil((requests * 2 + concurrency) / (quota - 1)))
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        world = build_load_world(
            session,
            keyring,
            policy,
            counters=1,
            kits_per_counter=customers,
            people=math.ceil(customers / CAP_SHARE),
        )
        party, secret = register_relying_party(
            session, name="bench bank", purpose="account opening", apis=["kyc-match"], at=now
        )
        client_id, party_id = party.client_id, party.id
    counter = world.counters[0]
    questions: list[dict[str, Any]] = []
    for counter_index, body in world.registrations(per_person=CAP_SHARE):
        del counter_index
        with Session(engine) as session, session.begin():
            service = registry_service(session, settings, keyring)
            line = service.register(
                Context.now(Actor("clerk", str(counter.clerk_id))),
                enterprise_id=world.enterprise_id,
                channel_id=counter.channel_id,
                clerk_id=counter.clerk_id,
                msisdn=body["msisdn"],
                person=_person(body),
            )
            VerificationService(session, policy=policy, keyring=keyring).grant_consent(
                line, _party(session, party_id), [], now, None, "bench"
            )
        customer = body["customer"]
        questions.append(
            {
                "phoneNumber": body["msisdn"],
                "idDocument": customer["document"]["number"],
                "name": customer["name"],
            }
        )

    bare = _bare(settings, client_id, [questions[n % len(questions)] for n in range(requests)])
    spawn = multiprocessing.get_context("spawn")
    jobs = [(0, questions[n % len(questions)]) for n in range(requests)]
    warm = [(0, questions[n % len(questions)]) for n in range(concurrency * 2)]
    with (
        ServerProcess(
            database_url, key_file, workers=workers, log_file=work / "server.log"
        ) as server,
        ProcessPoolExecutor(max_workers=1, mp_context=spawn) as load_process,
    ):
        token = fetch_token(server.base_url, client_id, secret)
        path = "/kyc-match/v0.4/match"
        load_process.submit(
            drive, server.base_url, [token], warm, concurrency=concurrency,
            time_limit=time_limit, path=path,
        ).result()  # fmt: skip
        started = time.perf_counter()
        outcomes = load_process.submit(
            drive, server.base_url, [token], jobs, concurrency=concurrency,
            time_limit=time_limit, path=path,
        ).result()  # fmt: skip
        http_seconds = time.perf_counter() - started
    engine.dispose()
    return HttpBenchResult(200, concurrency, workers, http_seconds, outcomes, bare)


def _party(session: Session, party_id: int) -> RelyingParty:
    party = session.get(RelyingParty, party_id)
    assert party is not None
    return party


def _person(body: dict[str, Any]) -> Person:
    return RegistrationIn.model_validate(body).customer.to_person()


def _bare(settings: Settings, client_id: str, questions: list[dict[str, Any]]) -> list[float]:
    engine = create_engine_from_settings(settings)
    keyring = keyring_from_settings(settings)
    policy = load_policy(settings.policy)
    principal = Principal(
        client_id=client_id,
        role=Role.RELYING_PARTY,
        scopes=frozenset({"kyc-match:match"}),
    )
    latencies = []
    try:
        for question in questions:
            started = time.perf_counter()
            claims = {k: v for k, v in question.items() if k != "phoneNumber"}
            with Session(engine) as session, session.begin():
                answer = VerificationService(session, policy=policy, keyring=keyring).kyc_match(
                    principal, datetime.now(UTC), question["phoneNumber"], claims
                )
            assert answer["nameMatch"] == "true", answer
            latencies.append(time.perf_counter() - started)
    finally:
        engine.dispose()
    return latencies
