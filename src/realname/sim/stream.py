"""The world lived in: operations streamed through the real `RegistryService` and
`PossessionService`, one savepoint each, as clerks, subscribers, the risk desk and the
regulator would do them; some channels cheat, and their refusals are kept as evidence."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from realname.authority.simulated import SimulatedAuthority
from realname.channels.models import RegistrationRefusal
from realname.policy.schema import ChannelKind, EntryMethod, Policy
from realname.possession.errors import PossessionError
from realname.possession.service import PossessionService
from realname.registry import jobs
from realname.registry.commands import Actor, Context, Desk, Kit, OtpClaim, Person
from realname.registry.errors import RegistryError
from realname.registry.lifecycle import BarringReason
from realname.registry.service import RegistryService
from realname.security.vault import KeyRing
from realname.sim.documents import random_resident_id
from realname.sim.people import Citizen
from realname.sim.state import (
    Progress,
    SimEnterprise,
    WorldState,
    WorldSummary,
    kit_numbers,
    unit_of,
)

# (code, name, share of lines, number prefixes); MVNOs name their host.


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


def stream_operations(
    engine: Engine,
    policy: Policy,
    keyring: KeyRing,
    state: WorldState,
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
        with unit_of(engine).transaction() as session:
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

    expired = jobs.expire_reverifications(unit_of(engine), registry, now)
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
    state: WorldState,
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
        if enterprise.resale and not state.stocked.get(channel_id):
            # The resale sector keeps seed 002's counts: it sells only kits it has in stock.
            mnos = [e for e in state.enterprises if not e.resale]
            enterprise = rng.choices(mnos, [e.share for e in mnos])[0]
            busy = [3 if c[0] in state.bad_channels else 1 for c in enterprise.channels]
            channel_id, kind, clerk_id = rng.choices(enterprise.channels, busy)[0]
            ctx = Context(Actor("clerk", str(clerk_id)), at)
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
            service.register(
                ctx,
                desk=Desk(enterprise_id, channel_id, clerk_id),
                msisdn=msisdn,
                person=person,
                possession=proof,
            )
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
        iccid, imsi = kit_numbers(state.kit_serial)
        return "SIM replaced", lambda: service.replace_sim(
            ctx,
            desk=Desk(enterprise_id, channel_id, clerk_id),
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
                desk=Desk(enterprise_id, channel_id, clerk_id),
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
            desk=Desk(enterprise_id, hall, hall_clerk),
            msisdn=msisdn,
            owner=person,
        )
    return "suspended by enforcement", lambda: service.suspend(
        Context(Actor("regulator", "1"), at), enterprise_id, msisdn, BarringReason.ENFORCEMENT
    )


def _fresh_owner(rng: random.Random, state: WorldState, enterprise_id: int) -> int:
    for _ in range(50):
        citizen = rng.randrange(len(state.citizens))
        if state.held[(citizen, enterprise_id)] < 2:
            return citizen
    return rng.randrange(len(state.citizens))


def _registration(
    service: RegistryService,
    state: WorldState,
    rng: random.Random,
    enterprise: SimEnterprise,
    channel_id: int,
    kind: ChannelKind,
    clerk_id: int,
    ctx: Context,
) -> tuple[str, Callable[[], object]]:
    """A kit stocked at the channel (a resale outlet sells one it has), then a registration;
    bad channels cheat, at night."""
    if channel_id in state.bad_channels:
        night = ctx.at.replace(hour=18 + rng.randrange(3), minute=rng.randrange(60))
        ctx = Context(ctx.actor, night - timedelta(days=1))  # 02:00-05:00 local
    if enterprise.resale:  # a kit from the outlet's stock (_next_operation made sure)
        msisdn = state.stocked[channel_id].pop()
    else:
        msisdn = enterprise.next_msisdn()
        state.kit_serial += 1
        iccid, imsi = kit_numbers(state.kit_serial)
        service.stock.stock_kits(ctx, enterprise.id, channel_id, [Kit(msisdn, iccid, imsi)])
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
            owner = state.held.most_at(enterprise.id)
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
            desk=Desk(enterprise.id, channel_id, clerk_id),
            msisdn=msisdn,
            person=person,
        )
        state.active.append((msisdn, enterprise.id, owner))
        state.held[(owner, enterprise.id)] += 1
        if channel_id in state.bad_channels and rng.random() < 0.5:
            state.suspect.append((msisdn, enterprise.id))

    return label, register
