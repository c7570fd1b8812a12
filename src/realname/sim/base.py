"""The world's base, written in bulk: enterprises with number blocks, channels and clerks
(through the registry service), then citizens known to the identity authority and lines with
their first event (executemany, ids reserved ahead), as an operator migrating onto RealName
already has them."""

from __future__ import annotations

import multiprocessing
import random
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table
from sqlalchemy.orm import Session

from realname.authority.models import AuthorityCitizen
from realname.authority.simulated import NAME_CONTEXT as AUTHORITY_NAME
from realname.authority.simulated import NUMBER_CONTEXT as AUTHORITY_NUMBER
from realname.authority.simulated import SimulatedAuthority
from realname.db.dialect import bulk_insert, indexes_built_after, next_ids, sync_id_sequence
from realname.db.uow import UnitOfWork
from realname.identity.documents import parse_document
from realname.identity.names import normalize_name
from realname.identity.regions import province_prefixes
from realname.numbering.blocks import NumberBlock
from realname.policy.schema import CapScope, ChannelKind, Policy
from realname.registry.commands import Actor, Context
from realname.registry.identities import ADDRESS_CONTEXT, NAME_CONTEXT, NUMBER_CONTEXT
from realname.registry.integrity import seal_event_row, seal_identity_row
from realname.registry.models import Holding, Identity, Line, LineEvent
from realname.registry.service import RegistryService
from realname.security.audit import append_audit
from realname.security.vault import KeyRing
from realname.sim.people import Citizen
from realname.sim.resale import DEMO_LINES, SECTOR_LINES, apportion, pilots
from realname.sim.state import Progress, SimEnterprise, WorldState, kit_numbers

# (code, name, share of the MNOs' lines, number prefixes). The resale sector (MVNOs) is
# seed 002's at 1 : 1,000 (resale.py), beside them.
MNOS = (
    ("CMCC", "中国移动", 0.55, ("+86138", "+86139", "+86135", "+86136", "+86150", "+86188")),
    ("CUCC", "中国联通", 0.22, ("+86130", "+86131", "+86132", "+86156", "+86186")),
    ("CTCC", "中国电信", 0.15, ("+86133", "+86153", "+86180", "+86189")),
)
CHANNELS_PER_KIND = {
    ChannelKind.OWN_HALL: 3,
    ChannelKind.PARTNER_HALL: 3,
    ChannelKind.SOCIAL: 4,
    ChannelKind.ONLINE: 1,
}
# Channel codes fit a table at 80 columns: CMCC-SO3, SNAIL-PH1 (clerks CMCC-SO3-K1).
KIND_ABBREVIATION = {
    ChannelKind.OWN_HALL: "OH",
    ChannelKind.PARTNER_HALL: "PH",
    ChannelKind.SOCIAL: "SO",
    ChannelKind.ONLINE: "ON",
}
HOME_REGIONS = ("110105", "310101", "440305", "510104", "330106", "420102")
LEGACY_SHARE = 0.15
STOCK_SHARE = 0.03
CHUNK = 20_000
# Core tables: bulk loads skip the ORM's unit of work (plain executemany).
IDENTITY: Table = Identity.__table__  # type: ignore[assignment]
LINE: Table = Line.__table__  # type: ignore[assignment]
EVENT: Table = LineEvent.__table__  # type: ignore[assignment]
HOLDING: Table = Holding.__table__  # type: ignore[assignment]

_KIND_ZH = {
    ChannelKind.OWN_HALL: "自营厅",
    ChannelKind.PARTNER_HALL: "合作厅",
    ChannelKind.SOCIAL: "社会渠道",
    ChannelKind.ONLINE: "网上营业厅",
}


def create_enterprises(
    session: Session,
    policy: Policy,
    keyring: KeyRing,
    lines: int,
    rng: random.Random,
    now: datetime,
) -> list[SimEnterprise]:
    service = RegistryService(
        session, policy=policy, keyring=keyring, authority=SimulatedAuthority(session, keyring)
    )
    ctx = Context(Actor("system", "sim"), now - timedelta(days=1200))
    made: list[SimEnterprise] = []
    codes: dict[str, int] = {}
    resale = pilots(rng, resale_lines(lines))
    mno_lines = apportion(lines - sum(p.lines for p in resale), [s for _, _, s, _ in MNOS])
    specs: list[tuple[str, str, int, str | None, tuple[str, ...]]] = [
        (c, n, count, None, p) for (c, n, _, p), count in zip(MNOS, mno_lines, strict=True)
    ]
    specs += [(p.code, p.name, p.lines, p.host, (p.prefix,)) for p in resale]
    for code, name, count, host, prefixes in specs:
        kind = "mno" if host is None else "mvno"
        enterprise = service.admin.create_enterprise(
            ctx,
            code=code,
            name=name,
            kind=kind,
            host_enterprise_id=codes.get(host or ""),
            licence_no=f"A2.B1-{rng.randrange(10**6):06d}",
        )
        # Licences as MIIT issued them: MNOs nationwide; resale operators on pilot licences
        # since 2013 (seed 002 is the end of 2015), serving a few provinces.
        enterprise.licence_status = "official" if host is None else "pilot"
        enterprise.licence_status_since = date(2009, 1, 7) if host is None else date(2013, 12, 26)
        enterprise.provinces = sorted(
            {r[:2] for r in HOME_REGIONS} if host else {p for p in province_prefixes() if p < "70"}
        )
        codes[code] = enterprise.id
        if host is not None and not count:
            # A pilot not issuing numbers yet: licensed, no numbers, no outlets.
            made.append(SimEnterprise(enterprise.id, code, 0, [], [], resale=True))
            continue
        # Room for the stream's new kits (the resale sector sells from its stock).
        needed = int(count * 1.2) + 1000
        blocks: list[NumberBlock] = []
        for prefix in prefixes:
            for second in range(10):
                if sum(b.size for b in blocks) >= needed:
                    break
                width = 1_000_000 if kind == "mno" else 100_000
                digits = prefix + str(second)
                block = NumberBlock.from_prefix(digits)
                if block.size > width:  # MNO prefixes are 6 digits: take 1M at a time
                    block = NumberBlock.from_prefix(digits + "0")
                service.admin.allocate_block(ctx, enterprise.id, block)
                blocks.append(block)
        channels = []
        per_kind = CHANNELS_PER_KIND if host is None else _resale_outlets(count)
        for channel_kind, outlets in per_kind.items():
            for i in range(outlets):
                region = rng.choice(HOME_REGIONS)
                channel_code = f"{code}-{KIND_ABBREVIATION[channel_kind]}{i + 1}"
                channel = service.admin.create_channel(
                    ctx,
                    enterprise.id,
                    code=channel_code,
                    name=f"{name}{_KIND_ZH[channel_kind]}{i + 1}",
                    kind=channel_kind,
                    region_code=region,
                )
                clerk = service.admin.create_clerk(
                    ctx, enterprise.id, channel.id, code=f"{channel_code}-K1", name="营业员"
                )
                channels.append((channel.id, channel_kind, clerk.id))
        share = count / max(lines, 1)
        made.append(
            SimEnterprise(
                enterprise.id, code, share, blocks, channels, lines=count, resale=host is not None
            )
        )
    return made


def resale_lines(lines: int) -> int:
    """The resale sector's part of a world of `lines`: seed 002's 20,590 in the default demo
    world (resale.DEMO_LINES), the same proportion in any other."""
    return round(lines * SECTOR_LINES / DEMO_LINES)


def _resale_outlets(lines: int) -> dict[ChannelKind, int]:
    """A resale operator's outlets: one of each kind, more halls and social outlets with size."""
    return {
        ChannelKind.OWN_HALL: 1,
        ChannelKind.PARTNER_HALL: 1 + lines // 1_500,
        ChannelKind.SOCIAL: 1 + lines // 1_000,
        ChannelKind.ONLINE: 1,
    }


@contextmanager
def bulk_loading(engine: Engine) -> Iterator[UnitOfWork]:
    """Units of work for the base load, on one connection of the demo's fresh database:
    the line and event tables' plain indexes dropped during the load and built after it
    (`indexes_built_after`), and on SQLite no fsync (`synchronous=OFF`) until the load is
    over: a crash mid-load loses a database the next run deletes anyway. The operations that
    follow run on the engine's own connections with the production settings."""
    with engine.connect() as connection:
        driver: Any = connection.connection.dbapi_connection
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # outside any transaction: SQLite ignores it inside one
            before = driver.execute("PRAGMA synchronous").fetchone()[0]
            driver.execute("PRAGMA synchronous=OFF")
        try:
            with indexes_built_after(connection, [LINE, EVENT]):
                yield UnitOfWork(lambda: Session(bind=connection))
        finally:
            if sqlite:
                driver.execute(f"PRAGMA synchronous={int(before)}")


def load_citizens(
    uow: UnitOfWork, keyring: KeyRing, state: WorldState, report: Progress, now: datetime
) -> None:
    """Every citizen into the authority's register; registered ones become identities later."""
    total = len(state.citizens)
    for start in range(0, total, CHUNK):
        chunk = state.citizens[start : start + CHUNK]
        rows = []
        for citizen in chunk:
            rows.append(
                {
                    "doc_type": str(citizen.document_type),
                    "number_index": keyring.blind_index(citizen.document_number, AUTHORITY_NUMBER),
                    "name_index": keyring.blind_index(normalize_name(citizen.name), AUTHORITY_NAME),
                    "revoked": False,
                }
            )
        with uow.transaction() as session:
            bulk_insert(session, AuthorityCitizen.__table__, rows)  # type: ignore[arg-type]
        report("citizens known to the identity authority", start + len(chunk), total)


def _identity_row(keyring: KeyRing, citizen: Citizen, at: datetime) -> dict[str, Any]:
    document = parse_document(
        citizen.document_number,
        citizen.document_type,
        nationality=citizen.nationality,
        today=at.date(),
    )
    number = keyring.seal(document.number, NUMBER_CONTEXT)
    name = normalize_name(citizen.name)
    return {  # sealed with its MAC once its id is known (the MAC covers the id)
        "doc_type": str(document.type),
        "number_index": keyring.blind_index(document.number, NUMBER_CONTEXT),
        "name_index": keyring.blind_index(name, NAME_CONTEXT),
        "key_id": number.key_id,
        "number_sealed": number.blob,
        "name_sealed": keyring.seal(name, NAME_CONTEXT).blob,
        "address_sealed": keyring.seal(citizen.address, ADDRESS_CONTEXT).blob,
        "birth_date": document.birth_date or citizen.birth_date,
        "sex": str(document.sex) if document.sex else None,
        "region_code": document.region_code,
        "nationality": document.nationality,
        "verified_at": at,
        "created_at": at,
    }


@dataclass
class _Chunk:
    """One chunk of the base, planned (rows built, ids assigned) and waiting to be written:
    its events' MACs and its identities are made by the sealer meanwhile."""

    lines: list[dict[str, Any]]
    events: list[dict[str, Any]]  # without their MACs until `sealed` gives them
    sealed: Callable[[], _Sealed]


# Identities are sealed (three AES-GCM seals, two blind indexes and a MAC each: most of the
# load's CPU) and the events MAC'd (a quarter of the loader's CPU when it did it) in worker
# processes while the loader plans the next chunk and writes this one.
# Small worlds seal inline: a pool costs more to start than it saves.
SEAL_WORKERS = 2
SEAL_IN_POOL_FROM = 5_000  # lines
_FORKED: dict[str, Any] = {}  # what a forked sealing worker inherits (the key ring)

_Seal = tuple[int, Citizen, datetime]  # (identity id, citizen, verified at)
# A base line's one event, as `_base_event` makes it: (line id, operation, state, owner,
# channel, at). The loader and the sealer make the same row from it.
_EventJob = tuple[int, str, str, int | None, int | None, datetime]
_Sealed = tuple[list[dict[str, Any]], list[bytes]]  # (identity rows, the events' MACs)
Sealer = Callable[[list[_Seal], list[_EventJob]], Callable[[], _Sealed]]


@contextmanager
def _sealer(keyring: KeyRing, lines: int) -> Iterator[Sealer]:
    """A function that takes identities to seal and events to MAC and returns a callable
    giving their rows and MACs, in the order given."""
    if lines < SEAL_IN_POOL_FROM or SEAL_WORKERS < 1:

        def inline(jobs: list[_Seal], events: list[_EventJob]) -> Callable[[], _Sealed]:
            done = _seal(jobs, events, keyring)
            return lambda: done

        yield inline
        return
    _FORKED["keyring"] = keyring
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=SEAL_WORKERS, mp_context=context) as pool:

        def pooled(jobs: list[_Seal], events: list[_EventJob]) -> Callable[[], _Sealed]:
            size = -(-len(jobs) // SEAL_WORKERS) or 1
            per = -(-len(events) // SEAL_WORKERS) or 1
            parts = [
                pool.submit(
                    _seal_in_worker,
                    jobs[n * size : (n + 1) * size],
                    events[n * per : (n + 1) * per],
                )
                for n in range(SEAL_WORKERS)
            ]

            def gathered() -> _Sealed:
                done = [part.result() for part in parts]
                return (
                    [row for rows, _macs in done for row in rows],
                    [mac for _rows, macs in done for mac in macs],
                )

            return gathered

        yield pooled


def _seal_in_worker(jobs: list[_Seal], events: list[_EventJob]) -> _Sealed:
    return _seal(jobs, events, _FORKED["keyring"])


def _seal(jobs: list[_Seal], events: list[_EventJob], keyring: KeyRing) -> _Sealed:
    keys = keyring.audit
    macs = [seal_event_row(keys, _base_event(job))["mac"] for job in events]
    return _seal_identities(jobs, keyring), macs


def _base_event(job: _EventJob) -> dict[str, Any]:
    line_id, operation, state, owner, channel_id, at = job
    return _event(line_id, 1, operation, None, state, owner, channel_id, _ACTOR, at)


def _seal_identities(jobs: list[_Seal], keyring: KeyRing) -> list[dict[str, Any]]:
    return [
        seal_identity_row(keyring.audit, _identity_row(keyring, citizen, at) | {"id": identity_id})
        for identity_id, citizen, at in jobs
    ]


def load_lines(
    uow: UnitOfWork,
    policy: Policy,
    keyring: KeyRing,
    state: WorldState,
    total: int,
    rng: random.Random,
    report: Progress,
    now: datetime,
) -> None:
    """Chunk by chunk: each is planned (the random draws, in the same order as ever, so a
    seed gives the same world; ids counted on from the table's top), its identities handed to
    the sealer, and then the previous chunk is written while they are sealed."""
    with uow.transaction() as session:
        ids = _Ids(next_ids(session, IDENTITY, 1).start, next_ids(session, LINE, 1).start)
    done = 0
    waiting: _Chunk | None = None
    with _sealer(keyring, total) as seal:
        while done < total:
            size = min(CHUNK, total - done)
            chunk = _plan(policy, state, size, rng, now, ids, seal)
            if waiting is not None:
                _write(uow, keyring, waiting, now)
                report("lines loaded (base)", done, total)
            waiting = chunk
            done += size
        if waiting is not None:
            _write(uow, keyring, waiting, now)
            report("lines loaded (base)", done, total)
    with uow.transaction() as session:
        rows = [
            {"identity_id": state.identity_of[c], "enterprise_id": e, "active_count": n}
            for (c, e), n in state.held.items()
        ]
        for start in range(0, len(rows), CHUNK):
            bulk_insert(session, HOLDING, rows[start : start + CHUNK])
        for table in (IDENTITY, LINE, EVENT):
            sync_id_sequence(session, table)


@dataclass
class _Ids:
    identity: int
    line: int


_ACTOR = "system:sim-base"


def _plan(
    policy: Policy,
    state: WorldState,
    size: int,
    rng: random.Random,
    now: datetime,
    ids: _Ids,
    seal: Sealer,
) -> _Chunk:
    cap = policy.cap(CapScope.ENTERPRISE) or 10**9
    national_cap = policy.cap(CapScope.NATIONAL) or 10**9
    national = state.national
    line_rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    jobs: list[_Seal] = []
    event_jobs: list[_EventJob] = []
    for _ in range(size):
        enterprise = state.base_order.pop()
        msisdn = enterprise.next_msisdn()
        channel_id, _kind, _clerk = rng.choice(enterprise.channels)
        at = now - timedelta(days=3 + rng.random() * 1100)
        roll = rng.random()
        line_id = ids.line
        ids.line += 1
        if roll < LEGACY_SHARE:
            row = _line_row(msisdn, enterprise.id, "legacy", None, channel_id, at, 1)
            # Prepaid balances: most a few yuan, some none at all.
            row.update(prepaid_balance_minor=int(rng.paretovariate(1.5) * 500) - 500)
            event: _EventJob = (line_id, "import_legacy", "legacy", None, None, at)
            state.legacy.append((msisdn, enterprise.id))
        else:
            state.kit_serial += 1
            iccid, imsi = kit_numbers(state.kit_serial)
            if roll < LEGACY_SHARE + STOCK_SHARE:
                row = _line_row(msisdn, enterprise.id, "stocked", None, channel_id, at, 1)
                row.update(iccid=iccid, imsi=imsi, stocked_at=at)
                event = (line_id, "stock", "stocked", None, channel_id, at)
                state.stocked.setdefault(channel_id, []).append(msisdn)
            else:
                citizen = _pick_owner(rng, state, enterprise.id, cap, national_cap, national)
                state.held[(citizen, enterprise.id)] += 1
                national[citizen] += 1
                owner = state.identity_of.get(citizen)
                if owner is None:
                    owner = state.identity_of[citizen] = ids.identity
                    ids.identity += 1
                    jobs.append((owner, state.citizens[citizen], at))
                row = _line_row(msisdn, enterprise.id, "active", owner, channel_id, at, 1)
                row.update(iccid=iccid, imsi=imsi, activated_at=at, owner_since=at)
                # The registered base arrives as an import of what the operator already had
                # (registered at `channel_id` on `at`), one event per line.
                event = (line_id, "import_registered", "active", owner, channel_id, at)
                state.active.append((msisdn, enterprise.id, citizen))
        row["id"] = line_id
        line_rows.append(row)
        events.append(_base_event(event))
        event_jobs.append(event)
    return _Chunk(line_rows, events, seal(jobs, event_jobs))


def _write(uow: UnitOfWork, keyring: KeyRing, chunk: _Chunk, now: datetime) -> None:
    identities, macs = chunk.sealed()
    key_id = keyring.audit.mac_active
    for event, mac in zip(chunk.events, macs, strict=True):  # as `seal_event_row` adds them
        event["mac_key_id"] = key_id
        event["mac"] = mac
    with uow.transaction() as session:
        if identities:
            bulk_insert(session, IDENTITY, identities)
        bulk_insert(session, LINE, chunk.lines)
        bulk_insert(session, EVENT, chunk.events)
        append_audit(
            session,
            keyring,
            actor=_ACTOR,
            action="world.load_base",
            object_type="world",
            object_id="base",
            at=now,
            detail={"lines": str(len(chunk.lines))},
        )


def _pick_owner(
    rng: random.Random,
    state: WorldState,
    enterprise_id: int,
    cap: int,
    national_cap: int,
    national: Counter[int],
) -> int:
    """Most people hold one or two lines; a few hold up to the cap; nobody more."""
    while True:
        citizen = int(len(state.citizens) * rng.random() ** 1.3)
        if state.held[(citizen, enterprise_id)] < cap and national[citizen] < national_cap:
            return citizen


def _line_row(
    msisdn: str,
    enterprise_id: int,
    state: str,
    owner: int | None,
    channel_id: int | None,
    at: datetime,
    events: int,
) -> dict[str, Any]:
    return {
        "msisdn": msisdn,
        "enterprise_id": enterprise_id,
        "state": state,
        "owner_identity_id": owner,
        "channel_id": channel_id,
        "state_changed_at": at,
        "event_count": events,
        "iccid": None,
        "imsi": None,
        "activated_at": at if state == "legacy" else None,
        "owner_since": None,
        "stocked_at": None,
        "prepaid_balance_minor": None,
        # 归属地 by number segment: the digits after the operator prefix pick the city.
        "home_region": HOME_REGIONS[int(msisdn[-3:]) % len(HOME_REGIONS)],
    }


def _event(
    line_id: int,
    seq: int,
    operation: str,
    before: str | None,
    after: str,
    owner: int | None,
    channel_id: int | None,
    actor: str,
    at: datetime,
) -> dict[str, Any]:
    return {
        "line_id": line_id,
        "seq": seq,
        "operation": operation,
        "from_state": before,
        "to_state": after,
        "owner_before_id": None,
        "owner_after_id": owner,
        "channel_id": channel_id,
        "actor": actor,
        "reason": None,
        "detail": {"source": "synthetic base"},
        "occurred_at": at,
        "correlation_id": None,
    }
