"""Why the national figures could not be computed. Codes are stable; the CLI prints them with
the `REALNAME.` prefix and exits 2. Details name datasets, files and columns, never a value."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from realname.errors import CodedError


class NationalAnalyticsErrorCode(StrEnum):
    DATASET_NOT_FOUND = "NATIONAL_DATASET_NOT_FOUND"
    DATASET_SCHEMA = "NATIONAL_DATASET_SCHEMA"
    DATASET_UNREADABLE = "NATIONAL_DATASET_UNREADABLE"
    ENGINE_UNAVAILABLE = "NATIONAL_ENGINE_UNAVAILABLE"
    ENGINE_OUT_OF_MEMORY = "NATIONAL_ENGINE_OUT_OF_MEMORY"


C = NationalAnalyticsErrorCode

_MESSAGES: Mapping[StrEnum, tuple[str, str]] = {
    C.DATASET_NOT_FOUND: (
        "No national dataset there: a directory holding national_lines (Parquet) is needed.",
        "未找到全国数据集：目录中应有 national_lines（Parquet）。",
    ),
    C.DATASET_SCHEMA: (
        "The national dataset does not have the agreed columns and types.",
        "全国数据集的列或类型与约定不符。",
    ),
    C.DATASET_UNREADABLE: (
        "The national dataset could not be read as Parquet.",
        "全国数据集无法按 Parquet 读取。",
    ),
    C.ENGINE_UNAVAILABLE: (
        "The analytics engine cannot start here.",
        "分析引擎无法在此启动。",
    ),
    C.ENGINE_OUT_OF_MEMORY: (
        "The analytics engine ran out of memory: give it more (--memory-limit, e.g. 8GB), "
        "fewer threads, or free memory on this machine; the dataset itself is fine.",
        "分析引擎内存不足：请调高内存上限（--memory-limit，如 8GB）、减少线程或释放本机内存；"
        "数据集本身无误。",
    ),
}

HTTP_STATUS: Mapping[StrEnum, int] = {
    C.DATASET_NOT_FOUND: 404,
    C.DATASET_SCHEMA: 422,
    C.DATASET_UNREADABLE: 422,
    C.ENGINE_UNAVAILABLE: 503,
    C.ENGINE_OUT_OF_MEMORY: 503,
}


class NationalAnalyticsError(CodedError):
    messages = _MESSAGES
    statuses = HTTP_STATUS
    code: NationalAnalyticsErrorCode

    def __init__(self, code: NationalAnalyticsErrorCode, detail: str | None = None) -> None:
        super().__init__(code, detail)
