"""The periodic jobs, committed line by line, on both engines."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from realname.authority.simulated import SimulatedAuthority
from realname.db.uow import UnitOfWork
from realname.policy.loader import load_policy
from realname.policy.schema import ChannelKind
from realname.registry import jobs
from realname.registry.commands import Desk
from realname.registry.models import Line
from realname.registry.service import RegistryService
from realname.security.vault import KeyRing
from tests.registry.conftest import NOW, build_world


def test_jobs_expire_and_release_and_an_answer_in_time_wins(
    fresh_engine: Engine, keyring: KeyRing
) -> None:
    policy = load_policy("china")

    def registry(session: Session) -> RegistryService:
        return RegistryService(
            session, policy=policy, keyring=keyring, authority=SimulatedAuthority(session, keyring)
        )

    with Session(fresh_engine) as session, session.begin():
        world = build_world(session, keyring, policy)
        late, answered, cancelled = (world.register(world.people[i]) for i in range(3))
        for msisdn in (late, answered):
            world.service.request_reverification(world.ctx(), world.enterprise_id, msisdn, "x")
        world.service.cancel(world.ctx(), world.enterprise_id, cancelled, "customer request")
        enterprise_id, owner = world.enterprise_id, world.people[1]
        hall, hall_clerk = world.channels[ChannelKind.OWN_HALL], world.clerks[ChannelKind.OWN_HALL]

    deadline_passed = NOW + timedelta(hours=25)
    with Session(fresh_engine) as session:
        due = set(registry(session).due_reverifications(deadline_passed))
    assert due == {late, answered}
    # The owner answers after the job listed the line but before it reaches it.
    with Session(fresh_engine) as session, session.begin():
        registry(session).answer_reverification(
            world.ctx(),
            desk=Desk(enterprise_id, hall, hall_clerk),
            msisdn=answered,
            owner=owner,
        )
    uow = UnitOfWork(lambda: Session(fresh_engine))
    assert jobs.expire_reverifications(uow, registry, deadline_passed) == 1
    assert jobs.expire_reverifications(uow, registry, deadline_passed) == 0  # idempotent
    assert jobs.release_cooled(uow, registry, NOW + timedelta(days=89)) == 0
    assert jobs.release_cooled(uow, registry, NOW + timedelta(days=91)) == 1
    with Session(fresh_engine) as session:
        states = dict(session.execute(select(Line.msisdn, Line.state)).all())
    assert (states[late], states[answered], states[cancelled]) == ("suspended", "active", "pooled")
