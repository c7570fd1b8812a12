"""The gate's rules and KYC Match's decision, as pure functions.

Two paths answer KYC Match: the service (`service.VerificationService`, sync SQLAlchemy, on
every engine and without Redis) and the async read (`endpoints.kyc_match_async`: async
psycopg and `redis.asyncio`, when the counters are in Redis on PostgreSQL). Both do their I/O
their own way and ask these functions every question of policy, in the same order, so the
two cannot drift apart: who may ask (`admit_party`, `admit_rate`), what was asked
(`kyc_claims`, `subject_query`, `token_subject`), what may be learnt about the line
(`refusal`), what KYC Match would answer (`kyc_assessment`, decided before anything is
counted, so the call is counted whole in one step), what to count (`gate_keys`), what the
counting allows (`admit`), and what KYC Match answers and audits (`kyc_decision`). None of
them reads a clock or a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import pycountry

from realname.numbering.errors import NumberError
from realname.numbering.msisdn import mask_msisdn, parse_msisdn
from realname.policy.schema import VerificationRules
from realname.registry.identities import opened_fields
from realname.registry.lifecycle import LineState
from realname.security.principals import Principal
from realname.security.vault import KeyRing
from realname.verification.counters import GateKeys, Spent
from realname.verification.errors import VerificationError
from realname.verification.errors import VerificationErrorCode as E
from realname.verification.matching import Match, SubjectRecord, match_attributes
from realname.verification.repository import PartyRow, Subject, SubjectLine, SubjectOwner

QUOTA_CONTEXT = "verification-quota"
NO_CONSENT = "The subscriber has not consented to this check by this relying party."


class RateLimiter(Protocol):
    """What the gate needs of the per-client rate limiter (`service.ClientRateLimiter`)."""

    def admit(self, client_id: str, at: datetime) -> int | None:
        """None when admitted, else the seconds to wait."""


@dataclass(frozen=True)
class Gate:
    relying_party: PartyRow
    line: SubjectLine
    identity: SubjectOwner
    mismatches: int = 0  # this number's mismatches before this call (KYC Match asks for them)


@dataclass(frozen=True)
class SubjectQuery:
    """Which line to read: the token's line (three-legged) or the number asked about."""

    line_id: int | None
    msisdn: str | None


@dataclass(frozen=True)
class KycDecision:
    """What KYC Match does: count a mismatch or not, the audit entry's outcome, then answer
    or refuse (`error`, always `keep_changes`)."""

    answer: dict[str, object] | None
    count_mismatch: bool
    outcome: str
    fields: list[str]
    error: VerificationError | None = None


# --- who may ask ----------------------------------------------------------------------------


def admit_party(party: PartyRow | None, api: str) -> PartyRow:
    if party is None or party.status != "active" or api not in party.apis:
        raise VerificationError(
            E.PERMISSION_DENIED, "This relying party is not registered for this API."
        )
    return party


def admit_rate(limiter: RateLimiter | None, client_id: str, at: datetime) -> None:
    if limiter is not None:
        wait = limiter.admit(client_id, at)
        if wait is not None:
            raise VerificationError(E.TOO_MANY_REQUESTS, retry_after=wait)


# --- what was asked -------------------------------------------------------------------------


def kyc_claims(claims: dict[str, Any]) -> dict[str, Any]:
    sent = {k: v for k, v in claims.items() if v is not None}
    if not sent:
        raise VerificationError(E.INVALID_PARAM_COMBINATION)
    return sent


def subject_query(principal: Principal, phone_number: str | None, may_repeat: bool) -> SubjectQuery:
    """CAMARA's identifier rules, before any read: a three-legged token names the line (the
    number may be repeated only where the API allows it); otherwise the number is needed.
    An unparseable number is asked about anyway (as ""), so its refusal costs the same."""
    if principal.line_id is not None:
        if phone_number is not None and not may_repeat:
            raise VerificationError(E.UNNECESSARY_IDENTIFIER)
        return SubjectQuery(principal.line_id, None)
    if phone_number is None:
        raise VerificationError(E.MISSING_IDENTIFIER)
    try:
        msisdn = parse_msisdn(phone_number).e164
    except NumberError:
        msisdn = ""
    return SubjectQuery(None, msisdn)


def token_subject(principal: Principal, phone_number: str | None, subject: Subject) -> None:
    """A number repeated beside a three-legged token must be the token's line's."""
    repeated = principal.line_id is not None and phone_number is not None
    if repeated and (subject.line is None or subject.line.msisdn != phone_number):
        raise VerificationError(E.INVALID_TOKEN_CONTEXT)


# --- what may be learnt, and what is counted ------------------------------------------------


def refusal(subject: Subject, api: str, needs_consent: bool) -> tuple[E, str | None] | None:
    """Where the API needs consent, a number nobody holds, a line without an owner and a
    registered line whose owner did not consent all answer alike (403, one message): a 404
    for one and a 403 for the other would tell a prober which numbers are registered."""
    line, owner = subject.line, subject.owner
    if needs_consent and (
        line is None
        or owner is None
        or not any(api in apis or not apis for apis in subject.consents)
    ):
        return (E.PERMISSION_DENIED, NO_CONSENT)
    if line is None or owner is None:
        return (E.IDENTIFIER_NOT_FOUND, None)
    if line.state != LineState.ACTIVE:
        return (E.SERVICE_NOT_APPLICABLE, None)
    return None


def number_index(keyring: KeyRing, msisdn: str) -> str:
    """The number as the counters' keys hold it: a blind index, never the number."""
    return keyring.blind_index(msisdn, QUOTA_CONTEXT).hex()[:32]


def quota_key(kind: str, client_id: str, number: str, at: datetime) -> str:
    return f"{kind}:{client_id}:{number}:{at.astimezone(UTC):%Y%m%d}"


def unanswered_key(client_id: str, at: datetime) -> str:
    return f"unanswered:{client_id}:{at.astimezone(UTC):%Y%m%d}"


def gate_keys(
    keyring: KeyRing,
    rules: VerificationRules,
    client_id: str,
    at: datetime,
    subject: Subject,
    refused: tuple[E, str | None] | None,
    assessment: KycDecision | None = None,
) -> GateKeys:
    """`assessment`: what KYC Match would answer a call it may answer (`kyc_assessment`); with
    it the call reads the number's mismatches, and counts its own when the answer is one."""
    answered = subject.line.msisdn if refused is None and subject.line is not None else None
    number = number_index(keyring, answered) if answered else None
    budgeted = number if assessment is not None else None  # KYC Match: a mismatch budget
    return GateKeys(
        unanswered=unanswered_key(client_id, at),
        calls=quota_key("calls", client_id, number, at) if number else None,
        mismatches=quota_key("mismatch", client_id, budgeted, at) if budgeted else None,
        budget=rules.unanswered_per_client_per_day,
        at=at,
        expires_at=midnight_after(at),
        mismatch=bool(budgeted) and assessment is not None and assessment.count_mismatch,
        mismatch_budget=rules.mismatches_per_number_per_day if budgeted else None,
        calls_budget=rules.calls_per_number_per_day if budgeted else None,
    )


def admit(
    rules: VerificationRules,
    at: datetime,
    party: PartyRow,
    subject: Subject,
    refused: tuple[E, str | None] | None,
    spent: Spent,
) -> Gate:
    """What the counting allows. A spent budget refuses everything (429 until midnight UTC);
    a refusal's count stays (committed before the answer: `keep_changes`), or probing would
    be free; past the per-number quota, 429."""
    if spent.budget_spent:
        raise VerificationError(
            E.QUOTA_EXCEEDED,
            "Too many calls about numbers this client may not ask about today.",
            retry_after=seconds_to_midnight(at),
        )
    line, owner = subject.line, subject.owner
    if refused is not None or line is None or owner is None:
        code, detail = refused or (E.IDENTIFIER_NOT_FOUND, None)
        raise VerificationError(code, detail, keep_changes=True)
    if spent.calls > rules.calls_per_number_per_day:
        raise VerificationError(
            E.QUOTA_EXCEEDED,
            "Too many checks of this phone number today.",
            retry_after=seconds_to_midnight(at),
        )
    return Gate(party, line, owner, spent.mismatches)


# --- KYC Match ------------------------------------------------------------------------------


def kyc_assessment(
    keyring: KeyRing,
    rules: VerificationRules,
    sent: dict[str, Any],
    subject: Subject,
    refused: tuple[E, str | None] | None,
) -> KycDecision | None:
    """What KYC Match answers a call the gate will let through, decided before anything is
    counted (None for a call refused before the match): whether it is a mismatch must be
    known when the call is counted, so the count is one atomic step, with no place held under
    the mismatch budget while the record is matched."""
    if refused is not None or subject.owner is None:
        return None
    fields = sorted(sent)
    if rules.id_document_required_for_match and "idDocument" not in sent:
        return KycDecision(
            None,
            False,
            "refused: no idDocument",
            fields,
            VerificationError(E.ID_DOCUMENT_REQUIRED, keep_changes=True),
        )
    answer = match_attributes(subject_record(keyring, subject.owner), sent)
    if rules.id_document_required_for_match and answer["idDocumentMatch"] != Match.TRUE:
        return KycDecision(
            None,
            True,
            "idDocument mismatch",
            fields,
            VerificationError(E.ID_DOCUMENT_MISMATCH, keep_changes=True),
        )
    mismatch = any(value == Match.FALSE for value in answer.values())
    outcome = ",".join(f"{k}={v}" for k, v in answer.items() if k.endswith("Match"))
    return KycDecision(answer, mismatch, outcome, fields)


def kyc_decision(
    rules: VerificationRules, at: datetime, gate: Gate, assessment: KycDecision | None
) -> KycDecision:
    """The answer, once the gate let the call through: none past the number's mismatch
    budget (the count found it spent before this call, and did not count this one)."""
    assert assessment is not None  # the gate lets through only calls that were assessed
    if gate.mismatches >= rules.mismatches_per_number_per_day:
        return KycDecision(
            None,
            False,
            "refused: mismatches",
            assessment.fields,
            VerificationError(
                E.QUOTA_EXCEEDED,
                "Too many mismatches for this phone number today.",
                retry_after=seconds_to_midnight(at),
                keep_changes=True,  # the refusal's audit entry must stay
            ),
        )
    return assessment


def subject_record(keyring: KeyRing, identity: SubjectOwner) -> SubjectRecord:
    """The owner's record in clear, for the time of one answer."""
    clear = opened_fields(
        keyring,
        identity.key_id,
        identity.number_sealed,
        identity.name_sealed,
        identity.address_sealed,
    )
    return SubjectRecord(
        document_type=identity.doc_type,
        document_number=clear.document_number or "",
        name=clear.name or "",
        birth_date=identity.birth_date,
        sex=identity.sex,
        nationality=alpha2(identity),
        address=clear.address,
    )


# --- the audit entry ------------------------------------------------------------------------


def audit_entry(
    principal: Principal,
    at: datetime,
    line_id: int,
    msisdn: str,
    api: str,
    outcome: str,
    **extra: str,
) -> dict[str, Any]:
    """Who asked what about which line, and the outcome; never the values asked about
    (`append_audit`'s keyword arguments)."""
    return {
        "actor": principal.actor,
        "action": f"verify.{api}",
        "object_type": "line",
        "object_id": str(line_id),
        "at": at,
        "detail": {"msisdn": mask_msisdn(msisdn), "outcome": outcome, **extra},
    }


def gate_audit_entry(
    principal: Principal, at: datetime, gate: Gate, api: str, fields: list[str], outcome: str
) -> dict[str, Any]:
    return audit_entry(
        principal,
        at,
        gate.line.id,
        gate.line.msisdn,
        api,
        outcome,
        relying_party=str(gate.relying_party.id),
        fields=",".join(fields),
    )


# --- small pure helpers ---------------------------------------------------------------------


def alpha2(identity: SubjectOwner) -> str | None:
    if identity.doc_type in ("resident_id", "military"):
        return "CN"
    if identity.nationality:
        country = pycountry.countries.get(alpha_3=identity.nationality)
        return country.alpha_2 if country else None
    return None


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def midnight_after(at: datetime) -> datetime:
    day = at.astimezone(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def seconds_to_midnight(at: datetime) -> int:
    return max(1, int((midnight_after(at) - at).total_seconds()))
