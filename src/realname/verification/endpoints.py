"""The CAMARA APIs for relying parties, at CAMARA's paths, plus consent capture under /v1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager
from datetime import UTC, datetime, time
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from realname.http.deps import Runtime, RuntimeDep
from realname.http.errors import ApiError, ErrorInfo
from realname.http.principals import LineOperator, RelyingPartyAccess, relying_party
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.models import Line
from realname.security.principals import Principal
from realname.verification.audit_batch import AsyncAuditBatcher, AuditBatcher
from realname.verification.counters import Counters
from realname.verification.errors import VerificationError, VerificationErrorCode
from realname.verification.models import Consent
from realname.verification.parties import PartyCache
from realname.verification.repository import VerificationRepository
from realname.verification.schemas import (
    AgeVerificationRequest,
    AgeVerificationResponse,
    CheckSimSwapInfo,
    ConsentIn,
    ConsentOut,
    KycMatchRequest,
    KycMatchResponse,
    NumberVerificationMatchResponse,
    NumberVerificationRequest,
    NumberVerificationShareResponse,
    SimSwapCheckRequest,
    SimSwapDateRequest,
    SimSwapInfo,
    TenureInfo,
    TenureRequest,
)
from realname.verification.service import (
    AsyncKycMatch,
    ClientRateLimiter,
    VerificationService,
)

ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorInfo, "description": "Not allowed, or no consent from the subscriber"},
    404: {"model": ErrorInfo, "description": "IDENTIFIER_NOT_FOUND: number not registered"},
    422: {"model": ErrorInfo, "description": "MISSING_/UNNECESSARY_IDENTIFIER, not applicable"},
    429: {"model": ErrorInfo, "description": "TOO_MANY_REQUESTS or QUOTA_EXCEEDED (Retry-After)"},
}
_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


class CamaraRoute(APIRoute):
    """CAMARA's APIs answer a value outside a field's `minimum`/`maximum` (maxAge 2401,
    ageThreshold 121) with 400 `OUT_OF_RANGE`, not `INVALID_ARGUMENT` (Commonalities); every
    other invalid body stays `INVALID_ARGUMENT`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as error:
                raise camara_refusal(error) from None

        return route


def camara_refusal(error: RequestValidationError) -> Exception:
    """What an invalid CAMARA body is answered with: 400 `OUT_OF_RANGE` when every problem is
    a value past a bound, else the validation error itself (400 `INVALID_ARGUMENT`)."""
    problems = error.errors()
    if problems and all(p.get("type") in _RANGE_ERRORS for p in problems):
        field = ".".join(str(p) for p in problems[0].get("loc", ())[1:]) or "body"
        return VerificationError(
            VerificationErrorCode.OUT_OF_RANGE,
            f"{field} is out of range: {problems[0].get('msg', '')}.",
        )
    return error


router = APIRouter(responses=ERRORS, route_class=CamaraRoute)
consents = APIRouter(
    prefix="/v1",
    tags=["consents"],
    responses={404: {"model": ErrorInfo, "description": "No such line or consent for this caller"}},
)
T = TypeVar("T")
# Each CAMARA operation's caller: a relying party holding the operation's scope.
KYC_MATCHER = RelyingPartyAccess("kyc-match", "kyc-match:match")
KycMatcher = Annotated[Principal, relying_party("kyc-match", "kyc-match:match", KYC_MATCHER)]
SimSwapDateReader = Annotated[Principal, relying_party("sim-swap", "sim-swap:retrieve-date")]
SimSwapChecker = Annotated[Principal, relying_party("sim-swap", "sim-swap:check")]
AgeVerifier = Annotated[
    Principal, relying_party("kyc-age-verification", "kyc-age-verification:verify")
]
TenureChecker = Annotated[Principal, relying_party("kyc-tenure", "kyc-tenure:check-tenure")]
NumberVerifier = Annotated[
    Principal, relying_party("number-verification", "number-verification:verify")
]
NumberSharer = Annotated[
    Principal, relying_party("number-verification", "number-verification:device-phone-number:read")
]


def limiter_of(request: Request, rt: Runtime) -> ClientRateLimiter:
    return _limiter(request.app.state, rt)


def _limiter(state: Any, rt: Runtime) -> ClientRateLimiter:
    limiter = getattr(state, "verification_limiter", None)
    if limiter is None:
        per_worker = max(
            1, rt.policy.verification.calls_per_client_per_minute // rt.settings.workers
        )
        limiter = state.verification_limiter = ClientRateLimiter(per_worker)
    assert isinstance(limiter, ClientRateLimiter)
    return limiter


def answer(request: Request, rt: Runtime, work: Callable[[VerificationService, datetime], T]) -> T:
    """One call. The app factory puts the worker's counters, its cache of relying parties and
    its audit writer on the app's state.

    With the counters in Redis, a call is a read (no transaction on PostgreSQL: one statement
    in autocommit) and its audit entry goes to the worker's audit writer, which commits it in
    a batch before this returns or raises (`audit_batch`): no answer without its entry.
    Otherwise one transaction holds the counters and the audit entry; a refusal marked
    `keep_changes` commits them before it is answered."""
    at = rt.clock.now()
    state = request.app.state
    counters: Counters | None = getattr(state, "verification_counters", None)
    parties: PartyCache | None = getattr(state, "verification_parties", None)
    writer: AuditBatcher | None = getattr(state, "verification_audit", None)
    limiter = limiter_of(request, rt)
    if counters is None or writer is None:
        with rt.transaction(keep_on=_kept) as session:
            service = VerificationService(
                session,
                policy=rt.policy,
                keyring=rt.keyring,
                limiter=limiter,
                counters=counters,
                parties=parties,
            )
            return work(service, at)
    entries: list[dict[str, Any]] = []
    try:
        with _read(rt, state) as session:
            service = VerificationService(
                session,
                policy=rt.policy,
                keyring=rt.keyring,
                limiter=limiter,
                counters=counters,
                parties=parties,
                deferred_audit=entries,
            )
            result = work(service, at)
    except VerificationError as error:
        if error.keep_changes:  # the refusal's audit entry is written before it is answered
            writer.append(entries)
        raise
    writer.append(entries)
    return result


def _read(rt: Runtime, state: Any) -> AbstractContextManager[Session]:
    """A session for reading only: autocommit on PostgreSQL (no BEGIN, no COMMIT: one round
    trip per statement), a read-only transaction elsewhere."""
    reads: sessionmaker[Session] | None = getattr(state, "verification_reads", None)
    return reads() if reads is not None else rt.transaction(readonly=True)


def _kept(error: Exception) -> bool:
    return isinstance(error, VerificationError) and error.keep_changes


@router.post(
    "/kyc-match/v0.4/match",
    tags=["KYC Match"],
    operation_id="KYC_Match",
    response_model=KycMatchResponse,
    response_model_exclude_none=True,
    summary="Match a customer's attributes against the operator's record",
)
async def kyc_match(
    body: KycMatchRequest,
    request: Request,
    rt: RuntimeDep,
    principal: KycMatcher,
) -> dict[str, object]:
    """ "true", "false" or "not_available" per attribute sent; a 0–99 score only for a false
    name or address, never for documents or dates. Needs the subscriber's consent."""
    match: AsyncKycMatch | None = getattr(request.app.state, "verification_kyc", None)
    if match is None:
        return await run_in_threadpool(
            answer,
            request,
            rt,
            lambda s, at: s.kyc_match(principal, at, body.phoneNumber, body.claims()),
        )
    # The async read (Redis counters on PostgreSQL): served by `KycMatchAhead` before
    # FastAPI's routing; reached here only by an app assembled without it.
    return await kyc_match_async(match, request.app.state, rt, principal, body)


async def kyc_match_async(
    match: AsyncKycMatch, state: Any, rt: Runtime, principal: Principal, body: KycMatchRequest
) -> dict[str, object]:
    """One KYC Match call on the event loop (the counters in Redis on PostgreSQL): the gate and
    the match (`AsyncKycMatch`), then its audit entry committed by the worker's writer before
    it answers, or refuses with a refusal that must be remembered (`keep_changes`)."""
    writer: AsyncAuditBatcher | AuditBatcher = state.verification_audit_async or (
        state.verification_audit
    )
    entries: list[dict[str, Any]] = []
    try:
        result = await match(
            principal,
            rt.clock.now(),
            body.phoneNumber,
            body.claims(),
            policy=rt.policy,
            limiter=_limiter(state, rt),
            entries=entries,
        )
    except VerificationError as error:
        if error.keep_changes:  # the refusal's audit entry is committed before it is answered
            await _committed(writer, entries)
        raise
    await _committed(writer, entries)
    return result


async def _committed(
    writer: AsyncAuditBatcher | AuditBatcher, entries: list[dict[str, Any]]
) -> None:
    """Once the batch holding these entries is committed (what its commit raised, else): on
    the event loop's own writer, or awaiting the writer thread's batch (inline audit mode)."""
    if not entries:
        return
    if isinstance(writer, AsyncAuditBatcher):
        await writer.append(entries)
        return
    # The thread's batch future is running from the start: giving up cannot cancel it.
    batch = asyncio.wrap_future(writer.submit(entries))
    await asyncio.wait_for(batch, writer.timeout_seconds)


@router.post(
    "/sim-swap/v2/retrieve-date",
    tags=["SIM Swap"],
    operation_id="retrieveSimSwapDate",
    response_model=SimSwapInfo,
    response_model_exclude_unset=True,  # latestSimChange may be null; monitoredPeriod only then
    summary="When the SIM of this number last changed",
)
async def retrieve_sim_swap_date(
    body: SimSwapDateRequest,
    request: Request,
    rt: RuntimeDep,
    principal: SimSwapDateReader,
) -> dict[str, object]:
    """The latest SIM replacement, transfer or new activation; null beyond the monitored
    period (then monitoredPeriod says how many days are watched)."""
    return await run_in_threadpool(
        answer, request, rt, lambda s, at: s.sim_swap_date(principal, at, body.phoneNumber)
    )


@router.post(
    "/sim-swap/v2/check",
    tags=["SIM Swap"],
    operation_id="checkSimSwap",
    response_model=CheckSimSwapInfo,
    summary="Did the SIM of this number change in the last maxAge hours",
)
async def check_sim_swap(
    body: SimSwapCheckRequest,
    request: Request,
    rt: RuntimeDep,
    principal: SimSwapChecker,
) -> dict[str, object]:
    """maxAge 1–2400 hours (default 240); beyond the policy's monitored period, OUT_OF_RANGE."""
    return await run_in_threadpool(
        answer,
        request,
        rt,
        lambda s, at: s.sim_swap_check(principal, at, body.phoneNumber, body.maxAge),
    )


@router.post(
    "/kyc-age-verification/v0.2/verify",
    tags=["Age Verification"],
    operation_id="verifyAge",
    response_model=AgeVerificationResponse,
    response_model_exclude_none=True,
    summary="Is the subscriber at least ageThreshold years old",
)
async def verify_age(
    body: AgeVerificationRequest,
    request: Request,
    rt: RuntimeDep,
    principal: AgeVerifier,
) -> dict[str, object]:
    """ageCheck from the verified birth date; verifiedStatus when the identity was checked
    with the identity authority. Needs the subscriber's consent. Content lock and parental
    control are not known here: asked for, they answer "not_available"."""
    result: dict[str, object] = await run_in_threadpool(
        answer,
        request,
        rt,
        lambda s, at: s.verify_age(principal, at, body.phoneNumber, body.ageThreshold),
    )
    if body.includeContentLock:
        result["contentLock"] = "not_available"
    if body.includeParentalControl:
        result["parentalControl"] = "not_available"
    return result


@router.post(
    "/kyc-tenure/v0.2/check-tenure",
    tags=["Tenure"],
    operation_id="checkTenure",
    response_model=TenureInfo,
    response_model_exclude_none=True,
    summary="Has the subscriber held this number since tenureDate",
)
async def check_tenure(
    body: TenureRequest,
    request: Request,
    rt: RuntimeDep,
    principal: TenureChecker,
) -> dict[str, object]:
    """True when the current owner has held the line continuously since that date."""
    return await run_in_threadpool(
        answer,
        request,
        rt,
        lambda s, at: s.check_tenure(principal, at, body.phoneNumber, body.tenureDate),
    )


@router.post(
    "/number-verification/v2/verify",
    tags=["Number Verification"],
    operation_id="phoneNumberVerify",
    response_model=NumberVerificationMatchResponse,
    summary="Is this the number of the device the token was issued to",
)
async def verify_number(
    body: NumberVerificationRequest,
    request: Request,
    rt: RuntimeDep,
    principal: NumberVerifier,
) -> dict[str, object]:
    """Needs a three-legged token from the operator's network authentication; compares the
    phoneNumber, or the SHA-256 of the E.164 number, with the token's device."""
    return await run_in_threadpool(
        answer,
        request,
        rt,
        lambda s, at: s.verify_number(principal, at, body.phoneNumber, body.hashedPhoneNumber),
    )


@router.get(
    "/number-verification/v2/device-phone-number",
    tags=["Number Verification"],
    operation_id="phoneNumberShare",
    response_model=NumberVerificationShareResponse,
    summary="The number of the device the token was issued to",
)
async def share_number(
    request: Request,
    rt: RuntimeDep,
    principal: NumberSharer,
) -> dict[str, object]:
    """Needs a three-legged token from the operator's network authentication."""
    return await run_in_threadpool(answer, request, rt, lambda s, at: s.share_number(principal, at))


@consents.post(
    "/lines/{line_id}/consents",
    status_code=201,
    response_model=ConsentOut,
    summary="Record a subscriber's consent for a relying party",
)
def grant_consent(
    line_id: Annotated[int, Path(ge=1, le=2**62)],
    body: ConsentIn,
    rt: RuntimeDep,
    principal: LineOperator,
) -> ConsentOut:
    """The owner agreed (at a counter, in the app) that this bank may check this line; ends
    when it expires, is revoked, or the line changes owner."""
    with rt.transaction() as session:
        line = _own_line(session, principal, line_id)
        party = VerificationRepository(session).relying_party(body.relying_party_client_id)
        if party is None:
            raise ApiError(404, "NOT_FOUND", "No such relying party.", "没有该依赖方。")
        expires = (
            datetime.combine(body.expires_on, time.max, tzinfo=UTC) if body.expires_on else None
        )
        if expires is not None and expires <= rt.clock.now():
            raise ApiError(
                422,
                "REALNAME.CONSENT_EXPIRED",
                "The consent would already have expired.",
                "授权的到期日已过。",
            )
        service = VerificationService(session, policy=rt.policy, keyring=rt.keyring)
        consent = service.grant_consent(
            line, party, list(body.apis), rt.clock.now(), expires, principal.actor
        )
        return _consent_out(consent)


@consents.post(
    "/consents/{consent_id}/revoke",
    response_model=ConsentOut,
    summary="Revoke a subscriber's consent",
)
def revoke_consent(
    consent_id: Annotated[int, Path(ge=1, le=2**62)], rt: RuntimeDep, principal: LineOperator
) -> ConsentOut:
    """From now on the relying party's checks of the line are refused."""
    with rt.transaction() as session:
        consent = VerificationRepository(session).consent(consent_id)
        line = session.get(Line, consent.line_id) if consent is not None else None
        if consent is None or line is None or line.enterprise_id != principal.enterprise_id:
            # Another enterprise's consent reads exactly like one that does not exist.
            raise ApiError(404, "NOT_FOUND", "No such consent.", "没有该授权记录。")
        if consent.revoked_at is None:
            consent.revoked_at = rt.clock.now()
        return _consent_out(consent)


def _consent_out(consent: Consent) -> ConsentOut:
    return ConsentOut(
        id=consent.id,
        line_id=consent.line_id,
        relying_party_id=consent.relying_party_id,
        apis=list(consent.apis),
        expires_at=consent.expires_at.isoformat() if consent.expires_at else None,
    )


def _own_line(session: Session, principal: Principal, line_id: int) -> Line:
    line = session.get(Line, line_id)
    if line is None or line.enterprise_id != principal.enterprise_id:
        raise RegistryError(RegistryErrorCode.LINE_NOT_FOUND)
    return line
