"""Tables of the identity domain: the simulated identity authority's register."""

from __future__ import annotations

from sqlalchemy import Boolean, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId


class AuthorityCitizen(Base):
    """The simulated identity authority's register (a stand-in for the public-security service).

    Only blind indexes: the simulation answers "genuine and carries this name" without holding
    more PII than the real port would return.
    """

    __tablename__ = "authority_citizen"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    doc_type: Mapped[str] = mapped_column(String(32))
    number_index: Mapped[bytes] = mapped_column(LargeBinary(32))
    name_index: Mapped[bytes] = mapped_column(LargeBinary(32))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        UniqueConstraint("doc_type", "number_index", name="uq_authority_citizen_document"),
    )
