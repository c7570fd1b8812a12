"""HTTP bodies of one-time codes and the subscriber's code login. The code itself is never in
an answer: it travels only by SMS to the line."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, WithJsonSchema, field_validator

from realname.registry.schemas import MSISDN, RequestModel


class ChallengeOut(BaseModel):
    challenge_id: str = Field(description="Quote it with the code the customer reads out")
    expires_at: datetime
    delivery: Literal["sms"] = "sms"


# The schema says what the validator accepts (an IPv4 or IPv6 address), so clients and
# schema-driven tests send addresses, not any string up to some length.
IpAddressText = Annotated[
    str,
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"}]}
    ),
]


class LoginCodeIn(RequestModel):
    phone_number: str = MSISDN
    end_user_address: IpAddressText | None = Field(
        default=None,
        description="The IP address of the user's device as the app's backend saw it. Codes "
        "are limited per number and per (app, this address); without it the caller's own "
        "address is counted, so an app whose backend calls for every user should send it, or "
        "one busy source would hold back every login.",
        examples=["203.0.113.7"],
    )

    @field_validator("end_user_address")
    @classmethod
    def _an_ip_address(cls, value: str | None) -> str | None:
        return None if value is None else str(ipaddress.ip_address(value))


class LoginCodeOut(BaseModel):
    """The same answer whether or not the number can log in (only the SMS differs)."""

    challenge_id: str
    expires_in: int = Field(description="Seconds the code is valid")


class LoginVerifyIn(RequestModel):
    challenge_id: str = Field(min_length=8, max_length=64)
    code: str = Field(pattern=r"^[0-9]{6}$", examples=["048213"])


class LineTokenOut(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (the scheme's name)
    expires_in: int
    scope: str
    line_id: int = Field(description="The line the token is bound to (claim `line`)")
