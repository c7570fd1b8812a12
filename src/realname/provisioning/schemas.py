"""Request and response bodies of the provisioning API (/v1)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field

from realname.registry.schemas import IsoDate, JsonInt, Lax, RequestModel, _json_number

Code = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
# A JSON number (never a bool or text); the bounds first, so the schema states them.
ChannelRef = Annotated[int, Field(ge=1, le=2**31 - 1), Lax, BeforeValidator(_json_number)]
LicenceStatus = Literal["pilot", "official", "suspended", "revoked"]


class EnterpriseIn(RequestModel):
    code: str = Code
    name: str = Field(min_length=1, max_length=200, examples=["蓝天移动通信有限公司"])
    kind: Literal["mno", "mvno"]
    host_code: str | None = Field(default=None, description="An MVNO's host operator (an MNO)")
    licence_status: LicenceStatus = "official"
    licence_since: IsoDate | None = None
    licence_no: str | None = Field(default=None, max_length=64)
    provinces: list[str] = Field(
        default_factory=list, max_length=40, description="Two-digit GB/T 2260 province codes"
    )


class EnterpriseOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    host_code: str | None
    licence_status: str
    licence_since: date | None
    licence_no: str | None
    provinces: list[str]


class LicenceIn(RequestModel):
    status: LicenceStatus
    effective_on: IsoDate


class BlockIn(RequestModel):
    enterprise_id: JsonInt = Field(ge=1, le=2**31 - 1)
    prefix: str | None = Field(default=None, max_length=24, examples=["+86 170 1"])
    first: str | None = Field(default=None, max_length=24)
    last: str | None = Field(default=None, max_length=24)


class BlockOut(BaseModel):
    id: int
    enterprise_id: int
    first: str
    last: str
    size: int


class ChannelIn(RequestModel):
    code: str = Code
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["own_hall", "partner_hall", "social", "online"]
    region_code: str = Field(pattern=r"^\d{6}$", examples=["110105"])
    parent_id: ChannelRef | None = None


class ChannelMoveIn(RequestModel):
    parent_id: ChannelRef | None = Field(
        description="The new parent; null moves the channel to the top"
    )


class ProvisionedChannelOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    region_code: str
    parent_id: int | None
    status: str


class ClerkIn(RequestModel):
    channel_id: JsonInt = Field(ge=1, le=2**31 - 1)
    code: str = Code
    name: str = Field(min_length=1, max_length=100)


class ClerkOut(BaseModel):
    id: int
    code: str
    name: str
    channel_id: int
    status: str
