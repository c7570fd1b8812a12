"""Who is at the keyboard: the session cookie, the CSRF token, the locale.

Cookies: `__Host-realname_session` (the session's token: Secure, HttpOnly, SameSite=Strict,
Path=/, no Domain (the `__Host-` prefix makes the browser insist on all three, so no
sibling subdomain can plant or shadow it), no Max-Age, so it dies with the browser; the server
ends it after `IDLE_TIMEOUT` without a request, `LIFETIME` after sign-in however busy, on
logout, and when the same browser signs in again), `__Host-realname_csrf` (before sign-in: the
double-submit token the login and language forms carry), `realname_lang` (zh-CN or en).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from realname.http.deps import Runtime, runtime
from realname.security.clients import issue_token
from realname.security.staff import StaffService

SESSION_COOKIE = "__Host-realname_session"
CSRF_COOKIE = "__Host-realname_csrf"
LANG_COOKIE = "realname_lang"
IDLE_TIMEOUT = timedelta(minutes=15)
LIFETIME = timedelta(hours=10)  # a working day: then sign in again
PURGE_AFTER = timedelta(days=1)  # a session over this long ago is deleted at the next sign-in
TOKEN_TTL_SECONDS = 120


@dataclass(frozen=True)
class Staff:
    """The signed-in account, as the API client it acts as."""

    username: str
    role: str
    enterprise_id: int | None
    channel_id: int | None
    clerk_id: int | None
    csrf_token: str
    token: str  # a bearer token for this request's API calls


def _resume(rt: Runtime, cookie: str) -> Staff | None:
    with rt.transaction() as session:
        active = StaffService(session, rt.keyring).resume(
            cookie, rt.clock.now(), IDLE_TIMEOUT, LIFETIME
        )
        if active is None:
            return None
        client = active.client
        issued = issue_token(client, rt.token_keys, TOKEN_TTL_SECONDS, now=rt.clock.now())
        return Staff(
            username=active.account.username,
            role=client.role,
            enterprise_id=client.enterprise_id,
            channel_id=client.channel_id,
            clerk_id=client.clerk_id,
            csrf_token=active.csrf_token,
            token=issued.access_token,
        )


async def current_staff(request: Request) -> Staff | None:
    """The session the cookie names, if still open (a write: its last use moves to now)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or len(cookie) > 128:
        return None
    return await run_in_threadpool(_resume, runtime(request), cookie)


def set_cookie(response: Response, name: str, value: str, *, http_only: bool = True) -> None:
    response.set_cookie(name, value, secure=True, httponly=http_only, samesite="strict", path="/")


def pre_session_csrf(request: Request) -> str:
    """The double-submit token for forms shown before sign-in (set on the response)."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)


def csrf_ok(request: Request, presented: str | None, staff: Staff | None) -> bool:
    """The form's token is this session's (signed in) or the browser's cookie (not yet)."""
    expected = staff.csrf_token if staff is not None else request.cookies.get(CSRF_COOKIE)
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
