"""Why a segments request was refused. Codes are stable; the API prefixes `REALNAME.`."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from realname.errors import CodedError


class SegmentErrorCode(StrEnum):
    DIMENSION_INVALID = "SEGMENT_DIMENSION_INVALID"
    THRESHOLD_TOO_SMALL = "SEGMENT_THRESHOLD_TOO_SMALL"


C = SegmentErrorCode

_MESSAGES: Mapping[StrEnum, tuple[str, str]] = {
    C.DIMENSION_INVALID: (
        "Segments are by enterprise, province, age and sex (one or more, comma-separated).",
        "分组维度为 enterprise、province、age、sex（一个或多个，逗号分隔）。",
    ),
    C.THRESHOLD_TOO_SMALL: (
        "k may not be below 10: smaller counts could single people out.",
        "k 不得小于 10：更小的计数可能识别出个人。",
    ),
}

HTTP_STATUS: Mapping[StrEnum, int] = {C.DIMENSION_INVALID: 400, C.THRESHOLD_TOO_SMALL: 400}


class SegmentError(CodedError):
    messages = _MESSAGES
    statuses = HTTP_STATUS
    code: SegmentErrorCode

    def __init__(self, code: SegmentErrorCode, detail: str | None = None) -> None:
        super().__init__(code, detail)
