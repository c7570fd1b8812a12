"""`realname demo`: a reproducible synthetic world, built at scale and then lived in.

Two phases. The **base** is what an operator migrating onto RealName already has: three
MNOs and several MVNOs with number blocks, channels of every kind, citizens known to the
identity authority, registered lines with their history, unsold kits in stock and a legacy
prepaid base without owners. It is written in bulk (executemany, RETURNING ids), because a
million lines one service call at a time would take an hour. The **stream** then drives the
real `RegistryService`, one savepoint per operation, exactly as clerks would: registrations
(some from bad channels with fabricated or borrowed identities, or over the cap), back-fill of
legacy lines, SIM swaps, transfers, losses, locks, cancellations and re-verification.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table
from sqlalchemy.orm import Session

from realname.authority.models import AuthorityCitizen
from realname.authority.simulated import NAME_CONTEXT as AUTHORITY_NAME
from realname.authority.simulated import NUMBER_CONTEXT as AUTHORITY_NUMBER
from realname.authority.simulated import SimulatedAuthority
from realname.channels.models import RegistrationRefusal
from realname.db.dialect import bulk_insert, next_ids, sync_id_sequence
from realname.identity.documents import parse_document
from realname.identity.names import normalize_name
from realname.identity.regions import province_prefixes
from realname.numbering.blocks import NumberBlock
from realname.policy.schema import CapScope, ChannelKind, EntryMethod, Policy
from realname.possession.errors import PossessionError
from realname.possession.service import PossessionService
from realname.registry import jobs
from realname.registry.commands import Actor, Context, Kit, OtpClaim, Person
from realname.registry.errors import RegistryError
from realname.registry.integrity import seal_event_row, seal_identity_row
from realname.registry.lifecycle import BarringReason
from realname.registry.models import Holding, Identity, Line, LineEvent
from realname.registry.service import (
    ADDRESS_CONTEXT,
    NAME_CONTEXT,
    NUMBER_CONTEXT,
    RegistryService,
)
from realname.security.audit import append_audit
from realname.security.vault import KeyRing
from realname.sim.documents import random_resident_id
from realname.sim.people import Citizen, random_citizen

# (code, name, share of lines, number prefixes); MVNOs name their host.
MNOS = (
    ("CMCC", "中国移动", 0.55, ("+86138", "+86139", "+86135", "+86136", "+86150", "+86188")),
    ("CUCC", "中国联通", 0.22, ("+86130", "+86131", "+86132", "+86156", "+86186")),
    ("CTCC", "中国电信", 0.15, ("+86133", "+86153", "+86180", "+86189")),
)
MVNOS = (
    ("SNAIL", "蜗牛移动", 0.03, "CUCC", ("+861709",)),
    ("YUANTE", "远特通信", 0.03, "CTCC", ("+861700",)),
    ("XIAOMI", "小米移动", 0.02, "CUCC", ("+861704",)),
)
CHANNELS_PER_KIND = {
    ChannelKind.OWN_HALL: 3,
    ChannelKind.PARTNER_HALL: 3,
    ChannelKind.SOCIAL: 4,
    ChannelKind.ONLINE: 1,
}
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
HOME_REGIONS = ("110105", "310101", "440305", "510104", "330106", "420102")
LEGACY_SHARE = 0.15
STOCK_SHARE = 0.03
CHUNK = 20_000


@dataclass
class WorldSummary:
    lines: int = 0
    citizens: int = 0
    operations: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)


@dataclass
class _Enterprise:
    id: int
    code: str
    share: float
    blocks: list[NumberBlock]
    channels: list[tuple[int, ChannelKind, int]]  # (channel id, kind, clerk id)
    next_index: int = 0

    def next_msisdn(self) -> str:
        index = self.next_index
        self.next_index += 1
        for block in self.blocks:
            if index < block.size:
                return "+" + str(int(block.first) + index)
            index -= block.size
        raise RuntimeError("the world needs more number blocks")


@dataclass
class _State:
    enterprises: list[_Enterprise]
    citizens: list[Citizen]
    identity_of: dict[int, int]  # citizen index -> identity id
    held: Counter[tuple[int, int]]  # (citizen, enterprise id) -> lines
    active: list[tuple[str, int, int]]  # (msisdn, enterprise id, citizen index)
    legacy: list[tuple[str, int]]  # (msisdn, enterprise id)
    stocked: dict[int, list[str]]  # channel id -> msisdns in stock
    bad_channels: set[int]
    kit_serial: int = 0
    # The counter a registration is being attempted at, so a refusal can be put on record.
    attempt: tuple[int, int] | None = None
    # Lines sold by cheating channels: the ones their "owners" later disown.
    suspect: list[tuple[str, int]] = field(default_factory=list)


Progress = Callable[[str, int, int], None]


def build_world(
    engine: Engine,
    *,
    policy: Policy,
    keyring: KeyRing,
    lines: int,
    seed: int,
    operations: int,
    now: datetime,
    progress: Progress | None = None,
) -> WorldSummary:
    """The world as it stands at `now`: its history is dated backwards from there."""
    rng = random.Random(seed)
    report = progress or (lambda _phase, _done, _total: None)
    now = now.astimezone(UTC).replace(microsecond=0)
    summary = WorldSummary()
    with Session(engine) as session, session.begin():
        enterprises = _create_enterprises(session, policy, keyring, lines, rng, now)
    citizen_count = max(50, lines * 2 // 5)
    citizens = [random_citizen(rng, now.date()) for _ in range(citizen_count)]
    state = _State(enterprises, citizens, {}, Counter(), [], [], {}, set())
    _load_citizens(engine, keyring, state, report, now)
    _load_lines(engine, policy, keyring, state, lines, rng, report, now)
    summary.lines, summary.citizens = lines, citizen_count
    _stream(engine, policy, keyring, state, operations, rng, report, now, summary)
    return summary


# --- base ------------------------------------------------------------------------------------


def _create_enterprises(
    session: Session,
    policy: Policy,
    keyring: KeyRing,
    lines: int,
    rng: random.Random,
    now: datetime,
) -> list[_Enterprise]:
    service = RegistryService(
        session, policy=policy, keyring=keyring, authority=SimulatedAuthority(session, keyring)
    )
    ctx = Context(Actor("system", "sim"), now - timedelta(days=1200))
    made: list[_Enterprise] = []
    codes: dict[str, int] = {}
    specs = [(c, n, s, None, p) for c, n, s, p in MNOS] + list(MVNOS)
    for code, name, share, host, prefixes in specs:
        kind = "mno" if host is None else "mvno"
        enterprise = service.create_enterprise(
            ctx,
            code=code,
            name=name,
            kind=kind,
            host_enterprise_id=codes.get(host or ""),
            licence_no=f"A2.B1-{rng.randrange(10**6):06d}",
        )
        # Licences as MIIT issued them: MNOs nationwide; resale operators on pilot licences
        # since 2013, the first official ones in 2018 (seed 002), serving a few provinces.
        pilot = code == "XIAOMI"
        enterprise.licence_status = "pilot" if pilot else "official"
        enterprise.licence_status_since = (
            date(2009, 1, 7) if host is None else date(2013, 12, 26) if pilot else date(2018, 7, 1)
        )
        enterprise.provinces = sorted(
            {r[:2] for r in HOME_REGIONS} if host else {p for p in province_prefixes() if p < "70"}
        )
        codes[code] = enterprise.id
        needed = int(lines * share * 1.2) + 1000  # room for the stream's new kits
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
                service.allocate_block(ctx, enterprise.id, block)
                blocks.append(block)
        channels = []
        for channel_kind, count in CHANNELS_PER_KIND.items():
            for i in range(count):
                region = rng.choice(HOME_REGIONS)
                channel = service.create_channel(
                    ctx,
                    enterprise.id,
                    code=f"{code}-{channel_kind}-{i + 1}",
                    name=f"{name}{_KIND_ZH[channel_kind]}{i + 1}",
                    kind=channel_kind,
                    region_code=region,
                )
                clerk = service.create_clerk(
                    ctx,
                    enterprise.id,
                    channel.id,
                    code=f"{code}-{channel_kind}-{i + 1}-K1",
                    name="营业员",
                )
                channels.append((channel.id, channel_kind, clerk.id))
        made.append(_Enterprise(enterprise.id, code, share, blocks, channels))
    return made


def _load_citizens(
    engine: Engine, keyring: KeyRing, state: _State, report: Progress, now: datetime
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
        with Session(engine) as session, session.begin():
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


def _load_lines(
    engine: Engine,
    policy: Policy,
    keyring: KeyRing,
    state: _State,
    total: int,
    rng: random.Random,
    report: Progress,
    now: datetime,
) -> None:
    cap = policy.cap(CapScope.ENTERPRISE) or 10**9
    national_cap = policy.cap(CapScope.NATIONAL) or 10**9
    national: Counter[int] = Counter()
    weights = [e.share for e in state.enterprises]
    actor = "system:sim-base"
    done = 0
    while done < total:
        size = min(CHUNK, total - done)
        line_rows: list[dict[str, Any]] = []
        plans: list[tuple[str, int | None, int, datetime, int]] = []  # kind, citizen, channel, at
        new_identities: dict[int, dict[str, Any]] = {}
        for _ in range(size):
            enterprise = rng.choices(state.enterprises, weights)[0]
            msisdn = enterprise.next_msisdn()
            channel_id, _kind, _clerk = rng.choice(enterprise.channels)
            at = now - timedelta(days=3 + rng.random() * 1100)
            roll = rng.random()
            if roll < LEGACY_SHARE:
                row = _line_row(msisdn, enterprise.id, "legacy", None, channel_id, at, 1)
                # Prepaid balances: most a few yuan, some none at all.
                row.update(prepaid_balance_minor=int(rng.paretovariate(1.5) * 500) - 500)
                line_rows.append(row)
                plans.append(("legacy", None, 0, at, enterprise.id))
                state.legacy.append((msisdn, enterprise.id))
                continue
            state.kit_serial += 1
            iccid, imsi = _kit(state.kit_serial)
            if roll < LEGACY_SHARE + STOCK_SHARE:
                row = _line_row(msisdn, enterprise.id, "stocked", None, channel_id, at, 1)
                row.update(iccid=iccid, imsi=imsi, stocked_at=at)
                line_rows.append(row)
                plans.append(("stocked", None, channel_id, at, enterprise.id))
                state.stocked.setdefault(channel_id, []).append(msisdn)
                continue
            citizen = _pick_owner(rng, state, enterprise.id, cap, national_cap, national)
            state.held[(citizen, enterprise.id)] += 1
            national[citizen] += 1
            if citizen not in state.identity_of and citizen not in new_identities:
                new_identities[citizen] = _identity_row(keyring, state.citizens[citizen], at)
            row = _line_row(msisdn, enterprise.id, "active", citizen, channel_id, at, 1)
            row.update(iccid=iccid, imsi=imsi, activated_at=at, owner_since=at)
            line_rows.append(row)
            plans.append(("active", citizen, channel_id, at, enterprise.id))
            state.active.append((msisdn, enterprise.id, citizen))
        with Session(engine) as session, session.begin():
            if new_identities:
                order = list(new_identities)
                ids = next_ids(session, IDENTITY, len(order))
                rows = [
                    seal_identity_row(keyring.audit, new_identities[c] | {"id": i})
                    for c, i in zip(order, ids, strict=True)
                ]
                bulk_insert(session, IDENTITY, rows)
                state.identity_of.update(zip(order, ids, strict=True))
            line_ids = next_ids(session, LINE, len(line_rows))
            for row, line_id in zip(line_rows, line_ids, strict=True):
                citizen_index = row.pop("citizen")
                row["id"] = line_id
                row["owner_identity_id"] = (
                    state.identity_of[citizen_index] if citizen_index is not None else None
                )
            bulk_insert(session, LINE, line_rows)
            events = []
            for line_id, (kind, citizen_index, channel_id, at, _e) in zip(
                line_ids, plans, strict=True
            ):
                if kind == "legacy":
                    events.append(
                        _event(line_id, 1, "import_legacy", None, "legacy", None, None, actor, at)
                    )
                    continue
                if kind == "active":
                    # The registered base arrives as an import of what the operator already
                    # had (registered at `channel_id` on `at`), one event per line.
                    owner = state.identity_of[citizen_index]  # type: ignore[index]
                    events.append(
                        _event(
                            line_id,
                            1,
                            "import_registered",
                            None,
                            "active",
                            owner,
                            channel_id,
                            actor,
                            at,
                        )
                    )
                    continue
                events.append(
                    _event(line_id, 1, "stock", None, "stocked", None, channel_id, actor, at)
                )
            keys = keyring.audit
            bulk_insert(session, EVENT, [seal_event_row(keys, event) for event in events])
            append_audit(
                session,
                keyring,
                actor=actor,
                action="world.load_base",
                object_type="world",
                object_id="base",
                at=now,
                detail={"lines": str(len(line_rows))},
            )
        done += size
        report("lines loaded (base)", done, total)
    with Session(engine) as session, session.begin():
        rows = [
            {"identity_id": state.identity_of[c], "enterprise_id": e, "active_count": n}
            for (c, e), n in state.held.items()
        ]
        for start in range(0, len(rows), CHUNK):
            bulk_insert(session, HOLDING, rows[start : start + CHUNK])
        for table in (IDENTITY, LINE, EVENT):
            sync_id_sequence(session, table)


def _pick_owner(
    rng: random.Random,
    state: _State,
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


def _kit(serial: int) -> tuple[str, str]:
    return f"898600{serial:014d}", f"46000{serial:010d}"


def _line_row(
    msisdn: str,
    enterprise_id: int,
    state: str,
    citizen: int | None,
    channel_id: int | None,
    at: datetime,
    events: int,
) -> dict[str, Any]:
    return {
        "msisdn": msisdn,
        "enterprise_id": enterprise_id,
        "state": state,
        "citizen": citizen,
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


# --- stream ----------------------------------------------------------------------------------


def _person(citizen: Citizen, rng: random.Random, **changes: Any) -> Person:
    person = Person(
        document_number=citizen.document_number,
        name=citizen.name,
        document_type=citizen.document_type,
        nationality=citizen.nationality,
        birth_date=citizen.birth_date,
        address=citizen.address,
        face_score=round(0.82 + rng.random() * 0.17, 3),
        entry_method=EntryMethod.CHIP_READ,
    )
    return replace(person, **changes)


def _stream(
    engine: Engine,
    policy: Policy,
    keyring: KeyRing,
    state: _State,
    operations: int,
    rng: random.Random,
    report: Progress,
    now: datetime,
    summary: WorldSummary,
) -> None:
    # One social channel of each of the three largest enterprises sells on borrowed and bulk
    # identities, at night, and busily (the pattern channel risk must find).
    largest = sorted(state.enterprises, key=lambda e: -e.share)[:3]
    state.bad_channels = {
        rng.choice([c for c in e.channels if c[1] is ChannelKind.SOCIAL])[0]
        for e in largest
        if any(c[1] is ChannelKind.SOCIAL for c in e.channels)
    }
    first_day = (now - timedelta(days=STREAM_DAYS + 1)).replace(hour=0, minute=0, second=0)
    pending_reverification: list[tuple[str, int, int]] = []
    done = 0
    while done < operations:
        batch = min(500, operations - done)
        with Session(engine) as session, session.begin():
            service = RegistryService(
                session,
                policy=policy,
                keyring=keyring,
                authority=SimulatedAuthority(session, keyring),
            )
            possession = PossessionService(
                session, policy=policy, keyring=keyring, registry=service
            )
            for i in range(batch):
                at = _business_hours(first_day, done + i, operations)
                state.attempt = None
                name, call = _next_operation(
                    service, possession, state, rng, at, pending_reverification
                )
                try:
                    with session.begin_nested():
                        call()
                    summary.outcomes[name] += 1
                except (RegistryError, PossessionError) as error:
                    summary.refusals[str(error.code)] += 1
                    summary.outcomes[f"{name} (refused)"] += 1
                    if state.attempt is not None:  # channel-risk evidence, as the API keeps it
                        channel, clerk = state.attempt
                        session.add(
                            RegistrationRefusal(
                                channel_id=channel,
                                clerk_id=clerk,
                                code=str(error.code),
                                occurred_at=at,
                            )
                        )
                    if isinstance(error, PossessionError) and error.failure is not None:
                        possession.record_failure(error.failure, at)
        done += batch
        summary.operations = done
        report("operations through the registry", done, operations)

    def registry(session: Session) -> RegistryService:
        return RegistryService(
            session, policy=policy, keyring=keyring, authority=SimulatedAuthority(session, keyring)
        )

    expired = jobs.expire_reverifications(lambda: Session(engine), registry, now)
    summary.outcomes["re-verification overdue → suspended"] += expired


STREAM_DAYS = 7


def _business_hours(first_day: datetime, index: int, total: int) -> datetime:
    """The index-th of `total` operations, spread over STREAM_DAYS days of opening hours
    (09:00 to 21:00 in China, 01:00 to 13:00 UTC): honest channels do not sell at night."""
    position = index / max(total, 1) * STREAM_DAYS
    day = int(position)
    return first_day + timedelta(days=day, hours=1 + 12 * (position - day))


def _next_operation(
    service: RegistryService,
    possession: PossessionService,
    state: _State,
    rng: random.Random,
    at: datetime,
    pending: list[tuple[str, int, int]],
) -> tuple[str, Callable[[], object]]:
    roll = rng.random()
    enterprise = rng.choices(state.enterprises, [e.share for e in state.enterprises])[0]
    busy = [3 if c[0] in state.bad_channels else 1 for c in enterprise.channels]
    channel_id, kind, clerk_id = rng.choices(enterprise.channels, busy)[0]
    ctx = Context(Actor("clerk", str(clerk_id)), at)
    if roll < 0.45 or not state.active:
        return _registration(service, state, rng, enterprise, channel_id, kind, clerk_id, ctx)
    if roll < 0.47 and state.suspect:
        msisdn, enterprise_id = state.suspect.pop(rng.randrange(len(state.suspect)))
        return "line disowned (not mine)", lambda: service.complain(
            Context(Actor("enterprise_admin", "care"), at), enterprise_id, msisdn, "not_mine"
        )
    if roll < 0.55 and state.legacy:
        msisdn, enterprise_id = state.legacy.pop(rng.randrange(len(state.legacy)))
        owner = _fresh_owner(rng, state, enterprise_id)
        target = next(e for e in state.enterprises if e.id == enterprise_id)
        channel_id, kind, clerk_id = rng.choice(
            [c for c in target.channels if c[1] is not ChannelKind.SOCIAL]
        )
        # A cheating channel of the enterprise now and then attaches an ID to a stranger's
        # legacy number: without a code, or with a guessed one (both refused, both counted).
        cheats = [c for c in target.channels if c[0] in state.bad_channels]
        cheat = bool(cheats) and rng.random() < 0.3
        if cheat:
            channel_id, kind, clerk_id = cheats[0]
        ctx = Context(Actor("clerk", str(clerk_id)), at)
        person = _person(state.citizens[owner], rng)
        guess = rng.random() < 0.5
        line = service.line_by_number(enterprise_id, msisdn)
        where = {"enterprise_id": enterprise_id, "channel_id": channel_id, "clerk_id": clerk_id}
        claim = None
        if not cheat or guess:
            # The clerk asks for a code (its own request, committed); the holder reads it off
            # the phone, a cheat guesses.
            try:
                issued = possession.issue_backfill_code(ctx, line_id=line.id, **where)
            except PossessionError:
                issued = None
            if issued is not None:
                code = issued.code if not cheat else f"{(int(issued.code) + 1) % 10**6:06d}"
                claim = OtpClaim(issued.challenge_id, code)

        def backfill() -> None:
            state.attempt = (channel_id, clerk_id)
            proof = possession.prove_for_backfill(
                ctx,
                enterprise_id=enterprise_id,
                channel_id=channel_id,
                clerk_id=clerk_id,
                msisdn=msisdn,
                claim=claim,
            )
            service.register(ctx, msisdn=msisdn, person=person, possession=proof, **where)
            state.active.append((msisdn, enterprise_id, owner))
            state.held[(owner, enterprise_id)] += 1

        if cheat:
            state.legacy.append((msisdn, enterprise_id))  # still there for its real holder
            return "legacy back-fill without possession tried", backfill
        return "legacy line back-filled", backfill
    index = rng.randrange(len(state.active))
    msisdn, enterprise_id, owner = state.active[index]
    target = next(e for e in state.enterprises if e.id == enterprise_id)
    channel_id, kind, clerk_id = rng.choice(
        [c for c in target.channels if c[1] in (ChannelKind.OWN_HALL, ChannelKind.PARTNER_HALL)]
    )
    ctx = Context(Actor("clerk", str(clerk_id)), at)
    person = _person(state.citizens[owner], rng)
    if roll < 0.65:
        state.kit_serial += 1
        iccid, imsi = _kit(state.kit_serial)
        return "SIM replaced", lambda: service.replace_sim(
            ctx,
            enterprise_id=enterprise_id,
            channel_id=channel_id,
            clerk_id=clerk_id,
            msisdn=msisdn,
            owner=person,
            iccid=iccid,
            imsi=imsi,
        )
    if roll < 0.72:
        receiver = _fresh_owner(rng, state, enterprise_id)

        def transfer() -> None:
            service.transfer(
                ctx,
                enterprise_id=enterprise_id,
                channel_id=channel_id,
                clerk_id=clerk_id,
                msisdn=msisdn,
                owner=person,
                receiver=_person(state.citizens[receiver], rng),
            )
            state.active[index] = (msisdn, enterprise_id, receiver)
            state.held[(owner, enterprise_id)] -= 1
            state.held[(receiver, enterprise_id)] += 1

        return "ownership transferred", transfer
    if roll < 0.80:
        return "reported lost", lambda: service.report_lost(ctx, enterprise_id, msisdn)
    if roll < 0.84:
        return "remote lock by owner", lambda: service.lock(
            Context(Actor("subscriber"), at), enterprise_id, msisdn, person
        )
    if roll < 0.92:

        def cancel() -> None:
            service.cancel(ctx, enterprise_id, msisdn, rng.choice(("customer_request", "not_mine")))
            state.active.pop(index)
            state.held[(owner, enterprise_id)] -= 1

        return "cancelled", cancel
    if roll < 0.96:

        def request() -> None:
            service.request_reverification(
                Context(Actor("system", "risk"), at),
                enterprise_id,
                msisdn,
                rng.choice(("fraud_complaint", "many_lines", "dormant_then_active")),
            )
            pending.append((msisdn, enterprise_id, owner))

        return "re-verification requested", request
    if pending:
        msisdn, enterprise_id, owner = pending.pop(rng.randrange(len(pending)))
        person = _person(state.citizens[owner], rng)
        home = next(e for e in state.enterprises if e.id == enterprise_id)
        hall, _kind, hall_clerk = next(c for c in home.channels if c[1] is ChannelKind.OWN_HALL)
        return "re-verification answered", lambda: service.answer_reverification(
            Context(Actor("clerk", str(hall_clerk)), at),
            enterprise_id=enterprise_id,
            channel_id=hall,
            clerk_id=hall_clerk,
            msisdn=msisdn,
            owner=person,
        )
    return "suspended by enforcement", lambda: service.suspend(
        Context(Actor("regulator", "1"), at), enterprise_id, msisdn, BarringReason.ENFORCEMENT
    )


def _fresh_owner(rng: random.Random, state: _State, enterprise_id: int) -> int:
    for _ in range(50):
        citizen = rng.randrange(len(state.citizens))
        if state.held[(citizen, enterprise_id)] < 2:
            return citizen
    return rng.randrange(len(state.citizens))


def _registration(
    service: RegistryService,
    state: _State,
    rng: random.Random,
    enterprise: _Enterprise,
    channel_id: int,
    kind: ChannelKind,
    clerk_id: int,
    ctx: Context,
) -> tuple[str, Callable[[], object]]:
    """A kit stocked at the channel, then a registration; bad channels cheat, at night."""
    if channel_id in state.bad_channels:
        night = ctx.at.replace(hour=18 + rng.randrange(3), minute=rng.randrange(60))
        ctx = Context(ctx.actor, night - timedelta(days=1))  # 02:00-05:00 local
    msisdn = enterprise.next_msisdn()
    state.kit_serial += 1
    iccid, imsi = _kit(state.kit_serial)
    service.stock_kits(ctx, enterprise.id, channel_id, [Kit(msisdn, iccid, imsi)])
    owner = _fresh_owner(rng, state, enterprise.id)
    person = _person(state.citizens[owner], rng)
    label = "registered"
    roll = rng.random()
    if channel_id in state.bad_channels and roll < 0.7:
        cheat = rng.randrange(4)
        if cheat == 0:
            fabricated = random_resident_id(rng, today=ctx.at.date())
            person = replace(person, document_number=fabricated, document_type=None)
            label = "fabricated identity tried"
        elif cheat == 1:
            person = replace(person, name=state.citizens[rng.randrange(len(state.citizens))].name)
            label = "borrowed identity tried"
        elif cheat == 2:
            owner = max(state.held, key=lambda k: state.held[k] if k[1] == enterprise.id else -1)[0]
            person = _person(state.citizens[owner], rng)
            label = "bulk registration on one identity tried"
        else:
            person = replace(person, entry_method=EntryMethod.MANUAL)
            label = "hand-typed ID tried"
    elif roll < 0.02:
        person = replace(person, face_score=round(rng.random() * 0.6, 3))
        label = "face mismatch"

    def register() -> None:
        state.attempt = (channel_id, clerk_id)
        service.register(
            ctx,
            enterprise_id=enterprise.id,
            channel_id=channel_id,
            clerk_id=clerk_id,
            msisdn=msisdn,
            person=person,
        )
        state.active.append((msisdn, enterprise.id, owner))
        state.held[(owner, enterprise.id)] += 1
        if channel_id in state.bad_channels and rng.random() < 0.5:
            state.suspect.append((msisdn, enterprise.id))

    return label, register
