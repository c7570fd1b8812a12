"""Why the enforcement ladder refused a request. Codes are stable; the API prefixes
`REALNAME.`. A refusal changes nothing: the service raises before it flushes."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from realname.errors import CodedError


class EnforcementErrorCode(StrEnum):
    ENTERPRISE_NOT_FOUND = "ENTERPRISE_NOT_FOUND"
    ACTION_NOT_FOUND = "ACTION_NOT_FOUND"
    PROPOSAL_NOT_FOUND = "PROPOSAL_NOT_FOUND"
    EVIDENCE_REQUIRED = "EVIDENCE_REQUIRED"
    EVIDENCE_INVALID = "EVIDENCE_INVALID"
    MINUTES_REQUIRED = "MINUTES_REQUIRED"
    DEADLINE_INVALID = "DEADLINE_INVALID"
    ACTION_NOT_OPEN = "ACTION_NOT_OPEN"
    NOT_A_RECTIFICATION = "NOT_A_RECTIFICATION"
    APPEAL_NOT_OPEN = "APPEAL_NOT_OPEN"
    APPEAL_NOT_LODGED = "APPEAL_NOT_LODGED"
    PROPOSAL_DECIDED = "PROPOSAL_DECIDED"
    CHANNEL_NOT_FOUND = "CHANNEL_NOT_FOUND"
    TEXT_REQUIRED = "TEXT_REQUIRED"


C = EnforcementErrorCode

_MESSAGES: Mapping[StrEnum, tuple[str, str]] = {
    C.ENTERPRISE_NOT_FOUND: ("No such enterprise.", "企业不存在。"),
    C.ACTION_NOT_FOUND: ("No such enforcement action for this caller.", "无此执法措施。"),
    C.PROPOSAL_NOT_FOUND: ("No such proposal.", "无此处置建议。"),
    C.EVIDENCE_REQUIRED: (
        "Every enforcement action names its evidence (inspection rounds, figures, complaints, "
        "earlier actions or documents).",
        "每项执法措施须列明证据（暗访轮次、统计数据、投诉、先前措施或文书）。",
    ),
    C.EVIDENCE_INVALID: (
        "Evidence is a kind (inspection_round, figure, complaint, action, document) and a "
        "reference of letters, digits and . _ : - (at most 64); a complaint or action named "
        "must exist and concern the enterprise.",
        "证据须为类型（inspection_round、figure、complaint、action、document）加引用编号"
        "（字母、数字及 . _ : -，最长 64 位）；所引投诉或措施须存在且涉及该企业。",
    ),
    C.MINUTES_REQUIRED: ("An interview is recorded with its minutes.", "约谈须附会谈纪要。"),
    C.DEADLINE_INVALID: (
        "A rectification order's deadline must be after the order is made.",
        "整改期限须晚于下达整改通知的时间。",
    ),
    C.ACTION_NOT_OPEN: (
        "This action is no longer in force (complied, lifted or withdrawn).",
        "该措施已不再生效（已整改、已解除或已撤销）。",
    ),
    C.NOT_A_RECTIFICATION: (
        "Only a rectification order is reported on and followed up.",
        "仅整改通知需报告整改情况和复查。",
    ),
    C.APPEAL_NOT_OPEN: (
        "The action can no longer be appealed (an appeal was already lodged, or the appeal "
        "period is over).",
        "该措施已不能申诉（已提出申诉或申诉期已过）。",
    ),
    C.APPEAL_NOT_LODGED: ("No appeal is waiting for a decision.", "没有待处理的申诉。"),
    C.PROPOSAL_DECIDED: ("This proposal was already decided.", "该建议已处理。"),
    C.CHANNEL_NOT_FOUND: ("No such channel at this enterprise.", "该企业无此渠道。"),
    C.TEXT_REQUIRED: ("Say what was done (the text is sealed).", "请填写说明（内容加密保存）。"),
}

HTTP_STATUS: Mapping[StrEnum, int] = {
    C.ENTERPRISE_NOT_FOUND: 404,
    C.ACTION_NOT_FOUND: 404,
    C.PROPOSAL_NOT_FOUND: 404,
    C.CHANNEL_NOT_FOUND: 404,
    C.ACTION_NOT_OPEN: 409,
    C.APPEAL_NOT_OPEN: 409,
    C.APPEAL_NOT_LODGED: 409,
    C.PROPOSAL_DECIDED: 409,
    C.NOT_A_RECTIFICATION: 409,
}


class EnforcementError(CodedError):
    messages = _MESSAGES
    statuses = HTTP_STATUS
    code: EnforcementErrorCode
