"""The feeds' answers (a batch's body is read raw: its bytes are what the signature covers)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class TakenOut(BaseModel):
    enterprise: str
    batch: int = Field(description="the batch's number")
    digest: str = Field(description="SHA-256 of the batch's canonical body")
    items: int
    applied: int = Field(description="items that changed the national index")
    duplicate: bool = Field(description="this batch was taken before: nothing changed")
    next_batch: int = Field(description="the number the platform expects next")


class SealingKeyOut(BaseModel):
    key_id: str
    public_key: str = Field(description="X25519 public key, base64: seal document numbers to it")


class FeedStateOut(BaseModel):
    enterprise: str
    kind: str
    status: str = Field(description="ok | late | broken | never")
    next_batch: int
    items: int
    last_batch_at: datetime | None
    refusals: int
    last_refusal_code: str | None
    last_refusal_at: datetime | None
