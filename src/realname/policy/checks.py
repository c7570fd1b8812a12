"""The policy's verdict on one registration, as pure functions.

No database, clock or network: the caller gathers the facts (the channel, the document, the
face score the device reported, the counts it read under lock, today's date) and these
functions only judge them. That keeps the rules testable in microseconds and lets the registry,
a what-if report and the front-desk pre-check share one implementation.

Each `check_*` returns the violation or None, so a service can stop at the first refusal;
`evaluate_registration` collects them all, for a clerk who wants to fix everything at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum

from realname.errors import wants_chinese
from realname.identity.documents import DocumentType
from realname.policy.schema import CapScope, ChannelKind, EntryMethod, Policy


class PolicyViolation(StrEnum):
    """Declared in the order `evaluate_registration` reports them.

    The values are stable codes: the registry maps each to its own error code of the same name.
    """

    DOCUMENT_NOT_ACCEPTED = "document_not_accepted"
    UNDERAGE = "underage"
    FACE_MISMATCH = "face_mismatch"
    FACE_MISSING = "face_missing"
    MANUAL_ENTRY_REFUSED = "manual_entry_refused"
    CAP_EXCEEDED = "cap_exceeded"
    NATIONAL_CAP_EXCEEDED = "national_cap_exceeded"


V = PolicyViolation


def check_document(
    policy: Policy, channel_kind: ChannelKind, doc_type: DocumentType
) -> PolicyViolation | None:
    if doc_type in policy.accepted_documents.get(channel_kind, frozenset()):
        return None
    return V.DOCUMENT_NOT_ACCEPTED


def age_in_years(birth_date: date, today: date) -> int:
    """Completed years, as the law counts them.

    Someone born on 29 February completes a year on 1 March in common years: the comparison of
    (month, day) pairs puts (2, 28) before (2, 29), so the birthday has not yet passed on the
    28th. That is the later of the two customary readings, the safe one for a minimum age.
    A birth date after `today` gives a negative age, which no minimum accepts.
    """
    years = today.year - birth_date.year
    if (today.month, today.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def check_age(policy: Policy, birth_date: date, today: date) -> PolicyViolation | None:
    """`today` is a parameter, not `date.today()`, so the verdict is reproducible and testable.

    The customer's local date is the caller's to choose: a birthday starts at local midnight.
    """
    if age_in_years(birth_date, today) < policy.minimum_age_years:
        return V.UNDERAGE
    return None


def check_face(policy: Policy, score: float | None) -> PolicyViolation | None:
    """A score at the threshold passes: thresholds are published as "at or above".

    A missing score is its own violation because the fix differs (capture a face, rather than
    suspect an impostor); a NaN from a broken device is a mismatch, never a pass.
    """
    threshold = policy.face_match_threshold
    if threshold is None:
        return None
    if score is None:
        return V.FACE_MISSING
    if not score >= threshold:
        return V.FACE_MISMATCH
    return None


def check_entry_method(
    policy: Policy, channel_kind: ChannelKind, method: EntryMethod
) -> PolicyViolation | None:
    """Typing an ID in by hand is how borrowed and invented identities get registered."""
    if method is EntryMethod.MANUAL and channel_kind in policy.manual_entry_refused_at:
        return V.MANUAL_ENTRY_REFUSED
    return None


def _cap_violations(
    policy: Policy, enterprise_active: int, national_active: int | None
) -> list[PolicyViolation]:
    if enterprise_active < 0 or (national_active is not None and national_active < 0):
        raise ValueError("active line counts cannot be negative")
    found: list[PolicyViolation] = []
    enterprise_cap = policy.cap(CapScope.ENTERPRISE)
    if enterprise_cap is not None and enterprise_active >= enterprise_cap:
        found.append(V.CAP_EXCEEDED)
    national_cap = policy.cap(CapScope.NATIONAL)
    if national_cap is not None:
        if national_active is None:
            # Not a customer's fault: the caller skipped the cross-enterprise count the policy
            # needs. Refusing loudly beats registering a line over a cap nobody counted.
            raise ValueError(f"policy {policy.code!r} has a national cap: national_active needed")
        if national_active >= national_cap:
            found.append(V.NATIONAL_CAP_EXCEEDED)
    return found


def check_caps(
    policy: Policy, enterprise_active: int, national_active: int | None
) -> PolicyViolation | None:
    """Counts are of lines held BEFORE the new one, so a count equal to the cap refuses.

    `national_active` may be None only when the policy has no national cap: the count is an
    expensive cross-enterprise query, so callers skip it when nothing would read it.
    """
    found = _cap_violations(policy, enterprise_active, national_active)
    return found[0] if found else None


def evaluate_registration(
    policy: Policy,
    *,
    channel_kind: ChannelKind,
    doc_type: DocumentType,
    birth_date: date,
    face_score: float | None,
    entry_method: EntryMethod,
    enterprise_active: int,
    national_active: int | None,
    today: date,
) -> list[PolicyViolation]:
    """Every violation, in `PolicyViolation` declaration order, so screens and logs are stable."""
    found = [
        check_document(policy, channel_kind, doc_type),
        check_age(policy, birth_date, today),
        check_face(policy, face_score),
        check_entry_method(policy, channel_kind, entry_method),
        *_cap_violations(policy, enterprise_active, national_active),
    ]
    order = list(PolicyViolation)
    return sorted((v for v in found if v is not None), key=order.index)


_MESSAGES: Mapping[PolicyViolation, tuple[str, str]] = {
    V.DOCUMENT_NOT_ACCEPTED: (
        "This kind of document cannot be used to register at this channel. Ask for another "
        "document or send the customer to a business hall.",
        "本渠道不受理此类证件。请客户出示其他有效证件，或到营业厅办理。",
    ),
    V.UNDERAGE: (
        "The customer is below the minimum age to register a line in their own name.",
        "客户未达到以本人名义登记号码的最低年龄。",
    ),
    V.FACE_MISMATCH: (
        "The live photo does not match the document photo closely enough. Retake the photo; "
        "if it fails again, the document may not be the customer's.",
        "现场人像与证件照片比对未通过。请重新拍照；若仍不通过，证件可能并非客户本人所有。",
    ),
    V.FACE_MISSING: (
        "No live face comparison was received. Take the customer's photo with the device.",
        "未收到现场人像比对结果。请使用设备为客户拍照比对。",
    ),
    V.MANUAL_ENTRY_REFUSED: (
        "Document details typed in by hand are not accepted here. Read the card with the device.",
        "此处不受理手工录入的证件信息。请使用设备读取证件。",
    ),
    V.CAP_EXCEEDED: (
        "This customer already holds the maximum number of lines at this operator.",
        "该证件在本企业名下的号码已达上限。",
    ),
    V.NATIONAL_CAP_EXCEEDED: (
        "This customer already holds the maximum number of lines across all operators.",
        "该证件在全国名下的号码已达上限。",
    ),
}


def violation_message(violation: PolicyViolation, language: str = "en") -> str:
    """What a front-desk clerk reads: what went wrong and what to do next, no personal data."""
    english, chinese = _MESSAGES[violation]
    return chinese if wants_chinese(language) else english
