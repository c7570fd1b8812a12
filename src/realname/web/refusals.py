"""A refusal in the clerk's words: the API's stable code mapped to one line saying why and
what to do about it. A code not listed here shows the API's own message (already in the
request's language: the pages send `Accept-Language`)."""

from __future__ import annotations

# code (without the REALNAME. prefix): (zh-CN, en)
REFUSALS: dict[str, tuple[str, str]] = {
    "CAP_EXCEEDED": (
        "该证件在本企业名下已有 5 个在用号码：请先注销不用的号码再办理。",
        "This ID already holds 5 active lines here: cancel one it no longer uses first.",
    ),
    "NATIONAL_CAP_EXCEEDED": (
        "该证件全国在用号码已达上限：请先注销不用的号码。",
        "This ID has reached the national line limit: cancel a line it no longer uses first.",
    ),
    "DOCUMENT_INVALID": (
        "证件号码校验不通过：请重新读卡，不要手工修改。",
        "The document number fails its check: read the card again, do not edit it.",
    ),
    "DOCUMENT_NOT_ACCEPTED": (
        "本渠道不受理此类证件：请改用居民身份证或其他受理的证件。",
        "This channel does not accept this kind of document: use a resident ID card or "
        "another accepted one.",
    ),
    "UNDERAGE": (
        "客户未满 16 周岁，不能单独登记：请由监护人陪同办理。",
        "The customer is under age: the guardian must register the line.",
    ),
    "FACE_MISMATCH": (
        "人脸比对分数低于阈值：请让客户正对摄像头重新比对。",
        "The face score is below the threshold: have the customer face the camera and "
        "compare again.",
    ),
    "FACE_MISSING": (
        "缺少人脸比对分数：请先完成人脸比对。",
        "No face score: run the live face comparison first.",
    ),
    "MANUAL_ENTRY_REFUSED": (
        "本渠道不允许手工录入证件：请将身份证放在读卡器上，再点击“读取身份证”。",
        "Typing an ID in by hand is not allowed at this channel: put the card on the reader, "
        "then press “Read the card”.",
    ),
    "CARD_READ_NOT_FOUND": (
        "读卡记录已使用、已过期或不属于本柜台：请重新读卡。",
        "The card read was used, expired or is not this counter's: read the card again.",
    ),
    "CHIP_READ_UNATTESTED": (
        "须使用本渠道读卡器读取的身份证数据：请重新读卡。",
        "The card must come from this channel's card reader: read the card again.",
    ),
    "AUTHORITY_UNKNOWN_DOCUMENT": (
        "公安身份核验查无此证：请核对证件原件，疑似伪造请拒绝办理。",
        "The identity authority does not know this document: check the original; refuse "
        "a forged one.",
    ),
    "AUTHORITY_NAME_MISMATCH": (
        "姓名与公安登记不一致：请重新读卡核对。",
        "The name does not match the authority's record: read the card again.",
    ),
    "AUTHORITY_DOCUMENT_REVOKED": (
        "该证件已挂失或作废：请客户使用有效证件。",
        "This document is reported lost or revoked: the customer needs a valid one.",
    ),
    "AUTHORITY_UNAVAILABLE": (
        "公安身份核验暂时不可用，未做任何变更：请稍后重试。",
        "The identity authority cannot be reached; nothing changed: try again shortly.",
    ),
    "NOT_IN_CHANNEL_STOCK": (
        "该号卡不在本渠道库存中：请从列表中选择本渠道的号卡。",
        "This kit is not in this channel's stock: choose one from the list.",
    ),
    "CHANNEL_NOT_AUTHORISED": (
        "本渠道已被暂停或无权办理此业务：请联系企业管理员。",
        "This channel is suspended or may not do this: contact your enterprise's administrator.",
    ),
    "CLERK_NOT_AUTHORISED": (
        "您的营业员账号已停用：请联系企业管理员。",
        "Your clerk account is disabled: contact your enterprise's administrator.",
    ),
    "LICENCE_NOT_IN_FORCE": (
        "本企业经营许可已被暂停，暂停受理新用户入网：已有号码的补登记仍可办理。",
        "This enterprise's licence is suspended: no new customers (back-filling existing "
        "lines goes on).",
    ),
    "NOT_OWNER": (
        "证件与号码登记机主不一致：须由机主本人持证办理。",
        "The document does not match the line's owner: the owner must come in person.",
    ),
    "LINE_NOT_FOUND": (
        "未找到该号码：请核对号码。",
        "No such line: check the number.",
    ),
    "NOT_FOUND": ("未找到：请核对输入。", "Not found: check what you entered."),
    "ILLEGAL_TRANSITION": (
        "号码当前状态不允许此操作：请查看号码状态。",
        "The line's state does not allow this: check its state.",
    ),
    "KIT_IN_USE": (
        "该 ICCID/IMSI 已被使用：请换一张新卡。",
        "That ICCID/IMSI is already in use: take another kit.",
    ),
    "KIT_INVALID": (
        "ICCID/IMSI 格式不正确：请扫描卡片上的条码。",
        "The ICCID/IMSI is malformed: scan the barcode on the card.",
    ),
    "NUMBER_INVALID": (
        "手机号码格式不正确：请输入 11 位手机号码。",
        "The phone number is malformed: enter the full number.",
    ),
    "POSSESSION_NOT_PROVEN": (
        "补登记须先证明持有该号码：请发送验证码并输入。",
        "A back-fill needs proof of holding the line: send a one-time code and enter it.",
    ),
    "CHANNEL_NOT_RISKY": (
        "该渠道未超过风险阈值：暂停须填写原因。",
        "This channel is not over the risk threshold: give a reason to suspend it.",
    ),
    "PERMISSION_DENIED": (
        "您的角色无权执行此操作。",
        "Your role may not do this.",
    ),
    "INVALID_ARGUMENT": (
        "输入有误：请检查各项后重新提交。",
        "Something entered is not valid: check the fields and submit again.",
    ),
}


def explain(code: str, api_message: str, locale: str) -> str:
    """One line for the clerk: the mapped reason and fix, else the API's own message."""
    entry = REFUSALS.get(code.removeprefix("REALNAME."))
    if entry is None:
        return api_message
    return entry[0] if locale == "zh-CN" else entry[1]
