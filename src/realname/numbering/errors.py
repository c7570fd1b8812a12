"""Why a phone number was refused. Messages never repeat the number (it is PII)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from realname.errors import CodedError, wants_chinese


class NumberErrorCode(StrEnum):
    EMPTY = "empty"
    FORMAT = "format"
    INVALID = "invalid"
    NOT_MOBILE = "not_mobile"
    BLOCK = "block"


_MESSAGES: Mapping[StrEnum, tuple[str, str]] = {
    NumberErrorCode.EMPTY: ("No phone number was entered.", "未输入手机号码。"),
    NumberErrorCode.FORMAT: (
        "This is not a phone number: use 11 digits, or + and the country code.",
        "不是电话号码：请输入 11 位手机号，或以 + 和国家代码开头。",
    ),
    NumberErrorCode.INVALID: (
        "No operator issues numbers in this range.",
        "该号段未分配，号码无效。",
    ),
    NumberErrorCode.NOT_MOBILE: (
        "This is a fixed-line or special number, not a mobile number.",
        "这是固定电话或特殊号码，不是手机号码。",
    ),
    NumberErrorCode.BLOCK: (
        "The number block is not a valid range.",
        "号段范围无效。",
    ),
}


def message_for(code: NumberErrorCode, language: str = "en") -> str:
    english, chinese = _MESSAGES[code]
    return chinese if wants_chinese(language) else english


class NumberError(CodedError):
    """A phone number or block that cannot be accepted; never quotes the number."""

    messages = _MESSAGES
    code: NumberErrorCode

    def __init__(self, code: NumberErrorCode, detail: str | None = None) -> None:
        super().__init__(code, detail)
