"""Who is calling, and what each role may do. Pure: the API resolves a token to a Principal,
each route declares the role it needs (`realname.http.principals`); tests can build
principals directly."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class Role(StrEnum):
    REGULATOR = "regulator"
    REGULATOR_INSPECTOR = "regulator_inspector"
    # A provincial communications administration: the regulator's view of one province, named
    # by the client's `province:NN` scope (GB/T 2260 prefix); without one it sees nothing.
    PROVINCIAL_REGULATOR = "provincial_regulator"
    ENTERPRISE_ADMIN = "enterprise_admin"
    CLERK = "clerk"
    RELYING_PARTY = "relying_party"
    SUBSCRIBER = "subscriber"
    MONITOR = "monitor"  # a metrics scraper (Prometheus): /metrics and nothing else
    COMPLAINT_CENTRE = "complaint_centre"  # 12321-style: takes complaints, reads its cases
    # An enterprise instance's feed to the national platform: pushes its signed batches.
    FEED_CLIENT = "feed_client"
    # A certified card-reader device at one channel's counter: posts the ID card chip's data
    # (`POST /v1/card-reads`), which a clerk of that channel then registers with.
    CARD_READER = "card_reader"


PROVINCE_SCOPE = "province:"  # + a GB/T 2260 two-digit prefix: a provincial client's province


def province_scope(province: str) -> str:
    """The scope naming a provincial client's province (44 -> "province:44")."""
    return PROVINCE_SCOPE + province


def is_province_scope(scope: str) -> bool:
    return scope.startswith(PROVINCE_SCOPE)


def provinces_named(scopes: Iterable[str]) -> list[str]:
    """The provinces `province:NN` scopes name: the one parser of that scope (the client
    service checks a new client's, tokens carry them, a principal reads its own)."""
    return [s[len(PROVINCE_SCOPE) :] for s in scopes if is_province_scope(s)]


class Permission(StrEnum):
    REGISTER = "register"  # register and activate, SIM replacement, transfer (clerks only)
    OPERATE = "operate"  # bar, lift, cancel, release, re-verification requests, stock
    READ_LINES = "read_lines"  # lines, history, stock (masked owners)
    OWNER_SELF_SERVICE = "owner_self_service"  # lock / unlock the line the token is bound to
    # Bar a lost phone: an admin (back office), or a clerk at an active own or partner hall
    # with the owner present (document and name matching the line's sealed identity).
    REPORT_LOST = "report_lost"
    READ_ALL_ENTERPRISES = "read_all_enterprises"  # the regulator's view
    VERIFY = "verify"  # CAMARA checks of a subscriber: match / no-match answers only
    READ_PII = "read_pii"  # an owner's full name and document number, audited with a purpose
    PROVISION = "provision"  # the enterprise's own channel tree and clerks
    LICENSE = "license"  # the ministry's: enterprises, licence decisions, number blocks
    READ_COMPLIANCE = "read_compliance"  # compliance figures, inspection rounds and results
    PLAN_INSPECTIONS = "plan_inspections"  # secret-inspection rounds, plans, assignments
    INSPECT = "inspect"  # record visits and test purchases of the rounds assigned to it
    ENFORCE = "enforce"  # the enforcement ladder: actions, consequences, appeals decided
    TAKE_COMPLAINTS = "take_complaints"  # complaint intake (one by one and CSV), case status
    PUBLISH_FEED = "publish_feed"  # push its enterprise's signed feed batches to the platform
    READ_CARDS = "read_cards"  # post what an ID card's chip holds, as its channel's reader


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.CLERK: frozenset({Permission.REGISTER, Permission.READ_LINES, Permission.REPORT_LOST}),
    # Registration, SIM replacement and transfer happen at a counter: a clerk of a channel.
    Role.ENTERPRISE_ADMIN: frozenset(
        {
            Permission.OPERATE,
            Permission.READ_LINES,
            Permission.READ_PII,
            Permission.REPORT_LOST,
            Permission.PROVISION,
        }
    ),
    Role.REGULATOR: frozenset(
        {
            Permission.READ_LINES,
            Permission.READ_ALL_ENTERPRISES,
            Permission.READ_PII,
            Permission.LICENSE,
            Permission.READ_COMPLIANCE,
            Permission.PLAN_INSPECTIONS,
            Permission.ENFORCE,
        }
    ),
    # Inspectors test channels under cover; they see masked owners only.
    Role.REGULATOR_INSPECTOR: frozenset(
        {Permission.READ_LINES, Permission.READ_ALL_ENTERPRISES, Permission.INSPECT}
    ),
    # Its figures and rounds are narrowed to its province by the compliance domain.
    Role.PROVINCIAL_REGULATOR: frozenset({Permission.READ_COMPLIANCE, Permission.PLAN_INSPECTIONS}),
    Role.SUBSCRIBER: frozenset({Permission.OWNER_SELF_SERVICE}),
    Role.RELYING_PARTY: frozenset({Permission.VERIFY}),
    Role.MONITOR: frozenset(),  # its one scope, metrics:read, is all it has
    # Complaints name numbers, never who holds them: the centre sees its cases' status and
    # outcome, not owners or lines.
    Role.COMPLAINT_CENTRE: frozenset({Permission.TAKE_COMPLAINTS}),
    # Its batches carry sealed document numbers it cannot open, for its own enterprise only.
    Role.FEED_CLIENT: frozenset({Permission.PUBLISH_FEED}),
    # A device: it reads cards at its channel and can read nothing back.
    Role.CARD_READER: frozenset({Permission.READ_CARDS}),
}


@dataclass(frozen=True)
class Principal:
    client_id: str
    role: Role
    enterprise_id: int | None = None
    channel_id: int | None = None
    clerk_id: int | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    # A three-legged token names the subscriber's line: the operator authenticated the device
    # on its mobile network (CAMARA Number Verification), so the token stands for that line.
    line_id: int | None = None
    # A code-login token names the line's owner when it was issued (claim `own`): it stands
    # for that identity only. `issued_at`: when the token was issued (claim `iat`).
    owner_identity_id: int | None = None
    issued_at: datetime | None = None
    # How the subscriber proved the line (`network`, `otp`); empty for machine clients.
    amr: frozenset[str] = field(default_factory=frozenset)

    def holds_line(self, line_id: int) -> bool:
        """A subscriber acts only on the line it proved it holds: the one its token names
        (network authentication, or a one-time code sent to the line). Knowing the owner's
        ID number and name is not proof."""
        return self.role is Role.SUBSCRIBER and self.line_id is not None and self.line_id == line_id

    def stands_for(self, owner_identity_id: int | None, owner_since: datetime | None) -> bool:
        """Whether the line this token is bound to is still held by the owner who proved it.

        A code-login token names that owner (`own`); a network-authenticated one stands for
        whoever owned the line when it was issued, so an owner who took it later (a transfer)
        is not the one who authenticated (`iat` has whole seconds: one second of slack)."""
        if self.owner_identity_id is not None:
            return owner_identity_id == self.owner_identity_id
        if self.issued_at is None or owner_since is None:
            return True
        return owner_since <= self.issued_at + timedelta(seconds=1)

    @property
    def province(self) -> str | None:
        """The province a provincial administration is confined to (its one `province:NN`
        scope); None for anyone else, and for a provincial client without exactly one, which
        the compliance domain then refuses rather than widening to the nation."""
        named = provinces_named(self.scopes)
        return named[0] if len(named) == 1 else None

    def can(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    def sees_enterprise(self, enterprise_id: int) -> bool:
        """Tenant isolation: an enterprise's principals see only their own enterprise."""
        if self.can(Permission.READ_ALL_ENTERPRISES):
            return True
        return self.enterprise_id == enterprise_id

    @property
    def actor(self) -> str:
        if self.role is Role.CLERK and self.clerk_id is not None:
            return f"clerk:{self.clerk_id}"
        return f"{self.role}:{self.client_id}"
