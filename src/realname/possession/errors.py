"""Why a proof of possession or a one-time code was refused. Codes are stable; the API
prefixes `REALNAME.`. A refused proof leaves no state but the counted failure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from realname.errors import CodedError


class PossessionErrorCode(StrEnum):
    POSSESSION_NOT_PROVEN = "POSSESSION_NOT_PROVEN"
    CHALLENGE_INVALID = "CHALLENGE_INVALID"
    CHALLENGE_NOT_APPLICABLE = "CHALLENGE_NOT_APPLICABLE"
    CHALLENGE_RATE_LIMITED = "CHALLENGE_RATE_LIMITED"
    METHOD_NOT_ACCEPTED = "METHOD_NOT_ACCEPTED"
    METHOD_UNAVAILABLE = "METHOD_UNAVAILABLE"
    PROOFS_LOCKED = "PROOFS_LOCKED"
    CODE_NOT_ACCEPTED = "CODE_NOT_ACCEPTED"


C = PossessionErrorCode

_MESSAGES: Mapping[StrEnum, tuple[str, str]] = {
    C.POSSESSION_NOT_PROVEN: (
        "Back-filling a legacy line needs proof that the customer holds it; the proof given "
        "does not match.",
        "旧号补登记须证明客户持有该号码；所提供的证明不符。",
    ),
    C.CHALLENGE_INVALID: (
        "This code can no longer be used (expired, already used, too many wrong entries, or not "
        "sent for this line at this counter); ask for a new one.",
        "该验证码已失效（过期、已使用、输错次数过多，或并非为本柜台的该号码发送），请重新获取。",
    ),
    C.CHALLENGE_NOT_APPLICABLE: (
        "This line is not an unregistered legacy line: no proof of possession is needed.",
        "该号码不是待补登记的旧号，无需持有证明。",
    ),
    C.CHALLENGE_RATE_LIMITED: (
        "Too many codes were asked for; try again later.",
        "验证码获取过于频繁，请稍后再试。",
    ),
    C.METHOD_NOT_ACCEPTED: (
        "The policy does not accept this kind of proof of possession.",
        "政策不接受此类持有证明。",
    ),
    C.METHOD_UNAVAILABLE: (
        "The operator has nothing on file to check this proof against for this line; use "
        "another method (a one-time code).",
        "本企业没有该号码的相应记录可供核对，请改用其他方式（短信验证码）。",
    ),
    C.PROOFS_LOCKED: (
        "Too many failed proofs for this line today; only a one-time code is accepted now.",
        "该号码今日持有证明失败次数过多，现仅接受短信验证码。",
    ),
    C.CODE_NOT_ACCEPTED: (
        "The code is wrong, expired or already used; ask for a new one.",
        "验证码错误、已过期或已使用，请重新获取。",
    ),
}

HTTP_STATUS: Mapping[StrEnum, int] = {
    C.POSSESSION_NOT_PROVEN: 403,
    C.CHALLENGE_INVALID: 403,
    C.CODE_NOT_ACCEPTED: 403,
    C.CHALLENGE_NOT_APPLICABLE: 409,
    C.CHALLENGE_RATE_LIMITED: 429,
    C.PROOFS_LOCKED: 429,
}


@dataclass(frozen=True)
class FailedProof:
    """What a refused proof leaves behind once its request is rolled back."""

    purpose: str
    method: str
    reason: str
    requester: str
    enterprise_id: int | None = None
    line_id: int | None = None
    channel_id: int | None = None
    clerk_id: int | None = None
    challenge_id: int | None = None


class PossessionError(CodedError):
    messages = _MESSAGES
    statuses = HTTP_STATUS
    code: PossessionErrorCode

    def __init__(
        self,
        code: PossessionErrorCode,
        failure: FailedProof | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(code, detail)
        self.failure = failure
