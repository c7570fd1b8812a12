"""HTTP bodies of one-time codes and the subscriber's code login. The code itself is never in
an answer: it travels only by SMS to the line."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from realname.registry.schemas import MSISDN, RequestModel


class ChallengeOut(BaseModel):
    challenge_id: str = Field(description="Quote it with the code the customer reads out")
    expires_at: datetime
    delivery: Literal["sms"] = "sms"


class LoginCodeIn(RequestModel):
    phone_number: str = MSISDN


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
