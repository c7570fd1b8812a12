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
    DEADLINE_TOO_SOON = "DEADLINE_TOO_SOON"
    MILESTONES_INVALID = "MILESTONES_INVALID"
    EARLIER_THAN_TOLD = "EARLIER_THAN_TOLD"
    NOTHING_TO_AMEND = "NOTHING_TO_AMEND"
    REASON_REQUIRED = "REASON_REQUIRED"


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
    C.DEADLINE_TOO_SOON: (
        "The deadline leaves less than the policy's notice period between the first reminder "
        "and the first bar.",
        "截止日期距首次提醒不足政策规定的通知期。",
    ),
    C.MILESTONES_INVALID: (
        "Milestones must have increasing dates within the campaign and increasing shares "
        "between 1 % and 100 %.",
        "阶段目标的日期须在活动期内且递增，比例须在1%至100%之间且递增。",
    ),
    C.EARLIER_THAN_TOLD: (
        "Subscribers were already told later dates; a campaign never acts earlier than it "
        "told them.",
        "用户已被告知更晚的日期；补登记不得早于已告知的日期执行。",
    ),
    C.NOTHING_TO_AMEND: (
        "Give a new deadline or milestones to amend.",
        "请提供新的截止日期或阶段目标。",
    ),
    C.REASON_REQUIRED: ("An amendment needs a reason.", "修改活动须说明理由。"),
}

HTTP_STATUS: Mapping[StrEnum, int] = {
    C.ENTERPRISE_NOT_FOUND: 404,
    C.CAMPAIGN_NOT_FOUND: 404,
    C.CAMPAIGN_EXISTS: 409,
    C.EARLIER_THAN_TOLD: 409,
}


class BackfillError(CodedError):
    messages = _MESSAGES
    statuses = HTTP_STATUS
    code: BackfillErrorCode

    def __init__(self, code: BackfillErrorCode, detail: str | None = None) -> None:
        super().__init__(code, detail)
