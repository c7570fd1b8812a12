"""Why a document was refused, in words a front-desk clerk understands.

The codes are stable: clients branch on them, reports count them, and the HTTP layer maps them
to `REALNAME.DOCUMENT_INVALID` with the code as detail. Messages never quote the number itself,
so they are safe to log and to show on any screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from realname.errors import CodedError, wants_chinese


class DocumentErrorCode(StrEnum):
    EMPTY = "empty"
    LENGTH = "length"
    FORMAT = "format"
    CHECKSUM = "checksum"
    BIRTH_DATE = "birth_date"
    REGION = "region"
    NATIONALITY = "nationality"
    EXPIRED = "expired"
    TYPE = "type"


_MESSAGES: Mapping[StrEnum, tuple[str, str]] = {
    DocumentErrorCode.EMPTY: (
        "No document number was entered.",
        "未输入证件号码。",
    ),
    DocumentErrorCode.LENGTH: (
        "The document number has the wrong number of characters for this document type.",
        "证件号码位数不正确。",
    ),
    DocumentErrorCode.FORMAT: (
        "The document number contains characters that this document type does not use.",
        "证件号码包含该证件类型不允许的字符。",
    ),
    DocumentErrorCode.CHECKSUM: (
        "The check character does not match: a digit was probably mistyped.",
        "校验位不正确，可能有数字输错。",
    ),
    DocumentErrorCode.BIRTH_DATE: (
        "The birth date in the number is not a real date or lies in the future.",
        "号码中的出生日期不是有效日期或晚于今天。",
    ),
    DocumentErrorCode.REGION: (
        "The region code in the number was never issued under GB/T 2260.",
        "号码中的行政区划代码不存在（含历史代码）。",
    ),
    DocumentErrorCode.NATIONALITY: (
        "The nationality is missing or is not an ISO 3166 country code.",
        "国籍缺失或不是有效的 ISO 3166 国家代码。",
    ),
    DocumentErrorCode.EXPIRED: (
        "The document has expired.",
        "证件已过有效期。",
    ),
    DocumentErrorCode.TYPE: (
        "The document type is not recognised; choose the type on the document.",
        "无法识别证件类型，请选择证件上的类型。",
    ),
}


def message_for(code: DocumentErrorCode, language: str = "en") -> str:
    english, chinese = _MESSAGES[code]
    return chinese if wants_chinese(language) else english


class DocumentError(CodedError):
    """A document number that cannot be accepted. Carries no PII: only the code and a reason."""

    messages = _MESSAGES
    code: DocumentErrorCode

    def __init__(self, code: DocumentErrorCode, detail: str | None = None) -> None:
        super().__init__(code, detail)
