"""Why the platform refused a feed batch (each refusal is also reported: `national_feed_refusal`),
and why a publisher could not push. Codes are stable; the API prefixes `REALNAME.`."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from realname.errors import CodedError

EXPECTED_HEADER = "X-Expected-Batch"


class FeedErrorCode(StrEnum):
    FEED_MALFORMED = "FEED_MALFORMED"
    FEED_ENTERPRISE_UNKNOWN = "FEED_ENTERPRISE_UNKNOWN"
    FEED_NOT_YOURS = "FEED_NOT_YOURS"
    FEED_UNSIGNED = "FEED_UNSIGNED"
    FEED_KEY_UNKNOWN = "FEED_KEY_UNKNOWN"
    FEED_SIGNATURE_INVALID = "FEED_SIGNATURE_INVALID"
    FEED_BATCH_CONFLICT = "FEED_BATCH_CONFLICT"
    FEED_BATCH_GAP = "FEED_BATCH_GAP"
    FEED_SEALED_TO_UNKNOWN_KEY = "FEED_SEALED_TO_UNKNOWN_KEY"
    FEED_ITEM_INVALID = "FEED_ITEM_INVALID"
    FEED_PLATFORM_UNREACHABLE = "FEED_PLATFORM_UNREACHABLE"
    FEED_PLATFORM_REFUSED = "FEED_PLATFORM_REFUSED"
    FEED_KEY_EXISTS = "FEED_KEY_EXISTS"
    FEED_KEY_RETIRED = "FEED_KEY_RETIRED"
    FEED_BUSY = "FEED_BUSY"
    FEED_PUBLISH_RUNNING = "FEED_PUBLISH_RUNNING"


C = FeedErrorCode

_MESSAGES: Mapping[StrEnum, tuple[str, str]] = {
    C.FEED_MALFORMED: ("The batch is not a feed envelope.", "数据批次格式不正确。"),
    C.FEED_ENTERPRISE_UNKNOWN: (
        "No enterprise with this code is registered at the platform.",
        "平台上没有该企业。",
    ),
    C.FEED_NOT_YOURS: (
        "This client publishes another enterprise's feed.",
        "该客户端无权报送其他企业的数据。",
    ),
    C.FEED_UNSIGNED: ("The batch carries no signature.", "数据批次未签名。"),
    C.FEED_KEY_UNKNOWN: (
        "The batch is signed with a key not registered for this enterprise.",
        "数据批次的签名密钥未在平台登记。",
    ),
    C.FEED_SIGNATURE_INVALID: (
        "The batch's signature does not verify: it was altered or signed by another key.",
        "数据批次签名验证失败：内容被篡改或签名密钥不符。",
    ),
    C.FEED_BATCH_CONFLICT: (
        "A different batch with this number was taken before; the feed must be repaired.",
        "该批次号已接收过内容不同的批次，需核查修复。",
    ),
    C.FEED_BATCH_GAP: (
        "This batch is ahead of the one expected; send the expected batch first.",
        "批次号超前，请先报送平台期待的批次。",
    ),
    C.FEED_SEALED_TO_UNKNOWN_KEY: (
        "Document numbers are sealed to a key the platform does not hold.",
        "证件号码所用的加密公钥不是平台的密钥。",
    ),
    C.FEED_ITEM_INVALID: (
        "An item of the batch is malformed or its sealed owner does not open.",
        "批次中有记录格式不正确或无法解密。",
    ),
    C.FEED_PLATFORM_UNREACHABLE: (
        "The national platform did not answer; the batch is kept and sent again.",
        "全国平台无响应，批次已保留，稍后重发。",
    ),
    C.FEED_PLATFORM_REFUSED: (
        "The national platform refused the batch.",
        "全国平台拒收该批次。",
    ),
    C.FEED_KEY_EXISTS: (
        "This key id is already registered for the enterprise with another key.",
        "该企业已登记同名的不同密钥。",
    ),
    C.FEED_KEY_RETIRED: (
        "The batch is signed with a key the enterprise retired; sign with its current key.",
        "数据批次的签名密钥已停用，请使用现行密钥签名。",
    ),
    C.FEED_BUSY: (
        "The registry is busy with a long write; the feed was not built. Try again shortly.",
        "登记库正在进行大批量写入，本次未生成数据批次，请稍后重试。",
    ),
    C.FEED_PUBLISH_RUNNING: (
        "Another publish of this enterprise's feed is running; this one did nothing. "
        "Let it finish (or run again later).",
        "该企业的另一次数据报送正在进行，本次未做任何处理，请待其完成后再试。",
    ),
}

HTTP_STATUS: Mapping[StrEnum, int] = {
    C.FEED_MALFORMED: 400,
    C.FEED_ENTERPRISE_UNKNOWN: 404,
    C.FEED_NOT_YOURS: 403,
    C.FEED_UNSIGNED: 401,
    C.FEED_KEY_UNKNOWN: 401,
    C.FEED_SIGNATURE_INVALID: 401,
    C.FEED_BATCH_CONFLICT: 409,
    C.FEED_BATCH_GAP: 409,
    C.FEED_SEALED_TO_UNKNOWN_KEY: 422,
    C.FEED_ITEM_INVALID: 422,
    C.FEED_PLATFORM_UNREACHABLE: 503,
    C.FEED_PLATFORM_REFUSED: 502,
    C.FEED_KEY_EXISTS: 409,
    C.FEED_KEY_RETIRED: 401,
    C.FEED_BUSY: 503,
    C.FEED_PUBLISH_RUNNING: 409,
}


class FeedError(CodedError):
    messages = _MESSAGES
    statuses = HTTP_STATUS
    transient_codes = frozenset({C.FEED_BUSY})
    code: FeedErrorCode

    def __init__(
        self,
        code: FeedErrorCode,
        detail: str | None = None,
        *,
        expected: int | None = None,
        number: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(code, detail, retry_after=retry_after)
        self.expected = expected  # a gap: the batch number the platform expects
        self.number = number

    def response_headers(self) -> dict[str, str]:
        """A gap names the batch the platform expects, for the publisher to resend from."""
        if self.expected is not None:
            return {EXPECTED_HEADER: str(self.expected)}
        return super().response_headers()
