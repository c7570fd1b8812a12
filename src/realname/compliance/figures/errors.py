"""Why a figures request was refused. Codes are stable; the API prefixes `REALNAME.`."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from realname.errors import CodedError


class FiguresErrorCode(StrEnum):
    PERIOD_INVALID = "PERIOD_INVALID"
    PROVINCE_INVALID = "PROVINCE_INVALID"
    OUTSIDE_PROVINCE = "OUTSIDE_PROVINCE"


C = FiguresErrorCode

_MESSAGES: Mapping[StrEnum, tuple[str, str]] = {
    C.PERIOD_INVALID: (
        "A period is a month (2016-07) or a range of months (2016-07..2016-12), at most ten years.",
        "期间格式应为月份（2016-07）或月份范围（2016-07..2016-12），最长十年。",
    ),
    C.PROVINCE_INVALID: (
        "A province is a two-digit GB/T 2260 code (44 for Guangdong).",
        "省份应为两位行政区划代码（如广东为44）。",
    ),
    C.OUTSIDE_PROVINCE: (
        "A provincial administration sees only its own province.",
        "省级管理局仅能查看本省数据。",
    ),
}

# A period the query string's schema admits but the calendar does not (2026-13, a range past
# ten years) is refused by the rules, as the API's other such refusals are: 422, not 400.
HTTP_STATUS: Mapping[StrEnum, int] = {
    C.PERIOD_INVALID: 422,
    C.PROVINCE_INVALID: 400,
    C.OUTSIDE_PROVINCE: 403,
}


class FiguresError(CodedError):
    messages = _MESSAGES
    statuses = HTTP_STATUS
    code: FiguresErrorCode

    def __init__(self, code: FiguresErrorCode, detail: str | None = None) -> None:
        super().__init__(code, detail)
