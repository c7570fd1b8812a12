"""What the settlement API gives."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StatementLineOut(BaseModel):
    month: str = Field(description="2026-11")
    channel: str = Field(description="The channel's code")
    kind: str = Field(description="own_hall, partner_hall, social or online")
    registered: int = Field(description="New customers registered there that month")
    backfilled: int = Field(description="Legacy lines registered to their holders there")
    total: int


class StatementOut(BaseModel):
    enterprise: str = Field(description="The enterprise's code")
    period: str = Field(description="2026-06..2026-11")
    lines: list[StatementLineOut]
