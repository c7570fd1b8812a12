"""The card reads' request and answer bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from realname.registry.cardreads.service import Card, WaitingRead
from realname.registry.schemas import DocumentIn, RequestModel


class CardReadIn(RequestModel):
    """What the reader took from the card's chip."""

    document: DocumentIn
    name: str = Field(min_length=1, max_length=100, examples=["张三"])
    address: str | None = Field(default=None, max_length=300)

    def to_card(self) -> Card:
        return Card(
            document_number=self.document.number,
            name=self.name,
            document_type=self.document.type,
            nationality=self.document.nationality,
            expires_on=self.document.expires_on,
            birth_date=self.document.birth_date,
            address=self.address,
        )


class CardReadOut(BaseModel):
    id: str = Field(description="Name it as customer.card_read_id (or owner.card_read_id)")
    channel_id: int
    read_at: datetime
    expires_at: datetime


class WaitingReadOut(BaseModel):
    """The channel's latest unused read, masked: the clerk checks it is the card in hand."""

    id: str
    document_type: str | None
    document_number: str = Field(examples=["110105********002X"], description="Masked")
    name: str = Field(examples=["张*"], description="Masked")
    read_at: datetime
    expires_at: datetime

    @staticmethod
    def of(read: WaitingRead) -> WaitingReadOut:
        return WaitingReadOut(
            id=read.public_id,
            document_type=read.document_type,
            document_number=read.document_number,
            name=read.name,
            read_at=read.read_at,
            expires_at=read.expires_at,
        )
