"""API clients (OAuth2 client credentials) and the signed, short-lived tokens they get.

Secrets are random, shown once, stored as scrypt hashes (stdlib `hashlib.scrypt`). Tokens are
HS256 JWTs (PyJWT) carrying the role, the tenant and the scopes; the API trusts nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from realname.security.models import ApiClient
from realname.security.principals import Principal, Role
from realname.security.vault import KeyRing

ISSUER = "realname"
DEFAULT_SCOPES: dict[Role, tuple[str, ...]] = {
    Role.CLERK: ("registry:write", "registry:read"),
    Role.ENTERPRISE_ADMIN: ("registry:write", "registry:read", "registry:reveal"),
    Role.REGULATOR: ("registry:read", "registry:reveal"),
    Role.REGULATOR_INSPECTOR: ("registry:read",),
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
}
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@lru_cache(maxsize=1)
def _timing_equaliser() -> str:
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


def token_signing_key(keyring: KeyRing) -> bytes:
    """Derived from the blind-index key, so there is one secret less to distribute."""
    return keyring.blind_index("jwt-signing-key", "realname.tokens")


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


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


class ClientService:
    def __init__(self, session: Session) -> None:
        self.repo = ClientRepository(session)
        self.session = session

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
        if role in (Role.CLERK, Role.ENTERPRISE_ADMIN) and enterprise_id is None:
            raise ValueError(f"a {role} client needs an enterprise")
        if role is Role.CLERK and (channel_id is None or clerk_id is None):
            raise ValueError("a clerk client needs a channel and a clerk")
        secret = secrets.token_urlsafe(32)
        client = ApiClient(
            client_id=f"{role.value}-{uuid.uuid4().hex[:12]}",
            secret_hash=hash_secret(secret),
            role=str(role),
            enterprise_id=enterprise_id,
            channel_id=channel_id,
            clerk_id=clerk_id,
            scopes=" ".join(scopes if scopes is not None else DEFAULT_SCOPES[role]),
            description=description,
            status="active",
            created_at=at,
        )
        self.repo.add(client)
        self.session.flush()
        return client, secret

    def revoke(self, client_id: str, at: datetime) -> bool:
        client = self.repo.by_client_id(client_id)
        if client is None or client.status == "revoked":
            return False
        client.status, client.revoked_at = "revoked", at
        return True

    def authenticate(self, client_id: str, secret: str) -> ApiClient | None:
        client = self.repo.by_client_id(client_id)
        if client is None or client.status != "active":
            verify_secret(secret, _timing_equaliser())  # one scrypt, as for a real client
            return None
        return client if verify_secret(secret, client.secret_hash) else None


def issue_token(
    client: ApiClient, key: bytes, ttl_seconds: int, requested: Sequence[str] | None = None
) -> IssuedToken:
    granted = set(client.scopes.split())
    scopes = sorted(granted & set(requested)) if requested else sorted(granted)
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": client.client_id,
        "role": client.role,
        "ent": client.enterprise_id,
        "chn": client.channel_id,
        "clk": client.clerk_id,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return IssuedToken(jwt.encode(claims, key, algorithm="HS256"), ttl_seconds, " ".join(scopes))


DEVICE_TOKEN_MAX_TTL = 300  # CAMARA Number Verification: at most 300 s, no refresh


def issue_device_token(
    client: ApiClient, key: bytes, line_id: int, ttl_seconds: int = DEVICE_TOKEN_MAX_TTL
) -> IssuedToken:
    """A three-legged token for `client` whose subject is the device on `line_id`, as the
    operator's network-based authentication (TS.43, header enrichment) would issue it. The
    network side is outside this registry; this is its hand-off point (and the tests')."""
    now = int(time.time())
    ttl = min(ttl_seconds, DEVICE_TOKEN_MAX_TTL)
    claims = {
        "iss": ISSUER,
        "sub": client.client_id,
        "role": client.role,
        "scope": client.scopes,
        "line": line_id,
        "amr": ["network"],
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return IssuedToken(jwt.encode(claims, key, algorithm="HS256"), ttl, client.scopes)


class InvalidToken(Exception):  # noqa: N818 (it is the outcome, not a bug class)
    pass


def principal_from_token(token: str, key: bytes) -> Principal:
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
        return Principal(
            client_id=str(claims["sub"]),
            role=Role(claims["role"]),
            enterprise_id=claims.get("ent"),
            channel_id=claims.get("chn"),
            clerk_id=claims.get("clk"),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            line_id=int(claims["line"]) if "network" in claims.get("amr", ()) else None,
        )
    except (jwt.PyJWTError, KeyError, ValueError) as error:
        raise InvalidToken(type(error).__name__) from None
