"""Why a provisioning request (one row, or one row of a file) was refused."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from realname.errors import CodedError


class ProvisioningErrorCode(StrEnum):
    ENTERPRISE_EXISTS = "ENTERPRISE_EXISTS"
    ENTERPRISE_NOT_FOUND = "ENTERPRISE_NOT_FOUND"
    ENTERPRISE_KIND = "ENTERPRISE_KIND"
    HOST_REQUIRED = "HOST_REQUIRED"
    HOST_NOT_MNO = "HOST_NOT_MNO"
    LICENCE_STATUS = "LICENCE_STATUS"
    LICENCE_REVOKED = "LICENCE_REVOKED"
    LICENCE_DATE = "LICENCE_DATE"
    LICENCE_NOT_ACTIVE = "LICENCE_NOT_ACTIVE"
    BLOCK_ALLOCATION_SUSPENDED = "BLOCK_ALLOCATION_SUSPENDED"
    PROVINCE_INVALID = "PROVINCE_INVALID"
    BLOCK_INVALID = "BLOCK_INVALID"
    BLOCK_OVERLAPS = "BLOCK_OVERLAPS"
    CHANNEL_EXISTS = "CHANNEL_EXISTS"
    CHANNEL_NOT_FOUND = "CHANNEL_NOT_FOUND"
    CHANNEL_KIND = "CHANNEL_KIND"
    REGION_INVALID = "REGION_INVALID"
    REGION_NOT_SERVED = "REGION_NOT_SERVED"
    PARENT_NOT_FOUND = "PARENT_NOT_FOUND"
    CHANNEL_CYCLE = "CHANNEL_CYCLE"
    CLERK_EXISTS = "CLERK_EXISTS"
    CLERK_NOT_FOUND = "CLERK_NOT_FOUND"
    FIELD_INVALID = "FIELD_INVALID"
    FILE_INVALID = "FILE_INVALID"


C = ProvisioningErrorCode

_MESSAGES: Mapping[StrEnum, tuple[str, str]] = {
    C.ENTERPRISE_EXISTS: (
        "An enterprise with this code exists with other values.",
        "该代码的企业已存在且信息不同。",
    ),
    C.ENTERPRISE_NOT_FOUND: ("No such enterprise.", "企业不存在。"),
    C.ENTERPRISE_KIND: ("An enterprise is an mno or an mvno.", "企业类型须为 mno 或 mvno。"),
    C.HOST_REQUIRED: (
        "A resale operator (MVNO) needs a host operator; an MNO has none.",
        "虚拟运营商须指定基础运营商；基础运营商不能有上级。",
    ),
    C.HOST_NOT_MNO: (
        "The host operator must be a licensed MNO.",
        "基础运营商须为持证的移动网络运营商。",
    ),
    C.LICENCE_STATUS: (
        "A licence is pilot, official, suspended or revoked.",
        "牌照状态须为 pilot、official、suspended 或 revoked。",
    ),
    C.LICENCE_DATE: (
        "A licence decision is dated no later than today and no earlier than the status it "
        "follows (licences date from 1980 on).",
        "牌照变更日期不得晚于今天，也不得早于当前状态的生效日期（1980 年以后）。",
    ),
    C.LICENCE_REVOKED: (
        "The licence is revoked: its status can no longer change.",
        "牌照已吊销，状态不能再变更。",
    ),
    C.BLOCK_ALLOCATION_SUSPENDED: (
        "The regulator has suspended new number-block allocation to this enterprise "
        "(an enforcement measure in force).",
        "监管部门已暂停向该企业分配新号段（执法措施生效中）。",
    ),
    C.LICENCE_NOT_ACTIVE: (
        "The enterprise's licence is suspended or revoked: nothing new can be provisioned.",
        "企业牌照已暂停或吊销，不能新增号段、渠道或营业员。",
    ),
    C.PROVINCE_INVALID: (
        "A province is a two-digit GB/T 2260 code such as 11 or 44.",
        "省份须为两位 GB/T 2260 代码，如 11、44。",
    ),
    C.BLOCK_INVALID: (
        "The number block is not a valid range of mobile numbers.",
        "号段范围无效。",
    ),
    C.BLOCK_OVERLAPS: (
        "The number block overlaps a block already allocated.",
        "号段与已分配号段重叠。",
    ),
    C.CHANNEL_EXISTS: (
        "A channel with this code exists with other values (use channels move to re-parent).",
        "该代码的渠道已存在且信息不同（调整上级请用 channels move）。",
    ),
    C.CHANNEL_NOT_FOUND: ("No such channel at this enterprise.", "该企业无此渠道。"),
    C.CHANNEL_KIND: (
        "A channel is own_hall, partner_hall, social or online.",
        "渠道类型须为 own_hall、partner_hall、social 或 online。",
    ),
    C.REGION_INVALID: (
        "The region is not a six-digit GB/T 2260 code.",
        "地区须为六位 GB/T 2260 行政区划代码。",
    ),
    C.REGION_NOT_SERVED: (
        "The region is outside the provinces the enterprise serves.",
        "该地区不在企业经营的省份内。",
    ),
    C.PARENT_NOT_FOUND: (
        "The parent channel does not exist at this enterprise.",
        "上级渠道在该企业中不存在。",
    ),
    C.CHANNEL_CYCLE: (
        "A channel cannot be placed under itself or one of its own sub-channels.",
        "渠道不能挂在自身或其下级渠道之下。",
    ),
    C.CLERK_EXISTS: (
        "A clerk with this code exists with other values.",
        "该工号的营业员已存在且信息不同。",
    ),
    C.CLERK_NOT_FOUND: ("No such clerk at this enterprise.", "该企业无此营业员。"),
    C.FIELD_INVALID: ("A field is missing or invalid.", "字段缺失或无效。"),
    C.FILE_INVALID: ("The file cannot be read as provisioning data.", "文件无法解析。"),
}

HTTP_STATUS: Mapping[StrEnum, int] = {
    C.ENTERPRISE_EXISTS: 409,
    C.ENTERPRISE_NOT_FOUND: 404,
    C.BLOCK_OVERLAPS: 409,
    C.CHANNEL_EXISTS: 409,
    C.CHANNEL_NOT_FOUND: 404,
    C.CHANNEL_CYCLE: 409,
    C.CLERK_EXISTS: 409,
    C.CLERK_NOT_FOUND: 404,
    C.LICENCE_REVOKED: 409,
    C.LICENCE_DATE: 422,
    C.LICENCE_NOT_ACTIVE: 409,
    C.BLOCK_ALLOCATION_SUSPENDED: 403,
}


class ProvisioningError(CodedError):
    """`detail` names the field or code at fault (never PII: codes and field names only)."""

    messages = _MESSAGES
    statuses = HTTP_STATUS
    code: ProvisioningErrorCode

    def __init__(self, code: ProvisioningErrorCode, detail: str | None = None) -> None:
        super().__init__(code, detail)


class FileErrors(Exception):  # noqa: N818 (the outcome of validating a file)
    """Every refused row of a file: (line number, error). Nothing was written."""

    def __init__(self, errors: list[tuple[int, ProvisioningError]]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} row(s) refused")
