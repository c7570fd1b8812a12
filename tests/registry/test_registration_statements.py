"""How many statements one registration sends: a regression guard for the hot path.

Issue 14 measured the registration at 16-18 statements through the ORM unit of work (55/s);
on Core rows it needs three on PostgreSQL (six on SQLite, which has no writes inside WITH),
one more for a person seen for the first time.
A new re-select, an ORM load or a flush on the path fails here. An inline audit append
(`security.audit.append_audit`) is counted by its own module and left out: only its result,
one entry per registration, is checked here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from realname.policy.schema import CapScope, ChannelKind, Policy
from realname.registry.commands import Desk
from realname.security.models import AuditLog
from realname.security.vault import KeyRing
from tests.registry.conftest import World, build_world

# A statement whose own target is the audit trail (an inline append's head lock, entry and
# head move; a deferred append on its own): the registration's single write on PostgreSQL also
# carries its pending entry, and it is counted.
AUDIT_STATEMENT = re.compile(
    r"\s*(INSERT INTO|UPDATE|DELETE FROM|SELECT\b.*?\bFROM)\s+"
    r"(audit_log|audit_chain_head|sealed_note)\b",
    re.DOTALL,
)
# counter, line and the identity by blind index (a plain read); the authority (simulated: its
# table); for a new person, its insert; the locks, holding, identity, line and event (one
# statement on PostgreSQL). (new person, known person)
MOST = {"postgresql": (4, 3), "sqlite": (7, 6)}


@contextmanager
def counted(session: Session) -> Iterator[list[str]]:
    """The registry's statements sent on the session's connection in the block (flushed)."""
    statements: list[str] = []
    connection = session.connection()

    def count(_c: object, _cursor: object, statement: str, *_: object) -> None:
        if not AUDIT_STATEMENT.match(statement):
            statements.append(statement)

    event.listen(connection, "before_cursor_execute", count)
    try:
        yield statements
        session.flush()
    finally:
        event.remove(connection, "before_cursor_execute", count)


def audit_entries(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditLog)) or 0


def register(world: World, person_index: int, msisdn: str) -> None:
    kind = ChannelKind.OWN_HALL
    world.service.register(
        world.ctx(),
        desk=Desk(world.enterprise_id, world.channels[kind], world.clerks[kind]),
        msisdn=msisdn,
        person=world.people[person_index],
    )


def test_a_registration_sends_at_most_the_counted_statements(world: World) -> None:
    most_new, most_known = MOST[world.session.get_bind().dialect.name]
    first, second = world.stock(2)
    world.session.flush()
    entries = audit_entries(world.session)
    with counted(world.session) as new_person:
        register(world, 0, first)
    with counted(world.session) as known_person:
        register(world, 0, second)
    assert len(new_person) <= most_new, "\n".join(new_person)
    assert len(known_person) <= most_known, "\n".join(known_person)
    assert audit_entries(world.session) == entries + 2


def test_under_a_national_cap_the_identity_is_not_looked_up_twice(
    db_session: Session, keyring: KeyRing, china: Policy
) -> None:
    """The plain read already found the person's row; the national cap locks it by id (it
    was looked up again by blind index first: one statement more on every registration)."""
    national = china.with_changes(line_caps=[{"scope": CapScope.NATIONAL, "max_active_lines": 5}])
    world = build_world(db_session, keyring, national)
    first, second = world.stock(2)
    world.session.flush()
    register(world, 0, first)
    with counted(world.session) as known_person:
        register(world, 0, second)
    by_index = [s for s in known_person if re.search(r"FROM identity\b.*number_index", s, re.S)]
    assert by_index == [], "\n\n".join(known_person)  # the first read joins it; no second
