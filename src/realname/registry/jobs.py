"""Periodic jobs (cron, or a scheduler): each line in a transaction of its own.

Safe to run concurrently and to interrupt: every step re-checks its line under the line's
lock, so two runners never act twice on one line and a killed run leaves only whole steps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from realname.db.uow import UnitOfWork
from realname.registry.commands import Actor, Context
from realname.registry.errors import RegistryError
from realname.registry.service import RegistryService

ServiceFactory = Callable[[Session], RegistryService]


def expire_reverifications(uow: UnitOfWork, service: ServiceFactory, at: datetime) -> int:
    """Suspend every line whose re-verification deadline has passed; returns how many."""
    with uow.transaction(readonly=True) as session:
        due = list(service(session).due_reverifications(at))
    ctx = Context(Actor("system", "reverification"), at)
    done = 0
    for msisdn in due:
        with uow.transaction() as session:
            done += service(session).expire_reverification(ctx, msisdn)
    return done


def release_cooled(uow: UnitOfWork, service: ServiceFactory, at: datetime) -> int:
    """Return every number whose cooling period is over to its enterprise's pool."""
    with uow.transaction(readonly=True) as session:
        registry = service(session)
        due = [(registry.repo.line(m), m) for m in registry.due_releases(at)]
        plan = [(line.enterprise_id, m) for line, m in due if line is not None]
    ctx = Context(Actor("system", "cooling"), at)
    done = 0
    for enterprise_id, msisdn in plan:
        try:
            with uow.transaction() as session:
                service(session).release(ctx, enterprise_id, msisdn)
            done += 1
        except RegistryError:
            continue  # released or re-cancelled meanwhile by someone else
    return done
