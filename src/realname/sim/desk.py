"""Accounts to try the pages with on the demo world: one per role, at an enterprise whose
licence is in force, the clerk at its busiest active hall with kits in stock, and that hall's
card reader (an API client of role `card_reader`); and a walk-in customer known to the
(simulated) identity authority, as the card reader reads them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from realname.authority.citizens import Citizen
from realname.authority.simulated import SimulatedAuthority
from realname.identity.documents import DocumentType, parse_document
from realname.identity.names import normalize_name
from realname.identity.resident_id import check_character
from realname.registry.models import Channel, Clerk, Enterprise, Line
from realname.security.clients import ClientService
from realname.security.principals import Role
from realname.security.staff import StaffService
from realname.security.vault import KeyRing

HALLS = ("own_hall", "partner_hall")


@dataclass(frozen=True)
class DemoAccount:
    role: str
    username: str
    password: str
    where: str  # the enterprise (and channel) it acts for


@dataclass(frozen=True)
class DemoDesk:
    accounts: list[DemoAccount]
    enterprise_id: int
    enterprise_code: str
    channel_id: int
    # The hall's card reader: the credentials its software gets a token with.
    reader_client_id: str
    reader_secret: str


def _busiest_hall(session: Session) -> tuple[int, int, int] | None:
    """(enterprise, channel, clerk): the active hall with most kits in stock, at an enterprise
    whose licence is in force."""
    stocked = (
        select(Line.channel_id, func.count().label("kits"))
        .where(Line.state == "stocked")
        .group_by(Line.channel_id)
        .subquery()
    )
    row = session.execute(
        select(Channel.enterprise_id, Channel.id, func.min(Clerk.id))
        .join(stocked, stocked.c.channel_id == Channel.id)
        .join(Enterprise, Enterprise.id == Channel.enterprise_id)
        .join(Clerk, Clerk.channel_id == Channel.id)
        .where(
            Channel.status == "active",
            Channel.kind.in_(HALLS),
            Clerk.status == "active",
            Enterprise.status == "active",
            Enterprise.licence_status.in_(("official", "pilot")),
        )
        .group_by(Channel.enterprise_id, Channel.id, stocked.c.kits)
        .order_by(stocked.c.kits.desc(), Channel.id)
        .limit(1)
    ).first()
    return None if row is None else (int(row[0]), int(row[1]), int(row[2]))


def create_demo_accounts(session: Session, keyring: KeyRing, at: datetime) -> DemoDesk:
    """A clerk, an enterprise administrator and a regulator, each with a fresh password
    (printed once by the caller). Flushes only."""
    found = _busiest_hall(session)
    if found is None:
        raise LookupError("the demo world has no active hall with kits in stock")
    enterprise_id, channel_id, clerk_id = found
    enterprise = session.get(Enterprise, enterprise_id)
    channel = session.get(Channel, channel_id)
    assert enterprise is not None and channel is not None
    clients = ClientService(session, keyring, actor="operator:demo")
    staff = StaffService(session, keyring, actor="operator:demo")
    accounts = []
    # (role, user name, enterprise, channel, clerk, what it acts for)
    specs: list[tuple[Role, str, int | None, int | None, int | None, str]] = [
        (
            Role.CLERK,
            "clerk",
            enterprise_id,
            channel_id,
            clerk_id,
            f"{enterprise.code} / {channel.code}",
        ),
        (Role.ENTERPRISE_ADMIN, "admin", enterprise_id, None, None, enterprise.code),
        (Role.REGULATOR, "regulator", None, None, None, "all enterprises"),
    ]
    for role, username, enterprise_of, channel_of, clerk_of, where in specs:
        client, _secret = clients.create(
            role=role,
            at=at,
            enterprise_id=enterprise_of,
            channel_id=channel_of,
            clerk_id=clerk_of,
            description=f"web demo account {username}",
        )
        password = secrets.token_urlsafe(12)
        staff.create_account(username, password, client.client_id, at)
        accounts.append(DemoAccount(str(role), username, password, where))
    reader, reader_secret = clients.create(
        role=Role.CARD_READER,
        at=at,
        enterprise_id=enterprise_id,
        channel_id=channel_id,
        description=f"web demo card reader at {channel.code}",
    )
    return DemoDesk(
        accounts, enterprise_id, enterprise.code, channel_id, reader.client_id, reader_secret
    )


def walk_in_customer(session: Session, keyring: KeyRing, at: datetime, name: str) -> dict[str, Any]:
    """A new customer the identity authority knows, as the card reader posts them
    (`POST /v1/card-reads`). Flushes only."""
    year, month, day = (
        1970 + secrets.randbelow(30),
        1 + secrets.randbelow(9),
        10 + secrets.randbelow(9),
    )
    body = f"110105{year}0{month}{day}{secrets.randbelow(1000):03d}"
    number = body + check_character(body)
    document = parse_document(number, DocumentType.RESIDENT_ID, today=at.date())
    citizen = Citizen(document, normalize_name(name), revoked=False)
    SimulatedAuthority(session, keyring).enrol_citizens([citizen])
    return {"document": {"type": "resident_id", "number": number}, "name": name}
