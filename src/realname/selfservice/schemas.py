"""Self-service bodies. A subscriber sees the full numbers of their own lines (they hold
them) and nothing of anyone's identity: not even their own document or name comes back."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from realname.registry.schemas import PersonIn, RequestModel


class MyLineOut(BaseModel):
    id: int
    msisdn: str = Field(examples=["+8613800138000"])
    state: str = Field(examples=["active"])
    barring_reason: str | None
    activated_at: datetime | None
    owner_since: datetime | None
    reverify_deadline: datetime | None
    proved: bool = Field(description="The line this token is bound to")
    registered: bool = Field(description="Registered to your identity (false: an unowned line)")


class UnlockIn(RequestModel):
    """Unlocking restores service, so the owner's document and name are checked again."""

    owner: PersonIn


class OnlineReverificationIn(RequestModel):
    """The app read the owner's document (chip or photo), compared the live face with it and
    checked liveness; both scores must reach the policy's face threshold."""

    owner: PersonIn = Field(description="Document, name and the app's face score")
    liveness_score: float | None = Field(
        default=None, ge=0, le=1, examples=[0.97], description="The app's liveness score"
    )


class DisputeOut(BaseModel):
    id: int
    line_id: int
    msisdn: str = Field(examples=["138****8000"], description="Masked")
    opened_at: datetime
    due_at: datetime = Field(description="The operator answers by then")
    status: Literal["open", "overdue", "resolved"] = Field(
        description="resolved: the line is no longer registered to you"
    )
    reverification_requested: bool
