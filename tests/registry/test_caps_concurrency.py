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
