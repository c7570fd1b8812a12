"""OAuth2 client-credentials token endpoint (RFC 6749 §4.4) for machine clients."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from realname.api.deps import RuntimeDep
from realname.api.errors import ApiError
from realname.security.clients import ClientService, issue_token

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


@router.post(
    "/oauth/token",
    summary="Get a bearer token (client credentials)",
    response_model=TokenResponse,
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
    with rt.transaction() as session:
        client = ClientService(session).authenticate(client_id, secret)
        if client is None:
            raise ApiError(
                401, "UNAUTHENTICATED", "Unknown client or wrong secret.", "客户端或密钥错误。"
            )
        issued = issue_token(client, rt.token_key, rt.settings.token_ttl_seconds, requested)
    return TokenResponse(
        access_token=issued.access_token, expires_in=issued.expires_in, scope=issued.scope
    )
