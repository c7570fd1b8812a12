"""The cap holds when many clerks register the same identity at the same moment.

Real threads, each with its own connection and transaction, on SQLite and PostgreSQL. The
holding row is locked (SELECT … FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE
serialises writers), so exactly `cap` registrations succeed and the rest are refused.
"""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from realname.authority.simulated import SimulatedAuthority
from realname.policy.loader import load_policy
from realname.policy.schema import ChannelKind
from realname.registry.commands import Desk
from realname.registry.errors import RegistryError
from realname.registry.models import Holding, Line
from realname.registry.service import RegistryService
from realname.security.vault import KeyRing
from tests.registry.conftest import World, build_world

PARALLEL = 16


def test_exactly_the_cap_gets_through(fresh_engine: Engine, keyring: KeyRing) -> None:
    policy = load_policy("china")
    with Session(fresh_engine) as session, session.begin():
        world: World = build_world(session, keyring, policy)
        numbers = world.stock(PARALLEL)
        person = world.people[0]
        enterprise_id = world.enterprise_id
        channel_id, clerk_id = (
            world.channels[ChannelKind.OWN_HALL],
            world.clerks[ChannelKind.OWN_HALL],
        )

    barrier = threading.Barrier(PARALLEL)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def register(msisdn: str) -> None:
        barrier.wait()
        try:
            with Session(fresh_engine) as session, session.begin():
                service = RegistryService(
                    session,
                    policy=policy,
                    keyring=keyring,
                    authority=SimulatedAuthority(session, keyring),
                )
                service.register(
                    world.ctx(),
                    desk=Desk(enterprise_id, channel_id, clerk_id),
                    msisdn=msisdn,
                    person=person,
                )
            outcome = "registered"
        except RegistryError as error:
            outcome = str(error.code)
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=register, args=(n,)) for n in numbers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert outcomes == Counter({"registered": 5, "CAP_EXCEEDED": PARALLEL - 5})
    with Session(fresh_engine) as session:
        active = session.scalar(
            select(func.count()).select_from(Line).where(Line.state == "active")
        )
        holdings = session.scalars(select(Holding.active_count)).all()
    assert active == 5
    assert holdings == [5]


def test_exactly_the_national_cap_gets_through_across_enterprises(
    fresh_engine: Engine, keyring: KeyRing
) -> None:
    """One person at two enterprises' counters at once, under a national cap of 3: the
    identity is locked before its lines at every enterprise are counted, so exactly 3 lines
    are registered whichever counters win."""
    from realname.policy.schema import CapScope
    from realname.registry.commands import Kit

    policy = load_policy("china").with_changes(
        line_caps=[{"scope": CapScope.NATIONAL, "max_active_lines": 3}]
    )
    with Session(fresh_engine) as session, session.begin():
        world: World = build_world(session, keyring, policy)
        kind = ChannelKind.OWN_HALL
        own = (world.enterprise_id, world.channels[kind], world.clerks[kind])
        jobs = [(own, number) for number in world.stock(PARALLEL // 2)]
        for n in range(PARALLEL // 2):
            kit = Kit(f"+86170001{n:05d}", f"89860077{n:012d}", f"46077{n:010d}")
            world.service.stock.stock_kits(
                world.ctx(), world.other_enterprise_id, world.other_channel_id, [kit]
            )
            other = (world.other_enterprise_id, world.other_channel_id, world.other_clerk_id)
            jobs.append((other, kit.msisdn))
        person = world.people[0]

    barrier = threading.Barrier(len(jobs))
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def register(desk: tuple[int, int, int], msisdn: str) -> None:
        barrier.wait()
        try:
            with Session(fresh_engine) as session, session.begin():
                RegistryService(
                    session,
                    policy=policy,
                    keyring=keyring,
                    authority=SimulatedAuthority(session, keyring),
                ).register(world.ctx(), desk=Desk(*desk), msisdn=msisdn, person=person)
            outcome = "registered"
        except RegistryError as error:
            outcome = str(error.code)
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=register, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert outcomes == Counter({"registered": 3, "NATIONAL_CAP_EXCEEDED": len(jobs) - 3})
    with Session(fresh_engine) as session:
        active = session.scalar(
            select(func.count()).select_from(Line).where(Line.state == "active")
        )
        held = session.scalar(select(func.sum(Holding.active_count)))
    assert active == 3 and held == 3
