"""Staff who use the web pages: an account (user name and scrypt password hash) that acts as
one API client, and the sessions it opens.

The account holds no role of its own: it *is* an API client (`api_client`: role, enterprise,
channel, clerk, scopes), so the pages are authorised exactly as the API would authorise that
client, and revoking the client shuts the account out too. A session is a random token in a
cookie; only its SHA-256 is stored, with its CSRF token, so a copy of the database opens no
session. A session ends on logout, on the next sign-in in the same browser, after `idle`
without a request, or `lifetime` after it opened; rows of sessions over for a while are
deleted at sign-in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Integer, String, delete, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from realname.db.base import Base
from realname.db.types import UtcDateTime
from realname.security.audit import append_audit
from realname.security.clients import (
    ClientRepository,
    client_is_active,
    hash_secret,
    timing_equaliser,
    verify_secret,
)
from realname.security.models import ApiClient
from realname.security.vault import KeyRing

STAFF_OBJECT = "staff_account"


class StaffAccount(Base):
    __tablename__ = "staff_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(ForeignKey("api_client.client_id"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class StaffSession(Base):
    __tablename__ = "staff_session"

    # SHA-256 (hex) of the cookie's token: the token itself is never stored.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("staff_account.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


# The roles that have pages (web/base.py HOME sends each to its own): an account of another
# role could sign in to nothing.
STAFF_ROLES = frozenset({"clerk", "enterprise_admin", "regulator"})
MAX_USERNAME_LENGTH = 64  # the column, and what the sign-in form takes
MIN_PASSWORD_LENGTH = 10
# What the sign-in form takes: a longer one is refused as such, never cut to a prefix (which
# would let the first 200 characters of a longer password sign in).
MAX_PASSWORD_LENGTH = 200


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class OpenedSession:
    token: str  # for the cookie, shown once
    csrf_token: str


@dataclass(frozen=True)
class ActiveSession:
    account: StaffAccount
    client: ApiClient
    csrf_token: str

    def csrf_matches(self, presented: str) -> bool:
        return hmac.compare_digest(self.csrf_token.encode(), presented.encode())


class StaffService:
    """Accounts and sessions; flushes only (the caller owns the transaction). Creating or
    disabling an account, signing in and out append to the audit chain (who acted as which
    client, when): the chain says who was at the keyboard for what the API then records."""

    def __init__(self, session: Session, keyring: KeyRing, actor: str = "operator:cli") -> None:
        self.session = session
        self.keyring = keyring
        self.actor = actor

    def _audit(self, action: str, account: StaffAccount, at: datetime, actor: str) -> None:
        append_audit(
            self.session,
            self.keyring,
            actor=actor,
            action=action,
            object_type=STAFF_OBJECT,
            object_id=str(account.id),
            at=at,
            detail={"client_id": account.client_id, "status": account.status},
        )

    def create_account(
        self, username: str, password: str, client_id: str, at: datetime
    ) -> StaffAccount:
        """ValueError, with what to fix, for an account that could never sign in."""
        if not username.strip() or len(username) > MAX_USERNAME_LENGTH:
            raise ValueError(f"a user name has 1 to {MAX_USERNAME_LENGTH} characters")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise ValueError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
        client = ClientRepository(self.session).by_client_id(client_id)
        if client is None or client.status != "active":
            raise ValueError("no such active API client")
        if client.role not in STAFF_ROLES:
            raise ValueError(
                f"a {client.role} client has no pages; staff act as one of "
                f"{', '.join(sorted(STAFF_ROLES))}"
            )
        if self._account(username) is not None:
            raise ValueError("that user name is taken")
        account = StaffAccount(
            username=username,
            password_hash=hash_secret(password),
            client_id=client_id,
            status="active",
            created_at=at,
        )
        self.session.add(account)
        self.session.flush()
        self._audit("staff.create", account, at, self.actor)
        return account

    def disable(self, username: str, at: datetime) -> bool:
        """No more sign-ins, and its open sessions end at their next request."""
        account = self._account(username)
        if account is None or account.status != "active":
            return False
        account.status = "disabled"
        self.session.flush()
        self._audit("staff.disable", account, at, self.actor)
        return True

    def _account(self, username: str) -> StaffAccount | None:
        return self.session.scalar(select(StaffAccount).where(StaffAccount.username == username))

    def accounts(self) -> list[StaffAccount]:
        return list(self.session.scalars(select(StaffAccount).order_by(StaffAccount.id)))

    def authenticate(self, username: str, password: str) -> StaffAccount | None:
        """The account, if the password is right and it and its client are active; one scrypt
        either way, so the time taken does not tell which user names exist."""
        account = self._account(username)
        if account is None or account.status != "active":
            verify_secret(password, timing_equaliser())
            return None
        if not verify_secret(password, account.password_hash):
            return None
        return account if client_is_active(self.session, account.client_id) else None

    def open(self, account: StaffAccount, at: datetime) -> OpenedSession:
        self._audit("staff.sign_in", account, at, f"staff:{account.id}")
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.session.add(
            StaffSession(
                id=_digest(token),
                account_id=account.id,
                csrf_token=csrf,
                created_at=at,
                last_seen_at=at,
            )
        )
        self.session.flush()
        return OpenedSession(token, csrf)

    def resume(
        self, token: str, at: datetime, idle: timedelta, lifetime: timedelta
    ) -> ActiveSession | None:
        """The session the cookie names, still open, used within `idle` and opened within
        `lifetime` (however busy: a stolen cookie does not live for ever); its last use moves
        to `at`. A session past either is ended here, so it never comes back."""
        row = self.session.get(StaffSession, _digest(token))
        if row is None or row.ended_at is not None:
            return None
        if at - row.last_seen_at > idle or at - row.created_at > lifetime:
            row.ended_at = at
            self.session.flush()
            return None
        account = self.session.get(StaffAccount, row.account_id)
        if account is None or account.status != "active":
            return None
        client = ClientRepository(self.session).by_client_id(account.client_id)
        if client is None or client.status != "active":
            return None
        row.last_seen_at = at
        self.session.flush()
        return ActiveSession(account, client, row.csrf_token)

    def purge(self, before: datetime) -> int:
        """Delete the sessions that ended, or were last used, before `before`: no row
        outlives its use by long (sign-in calls it). How many."""
        result = self.session.execute(
            delete(StaffSession)
            .where(
                or_(
                    StaffSession.ended_at < before,
                    (StaffSession.ended_at.is_(None)) & (StaffSession.last_seen_at < before),
                )
            )
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def end(self, token: str, at: datetime) -> None:
        row = self.session.get(StaffSession, _digest(token))
        if row is not None and row.ended_at is None:
            row.ended_at = at
            self.session.flush()
            account = self.session.get(StaffAccount, row.account_id)
            if account is not None:
                self._audit("staff.sign_out", account, at, f"staff:{account.id}")
