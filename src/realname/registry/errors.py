"""Why the registry refused an operation. Codes are stable; the API prefixes `REALNAME.`.

A refusal always leaves the database as it was: services raise before they flush, and the
entry point rolls the transaction back.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from realname.errors import CodedError
from realname.policy.checks import PolicyViolation, violation_message


class RegistryErrorCode(StrEnum):
    CAP_EXCEEDED = "CAP_EXCEEDED"
    NATIONAL_CAP_EXCEEDED = "NATIONAL_CAP_EXCEEDED"
    DOCUMENT_INVALID = "DOCUMENT_INVALID"
    DOCUMENT_NOT_ACCEPTED = "DOCUMENT_NOT_ACCEPTED"
    UNDERAGE = "UNDERAGE"
    FACE_MISMATCH = "FACE_MISMATCH"
    FACE_MISSING = "FACE_MISSING"
    MANUAL_ENTRY_REFUSED = "MANUAL_ENTRY_REFUSED"
    AUTHORITY_UNKNOWN_DOCUMENT = "AUTHORITY_UNKNOWN_DOCUMENT"
    AUTHORITY_NAME_MISMATCH = "AUTHORITY_NAME_MISMATCH"
    AUTHORITY_DOCUMENT_REVOKED = "AUTHORITY_DOCUMENT_REVOKED"
    AUTHORITY_UNAVAILABLE = "AUTHORITY_UNAVAILABLE"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    NOT_IN_CHANNEL_STOCK = "NOT_IN_CHANNEL_STOCK"
    CHANNEL_NOT_AUTHORISED = "CHANNEL_NOT_AUTHORISED"
    CLERK_NOT_AUTHORISED = "CLERK_NOT_AUTHORISED"
    NOT_OWNER = "NOT_OWNER"
    LINE_NOT_FOUND = "LINE_NOT_FOUND"
    ENTERPRISE_NOT_FOUND = "ENTERPRISE_NOT_FOUND"
    LICENCE_NOT_IN_FORCE = "LICENCE_NOT_IN_FORCE"
    CHANNEL_NOT_FOUND = "CHANNEL_NOT_FOUND"
    NUMBER_INVALID = "NUMBER_INVALID"
    NUMBER_NOT_ALLOCATED = "NUMBER_NOT_ALLOCATED"
    BLOCK_OVERLAPS = "BLOCK_OVERLAPS"
    KIT_IN_USE = "KIT_IN_USE"
    KIT_INVALID = "KIT_INVALID"
    REVERIFICATION_NOT_PENDING = "REVERIFICATION_NOT_PENDING"
    COOLING_NOT_OVER = "COOLING_NOT_OVER"
    STOCK_MOVE_NOT_ALLOWED = "STOCK_MOVE_NOT_ALLOWED"
    NOTHING_TO_MOVE = "NOTHING_TO_MOVE"
    CHANNEL_NOT_RISKY = "CHANNEL_NOT_RISKY"
    POSSESSION_NOT_PROVEN = "POSSESSION_NOT_PROVEN"
    BLOCK_ALLOCATION_SUSPENDED = "BLOCK_ALLOCATION_SUSPENDED"
    SETTLEMENT_SUSPENDED = "SETTLEMENT_SUSPENDED"
    CARD_READ_NOT_FOUND = "CARD_READ_NOT_FOUND"
    CHIP_READ_UNATTESTED = "CHIP_READ_UNATTESTED"
    ENTRY_METHOD_REQUIRED = "ENTRY_METHOD_REQUIRED"


C = RegistryErrorCode

_MESSAGES: Mapping[StrEnum, tuple[str, str]] = {
    C.DOCUMENT_INVALID: ("The identity document number is not valid.", "证件号码无效。"),
    C.AUTHORITY_UNKNOWN_DOCUMENT: (
        "The identity authority does not know this document.",
        "公安核验：证件不存在。",
    ),
    C.AUTHORITY_NAME_MISMATCH: (
        "The identity authority reports that the name does not match the document.",
        "公安核验：姓名与证件号码不一致。",
    ),
    C.AUTHORITY_DOCUMENT_REVOKED: (
        "The identity authority reports this document as revoked (lost or replaced).",
        "公安核验：证件已挂失或作废。",
    ),
    C.AUTHORITY_UNAVAILABLE: (
        "The identity authority cannot be reached, so the identity cannot be verified now. "
        "Nothing was registered or changed; please try again shortly.",
        "公安核验系统暂时无法访问，无法核验身份。本次未办理任何业务，请稍后重试。",
    ),
    C.ILLEGAL_TRANSITION: (
        "This operation is not possible in the line's current state.",
        "号码当前状态不允许此操作。",
    ),
    C.NOT_IN_CHANNEL_STOCK: (
        "This SIM card is not in this channel's stock.",
        "该号卡不在本渠道库存中。",
    ),
    C.CHANNEL_NOT_AUTHORISED: (
        "This channel is not authorised to register customers.",
        "该渠道未获授权办理入网登记。",
    ),
    C.CLERK_NOT_AUTHORISED: (
        "This clerk may not act for this channel.",
        "该营业员无权在本渠道办理业务。",
    ),
    C.NOT_OWNER: (
        "Only the verified owner of the line may do this.",
        "仅限经核验的号码机主本人办理。",
    ),
    C.LINE_NOT_FOUND: ("No such line at this operator.", "本企业无此号码。"),
    C.ENTERPRISE_NOT_FOUND: ("No such enterprise.", "企业不存在。"),
    C.LICENCE_NOT_IN_FORCE: (
        "This operator's licence is suspended or revoked: it may not take on new customers "
        "(existing lines may still be back-filled).",
        "该企业经营许可已暂停或撤销，不得发展新用户（存量号码仍可补登记）。",
    ),
    C.CHANNEL_NOT_FOUND: ("No such channel at this operator.", "本企业无此渠道。"),
    C.NUMBER_INVALID: ("This is not a valid mobile number.", "手机号码无效。"),
    C.NUMBER_NOT_ALLOCATED: (
        "The number is not in any block allocated to this operator.",
        "该号码不在本企业的号段内。",
    ),
    C.BLOCK_OVERLAPS: (
        "The number block overlaps a block already allocated.",
        "号段与已分配号段重叠。",
    ),
    C.KIT_INVALID: (
        "A SIM kit's ICCID is 89 followed by 16 to 20 digits and its IMSI 14 or 15 digits.",
        "SIM 卡 ICCID 须为 89 开头的 18 至 22 位数字，IMSI 须为 14 或 15 位数字。",
    ),
    C.KIT_IN_USE: (
        "The ICCID or IMSI already belongs to another line of this operator.",
        "ICCID 或 IMSI 已被本企业其他号码使用。",
    ),
    C.REVERIFICATION_NOT_PENDING: (
        "No re-verification is pending for this line.",
        "该号码没有待办的二次实名核验。",
    ),
    C.COOLING_NOT_OVER: (
        "The number is still in its cooling period.",
        "该号码仍在冷冻期内。",
    ),
    C.STOCK_MOVE_NOT_ALLOWED: (
        "Stock moves down to a sub-channel or back up to its parent channel only.",
        "号卡只能调拨给下级渠道或退回上级渠道。",
    ),
    C.NOTHING_TO_MOVE: ("No SIM kits were named.", "未指定号卡。"),
    C.POSSESSION_NOT_PROVEN: (
        "Back-filling a legacy line needs proof that the customer holds it (a one-time code "
        "sent to it, its SIM card's ICCID, or its recent usage).",
        "旧号补登记须证明客户持有该号码（发送至该号码的验证码、SIM 卡 ICCID 或近期使用信息）。",
    ),
    C.BLOCK_ALLOCATION_SUSPENDED: (
        "The regulator has suspended new number-block allocation to this operator "
        "(an enforcement measure in force).",
        "监管部门已暂停向该企业分配新号段（执法措施生效中）。",
    ),
    C.SETTLEMENT_SUSPENDED: (
        "The regulator has suspended settlement with this operator (an enforcement measure "
        "in force).",
        "监管部门已暂停与该企业的结算（执法措施生效中）。",
    ),
    C.CARD_READ_NOT_FOUND: (
        "No card read waits at this counter under that id: it was used, it expired, or it "
        "was read at another channel. Read the card again.",
        "本柜台没有该读卡记录（已使用、已过期或非本渠道读取）。请重新读卡。",
    ),
    C.CHIP_READ_UNATTESTED: (
        "A chip read must come from this channel's card reader: have the reader post the "
        "card (POST /v1/card-reads) and send its id as card_read_id instead of document and "
        "name (or entry_method manual, where typing a document in is allowed).",
        "芯片读取须来自本渠道的读卡器：请由读卡器上传身份证信息（POST /v1/card-reads），并以 "
        "card_read_id 代替证件和姓名提交（或在允许手工录入处使用 entry_method manual）。",
    ),
    C.ENTRY_METHOD_REQUIRED: (
        "Say how the document was captured: send card_read_id (the id of this channel's "
        "card reader's read, POST /v1/card-reads) instead of document and name, or send "
        "entry_method (chip_read, ocr or manual) with them.",
        "请说明证件信息的采集方式：以 card_read_id（本渠道读卡器的读卡记录，POST "
        "/v1/card-reads）代替证件和姓名提交，或随证件和姓名提供 entry_method（chip_read、ocr "
        "或 manual）。",
    ),
    C.CHANNEL_NOT_RISKY: (
        "The channel is not over the risk threshold; give the reason for suspending it.",
        "该渠道未超过风险阈值，暂停须说明理由。",
    ),
}

# Refusals that are policy violations read exactly as the policy words them.
_MESSAGES = {
    **_MESSAGES,
    **{
        RegistryErrorCode(violation.value.upper()): (
            violation_message(violation, "en"),
            violation_message(violation, "zh"),
        )
        for violation in PolicyViolation
    },
}

HTTP_STATUS: Mapping[StrEnum, int] = {
    C.LINE_NOT_FOUND: 404,
    C.ENTERPRISE_NOT_FOUND: 404,
    C.LICENCE_NOT_IN_FORCE: 403,
    C.BLOCK_ALLOCATION_SUSPENDED: 403,
    C.SETTLEMENT_SUSPENDED: 403,
    C.CHANNEL_NOT_FOUND: 404,
    C.CHANNEL_NOT_AUTHORISED: 403,
    C.CLERK_NOT_AUTHORISED: 403,
    C.NOT_OWNER: 403,
    C.POSSESSION_NOT_PROVEN: 403,
    C.ILLEGAL_TRANSITION: 409,
    C.CAP_EXCEEDED: 409,
    C.NATIONAL_CAP_EXCEEDED: 409,
    C.BLOCK_OVERLAPS: 409,
    C.KIT_IN_USE: 409,
    C.KIT_INVALID: 422,
    C.COOLING_NOT_OVER: 409,
    C.STOCK_MOVE_NOT_ALLOWED: 409,
    C.CHANNEL_NOT_RISKY: 409,
    C.AUTHORITY_UNAVAILABLE: 503,
    C.CARD_READ_NOT_FOUND: 404,
    C.CHIP_READ_UNATTESTED: 403,
    C.ENTRY_METHOD_REQUIRED: 422,
}

# Refusals that say nothing about the request: the same request may succeed later, so they
# are not stored as an idempotent answer, nor counted against the channel.
TRANSIENT = frozenset({C.AUTHORITY_UNAVAILABLE})


class RegistryError(CodedError):
    messages = _MESSAGES
    statuses = HTTP_STATUS
    transient_codes = TRANSIENT
    code: RegistryErrorCode
