"""CAMARA errors of the verification APIs: the Commonalities codes, unprefixed (existing
CAMARA clients switch on them), with the messages of the API definitions."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import ClassVar

from realname.errors import CodedError, wants_chinese


class VerificationErrorCode(StrEnum):
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    INVALID_TOKEN_CONTEXT = "INVALID_TOKEN_CONTEXT"  # noqa: S105 (an error code)
    IDENTIFIER_NOT_FOUND = "IDENTIFIER_NOT_FOUND"
    SERVICE_NOT_APPLICABLE = "SERVICE_NOT_APPLICABLE"
    MISSING_IDENTIFIER = "MISSING_IDENTIFIER"
    UNNECESSARY_IDENTIFIER = "UNNECESSARY_IDENTIFIER"
    TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    INVALID_PARAM_COMBINATION = "KNOW_YOUR_CUSTOMER.INVALID_PARAM_COMBINATION"
    ID_DOCUMENT_REQUIRED = "KNOW_YOUR_CUSTOMER.ID_DOCUMENT_REQUIRED"
    ID_DOCUMENT_MISMATCH = "KNOW_YOUR_CUSTOMER.ID_DOCUMENT_MISMATCH"
    NOT_AUTHENTICATED_BY_NETWORK = "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK"


C = VerificationErrorCode

# code -> (HTTP status, English, Chinese)
_TEXT: dict[VerificationErrorCode, tuple[int, str, str]] = {
    C.INVALID_ARGUMENT: (400, "Client specified an invalid argument.", "请求参数无效。"),
    C.OUT_OF_RANGE: (400, "Client specified an invalid range.", "参数超出允许范围。"),
    C.PERMISSION_DENIED: (
        403,
        "Client does not have sufficient permissions to perform this action.",
        "调用方无权执行此操作。",
    ),
    C.INVALID_TOKEN_CONTEXT: (
        403,
        "phoneNumber is not consistent with access token.",
        "phoneNumber 与访问令牌不一致。",
    ),
    C.IDENTIFIER_NOT_FOUND: (
        404,
        "The phone number provided is not associated with a customer account",
        "该号码未登记到任何用户。",
    ),
    C.SERVICE_NOT_APPLICABLE: (
        422,
        "The service is not applicable for the provided phone number",
        "该号码当前不适用此服务。",
    ),
    C.MISSING_IDENTIFIER: (422, "No phone number has been provided", "未提供手机号码。"),
    C.UNNECESSARY_IDENTIFIER: (
        422,
        "An explicit phone number has been provided when one is already associated with the "
        "access token",
        "访问令牌已对应号码，请勿再提供号码。",
    ),
    C.TOO_MANY_REQUESTS: (
        429,
        "Rejected due to request rate limit overpassed.",
        "请求过于频繁，请稍后再试。",
    ),
    C.QUOTA_EXCEEDED: (
        429,
        "Rejected due to exceeding a business quota limit.",
        "超出该号码的查询限额。",
    ),
    C.INVALID_PARAM_COMBINATION: (
        400,
        "Indicated parameter combination is invalid",
        "参数组合无效：除号码外至少需要一项属性。",
    ),
    C.ID_DOCUMENT_REQUIRED: (
        403,
        "The idDocument is required to perform the properties validation",
        "核验属性前须提供证件号码。",
    ),
    C.ID_DOCUMENT_MISMATCH: (
        403,
        "The idDocument needs to match the one associated with the provided phoneNumber",
        "证件号码与该号码登记的证件不一致。",
    ),
    C.NOT_AUTHENTICATED_BY_NETWORK: (
        403,
        "Client must authenticate via the mobile network to use this service",
        "须通过移动网络认证后使用此服务。",
    ),
}


class VerificationError(CodedError):
    """A refusal with its CAMARA status and code; `retry_after` in seconds for 429s. The code
    travels unprefixed (CAMARA clients switch on it) and `detail`, when given, is the English
    message (more specific than the default, no PII)."""

    messages: ClassVar[Mapping[StrEnum, tuple[str, str]]] = {
        code: (english, chinese) for code, (_, english, chinese) in _TEXT.items()
    }
    statuses: ClassVar[Mapping[StrEnum, int]] = {
        code: status for code, (status, _, _) in _TEXT.items()
    }

    def __init__(
        self,
        code: VerificationErrorCode,
        detail: str | None = None,
        retry_after: int | None = None,
        keep_changes: bool = False,
    ) -> None:
        super().__init__(code, detail, retry_after=retry_after)
        # Commit the counters and audit entry of this refusal (a wrong document-number guess
        # must count, or guessing would be free).
        self.keep_changes = keep_changes

    @property
    def wire_code(self) -> str:
        return str(self.code)

    def message_in(self, language: str) -> str:
        english, chinese = self.messages[self.code]
        if wants_chinese(language):
            return chinese
        return self.detail or english
