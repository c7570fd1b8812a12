"""Why a legacy import or a back-fill campaign request was refused. Codes are stable."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from realname.errors import CodedError


class BackfillErrorCode(StrEnum):
    ENTERPRISE_NOT_FOUND = "ENTERPRISE_NOT_FOUND"
    IMPORT_FILE_UNREADABLE = "IMPORT_FILE_UNREADABLE"
    IMPORT_COLUMNS_MISSING = "IMPORT_COLUMNS_MISSING"
    CAMPAIGN_EXISTS = "CAMPAIGN_EXISTS"
    CAMPAIGN_NOT_FOUND = "CAMPAIGN_NOT_FOUND"
    NO_BACKFILL_STEPS = "NO_BACKFILL_STEPS"
    DEADLINE_BEFORE_START = "DEADLINE_BEFORE_START"
    START_TOO_EARLY = "START_TOO_EARLY"
    DATE_OUT_OF_RANGE = "DATE_OUT_OF_RANGE"


C = BackfillErrorCode

_MESSAGES: Mapping[StrEnum, tuple[str, str]] = {
    C.ENTERPRISE_NOT_FOUND: ("No such enterprise.", "企业不存在。"),
    C.IMPORT_FILE_UNREADABLE: (
        "The import file cannot be read as CSV or Parquet.",
        "导入文件无法按 CSV 或 Parquet 读取。",
    ),
    C.IMPORT_COLUMNS_MISSING: (
        "The import file lacks required columns.",
        "导入文件缺少必需的列。",
    ),
    C.CAMPAIGN_EXISTS: (
        "This enterprise already has a back-fill campaign.",
        "该企业已有补登记活动。",
    ),
    C.CAMPAIGN_NOT_FOUND: (
        "This enterprise has no back-fill campaign.",
        "该企业没有补登记活动。",
    ),
    C.NO_BACKFILL_STEPS: (
        "The policy defines no back-fill phases.",
        "当前政策未规定补登记阶段。",
    ),
    C.DEADLINE_BEFORE_START: (
        "The deadline is before the campaign starts.",
        "截止日期早于活动开始日期。",
    ),
    C.START_TOO_EARLY: (
        "With this start date lines would be barred before any reminder went out.",
        "按此开始日期，号码将在发出提醒之前即被限制。",
    ),
    C.DATE_OUT_OF_RANGE: ("The campaign's dates are out of range.", "活动日期超出范围。"),
}

HTTP_STATUS: Mapping[BackfillErrorCode, int] = {
    C.ENTERPRISE_NOT_FOUND: 404,
    C.CAMPAIGN_NOT_FOUND: 404,
    C.CAMPAIGN_EXISTS: 409,
}


class BackfillError(CodedError):
    messages = _MESSAGES
    code: BackfillErrorCode

    def __init__(self, code: BackfillErrorCode, detail: str | None = None) -> None:
        super().__init__(code, detail)

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 422)
