"""Why a phone number was refused. Messages never repeat the number (it is PII)."""

from __future__ import annotations

from enum import StrEnum


class NumberErrorCode(StrEnum):
    EMPTY = "empty"
    FORMAT = "format"
    INVALID = "invalid"
    NOT_MOBILE = "not_mobile"
    BLOCK = "block"


_MESSAGES = {
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
    return chinese if language.lower().startswith("zh") else english


class NumberError(ValueError):
    def __init__(self, code: NumberErrorCode, detail: str | None = None) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail or message_for(code)}")

    @property
    def message(self) -> str:
        return message_for(self.code)
