"""One-time codes over HTTP: a clerk's code for a legacy line being back-filled, and a
subscriber's login by a code sent to their number (a line-bound token, `amr: ["otp"]`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from realname.http.deps import RuntimeDep
from realname.http.errors import refusals
from realname.http.idempotency import run_once
from realname.http.params import LineId
from realname.http.principals import ClerkAtCounter, Subscriber, context_of
from realname.http.sources import request_source
from realname.possession.errors import PossessionError, PossessionErrorCode
from realname.possession.schemas import (
    ChallengeOut,
    LineTokenOut,
    LoginCodeIn,
    LoginCodeOut,
    LoginVerifyIn,
)
from realname.possession.service import PossessionService
from realname.security.clients import ClientRepository, issue_line_token

router = APIRouter(
    prefix="/v1",
    tags=["possession"],
    responses=refusals(
        {
            403: "Not allowed, or the code does not prove it",
            404: "No such line for this caller",
            409: "The line needs no proof of possession",
            422: "Refused by the rules (REALNAME.* code)",
            429: "Too many codes asked for; try later",
        }
    ),
)


@router.post(
    "/lines/{line_id}/possession-challenges",
    status_code=status.HTTP_201_CREATED,
    response_model=ChallengeOut,
    summary="Send a one-time code to a legacy line being back-filled",
)
def possession_challenge(
    line_id: LineId, request: Request, rt: RuntimeDep, counter: ClerkAtCounter
) -> JSONResponse:
    """A clerk asks for a six-digit code to be sent by SMS to an unregistered legacy line of
    the enterprise; the customer reads it off the phone and the clerk sends it with the
    registration (`possession: {"method": "otp", "challenge_id", "code"}`). The code is bound
    to this line and this channel, lives the policy's `otp_ttl_seconds` (5 minutes in China),
    is void after `otp_max_attempts` wrong entries, and works once. 409 when the line needs
    no proof, 429 past the per-line or per-channel limit."""

    def work(session: Session) -> ChallengeOut:
        issued = rt.service(PossessionService, session).issue_backfill_code(
            counter.ctx,
            enterprise_id=counter.enterprise_id,
            channel_id=counter.channel_id,
            clerk_id=counter.clerk_id,
            line_id=line_id,
        )
        return ChallengeOut(challenge_id=issued.challenge_id, expires_at=issued.expires_at)

    return run_once(request, rt, counter.principal, _Target(line_id=line_id), 201, work)


class _Target(BaseModel):
    """The request has no body: the idempotency fingerprint is the route and the line."""

    line_id: int


@router.post(
    "/subscriber/otp",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LoginCodeOut,
    summary="Send a login code to a subscriber's number",
)
def login_code(
    body: LoginCodeIn, request: Request, rt: RuntimeDep, principal: Subscriber
) -> LoginCodeOut:
    """The operator's app (a `subscriber` API client) asks for a six-digit login code to be
    sent by SMS to the number the user typed. The answer is the same whether or not the number
    exists, has a registered owner or is this operator's: a code is sent only to a line with an
    owner, active, restricted or suspended. Limited per number and per source: this app and
    the user's address (`end_user_address`, else the caller's own); 429 with `Retry-After`.
    Then `POST /v1/subscriber/otp/verify`."""
    peer = request_source(request, rt.settings.trusted_proxies)
    source = f"{principal.client_id} {body.end_user_address or peer}"
    with rt.transaction() as session:
        issued = rt.service(PossessionService, session).request_login_code(
            context_of(principal, request),
            client_id=principal.client_id,
            client_enterprise_id=principal.enterprise_id,
            phone_number=body.phone_number,
            source=source,
        )
    return LoginCodeOut(
        challenge_id=issued.challenge_id, expires_in=rt.policy.possession.otp_ttl_seconds
    )


@router.post(
    "/subscriber/otp/verify",
    response_model=LineTokenOut,
    summary="Exchange a login code for a token bound to the line",
)
def login_verify(
    body: LoginVerifyIn, request: Request, rt: RuntimeDep, principal: Subscriber
) -> LineTokenOut:
    """The code the user received, for a bearer token bound to that line (claims `line`,
    `ent`, `amr: ["otp"]`; at most REALNAME_OTP_TOKEN_TTL_SECONDS, no refresh). With it the
    app acts for the line's owner: `lock`/`unlock` and the self-service routes. A wrong,
    expired or used code is 403 `REALNAME.CODE_NOT_ACCEPTED` (counted: the code is void after
    the policy's attempts)."""
    ctx = context_of(principal, request)
    with rt.transaction() as session:
        proof = rt.service(PossessionService, session).verify_login_code(
            ctx,
            client_id=principal.client_id,
            client_enterprise_id=principal.enterprise_id,
            challenge_id=body.challenge_id,
            code=body.code,
        )
        client = ClientRepository(session).by_client_id(principal.client_id)
    # The failed attempt is committed above, before the refusal.
    if proof is None or client is None:
        raise PossessionError(PossessionErrorCode.CODE_NOT_ACCEPTED)
    issued = issue_line_token(
        client,
        rt.token_keys,
        proof.line_id,
        proof.enterprise_id,
        rt.settings.otp_token_ttl_seconds,
        owner_identity_id=proof.owner_identity_id,
        now=ctx.at,
    )
    return LineTokenOut(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        scope=issued.scope,
        line_id=proof.line_id,
    )
