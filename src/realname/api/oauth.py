"""OAuth2 client-credentials token endpoint (RFC 6749 §4.4) for machine clients.

Failed logins are throttled per client id and per source address (`security.throttle`,
counted in the database so every worker shares them), and the scrypt check runs in a worker
thread: a burst of bad logins must not stall the event loop that serves everyone else.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from realname.http.deps import Runtime, RuntimeDep
from realname.http.errors import ApiError, ErrorInfo
from realname.http.sources import request_source
from realname.security.clients import ClientService, IssuedToken, issue_token
from realname.security.throttle import login_throttler

router = APIRouter(tags=["authentication"])
MAX_FORM_BYTES, MAX_FORM_FIELDS = 16_384, 64


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = Field(default="Bearer", examples=["Bearer"])
    expires_in: int = Field(examples=[900])
    scope: str = Field(examples=["registry:write registry:read"])


def _client_credentials(request: Request, form: dict[str, list[str]]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode()
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return form.get("client_id", [""])[0], form.get("client_secret", [""])[0]


def _exchange(
    rt: Runtime, client_id: str, secret: str, source: str, requested: Sequence[str] | None
) -> IssuedToken:
    """Throttle check, secret check, bookkeeping, token: blocking work, run in a thread."""
    now = rt.clock.now()
    throttle = login_throttler(rt.settings)
    # The attempt is counted (under the counters' row locks) before the secret is checked, so
    # simultaneous guesses cannot slip past the limit between a check and a count.
    with rt.transaction() as session:
        retry_after = throttle.claim_attempt(session, client_id, source, now)
    if retry_after is not None:
        raise ApiError(
            429,
            "TOO_MANY_REQUESTS",
            "Too many failed logins; retry later.",
            "登录失败次数过多，请稍后再试。",
            retry_after=retry_after,
        )
    with rt.transaction(readonly=True) as session:  # SQLite: no write lock
        client = ClientService(session, rt.keyring).authenticate(client_id, secret)
        issued = (
            issue_token(client, rt.token_keys, rt.settings.token_ttl_seconds, requested, now=now)
            if client is not None
            else None
        )
    if issued is None:
        raise ApiError(
            401, "UNAUTHENTICATED", "Unknown client or wrong secret.", "客户端或密钥错误。"
        )
    with rt.transaction() as session:
        throttle.record_success(session, client_id, source)
    return issued


@router.post(
    "/oauth/token",
    summary="Get a bearer token (client credentials)",
    response_model=TokenResponse,
    responses={
        429: {
            "model": ErrorInfo,
            "description": "Too many failed logins for this client or from this address; "
            "see Retry-After",
        }
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                            "scope": {"type": "string"},
                        },
                    }
                }
            },
            "required": True,
        }
    },
)
async def token(request: Request, rt: RuntimeDep) -> TokenResponse:
    """Exchange client credentials (HTTP Basic or form fields) for a short-lived bearer token."""
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise ApiError(400, "INVALID_ARGUMENT", "The token request is too large.")
    try:
        # Unknown parameters are ignored (RFC 6749 §3.2), but not without bound.
        form = parse_qs(raw.decode("utf-8"), max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "INVALID_ARGUMENT", "The token request is not a valid form.") from None
    if form.get("grant_type", [""])[0] != "client_credentials":
        raise ApiError(400, "INVALID_ARGUMENT", "grant_type must be client_credentials.")
    client_id, secret = _client_credentials(request, form)
    requested = form.get("scope", [""])[0].split() or None
    source = request_source(request, rt.settings.trusted_proxies)
    issued = await run_in_threadpool(_exchange, rt, client_id, secret, source, requested)
    return TokenResponse(
        access_token=issued.access_token, expires_in=issued.expires_in, scope=issued.scope
    )
