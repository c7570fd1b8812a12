"""Proof of possession: one-time codes sent to a line, ICCID and usage proofs.

- **One-time codes.** Six random digits, stored only as a keyed hash (HMAC under the
  blind-index key, context `possession.otp`, bound to the challenge's public id), bound to
  the line, the purpose (`backfill`, `login`) and who asked (the channel; the subscriber
  app's client), living `otp_ttl_seconds`, void after `otp_max_attempts` wrong entries, used
  once. The SMS carrying the code is queued in the outbox in the same transaction, its body
  sealed (AES-GCM, `messaging.seal_body`): the code is in clear only in the sender's memory
  and in the message the subscriber receives.
- **ICCID** is compared with the line's row; **usage** with the usage feed's keyed hashes
  (last top-up amount and a number called recently, both needed).
- **Attempts** at a back-fill code are claimed before the code is compared, under a lock on
  the challenge row, outside what the registration's refusal rolls back
  (`check_backfill_code`, which the API runs before the registration's savepoint): at most
  `otp_max_attempts` codes are compared, however many requests race.
- **Failures** are returned to the entry point (`PossessionError.failure`), which records
  them after rolling the refused request back (`record_failure`): a refusal leaves no state
  but the counted failure and attempt, which channel risk then reads.

Every method only flushes; the entry point owns the transaction.
"""

from __future__ import annotations

import hmac
import math
import secrets
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy.orm import Session

from realname.messaging.service import enqueue, seal_body
from realname.numbering.errors import NumberError
from realname.numbering.msisdn import parse_msisdn
from realname.policy.schema import Policy, PossessionMethod
from realname.possession.errors import FailedProof, PossessionError, PossessionErrorCode
from realname.possession.models import LineUsage, PossessionChallenge, PossessionFailure
from realname.possession.repository import PossessionRepository
from realname.possession.usage import UsageRow, parse_usage_row
from realname.registry.commands import (
    Context,
    IccidClaim,
    OtpClaim,
    PossessionClaim,
    PossessionProof,
    UsageClaim,
)
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.lifecycle import LineState, is_unregistered_legacy
from realname.registry.models import Line
from realname.registry.rows import LineRow
from realname.registry.service import RegistryService
from realname.security.vault import KeyRing

E = PossessionErrorCode
BACKFILL, LOGIN = "backfill", "login"
OTP_CONTEXT = "possession.otp"
NUMBER_CONTEXT = "possession.number"
SOURCE_CONTEXT = "possession.source"
TOPUP_CONTEXT = "possession.topup"
CALLED_CONTEXT = "possession.called"
DIGEST_BYTES = 32
# Lines a subscriber may log in to by a code: an owner to act for, service not ended.
LOGIN_STATES = frozenset({LineState.ACTIVE, LineState.RESTRICTED, LineState.SUSPENDED})
_PUBLIC_ID_ALPHABET = string.ascii_letters  # letters only: never a digit run in a text column
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class IssuedCode:
    """A challenge as its requester learns it. `code` is for the SMS only (and for the
    synthetic world, whose customer reads it off the phone); no API answer carries it."""

    challenge_id: str
    expires_at: datetime
    code: str = field(repr=False)
    sent: bool


@dataclass(frozen=True)
class CheckedCode:
    """A back-fill code `check_backfill_code` found right; its attempt is already counted."""

    challenge_id: int
    public_id: str
    line_id: int


@dataclass(frozen=True)
class LoginProof:
    line_id: int
    enterprise_id: int
    owner_identity_id: int | None  # whom the token stands for: the line's owner at login


@dataclass
class UsageImportResult:
    loaded: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def new_public_id(length: int = 24) -> str:
    """A random id a caller holds (a challenge's, a case's): letters only, never a digit run
    in a text column."""
    return "".join(secrets.choice(_PUBLIC_ID_ALPHABET) for _ in range(length))


class PossessionService:
    def __init__(
        self, session: Session, *, policy: Policy, keyring: KeyRing, registry: RegistryService
    ) -> None:
        self.session = session
        self.repo = PossessionRepository(session)
        self.policy = policy
        self.rules = policy.possession
        self.keyring = keyring
        self.registry = registry

    # --- digests ----------------------------------------------------------------------------

    def _code_digest(self, public_id: str, code: str) -> bytes:
        return self.keyring.blind_index(f"{public_id}:{code}", OTP_CONTEXT)

    def _number_digest(self, e164: str) -> bytes:
        return self.keyring.blind_index(e164, NUMBER_CONTEXT)

    def _topup_digest(self, line_id: int, minor: int) -> bytes:
        return self.keyring.blind_index(f"{line_id}:{minor}", TOPUP_CONTEXT)

    def _called_digest(self, line_id: int, e164: str) -> bytes:
        return self.keyring.blind_index(f"{line_id}:{e164}", CALLED_CONTEXT)

    # --- one-time codes for a back-fill -----------------------------------------------------

    def issue_backfill_code(
        self, ctx: Context, *, enterprise_id: int, channel_id: int, clerk_id: int, line_id: int
    ) -> IssuedCode:
        """A clerk asks for a code to be sent to a legacy line the customer says they hold."""
        if PossessionMethod.OTP not in self.rules.backfill_methods:
            raise PossessionError(E.METHOD_NOT_ACCEPTED)
        channel = self.registry.channel(enterprise_id, channel_id)
        if channel.status != "active":
            raise RegistryError(RegistryErrorCode.CHANNEL_NOT_AUTHORISED)
        clerk = self.registry.repo.clerk(clerk_id)
        if clerk is None or clerk.channel_id != channel.id or clerk.status != "active":
            raise RegistryError(RegistryErrorCode.CLERK_NOT_AUTHORISED)
        line = self.repo.line_for_update(line_id)  # one issuer at a time per line: exact limit
        if line is None or line.enterprise_id != enterprise_id:
            raise RegistryError(RegistryErrorCode.LINE_NOT_FOUND)
        if not is_unregistered_legacy(line.state, line.owner_identity_id):
            raise PossessionError(E.CHALLENGE_NOT_APPLICABLE)
        since = ctx.at - _HOUR
        number = self._number_digest(line.msisdn)
        if (
            self.repo.issued_for_number(BACKFILL, number, since) >= self.rules.otp_per_line_per_hour
            or self.repo.issued_by_channel(channel_id, since)
            >= self.rules.otp_per_requester_per_hour
        ):
            raise PossessionError(E.CHALLENGE_RATE_LIMITED)
        text = (
            "【实名登记】验证码 {code}：营业厅正在为本号码补登记实名信息，{minutes} 分钟内有效。"
            "如您不在营业厅办理，请勿将验证码告诉任何人。"
            " Code {code}: a counter is registering this number to an ID. If that is not you, "
            "tell no one."
        )
        return self._issue(
            ctx,
            purpose=BACKFILL,
            line=line,
            number=number,
            requester=f"channel:{channel_id}",
            channel_id=channel_id,
            source=None,
            text=text,
        )

    def _issue(
        self,
        ctx: Context,
        *,
        purpose: str,
        line: Line | None,
        number: bytes,
        requester: str,
        channel_id: int | None,
        source: bytes | None,
        text: str,
    ) -> IssuedCode:
        public_id, code = new_public_id(), new_code()
        expires_at = ctx.at + timedelta(seconds=self.rules.otp_ttl_seconds)
        challenge = PossessionChallenge(
            public_id=public_id,
            purpose=purpose,
            line_id=line.id if line is not None else None,
            enterprise_id=line.enterprise_id if line is not None else None,
            number_digest=number,
            requester=requester[:64],
            channel_id=channel_id,
            source_digest=source,
            code_digest=self._code_digest(public_id, code),
            attempts=0,
            max_attempts=self.rules.otp_max_attempts,
            created_at=ctx.at,
            expires_at=expires_at,
        )
        self.repo.add(challenge)
        self.session.flush()
        if line is not None:
            minutes = max(1, self.rules.otp_ttl_seconds // 60)
            enqueue(
                self.session,
                dedupe_key=f"otp:{public_id}",
                enterprise_id=line.enterprise_id,
                line_id=line.id,
                destination=line.msisdn,
                kind=f"otp.{purpose}",
                body=seal_body(self.keyring, text.format(code=code, minutes=minutes)),
                at=ctx.at,
            )
        return IssuedCode(public_id, expires_at, code, line is not None)

    # --- proving possession for a back-fill -------------------------------------------------

    def _backfill_line(self, enterprise_id: int, msisdn: str) -> Line | None:
        """The line a back-fill of this number would need a proof for, if any."""
        if not self.rules.backfill_methods:
            return None
        try:
            line = self.registry.repo.line(parse_msisdn(msisdn).e164)
        except NumberError:
            return None
        return line if self._needs_proof(line, enterprise_id) else None

    def _needs_proof(self, line: Line | LineRow | None, enterprise_id: int) -> bool:
        return (
            line is not None
            and bool(self.rules.backfill_methods)
            and line.enterprise_id == enterprise_id
            and is_unregistered_legacy(line.state, line.owner_identity_id)
        )

    def check_backfill_code(
        self,
        ctx: Context,
        *,
        enterprise_id: int,
        channel_id: int,
        clerk_id: int,
        msisdn: str,
        claim: PossessionClaim | None,
    ) -> CheckedCode | None:
        """Step one of a back-fill by one-time code, run BEFORE the registration and outside
        what its refusal rolls back (the API: in the request's transaction, before the
        registration's savepoint). Counts this attempt at the challenge first (a conditional
        UPDATE that locks the challenge row until the request's transaction ends, so
        concurrent guesses queue and each sees the attempts before it), then compares the
        code: at most `otp_max_attempts` codes are ever compared, under any concurrency. A
        wrong code raises PossessionError (its failure to record with the refusal; the attempt
        is already counted). Hand the result to `prove_for_backfill`. None when there is no
        code to check (no OTP claim, or a line that needs no proof)."""
        if (
            not isinstance(claim, OtpClaim)
            or PossessionMethod.OTP not in self.rules.backfill_methods
        ):
            return None
        line = self._backfill_line(enterprise_id, msisdn)
        if line is None:
            return None
        failed = self._failer(ctx, enterprise_id, channel_id, clerk_id, line)
        return self._check_code(ctx, line, channel_id, claim, failed, counted=True)

    def _failer(
        self,
        ctx: Context,
        enterprise_id: int,
        channel_id: int,
        clerk_id: int,
        line: Line | LineRow,
    ) -> Callable[..., NoReturn]:
        def failed(code: PossessionErrorCode, method: str, reason: str, **more: int) -> NoReturn:
            failure = FailedProof(
                purpose=BACKFILL,
                method=method,
                reason=reason,
                requester=str(ctx.actor)[:64],
                enterprise_id=enterprise_id,
                line_id=line.id,
                channel_id=channel_id,
                clerk_id=clerk_id,
                **more,
            )
            raise PossessionError(code, failure)

        return failed

    def _check_code(
        self,
        ctx: Context,
        line: Line | LineRow,
        channel_id: int,
        claim: OtpClaim,
        failed: Callable[..., NoReturn],
        *,
        counted: bool,
    ) -> CheckedCode:
        """Claim an attempt at the challenge, then compare. `counted`: the attempt survives a
        refusal (claimed outside its rollback), so the failure must not count it again."""
        method = str(PossessionMethod.OTP)
        challenge = self.repo.challenge(claim.challenge_id)
        if (
            challenge is None
            or challenge.purpose != BACKFILL
            or challenge.line_id != line.id
            or challenge.channel_id != channel_id
        ):
            failed(E.CHALLENGE_INVALID, method, "wrong_challenge")
        if not self.repo.claim_attempt(challenge.id, ctx.at):
            failed(E.CHALLENGE_INVALID, method, "challenge_spent")
        if not hmac.compare_digest(
            challenge.code_digest, self._code_digest(challenge.public_id, claim.code)
        ):
            more = {} if counted else {"challenge_id": challenge.id}
            failed(E.POSSESSION_NOT_PROVEN, method, "wrong_code", **more)
        return CheckedCode(challenge.id, challenge.public_id, line.id)

    def prove_for_backfill(
        self,
        ctx: Context,
        *,
        enterprise_id: int,
        channel_id: int,
        clerk_id: int,
        msisdn: str | None = None,
        line: Line | LineRow | None = None,
        claim: PossessionClaim | None,
        checked: CheckedCode | None = None,
    ) -> PossessionProof | None:
        """The proof the registry needs to back-fill this line, or None when the line needs
        none (a stocked kit, an unknown number: the registry refuses those itself).
        PossessionError (with `failure` to record once rolled back) when the proof fails.
        The line is read here by `msisdn`, or given as the caller read it (`line`: the
        registration asks with the line it locked, `RegistryService.register(prove=...)`).

        A one-time code: pass what `check_backfill_code` returned (it counted the attempt
        and compared the code where a refusal does not undo it); this only uses the code up.
        Without `checked` the attempt is claimed and compared here, and a wrong code's attempt
        is counted again by `record_failure` after the rollback: exact for one caller at a
        time (the simulation), NOT under concurrency, which entry points must use
        `check_backfill_code` for."""
        if msisdn is not None:
            line = self._backfill_line(enterprise_id, msisdn)
        if line is None or not self._needs_proof(line, enterprise_id):
            return None
        failed = self._failer(ctx, enterprise_id, channel_id, clerk_id, line)
        if claim is None:
            failed(E.POSSESSION_NOT_PROVEN, "none", "missing")
        method = _method_of(claim)
        if method not in self.rules.backfill_methods:
            raise PossessionError(E.METHOD_NOT_ACCEPTED)
        if isinstance(claim, OtpClaim):
            if checked is None:
                checked = self._check_code(ctx, line, channel_id, claim, failed, counted=False)
            elif checked.public_id != claim.challenge_id or checked.line_id != line.id:
                failed(E.CHALLENGE_INVALID, method, "wrong_challenge")
            if not self.repo.consume(checked.challenge_id, ctx.at):
                failed(E.CHALLENGE_INVALID, method, "challenge_spent")
            return PossessionProof(line.id, method)
        # ICCID and usage can be tried without a code: a failure budget per line and day.
        guessable = (str(PossessionMethod.ICCID), str(PossessionMethod.USAGE))
        if (
            self.repo.failures_of_line(line.id, guessable, ctx.at - timedelta(days=1))
            >= self.rules.failed_proofs_per_line_per_day
        ):
            raise PossessionError(E.PROOFS_LOCKED)
        if isinstance(claim, IccidClaim):
            if not line.iccid:
                raise PossessionError(E.METHOD_UNAVAILABLE)
            if not hmac.compare_digest(line.iccid.upper().encode(), claim.iccid.upper().encode()):
                failed(E.POSSESSION_NOT_PROVEN, method, "wrong_iccid")
            return PossessionProof(line.id, method)
        assert isinstance(claim, UsageClaim)
        usage = self.repo.usage(line.id)
        fresh_after = ctx.at - timedelta(days=self.rules.usage_max_age_days)
        if (
            usage is None
            or usage.topup_digest is None
            or not usage.called_digests
            or usage.last_used_at is None
            or usage.last_used_at < fresh_after
        ):
            raise PossessionError(E.METHOD_UNAVAILABLE)
        topup_ok = hmac.compare_digest(
            usage.topup_digest, self._topup_digest(line.id, claim.last_topup_minor)
        )
        try:
            called = self._called_digest(line.id, parse_msisdn(claim.called_number).e164)
        except NumberError:
            called = b"\x00" * DIGEST_BYTES
        called_ok = False
        for start in range(0, len(usage.called_digests), DIGEST_BYTES):
            known = usage.called_digests[start : start + DIGEST_BYTES]
            called_ok = hmac.compare_digest(known, called) or called_ok
        if not (topup_ok and called_ok):
            failed(E.POSSESSION_NOT_PROVEN, method, "wrong_usage")
        return PossessionProof(line.id, method)

    def record_failure(self, failure: FailedProof, at: datetime) -> None:
        """After the refused request was rolled back: the failure (once per refused request),
        and the code's attempt if the failure carries one (a wrong code proved without
        `check_backfill_code`, whose attempt the rollback undid)."""
        self.repo.add(
            PossessionFailure(
                enterprise_id=failure.enterprise_id,
                line_id=failure.line_id,
                channel_id=failure.channel_id,
                clerk_id=failure.clerk_id,
                requester=failure.requester[:64],
                purpose=failure.purpose,
                method=failure.method,
                reason=failure.reason,
                occurred_at=at,
            )
        )
        if failure.challenge_id is not None:
            self.repo.count_failed_attempt(failure.challenge_id)
        self.session.flush()

    # --- a subscriber's one-time-code login -------------------------------------------------

    def request_login_code(
        self,
        ctx: Context,
        *,
        client_id: str,
        client_enterprise_id: int | None,
        phone_number: str,
        source: str,
    ) -> IssuedCode:
        """Send a login code to a number, if a subscriber can log in with it. The answer, the
        rate limits and the rows written are the same whether the number exists, has an
        owner, or belongs to another operator: only the SMS is missing."""
        try:
            e164 = parse_msisdn(phone_number).e164
        except NumberError as error:
            raise RegistryError(RegistryErrorCode.NUMBER_INVALID, str(error.code)) from None
        number = self._number_digest(e164)
        source_digest = self.keyring.blind_index(source, SOURCE_CONTEXT)
        since = ctx.at - _HOUR
        if (
            self.repo.issued_for_number(LOGIN, number, since) >= self.rules.otp_per_line_per_hour
            or self.repo.issued_to_source(source_digest, since)
            >= self.rules.otp_per_requester_per_hour
        ):
            oldest = self.repo.oldest_login_since(number, source_digest, since) or ctx.at
            refused = PossessionError(E.CHALLENGE_RATE_LIMITED)
            refused.retry_after = max(1, math.ceil((oldest + _HOUR - ctx.at).total_seconds()))
            raise refused
        line = self.registry.repo.line(e164)
        if line is None or not _may_log_in(line, client_enterprise_id):
            line = None
        text = (
            "【实名登记】登录验证码 {code}，{minutes} 分钟内有效，请勿告诉任何人。"
            " Your login code is {code}. Never share it."
        )
        return self._issue(
            ctx,
            purpose=LOGIN,
            line=line,
            number=number,
            requester=client_id,
            channel_id=None,
            source=source_digest,
            text=text,
        )

    def verify_login_code(
        self,
        ctx: Context,
        *,
        client_id: str,
        client_enterprise_id: int | None,
        challenge_id: str,
        code: str,
    ) -> LoginProof | None:
        """The line the code proves, or None. A wrong attempt is counted in this same
        transaction (the entry point commits it before it answers), so it cannot be undone by
        the refusal; of concurrent twins with the right code exactly one gets the line."""

        def failed(reason: str, challenge: PossessionChallenge | None = None) -> None:
            self.repo.add(
                PossessionFailure(
                    enterprise_id=challenge.enterprise_id if challenge else None,
                    line_id=challenge.line_id if challenge else None,
                    requester=client_id[:64],
                    purpose=LOGIN,
                    method=str(PossessionMethod.OTP),
                    reason=reason,
                    occurred_at=ctx.at,
                )
            )
            self.session.flush()

        challenge = self.repo.challenge(challenge_id)
        if challenge is None or challenge.purpose != LOGIN or challenge.requester != client_id:
            failed("wrong_challenge")
            return None
        if not self.repo.claim_attempt(challenge.id, ctx.at):
            failed("challenge_spent", challenge)
            return None
        digest = self._code_digest(challenge.public_id, code)
        if not hmac.compare_digest(challenge.code_digest, digest) or challenge.line_id is None:
            failed("wrong_code", challenge)
            return None
        line = self.session.get(Line, challenge.line_id)
        if line is None or not _may_log_in(line, client_enterprise_id):
            failed("not_eligible", challenge)
            return None
        if not self.repo.consume(challenge.id, ctx.at):
            failed("challenge_spent", challenge)
            return None
        return LoginProof(line.id, line.enterprise_id, line.owner_identity_id)

    # --- the usage feed ---------------------------------------------------------------------

    def import_usage(
        self, enterprise_id: int, rows: Iterable[tuple[int, dict[str, str]]], at: datetime
    ) -> UsageImportResult:
        """Load usage rows (line number, fields): a bad row is reported with its line number
        and why, the good ones land. A row replaces what the feed said before about its line."""
        result = UsageImportResult()
        parsed: list[tuple[int, str, UsageRow]] = []
        first_line: dict[str, int] = {}
        for number, row in rows:
            try:
                usage = parse_usage_row(row, at)
            except ValueError as error:
                result.rejected.append((number, str(error)))
                continue
            if usage.msisdn in first_line:  # which of two rows is the feed's word? neither
                result.rejected.append(
                    (number, f"msisdn given already on line {first_line[usage.msisdn]}")
                )
                continue
            first_line[usage.msisdn] = number
            parsed.append((number, usage.msisdn, usage))
        lines = self.repo.lines_by_number(enterprise_id, sorted({m for _, m, _ in parsed}))
        for number, msisdn, usage in parsed:
            line_id = lines.get(msisdn)
            if line_id is None:
                result.rejected.append((number, "no such line at this enterprise"))
                continue
            row_ = self.repo.usage(line_id)
            if row_ is None:
                row_ = LineUsage(line_id=line_id, reported_at=at)
                self.repo.add(row_)
            row_.last_used_at = usage.last_used_at
            row_.last_topup_at = usage.last_topup_at
            row_.topup_digest = (
                self._topup_digest(line_id, usage.last_topup_minor)
                if usage.last_topup_minor is not None
                else None
            )
            row_.called_digests = (
                b"".join(self._called_digest(line_id, c) for c in usage.called) or None
            )
            row_.reported_at = at
            result.loaded += 1
        self.session.flush()
        result.rejected.sort()
        return result


# --- pure helpers ------------------------------------------------------------------------------


def _method_of(claim: PossessionClaim | None) -> str:
    if isinstance(claim, OtpClaim):
        return str(PossessionMethod.OTP)
    if isinstance(claim, IccidClaim):
        return str(PossessionMethod.ICCID)
    return str(PossessionMethod.USAGE)


def _may_log_in(line: Line, client_enterprise_id: int | None) -> bool:
    """A subscriber logs in to a line with an owner (the token then stands for that owner's
    line), in service, of the app's own operator. A legacy line has no owner: its holder
    proves it at a counter, where the back-fill gives it one."""
    return (
        line.owner_identity_id is not None
        and line.state in LOGIN_STATES
        and (client_enterprise_id is None or line.enterprise_id == client_enterprise_id)
    )
