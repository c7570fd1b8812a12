"""一证通查: a subscriber learns, at once, how many lines every enterprise holds under their
document, and disputes one that is not theirs.

1. **Ask for a code** with a document type and number, a name and one of their mobile numbers.
   When the national index holds that document, the name matches (by the platform's keyed
   name index) and the identity holds that number, a six-digit code is queued in the outbox
   (body sealed) to that number. Whatever the case, the answer is the same: a challenge id.
   The per-identity limit counts requests by the index of what was typed, known or not; the
   per-source limit by the caller's address (keyed too).
2. **Answer with the code**: the lines in service per enterprise, numbers masked. A wrong
   code, an expired or used-up challenge and a challenge for nobody answer the one refusal,
   `LOOKUP_NOT_PROVED`, and each try counts.
3. **Dispute** a line of the answer as "not mine" while the answer is fresh: disputes.py, on
   this service's proved-answer check (`proved_identity`), keys, limits and audit.

Every step is audited (keys and counts only). Services flush; entry points commit.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import ceil

from sqlalchemy.orm import Session

from realname.config import Settings
from realname.messaging.service import enqueue, seal_body
from realname.national.feeds.keys import PlatformKeys
from realname.national.index.repository import IndexRepository
from realname.national.lookup.errors import LookupErrorCode, NationalLookupError
from realname.national.lookup.models import NationalLookupChallenge
from realname.national.lookup.repository import LookupRepository
from realname.numbering.errors import NumberError
from realname.numbering.msisdn import mask_msisdn, parse_msisdn
from realname.policy.schema import Policy
from realname.possession.service import new_code, new_public_id
from realname.security.audit import append_audit
from realname.security.vault import KeyRing

L = LookupErrorCode
OBJECT = "national_lookup"
CODE_CONTEXT = b"national.lookup.code\x00"
SOURCE_CONTEXT = b"national.lookup.source\x00"
_DAY, _HOUR = timedelta(days=1), timedelta(hours=1)


# The longest window a lookup row still counts in: the per-identity day (the per-source hour,
# a code's life, at most 30 minutes, and a proved answer's disputes, at most an hour, are
# shorter: config.py bounds them).
LONGEST_WINDOW = _DAY


def purge_lookup_rows(session: Session, at: datetime) -> tuple[int, int]:
    """Housekeeping (`realname backfill run`): the challenges issued, and the limit-lock rows
    last used, before the longest window: no limit counts them, no answer or dispute can use
    them. (challenges, locks) deleted. Only flushes."""
    return LookupRepository(session).purge_before(at - LONGEST_WINDOW)


@dataclass(frozen=True)
class LookupLimits:
    code_ttl_seconds: int = 300
    max_attempts: int = 3
    per_identity_per_day: int = 3
    per_source_per_hour: int = 10
    answer_seconds: int = 900
    dispute_days: int = 15

    @classmethod
    def from_settings(cls, settings: Settings, policy: Policy) -> LookupLimits:
        return cls(
            code_ttl_seconds=settings.national_lookup_code_ttl_seconds,
            max_attempts=settings.national_lookup_max_attempts,
            per_identity_per_day=settings.national_lookup_per_identity_per_day,
            per_source_per_hour=settings.national_lookup_per_source_per_hour,
            answer_seconds=settings.national_lookup_answer_seconds,
            dispute_days=policy.risk.dispute_answer_days,
        )


@dataclass(frozen=True)
class Issued:
    challenge_id: str
    expires_at: datetime
    code: str | None = field(default=None, repr=False)  # for the SMS only (and the demo)


@dataclass(frozen=True)
class LineShown:
    line_ref: int
    msisdn_masked: str
    state: str


@dataclass(frozen=True)
class EnterpriseLines:
    enterprise: str
    name: str
    kind: str
    active_lines: int
    lines: list[LineShown]


@dataclass(frozen=True)
class Answer:
    total: int
    enterprises: list[EnterpriseLines]
    answered_at: datetime


class LookupService:
    def __init__(
        self,
        session: Session,
        *,
        keys: PlatformKeys,
        keyring: KeyRing,
        limits: LookupLimits,
    ) -> None:
        self.session = session
        self.keys = keys
        self.keyring = keyring
        self.limits = limits
        self.index = IndexRepository(session)
        self.repo = LookupRepository(session)

    @classmethod
    def configured(
        cls,
        session: Session,
        *,
        keys: PlatformKeys,
        keyring: KeyRing,
        settings: Settings,
        policy: Policy,
    ) -> LookupService:
        """The one way every entry point (the API, the CLI, the demo) builds it: the limits
        from the settings, the dispute deadline from the policy."""
        return cls(
            session,
            keys=keys,
            keyring=keyring,
            limits=LookupLimits.from_settings(settings, policy),
        )

    def mac(self, context: bytes, value: str) -> bytes:
        """The platform's keyed digest of `value` in `context` (a code, a caller, a dispute's
        person and line): what is stored or locked on instead of the value."""
        return hmac.digest(self.keys.index_key, context + value.encode(), "sha256")

    def issue(
        self,
        *,
        doc_type: str,
        doc_number: str,
        name: str,
        msisdn: str,
        source: str,
        at: datetime,
    ) -> Issued:
        doc_type, doc_number, name = doc_type.strip(), doc_number.strip(), name.strip()
        if not doc_type or not doc_number or not name:
            raise NationalLookupError(L.LOOKUP_INPUT_INVALID)
        try:
            e164 = parse_msisdn(msisdn).e164
        except NumberError:
            raise NationalLookupError(L.LOOKUP_INPUT_INVALID) from None
        requested = self.keys.identity_key(doc_type, doc_number)
        source_key = self.mac(SOURCE_CONTEXT, source)
        # Counted under each key's lock: exact when requests come at once (PostgreSQL's READ
        # COMMITTED let every concurrent request count the same total below the limit).
        self.repo.lock_keys([("source", source_key), ("identity", requested)], at)
        for column, key, window, limit in (
            (
                NationalLookupChallenge.source_key,
                source_key,
                _HOUR,
                self.limits.per_source_per_hour,
            ),
            (
                NationalLookupChallenge.requested_key,
                requested,
                _DAY,
                self.limits.per_identity_per_day,
            ),
        ):
            count, oldest = self.repo.window(column, key, at - window)
            if count >= limit:
                # when the oldest counted request leaves the window (the per-identity window
                # is a day: "an hour" sent the caller back to another 429)
                wait = (oldest + window - at).total_seconds() if oldest else window.total_seconds()
                raise NationalLookupError(L.LOOKUP_RATE_LIMITED, retry_after=max(1, ceil(wait)))
        identity = self.index.identity(requested)
        line = None
        if identity is not None:
            # document + name + number, on the line that holds the number: the name is the one
            # that line's enterprise registered it under (another enterprise's feed cannot
            # change it)
            typed = self.keys.name_key(name)
            line = next(
                (
                    held
                    for held in self.index.held_numbers(identity.id, e164)
                    if held.name_key is not None and hmac.compare_digest(held.name_key, typed)
                ),
                None,
            )
        public_id = new_public_id()
        code = new_code() if line is not None else None
        expires = at + timedelta(seconds=self.limits.code_ttl_seconds)
        self.repo.add(
            NationalLookupChallenge(
                public_id=public_id,
                requested_key=requested,
                identity_id=identity.id if line is not None and identity is not None else None,
                source_key=source_key,
                code_digest=self.mac(CODE_CONTEXT, f"{public_id}:{code}") if code else None,
                sent=line is not None,
                issued_at=at,
                expires_at=expires,
                attempts=0,
            )
        )
        if line is not None and code is not None:
            minutes = max(1, self.limits.code_ttl_seconds // 60)
            text = (
                f"【一证通查】验证码 {code}，{minutes} 分钟内有效，用于查询您名下的电话号码。"
                f"如非本人操作，请勿告诉他人。 Code {code}: a lookup of the numbers under "
                "your ID. If that is not you, tell no one."
            )
            enqueue(
                self.session,
                dedupe_key=f"national-lookup:{public_id}",
                enterprise_id=line.enterprise_id,
                line_id=None,
                destination=e164,
                kind="national_lookup",
                body=seal_body(self.keyring, text),
                at=at,
            )
        self.session.flush()
        self.audit("national.lookup.code", public_id, at, {"sent": line is not None})
        return Issued(public_id, expires, code)

    def answer(self, *, challenge_id: str, code: str, at: datetime) -> Answer:
        """The lines, or LOOKUP_NOT_PROVED for every kind of failure (the try is counted:
        the entry point keeps this transaction on that refusal)."""
        challenge = self.repo.challenge(challenge_id)
        if challenge is None:
            raise NationalLookupError(L.LOOKUP_NOT_PROVED)
        challenge.attempts += 1
        self.session.flush()
        right = challenge.code_digest is not None and hmac.compare_digest(
            challenge.code_digest, self.mac(CODE_CONTEXT, f"{challenge.public_id}:{code}")
        )
        if (
            not right
            or challenge.identity_id is None
            or challenge.proved_at is not None
            or challenge.expires_at <= at
            or challenge.attempts > self.limits.max_attempts
        ):
            self.audit("national.lookup.refused", challenge.public_id, at, {})
            raise NationalLookupError(L.LOOKUP_NOT_PROVED)
        challenge.proved_at = at
        answer = self._lines(challenge.identity_id, at)
        self.audit(
            "national.lookup.answer",
            challenge.public_id,
            at,
            {"lines": answer.total, "enterprises": len(answer.enterprises)},
        )
        return answer

    def _lines(self, identity_id: int, at: datetime) -> Answer:
        grouped: dict[str, EnterpriseLines] = {}
        for line, enterprise in self.index.held_lines(identity_id):
            entry = grouped.get(enterprise.code)
            if entry is None:
                entry = grouped[enterprise.code] = EnterpriseLines(
                    enterprise.code, enterprise.name, enterprise.kind, 0, []
                )
            entry.lines.append(LineShown(line.id, mask_msisdn(line.msisdn), line.state))
        enterprises = [
            EnterpriseLines(e.enterprise, e.name, e.kind, len(e.lines), e.lines)
            for e in grouped.values()
        ]
        return Answer(sum(e.active_lines for e in enterprises), enterprises, at)

    def proved_identity(self, challenge_id: str, at: datetime) -> int:
        challenge = self.repo.challenge(challenge_id)
        window = timedelta(seconds=self.limits.answer_seconds)
        if (
            challenge is None
            or challenge.proved_at is None
            or challenge.identity_id is None
            or challenge.proved_at + window <= at
        ):
            raise NationalLookupError(L.LOOKUP_NOT_PROVED)
        return challenge.identity_id

    def audit(self, action: str, object_id: str, at: datetime, detail: dict[str, object]) -> None:
        """An audit record of the lookup (its disputes too), by its public caller: keys and
        counts only."""
        append_audit(
            self.session,
            self.keyring,
            actor="public:national_lookup",
            action=action,
            object_type=OBJECT,
            object_id=object_id,
            at=at,
            detail=detail,
        )
