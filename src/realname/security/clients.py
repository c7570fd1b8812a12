"""API clients (OAuth2 client credentials) and the signed, short-lived tokens they get.

Secrets are random, shown once, stored as scrypt hashes (stdlib `hashlib.scrypt`). Tokens are
HS256 JWTs (PyJWT) carrying the role, the tenant and the scopes, signed with a token key of
their own (`TokenKeys`, with a `kid` header so keys can rotate). A token proves who the client
was when it was issued; whether the client is still active is looked up per request
(`ClientStatusCache`), so a revocation takes effect within seconds, not at expiry.

Time is always passed in (`now`): PyJWT's own `exp`/`iat` checks read the machine clock, so
they are turned off and done here against the injected clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

import jwt
from sqlalchemy import column, select, table
from sqlalchemy.orm import Session

from realname.identity.regions import province_prefixes
from realname.security.audit import append_audit
from realname.security.keys import TokenKeys
from realname.security.models import ApiClient
from realname.security.principals import Principal, Role, is_province_scope, provinces_named
from realname.security.vault import KeyRing

CLIENT_OBJECT = "api_client"  # the audit chain's object type for client changes
ENTERPRISE_ROLES = frozenset(
    {Role.CLERK, Role.ENTERPRISE_ADMIN, Role.SUBSCRIBER, Role.FEED_CLIENT, Role.CARD_READER}
)
# Roles bound to one channel of their enterprise.
CHANNEL_ROLES = frozenset({Role.CLERK, Role.CARD_READER})

ISSUER = "realname"
DEFAULT_SCOPES: dict[Role, tuple[str, ...]] = {
    Role.CLERK: ("registry:write", "registry:read"),
    Role.ENTERPRISE_ADMIN: ("registry:write", "registry:read", "registry:reveal"),
    Role.REGULATOR: (
        "registry:read",
        "registry:reveal",
        "licensing:write",
        "compliance:read",
        "compliance:write",
        "enforcement:write",
    ),
    Role.REGULATOR_INSPECTOR: ("registry:read", "compliance:read", "compliance:write"),
    # `clients add --province NN` adds the client's `province:NN` scope.
    Role.PROVINCIAL_REGULATOR: ("compliance:read", "compliance:write"),
    Role.SUBSCRIBER: ("registry:self",),
    Role.RELYING_PARTY: (
        "kyc-match:match",
        "sim-swap:retrieve-date",
        "sim-swap:check",
        "kyc-age-verification:verify",
        "kyc-tenure:check-tenure",
        "number-verification:verify",
        "number-verification:device-phone-number:read",
    ),
    Role.MONITOR: ("metrics:read",),
    Role.COMPLAINT_CENTRE: ("complaints:write", "registry:read"),
    Role.FEED_CLIENT: ("national:feed",),
    Role.CARD_READER: ("cardreads:write",),
}
# The compliance scopes came after the first regulator and inspector clients were made: their
# rows lack them, and a row is what the audit chain says it is, so it is not rewritten. Those
# rows (marked `implied_role_scopes` by migration 0025) get them with every token; a client
# made since has exactly the scopes it was made with (a regulator client made with only
# compliance:read cannot take enforcement:write).
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.REGULATOR: frozenset({"compliance:read", "compliance:write", "enforcement:write"}),
    Role.REGULATOR_INSPECTOR: frozenset({"compliance:read", "compliance:write"}),
    Role.PROVINCIAL_REGULATOR: frozenset({"compliance:read", "compliance:write"}),
}
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@lru_cache(maxsize=1)
def timing_equaliser() -> str:
    """Hashed once: hashing it per request made an unknown client cost two scrypt runs, a
    timing oracle for which client ids exist."""
    return hash_secret("timing-equaliser")


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        salt, digest = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(secret.encode(), salt=salt, dklen=len(digest), **_SCRYPT)
    return hmac.compare_digest(candidate, digest)


# The tenant tables, named without importing their domains (security sits below them).
_ENTERPRISE = table("enterprise", column("id"))
_CHANNEL = table("channel", column("id"), column("enterprise_id"))
_CLERK = table("clerk", column("id"), column("channel_id"), column("status"))
ISSUED_AT_LEEWAY_SECONDS = 30  # another worker's clock may run a little ahead


class ClientRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_client_id(self, client_id: str) -> ApiClient | None:
        return self.session.scalars(
            select(ApiClient).where(ApiClient.client_id == client_id)
        ).first()

    def all(self) -> Sequence[ApiClient]:
        return self.session.scalars(select(ApiClient).order_by(ApiClient.id)).all()

    def add(self, client: ApiClient) -> None:
        self.session.add(client)

    def status_of(self, client_id: str) -> str | None:
        return self.session.scalar(select(ApiClient.status).where(ApiClient.client_id == client_id))

    def enterprise_exists(self, enterprise_id: int) -> bool:
        found = self.session.scalar(
            select(_ENTERPRISE.c.id).where(_ENTERPRISE.c.id == enterprise_id)
        )
        return found is not None

    def channel_enterprise(self, channel_id: int) -> int | None:
        return self.session.scalar(
            select(_CHANNEL.c.enterprise_id).where(_CHANNEL.c.id == channel_id)
        )

    def clerk_channel(self, clerk_id: int) -> int | None:
        return self.session.scalar(select(_CLERK.c.channel_id).where(_CLERK.c.id == clerk_id))

    def clerk_status(self, clerk_id: int) -> str | None:
        return self.session.scalar(select(_CLERK.c.status).where(_CLERK.c.id == clerk_id))


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


class _ClientFields(Protocol):
    role: str
    enterprise_id: int | None
    channel_id: int | None
    clerk_id: int | None
    scopes: str
    status: str


def client_authority(client: _ClientFields) -> dict[str, Any]:
    """What a client may do and for whom: what the audit chain records at each change, and
    what `realname check` compares the `api_client` row with (the row has no MAC of its own:
    `UPDATE api_client SET role = 'regulator'` must still be evident)."""
    return {
        "role": client.role,
        "enterprise_id": client.enterprise_id,
        "channel_id": client.channel_id,
        "clerk_id": client.clerk_id,
        "scopes": client.scopes,
        "status": client.status,
    }


class ClientService:
    """Creating and revoking clients writes the audit chain (who may act as whom is exactly
    what an attacker with database access would change); authenticating reads only."""

    def __init__(self, session: Session, keyring: KeyRing, actor: str = "operator:cli") -> None:
        self.repo = ClientRepository(session)
        self.session = session
        self.keyring = keyring
        self.actor = actor

    def _audit(self, action: str, client: ApiClient, at: datetime) -> None:
        append_audit(
            self.session,
            self.keyring,
            actor=self.actor,
            action=action,
            object_type=CLIENT_OBJECT,
            object_id=client.client_id,
            at=at,
            detail=client_authority(client),
        )

    def create(
        self,
        *,
        role: Role,
        at: datetime,
        enterprise_id: int | None = None,
        channel_id: int | None = None,
        clerk_id: int | None = None,
        scopes: Sequence[str] | None = None,
        description: str = "",
    ) -> tuple[ApiClient, str]:
        """A new client and its secret (returned once, never stored in clear)."""
        if (
            role in (Role.CLERK, Role.ENTERPRISE_ADMIN, Role.FEED_CLIENT, Role.CARD_READER)
            and enterprise_id is None
        ):
            raise ValueError(f"a {role} client needs an enterprise")
        if role is Role.CLERK and (channel_id is None or clerk_id is None):
            raise ValueError("a clerk client needs a channel and a clerk")
        if role is Role.CARD_READER and (channel_id is None or clerk_id is not None):
            raise ValueError("a card_reader client needs a channel (and no clerk)")
        if role not in CHANNEL_ROLES and (channel_id is not None or clerk_id is not None):
            raise ValueError(f"a {role} client acts for no channel or clerk")
        if enterprise_id is not None and role not in ENTERPRISE_ROLES:
            raise ValueError(f"a {role} client acts for no enterprise")
        self._check_tenant(enterprise_id, channel_id, clerk_id)
        chosen = list(scopes if scopes is not None else DEFAULT_SCOPES[role])
        beyond = sorted(
            s for s in chosen if s not in DEFAULT_SCOPES[role] and not is_province_scope(s)
        )
        if beyond:  # scopes narrow a role; they never add to it
            raise ValueError(
                f"a {role} client may hold only {' '.join(DEFAULT_SCOPES[role])}; "
                f"not {' '.join(beyond)}"
            )
        provinces = provinces_named(chosen)
        if role is Role.PROVINCIAL_REGULATOR and (
            len(provinces) != 1 or provinces[0] not in province_prefixes()
        ):
            raise ValueError("a provincial_regulator client needs one province (e.g. 44)")
        if role is not Role.PROVINCIAL_REGULATOR and provinces:
            raise ValueError(f"a {role} client acts for no province")
        secret = secrets.token_urlsafe(32)
        client = ApiClient(
            client_id=f"{role.value}-{uuid.uuid4().hex[:12]}",
            secret_hash=hash_secret(secret),
            role=str(role),
            enterprise_id=enterprise_id,
            channel_id=channel_id,
            clerk_id=clerk_id,
            scopes=" ".join(chosen),
            description=description,
            status="active",
            created_at=at,
        )
        self.repo.add(client)
        self.session.flush()
        self._audit("client.create", client, at)
        return client, secret

    def _check_tenant(
        self, enterprise_id: int | None, channel_id: int | None, clerk_id: int | None
    ) -> None:
        """The enterprise, channel and clerk exist and belong together: a clerk client whose
        clerk works elsewhere would be refused on every call it makes."""
        if enterprise_id is not None and not self.repo.enterprise_exists(enterprise_id):
            raise ValueError(f"no enterprise {enterprise_id}")
        if channel_id is not None:
            owner = self.repo.channel_enterprise(channel_id)
            if owner is None:
                raise ValueError(f"no channel {channel_id}")
            if enterprise_id is None or owner != enterprise_id:
                raise ValueError(f"channel {channel_id} does not belong to the client's enterprise")
        if clerk_id is not None:
            workplace = self.repo.clerk_channel(clerk_id)
            if workplace is None:
                raise ValueError(f"no clerk {clerk_id}")
            if channel_id is None or workplace != channel_id:
                raise ValueError(
                    f"clerk {clerk_id} works at channel {workplace}, not at the client's channel"
                )
            if self.repo.clerk_status(clerk_id) != "active":
                # `clerks disable` revoked its clients; a new one would outlive the decision
                raise ValueError(f"clerk {clerk_id} is disabled: no new API clients for it")

    def revoke(self, client_id: str, at: datetime) -> bool:
        client = self.repo.by_client_id(client_id)
        if client is None or client.status == "revoked":
            return False
        client.status, client.revoked_at = "revoked", at
        self._audit("client.revoke", client, at)
        return True

    def authenticate(self, client_id: str, secret: str) -> ApiClient | None:
        client = self.repo.by_client_id(client_id)
        if client is None or client.status != "active":
            verify_secret(secret, timing_equaliser())  # one scrypt, as for a real client
            return None
        return client if verify_secret(secret, client.secret_hash) else None


def _sign(claims: dict[str, object], keys: TokenKeys) -> str:
    return jwt.encode(claims, keys.signing_key, algorithm="HS256", headers={"kid": keys.active})


def issue_token(
    client: ApiClient,
    keys: TokenKeys,
    ttl_seconds: int,
    requested: Sequence[str] | None = None,
    *,
    now: datetime,
) -> IssuedToken:
    granted = set(client.scopes.split())
    if client.implied_role_scopes:
        granted |= ROLE_SCOPES.get(Role(client.role), frozenset())
    scopes = sorted(granted & set(requested)) if requested else sorted(granted)
    # A province is who the client is, not a right it may leave out of a narrower token.
    scopes = sorted(set(scopes) | {s for s in granted if is_province_scope(s)})
    issued_at = int(now.timestamp())
    claims: dict[str, object] = {
        "iss": ISSUER,
        "sub": client.client_id,
        "role": client.role,
        "ent": client.enterprise_id,
        "chn": client.channel_id,
        "clk": client.clerk_id,
        "scope": " ".join(scopes),
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return IssuedToken(_sign(claims, keys), ttl_seconds, " ".join(scopes))


DEVICE_TOKEN_MAX_TTL = 300  # CAMARA Number Verification: at most 300 s, no refresh


def issue_device_token(
    client: ApiClient,
    keys: TokenKeys,
    line_id: int,
    ttl_seconds: int = DEVICE_TOKEN_MAX_TTL,
    *,
    now: datetime,
) -> IssuedToken:
    """A three-legged token for `client` whose subject is the device on `line_id`, as the
    operator's network-based authentication (TS.43, header enrichment) would issue it. The
    network side is outside this registry; this is its hand-off point (and the tests')."""
    issued_at = int(now.timestamp())
    ttl = min(ttl_seconds, DEVICE_TOKEN_MAX_TTL)
    claims: dict[str, object] = {
        "iss": ISSUER,
        "sub": client.client_id,
        "role": client.role,
        "scope": client.scopes,
        "line": line_id,
        "amr": ["network"],
        "iat": issued_at,
        "exp": issued_at + ttl,
        "jti": uuid.uuid4().hex,
    }
    return IssuedToken(_sign(claims, keys), ttl, client.scopes)


OTP_TOKEN_MAX_TTL = 900  # a subscriber's one-time-code login: short, no refresh
LINE_BINDING_AMR = frozenset({"network", "otp"})  # proofs that the caller holds the line


def issue_line_token(
    client: ApiClient,
    keys: TokenKeys,
    line_id: int,
    enterprise_id: int,
    ttl_seconds: int = OTP_TOKEN_MAX_TTL,
    *,
    owner_identity_id: int | None = None,
    now: datetime,
) -> IssuedToken:
    """A token for a subscriber who proved the line `line_id` by a one-time code sent to it
    (`amr: ["otp"]`): bound to that line like a network-authenticated one, with the line's
    enterprise (`ent`), at most OTP_TOKEN_MAX_TTL seconds, no refresh. `own` names the line's
    owner at login: the token stands for that identity and no other, so once the line changes
    hands (a transfer, a cancel and a new registration) it reaches none of the new owner's."""
    issued_at = int(now.timestamp())
    ttl = min(ttl_seconds, OTP_TOKEN_MAX_TTL)
    claims: dict[str, object] = {
        "iss": ISSUER,
        "sub": client.client_id,
        "role": client.role,
        "ent": enterprise_id,
        "scope": client.scopes,
        "line": line_id,
        "own": owner_identity_id,
        "amr": ["otp"],
        "iat": issued_at,
        "exp": issued_at + ttl,
        "jti": uuid.uuid4().hex,
    }
    return IssuedToken(_sign(claims, keys), ttl, client.scopes)


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidToken("BadClaim")
    return value


class InvalidToken(Exception):  # noqa: N818 (it is the outcome, not a bug class)
    pass


def principal_from_token(token: str, keys: TokenKeys, now: datetime) -> Principal:
    """The caller a token names, if a current token key signed it and it is live at `now`.

    Only the key its `kid` names is tried: an unknown or missing `kid` (a retired key, or a
    token from before keys had ids) is refused."""
    try:
        key = keys.verifying_key(jwt.get_unverified_header(token).get("kid"))
        if key is None:
            raise InvalidToken("UnknownKeyId")
        claims = jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={
                "require": ["exp", "iat", "sub", "iss"],
                "verify_exp": False,  # against the injected clock, below
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
        expires, issued = claims["exp"], claims["iat"]
        if not isinstance(expires, int) or not isinstance(issued, int):
            raise InvalidToken("BadTimes")
        instant = now.timestamp()
        if instant >= expires:
            raise InvalidToken("ExpiredSignatureError")
        if issued > instant + ISSUED_AT_LEEWAY_SECONDS:
            raise InvalidToken("ImmatureSignatureError")
        amr = claims.get("amr", ())
        methods = frozenset(str(m) for m in amr) if isinstance(amr, list) else frozenset()
        bound = "line" in claims and bool(methods & LINE_BINDING_AMR)
        return Principal(
            client_id=str(claims["sub"]),
            role=Role(claims["role"]),
            enterprise_id=claims.get("ent"),
            channel_id=claims.get("chn"),
            clerk_id=claims.get("clk"),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            owner_identity_id=_optional_int(claims.get("own")),
            issued_at=datetime.fromtimestamp(issued, UTC),
            line_id=int(claims["line"]) if bound else None,
            amr=methods,
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as error:
        raise InvalidToken(type(error).__name__) from None


class ClientStatusCache:
    """Whether a client is still active, looked up at most once per `ttl_seconds` per client
    in this process; so a revoked or disabled client's tokens stop working within that many
    seconds on every worker, without a database read on every request. `ttl_seconds=0`
    looks up every time."""

    MAX_ENTRIES = 10_000  # clients are few; this only bounds memory against surprises

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._entries: dict[str, tuple[bool, datetime]] = {}
        self._lock = threading.Lock()

    def known(self, client_id: str, now: datetime) -> bool | None:
        """The status looked at within the cache period, or None (then `is_active` looks)."""
        with self._lock:
            entry = self._entries.get(client_id)
        if entry is not None:
            active, checked_at = entry
            age = (now - checked_at).total_seconds()
            if 0 <= age < self.ttl_seconds:
                return active
        return None

    def is_active(self, client_id: str, now: datetime, lookup: Callable[[str], bool]) -> bool:
        known = self.known(client_id, now)
        if known is not None:
            return known
        active = lookup(client_id)
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[client_id] = (active, now)
        return active

    def forget(self, client_id: str) -> None:
        with self._lock:
            self._entries.pop(client_id, None)


def client_is_active(session: Session, client_id: str) -> bool:
    return ClientRepository(session).status_of(client_id) == "active"
