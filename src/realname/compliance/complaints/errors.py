"""Why a complaint (or a row of a complaints file) was refused. Codes are stable; the API
prefixes `REALNAME.`. Messages never repeat the number or the content."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from realname.errors import CodedError

# Rows in one complaints file: it is taken in one transaction (each row in a savepoint).
MAX_IMPORT_ROWS = 20_000


class ComplaintErrorCode(StrEnum):
    CATEGORY_INVALID = "CATEGORY_INVALID"
    NUMBER_INVALID = "NUMBER_INVALID"
    INSTANT_INVALID = "INSTANT_INVALID"
    INSTANT_IN_FUTURE = "INSTANT_IN_FUTURE"
    INSTANT_TOO_OLD = "INSTANT_TOO_OLD"
    CONTENT_HASH_INVALID = "CONTENT_HASH_INVALID"
    REFERENCE_INVALID = "REFERENCE_INVALID"
    DUPLICATE_COMPLAINT = "DUPLICATE_COMPLAINT"
    COMPLAINT_NOT_FOUND = "COMPLAINT_NOT_FOUND"
    COMPLAINT_CLOSED = "COMPLAINT_CLOSED"
    OUTCOME_INVALID = "OUTCOME_INVALID"
    FILE_INVALID = "FILE_INVALID"
    FILE_ALREADY_IMPORTED = "FILE_ALREADY_IMPORTED"
    FILE_TOO_MANY_ROWS = "FILE_TOO_MANY_ROWS"
    DAY_INVALID = "DAY_INVALID"


C = ComplaintErrorCode

_MESSAGES: Mapping[StrEnum, tuple[str, str]] = {
    C.CATEGORY_INVALID: (
        "The category is one of spam_sms, fraud_call, harassment_call, not_mine, other.",
        "投诉类别须为 spam_sms、fraud_call、harassment_call、not_mine、other 之一。",
    ),
    C.NUMBER_INVALID: ("The reported number is not a valid mobile number.", "被投诉号码无效。"),
    C.INSTANT_INVALID: (
        "The instant is an ISO 8601 date and time with its offset (2026-11-23T09:30:00+08:00).",
        "时间须为带时区的 ISO 8601 格式（如 2026-11-23T09:30:00+08:00）。",
    ),
    C.INSTANT_IN_FUTURE: ("The instant is in the future.", "投诉所涉时间晚于当前时间。"),
    C.INSTANT_TOO_OLD: (
        "The instant is further back than the policy accepts complaints for.",
        "投诉所涉时间超出受理期限。",
    ),
    C.CONTENT_HASH_INVALID: (
        "The content hash is the SHA-256 of the content, 64 hexadecimal digits (never the "
        "content itself).",
        "内容摘要须为 64 位十六进制 SHA-256 值（不得提交内容本身）。",
    ),
    C.REFERENCE_INVALID: (
        "The centre's reference is letters, digits and . _ : - (at most 64).",
        "投诉中心编号须为字母、数字及 . _ : -，最长 64 位。",
    ),
    C.DUPLICATE_COMPLAINT: (
        "A complaint with this centre reference was already taken.",
        "该投诉中心编号的投诉已受理。",
    ),
    C.FILE_ALREADY_IMPORTED: (
        "This file was imported before; its complaints are already taken.",
        "该文件此前已导入，其中的投诉均已受理。",
    ),
    C.FILE_TOO_MANY_ROWS: (
        f"A complaints file holds at most {MAX_IMPORT_ROWS:,} rows (one transaction); split it "
        "and send each part.",
        f"单个投诉文件最多 {MAX_IMPORT_ROWS:,} 行（一个事务）；请拆分后分别发送。",
    ),
    C.COMPLAINT_NOT_FOUND: ("No such complaint for this caller.", "无此投诉。"),
    C.COMPLAINT_CLOSED: ("The complaint is already closed.", "该投诉已结案。"),
    C.OUTCOME_INVALID: (
        "The outcome is a lower-case code (letters and _), such as resolved or no_violation.",
        "处理结果须为小写代码（字母和下划线），如 resolved、no_violation。",
    ),
    C.DAY_INVALID: ("A day is a date that exists, YYYY-MM-DD.", "日期须为有效日期（YYYY-MM-DD）。"),
    C.FILE_INVALID: (
        "A complaints file is UTF-8 CSV with the header "
        "category,msisdn,occurred_at,content_sha256,centre_ref.",
        "投诉文件须为 UTF-8 CSV，表头为 category,msisdn,occurred_at,content_sha256,centre_ref。",
    ),
}

HTTP_STATUS: Mapping[StrEnum, int] = {
    C.COMPLAINT_NOT_FOUND: 404,
    C.DUPLICATE_COMPLAINT: 409,
    C.FILE_ALREADY_IMPORTED: 409,
    C.COMPLAINT_CLOSED: 409,
    C.FILE_TOO_MANY_ROWS: 413,
}


class ComplaintError(CodedError):
    messages = _MESSAGES
    statuses = HTTP_STATUS
    code: ComplaintErrorCode
