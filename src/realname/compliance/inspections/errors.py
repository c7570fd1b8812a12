"""Why an inspection request was refused. Codes are stable; the API prefixes `REALNAME.`."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from realname.errors import CodedError


class InspectionErrorCode(StrEnum):
    ROUND_NOT_FOUND = "ROUND_NOT_FOUND"
    ROUND_EXISTS = "ROUND_EXISTS"
    ROUND_DATES_INVALID = "ROUND_DATES_INVALID"
    PRECISION_INVALID = "PRECISION_INVALID"
    SCOPE_INVALID = "SCOPE_INVALID"
    OUTSIDE_PROVINCE = "OUTSIDE_PROVINCE"
    ALREADY_PLANNED = "ALREADY_PLANNED"
    NOT_PLANNED = "NOT_PLANNED"
    NO_OUTLETS = "NO_OUTLETS"
    TARGET_NOT_FOUND = "TARGET_NOT_FOUND"
    INSPECTOR_NOT_FOUND = "INSPECTOR_NOT_FOUND"
    NOT_ASSIGNED = "NOT_ASSIGNED"
    ALREADY_VISITED = "ALREADY_VISITED"
    VISIT_NOT_FOUND = "VISIT_NOT_FOUND"
    VISIT_OUTSIDE_ROUND = "VISIT_OUTSIDE_ROUND"
    VISIT_IN_FUTURE = "VISIT_IN_FUTURE"
    PLACE_INVALID = "PLACE_INVALID"
    EVIDENCE_INVALID = "EVIDENCE_INVALID"
    EVIDENCE_NOT_FOUND = "EVIDENCE_NOT_FOUND"
    PURCHASE_EXISTS = "PURCHASE_EXISTS"
    PURCHASE_NOT_FOUND = "PURCHASE_NOT_FOUND"
    PURCHASE_NOT_VISITED = "PURCHASE_NOT_VISITED"
    NUMBER_INVALID = "NUMBER_INVALID"
    DOCUMENT_INVALID = "DOCUMENT_INVALID"
    PERIOD_INVALID = "PERIOD_INVALID"


C = InspectionErrorCode

_MESSAGES: Mapping[StrEnum, tuple[str, str]] = {
    C.ROUND_NOT_FOUND: ("No such inspection round for this caller.", "暗访批次不存在。"),
    C.ROUND_EXISTS: ("An inspection round with this code exists.", "该暗访批次编号已存在。"),
    C.ROUND_DATES_INVALID: (
        "A round ends on or after the day it starts.",
        "暗访批次的结束日期不得早于开始日期。",
    ),
    C.PRECISION_INVALID: (
        "The precision needs a margin between 0 and 0.5, a confidence between 0 and 1, an "
        "expected rate between 0 and 1 and a minimum per stratum of 0 or more.",
        "精度参数无效：误差须在0至0.5之间，置信度与预期比例须在0至1之间，每层最少样本不得为负。",
    ),
    C.SCOPE_INVALID: (
        "The scope names an unknown enterprise, channel kind or province.",
        "范围中包含未知的企业、渠道类型或省份。",
    ),
    C.OUTSIDE_PROVINCE: (
        "A provincial administration plans and sees only its own province.",
        "省级管理局仅能安排和查看本省的暗访。",
    ),
    C.ALREADY_PLANNED: (
        "This round's plan is drawn; it is never redrawn (the seed reproduces it).",
        "该批次已抽样，不会重新抽样（可由随机种子复现）。",
    ),
    C.NOT_PLANNED: ("Draw the round's plan first.", "请先为该批次抽样。"),
    C.NO_OUTLETS: ("No active outlet falls within the round's scope.", "范围内没有在营网点。"),
    C.TARGET_NOT_FOUND: ("No such outlet in this round's plan.", "该网点不在本批次抽样中。"),
    C.INSPECTOR_NOT_FOUND: ("No active inspector client with this id.", "检查员不存在或已停用。"),
    C.NOT_ASSIGNED: ("This outlet is not assigned to this inspector.", "该网点未分配给此检查员。"),
    C.ALREADY_VISITED: ("This outlet's visit is recorded already.", "该网点的暗访记录已存在。"),
    C.VISIT_NOT_FOUND: ("No such visit.", "暗访记录不存在。"),
    C.VISIT_OUTSIDE_ROUND: (
        "The visit's time is outside the round's dates.",
        "暗访时间不在批次日期内。",
    ),
    C.VISIT_IN_FUTURE: ("A visit cannot be recorded before it happens.", "暗访时间不能晚于现在。"),
    C.PLACE_INVALID: (
        "The place is not a known region code (six digits, GB/T 2260) or its coordinates "
        "are out of range.",
        "地点的行政区划代码无效或坐标超出范围。",
    ),
    C.EVIDENCE_INVALID: (
        "Evidence needs its content (base64) and a media type; the SHA-256, when given, must "
        "match the content.",
        "证据文件须包含内容（base64）和类型；如提供SHA-256，须与内容一致。",
    ),
    C.EVIDENCE_NOT_FOUND: (
        "No such evidence file for this visit, or the stored file no longer matches its hash.",
        "该暗访没有此证据文件，或存储的文件与其哈希不符。",
    ),
    C.PURCHASE_EXISTS: ("This visit has a test purchase already.", "该暗访已登记测试购卡。"),
    C.PURCHASE_NOT_FOUND: ("No such test purchase.", "测试购卡记录不存在。"),
    C.PURCHASE_NOT_VISITED: (
        "A test purchase is made at a visited outlet.",
        "测试购卡须在已到访的网点进行。",
    ),
    C.NUMBER_INVALID: ("The phone number is not valid.", "号码无效。"),
    C.DOCUMENT_INVALID: ("The identity document number is not valid.", "证件号码无效。"),
    C.PERIOD_INVALID: (
        "A period is a month (2016-07) or a range of months (2016-07..2016-12).",
        "期间格式应为月份（2016-07）或月份范围（2016-07..2016-12）。",
    ),
}

HTTP_STATUS: Mapping[StrEnum, int] = {
    C.ROUND_NOT_FOUND: 404,
    C.TARGET_NOT_FOUND: 404,
    C.VISIT_NOT_FOUND: 404,
    C.PURCHASE_NOT_FOUND: 404,
    C.EVIDENCE_NOT_FOUND: 404,
    C.INSPECTOR_NOT_FOUND: 404,
    C.ROUND_EXISTS: 409,
    C.ALREADY_PLANNED: 409,
    C.NOT_PLANNED: 409,
    C.ALREADY_VISITED: 409,
    C.PURCHASE_EXISTS: 409,
    C.OUTSIDE_PROVINCE: 403,
    C.NOT_ASSIGNED: 403,
    C.PERIOD_INVALID: 400,
}


class InspectionError(CodedError):
    messages = _MESSAGES
    statuses = HTTP_STATUS
    code: InspectionErrorCode

    def __init__(self, code: InspectionErrorCode, detail: str | None = None) -> None:
        super().__init__(code, detail)
