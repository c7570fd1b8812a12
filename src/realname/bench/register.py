"""`realname bench register`: register + activate through the HTTP API against the same
writes issued as bare SQL, in one run, on one scratch PostgreSQL database.

Three runs, each on its own kits and its own people of one load world, all at the same
concurrency:

- **bare SQL** (the baseline the ratio is against): N threads, each on its own psycopg
  connection, one transaction per registration doing what a registration must do — read the
  desk (channel, clerk, enterprise), lock the line, find-or-insert the identity (sealed
  columns and blind indexes prepared before the clock starts, as a service would have sealed
  them) and stamp its MAC, the holding upsert that counts and locks against the cap, the line
  update, the `line_event` insert, the audit entry (`baresql.append_audit_entry`: one
  INSERT of a pending entry, as the deferred audit appends on PostgreSQL) and the commit;
- **our service, no HTTP**: `RegistryService.register` from N threads, one transaction
  each (what the ORM path costs without the server);
- **HTTP**: `POST /v1/registrations` to `realname serve` (Uvicorn workers) from N keep-alive
  clients in a separate process over loopback, after a short warm-up.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.orm import Session

from realname.bench.baresql import (
    AuditEntry,
    Run,
    append_audit_entry,
    fresh_statistics,
    psycopg_conninfo,
    row_mac,
    run_concurrently,
    run_on_connections,
)
from realname.bench.load import (
    HttpBenchResult,
    LoadWorld,
    Progress,
    build_load_world,
    serve_and_drive,
)
from realname.clock import Clock
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from realname.db.uow import UnitOfWork
from realname.identity.documents import parse_document
from realname.policy.loader import load_policy, with_attested_chip_reads
from realname.policy.schema import CapScope
from realname.registry.commands import Actor, Context, Desk
from realname.registry.schemas import RegistrationIn
from realname.security.keys import keyring_from_settings
from realname.security.vault import KeyRing
from realname.wiring import Process

CAP_SHARE = 4  # registrations per person, under the China preset's cap of 5
Job = tuple[int, dict[str, Any]]


# --- the bare-SQL registration -----------------------------------------------------------------


@dataclass(frozen=True)
class SealedPerson:
    """An identity row's values as the service would write them: sealed and indexed before
    the clock starts (the cryptography is not the database's work)."""

    doc_type: str
    number_index: bytes
    name_index: bytes
    key_id: str
    number_sealed: bytes
    name_sealed: bytes
    birth_date: date | None
    sex: str | None
    region_code: str | None
    nationality: str | None


@dataclass(frozen=True)
class BareRegistration:
    enterprise_id: int
    channel_id: int
    clerk_id: int
    msisdn: str
    person: SealedPerson


def seal_person(keyring: KeyRing, number: str, name: str, today: date) -> SealedPerson:
    document = parse_document(number, today=today)
    # The registry's vault contexts (registry/identities.py); the rows only have to be real
    # in size and shape, the scratch database is dropped after the run.
    sealed_number = keyring.seal(document.number, "identity.number")
    return SealedPerson(
        doc_type=str(document.type),
        number_index=keyring.blind_index(document.number, "identity.number"),
        name_index=keyring.blind_index(name, "identity.name"),
        key_id=sealed_number.key_id,
        number_sealed=sealed_number.blob,
        name_sealed=keyring.seal(name, "identity.name").blob,
        birth_date=document.birth_date,
        sex=str(document.sex) if document.sex else None,
        region_code=document.region_code,
        nationality=document.nationality,
    )


def prepare_bare_registrations(
    world: LoadWorld, jobs: Sequence[Job], keyring: KeyRing, today: date
) -> list[BareRegistration]:
    """The jobs as bare-SQL inputs, each person sealed once."""
    people: dict[str, SealedPerson] = {}
    prepared = []
    for counter_index, body in jobs:
        counter = world.counters[counter_index]
        customer = body["customer"]
        number = customer["document"]["number"]
        if number not in people:
            people[number] = seal_person(keyring, number, customer["name"], today)
        prepared.append(
            BareRegistration(
                world.enterprise_id, counter.channel_id, counter.clerk_id, body["msisdn"],
                people[number],
            )
        )  # fmt: skip
    return prepared


class RefusedError(Exception):
    """The bare transaction found what the service would refuse (it rolls back)."""


DESK_SQL = (
    "SELECT c.status, c.kind, k.status, e.status, e.licence_status"
    " FROM channel c JOIN clerk k ON k.channel_id = c.id"
    " JOIN enterprise e ON e.id = c.enterprise_id"
    " WHERE c.id = %s AND k.id = %s AND c.enterprise_id = %s"
)
LINE_SQL = (
    "SELECT id, state, enterprise_id, channel_id, event_count"
    " FROM line WHERE msisdn = %s FOR UPDATE"
)
# Find or insert, locking the row either way; the MAC (which covers the id) follows.
IDENTITY_SQL = (
    "INSERT INTO identity (doc_type, number_index, name_index, key_id, number_sealed,"
    " name_sealed, birth_date, sex, region_code, nationality, verified_at, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (doc_type, number_index) DO UPDATE SET verified_at = EXCLUDED.verified_at"
    " RETURNING id, created_at"
)
IDENTITY_MAC_SQL = "UPDATE identity SET mac_key_id = %s, mac = %s WHERE id = %s"
# Counts the line and locks the row in one statement; the cap is checked on what it returns.
HOLDING_SQL = (
    "INSERT INTO holding (identity_id, enterprise_id, active_count) VALUES (%s, %s, 1)"
    " ON CONFLICT (identity_id, enterprise_id)"
    " DO UPDATE SET active_count = holding.active_count + 1 RETURNING active_count"
)
LINE_UPDATE_SQL = (
    "UPDATE line SET state = 'active', owner_identity_id = %s, channel_id = %s,"
    " barring_reason = NULL, restriction_reason = NULL, activated_at = %s, owner_since = %s,"
    " stocked_at = NULL, state_changed_at = %s, event_count = %s WHERE id = %s"
)
EVENT_SQL = (
    "INSERT INTO line_event (line_id, seq, operation, from_state, to_state, owner_before_id,"
    " owner_after_id, channel_id, actor, reason, detail, occurred_at, correlation_id,"
    " mac_key_id, mac)"
    " VALUES (%s, %s, 'register', 'stocked', 'active', NULL, %s, %s, %s, NULL, %s::json, %s,"
    " NULL, %s, %s)"
)


def bare_register(
    connection: psycopg.Connection[Any],
    job: BareRegistration,
    *,
    at: datetime,
    cap: int | None,
    mac_key: bytes,
    mac_key_id: str,
) -> None:
    """One registration + activation as bare SQL, one transaction (see the module's text)."""
    with connection.cursor() as cursor:
        cursor.execute(DESK_SQL, (job.channel_id, job.clerk_id, job.enterprise_id))
        desk = cursor.fetchone()
        if desk is None or desk[0] != "active" or desk[2] != "active" or desk[3] != "active":
            raise RefusedError("desk")
        cursor.execute(LINE_SQL, (job.msisdn,))
        line = cursor.fetchone()
        if line is None or line[1] != "stocked" or line[3] != job.channel_id:
            raise RefusedError("line")
        line_id, seq = int(line[0]), int(line[4] or 0) + 1
        p = job.person
        cursor.execute(
            IDENTITY_SQL,
            (
                p.doc_type, p.number_index, p.name_index, p.key_id, p.number_sealed,
                p.name_sealed, p.birth_date, p.sex, p.region_code, p.nationality, at, at,
            ),
        )  # fmt: skip
        identity = cursor.fetchone()
        assert identity is not None
        identity_id = int(identity[0])
        mac = row_mac(
            mac_key,
            "identity.v1",
            (
                identity_id, p.doc_type, p.number_index, p.name_index, p.key_id,
                p.number_sealed, p.name_sealed, None, p.birth_date, p.sex, p.region_code,
                p.nationality, at, identity[1],
            ),
        )  # fmt: skip
        cursor.execute(IDENTITY_MAC_SQL, (mac_key_id, mac, identity_id))
        cursor.execute(HOLDING_SQL, (identity_id, job.enterprise_id))
        held = cursor.fetchone()
        assert held is not None
        if cap is not None and int(held[0]) > cap:
            raise RefusedError("cap")
        cursor.execute(LINE_UPDATE_SQL, (identity_id, job.channel_id, at, at, at, seq, line_id))
        actor = f"clerk:{job.clerk_id}"
        detail = {
            "clerk_id": job.clerk_id,
            "document_type": p.doc_type,
            "entry_method": "chip_read",
        }
        event_mac = row_mac(
            mac_key,
            "line_event.v1",
            (
                line_id, seq, "register", "stocked", "active", None, identity_id,
                job.channel_id, actor, None, detail, at, None,
            ),
        )  # fmt: skip
        cursor.execute(
            EVENT_SQL,
            (
                line_id, seq, identity_id, job.channel_id, actor,
                json.dumps(detail, separators=(",", ":")),
                at, mac_key_id, event_mac,
            ),
        )  # fmt: skip
        masked = job.msisdn[:-8] + "****" + job.msisdn[-4:]
        append_audit_entry(
            cursor,
            AuditEntry(
                occurred_at=at,
                actor=actor,
                action="line.register",
                object_type="line",
                object_id=str(line_id),
                detail={"msisdn": masked, "from": "stocked", "to": "active"},
            ),
            mac_key,
            mac_key_id,
        )
    connection.commit()


def run_bare_sql_registrations(
    database_url: str,
    jobs: Sequence[BareRegistration],
    *,
    concurrency: int,
    time_limit: float,
    cap: int | None,
    mac_key_id: str,
    mac_key: bytes,
    clock: Clock,
) -> Run:
    """`mac_key`: the process's active audit key, so the sequencer chains the bare run's
    entries as it does the service's (a foreign MAC would be refused, at a cost)."""

    def register(connection: psycopg.Connection[Any], job: BareRegistration) -> None:
        bare_register(
            connection, job, at=clock.now(), cap=cap, mac_key=mac_key, mac_key_id=mac_key_id
        )

    return run_on_connections(
        "bare_sql",
        "bare SQL (psycopg)",
        psycopg_conninfo(database_url),
        jobs,
        register,
        concurrency=concurrency,
        time_limit=time_limit,
    )


def bare_sql_wrote(database_url: str, jobs: Sequence[BareRegistration]) -> dict[str, int]:
    """What the bare run left in the database for its kits: active owned lines, their
    registration events and audit entries, and the lines its people's holdings count."""
    msisdns = [job.msisdn for job in jobs]
    indexes = sorted({job.person.number_index for job in jobs})
    with psycopg.connect(psycopg_conninfo(database_url)) as connection:
        row = connection.execute(
            "WITH mine AS (SELECT id, state, owner_identity_id FROM line"
            "  WHERE msisdn = ANY(%s))"
            " SELECT"
            "  (SELECT count(*) FROM mine"
            "    WHERE state = 'active' AND owner_identity_id IS NOT NULL),"
            "  (SELECT count(*) FROM line_event e JOIN mine ON e.line_id = mine.id"
            "    WHERE e.operation = 'register'),"
            "  (SELECT count(*) FROM audit_log a JOIN mine"
            "    ON a.object_type = 'line' AND a.object_id = mine.id::text"
            "    WHERE a.action = 'line.register'),"
            "  (SELECT coalesce(sum(h.active_count), 0) FROM holding h"
            "    JOIN identity i ON i.id = h.identity_id WHERE i.number_index = ANY(%s))",
            (msisdns, indexes),
        ).fetchone()
    assert row is not None
    return {
        "bare_sql_lines_active": int(row[0]),
        "bare_sql_line_events": int(row[1]),
        "bare_sql_audit_entries": int(row[2]),
        "bare_sql_held_lines": int(row[3]),
    }


# --- our service, without HTTP -----------------------------------------------------------------


def register_with_service(
    settings: Settings,
    world: LoadWorld,
    jobs: Sequence[Job],
    *,
    concurrency: int = 1,
    time_limit: float = 600.0,
    key: str = "service",
    label: str | None = None,
) -> Run:
    """The registrations, parsed from the same bodies as over HTTP, through
    `RegistryService.register` from `concurrency` threads, one unit of work each, in a
    `Process` as the server's workers build it (on PostgreSQL its audit entries are appended
    deferred and chained when it closes, after the timed run): the "our service, no HTTP"
    row, and how other benchmarks fill their world."""
    process = Process(
        settings, engine=create_engine_from_settings(settings, pool_size=max(5, concurrency))
    )
    clock = settings.clock()

    def register(uow: UnitOfWork, job: Job) -> None:
        counter = world.counters[job[0]]
        request = RegistrationIn.model_validate(job[1])
        with uow.transaction() as session:
            process.registry(session).register(
                Context(Actor("clerk", str(counter.clerk_id)), clock.now()),
                desk=Desk(world.enterprise_id, counter.channel_id, counter.clerk_id),
                msisdn=request.msisdn,
                person=request.customer.to_person(),
            )

    try:
        return run_concurrently(
            key,
            label or "our service, no HTTP",
            jobs,
            concurrency=concurrency,
            open_worker=lambda: process.uow,
            call=register,
            close_worker=lambda _uow: None,
            time_limit=time_limit,
        )
    finally:
        process.close()  # chains what the run appended, then disposes the engine


# --- the bench ---------------------------------------------------------------------------------


def run_register_bench(
    database_url: str,
    *,
    registrations: int,
    concurrency: int,
    workers: int,
    time_limit: float,
    service_row: bool = True,
    work_dir: Path | None = None,
    progress: Progress | None = None,
) -> HttpBenchResult:
    """Build the world on `database_url` (an empty database), run the bare-SQL baseline,
    our service without HTTP (unless `service_row` is off), then the HTTP load against a
    server on it; each on fresh kits and fresh people, at the same concurrency."""
    if work_dir is None:  # keys and the server log live only as long as the run
        with tempfile.TemporaryDirectory(prefix="realname-bench-") as tmp:
            return run_register_bench(
                database_url=database_url,
                registrations=registrations,
                concurrency=concurrency,
                workers=workers,
                time_limit=time_limit,
                service_row=service_row,
                progress=progress,
                work_dir=Path(tmp),
            )
    say = progress or (lambda _text: None)
    settings = Settings(database_url=database_url, key_file=str(work_dir / "keys.json"))
    engine = create_engine_from_settings(settings)
    migrate.upgrade(engine)
    keyring = keyring_from_settings(settings)
    policy = load_policy(settings.policy)
    clock = settings.clock()
    sizes = [registrations, registrations if service_row else 0, 2 * concurrency, registrations]
    per_counter = math.ceil(sum(sizes) / concurrency)
    say(f"stocking {per_counter * concurrency:,} kits at {concurrency} counters")
    with Session(engine) as session, session.begin():
        world = build_load_world(
            session,
            keyring,
            policy,
            counters=concurrency,
            kits_per_counter=per_counter,
            people=sum(math.ceil(size / CAP_SHARE) for size in sizes),
            at=clock.now(),
        )
    fresh_statistics(engine)
    engine.dispose()
    bare_jobs, service_jobs, warmup, http_jobs = world.registration_runs(sizes, CAP_SHARE)
    say("sealing the bare run's people")
    bare_inputs = prepare_bare_registrations(world, bare_jobs, keyring, clock.now().date())
    say(f"{registrations:,} registrations as bare SQL ({concurrency} connections)")
    bare = run_bare_sql_registrations(
        database_url,
        bare_inputs,
        concurrency=concurrency,
        time_limit=time_limit,
        cap=policy.cap(CapScope.ENTERPRISE),
        mac_key_id=keyring.audit.mac_active,
        mac_key=keyring.audit.mac_keys[keyring.audit.mac_active],
        clock=clock,
    )
    wrote = bare_sql_wrote(database_url, bare_inputs)
    others: list[Run] = []
    if service_row:
        say(f"{registrations:,} registrations through our service, no HTTP")
        others.append(
            register_with_service(
                settings, world, service_jobs, concurrency=concurrency, time_limit=time_limit
            )
        )
    seconds, outcomes, server_cpu = serve_and_drive(
        database_url,
        work_dir,
        [(c.client_id, c.secret) for c in world.counters],
        warmup,
        http_jobs,
        workers=workers,
        concurrency=concurrency,
        time_limit=time_limit,
        path="/v1/registrations",
        progress=progress,
        # The bench's counters are an integrator whose own reader software attests each
        # chip read (its bodies claim chip_read, as the bare-SQL path records it): the
        # preset's rule that only the channel reader's read counts (China) is not the cost
        # measured here.
        server_env={"REALNAME_POLICY": str(with_attested_chip_reads(settings.policy, work_dir))},
    )
    return HttpBenchResult(
        path="register+activate over HTTP",
        success_status=201,
        concurrency=concurrency,
        workers=workers,
        http_seconds=seconds,
        server_cpu_seconds=server_cpu,
        outcomes=outcomes,
        bare_sql=bare,
        others=tuple(others),
        extra=wrote,
    )
