"""Why a self-service request was refused. Codes are stable; the API prefixes `REALNAME.`."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from realname.errors import CodedError


class SelfServiceErrorCode(StrEnum):
    BOUND_LINE_GONE = "BOUND_LINE_GONE"
    CANNOT_DISPUTE_PROVED_LINE = "CANNOT_DISPUTE_PROVED_LINE"


C = SelfServiceErrorCode

_MESSAGES: Mapping[StrEnum, tuple[str, str]] = {
    C.BOUND_LINE_GONE: (
        "The line this token is bound to is no longer yours here (another operator's, or it "
        "changed hands since you proved it); prove one of your lines again.",
        "令牌所绑定的号码已不属于您（属于其他运营商，或验证后已过户），请重新验证本人号码。",
    ),
    C.CANNOT_DISPUTE_PROVED_LINE: (
        "You proved you hold this line, so it cannot be disputed as not yours; "
        "prove another of your lines to dispute this one.",
        "您已验证持有该号码，不能申诉其“非本人办理”；请用您的其他号码验证后再申诉。",
    ),
}

HTTP_STATUS: Mapping[StrEnum, int] = {
    C.BOUND_LINE_GONE: 403,
    C.CANNOT_DISPUTE_PROVED_LINE: 409,
}


class SelfServiceError(CodedError):
    messages = _MESSAGES
    statuses = HTTP_STATUS
    code: SelfServiceErrorCode

    def __init__(self, code: SelfServiceErrorCode, detail: str | None = None) -> None:
        super().__init__(code, detail)
