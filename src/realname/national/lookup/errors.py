"""Why a 一证通查 request was refused. One code answers "no such person", "wrong name", "wrong
code", "expired" and "used up" alike, so the answer teaches a caller nothing about a person
they have not proved to be. Codes are stable; the API prefixes `REALNAME.`."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from realname.errors import CodedError


class LookupErrorCode(StrEnum):
    LOOKUP_NOT_PROVED = "LOOKUP_NOT_PROVED"
    LOOKUP_RATE_LIMITED = "LOOKUP_RATE_LIMITED"
    LOOKUP_INPUT_INVALID = "LOOKUP_INPUT_INVALID"
    DISPUTE_NOT_FOUND = "DISPUTE_NOT_FOUND"
    LOOKUP_LINE_CHANGED = "LOOKUP_LINE_CHANGED"
    DISPUTE_ANSWER_INVALID = "DISPUTE_ANSWER_INVALID"
    DISPUTE_CLOSED = "DISPUTE_CLOSED"
    DISPUTE_STATUS_BACKWARDS = "DISPUTE_STATUS_BACKWARDS"
    DISPUTE_CURSOR_INVALID = "DISPUTE_CURSOR_INVALID"


C = LookupErrorCode

_MESSAGES: Mapping[StrEnum, tuple[str, str]] = {
    C.LOOKUP_NOT_PROVED: (
        "The code, the document or the name does not match, or the code has expired.",
        "验证码、证件或姓名不符，或验证码已过期。",
    ),
    C.LOOKUP_RATE_LIMITED: ("Too many lookups; try again later.", "查询过于频繁，请稍后再试。"),
    C.LOOKUP_INPUT_INVALID: (
        "Give a document type, a document number, a name and a mobile number.",
        "请填写证件类型、证件号码、姓名和手机号码。",
    ),
    C.DISPUTE_NOT_FOUND: ("No such case.", "没有该申诉。"),
    C.LOOKUP_LINE_CHANGED: (
        "This line has changed at its enterprise since the national index was told: it moved "
        "or has another owner now. Ask for a new answer.",
        "该号码在运营企业处已有变更（已转移或已过户），请重新查询。",
    ),
    C.DISPUTE_ANSWER_INVALID: (
        "A dispute's handling is 'traced', 'acted' or 'closed', with an outcome code "
        "(lower-case letters and '_'; required to close).",
        "处理状态须为 traced、acted 或 closed，并附结果代码（关闭时必填）。",
    ),
    C.DISPUTE_CLOSED: ("This case is closed already.", "该申诉已结案。"),
    C.DISPUTE_STATUS_BACKWARDS: (
        "A case only moves forward (traced, acted, closed): post a handling at or after the "
        "one the case shows.",
        "申诉处理状态只能向前推进（traced、acted、closed），不能回退。",
    ),
    C.DISPUTE_CURSOR_INVALID: (
        "'after' is not a cursor this platform gave your enterprise: pass the 'next' of the "
        "page before, or start again without it.",
        "after 不是本平台为贵企业给出的分页游标：请使用上一页的 next，或不带 after 重新开始。",
    ),
}

HTTP_STATUS: Mapping[StrEnum, int] = {
    C.LOOKUP_NOT_PROVED: 403,
    C.LOOKUP_RATE_LIMITED: 429,
    C.LOOKUP_INPUT_INVALID: 422,
    C.DISPUTE_NOT_FOUND: 404,
    C.LOOKUP_LINE_CHANGED: 409,
    C.DISPUTE_ANSWER_INVALID: 422,
    C.DISPUTE_CLOSED: 409,
    C.DISPUTE_STATUS_BACKWARDS: 409,
    C.DISPUTE_CURSOR_INVALID: 422,
}


class NationalLookupError(CodedError):
    messages = _MESSAGES
    statuses = HTTP_STATUS
    code: LookupErrorCode

    def __init__(
        self, code: LookupErrorCode, detail: str | None = None, *, retry_after: int | None = None
    ) -> None:
        super().__init__(code, detail, retry_after=retry_after)
