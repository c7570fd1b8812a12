"""Enforcement actions, the consequences each applied (and lifted), and the steps the system
proposes for a person to decide.

Free text (interview minutes, an enterprise's rectification report or appeal, a decision's
reasons) is sealed in the vault (`security.audit.seal_note`): the rows keep only the note's
id, so no typed text sits in clear here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import UtcDateTime

KINDS_SQL = "('notice', 'interview', 'rectification', 'yellow_1', 'yellow_2', 'yellow_3', 'red')"


class EnforcementAction(Base):
    __tablename__ = "enforcement_action"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    kind: Mapped[str] = mapped_column(String(16))  # ladder.ActionKind
    # open (in force) | complied (order followed up and met) | lifted | withdrawn (appeal)
    status: Mapped[str] = mapped_column(String(16), default="open")
    grounds: Mapped[str] = mapped_column(String(32))  # a coded reason: the rule or "finding"
    # [{"kind": "inspection_round" | "figure" | "complaint" | "action" | "document", "ref": …}]
    evidence: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_by: Mapped[str] = mapped_column(String(64))
    proposal_id: Mapped[int | None] = mapped_column(Integer)
    minutes_note_id: Mapped[int | None] = mapped_column(Integer)  # an interview's minutes
    deadline: Mapped[datetime | None] = mapped_column(UtcDateTime())  # a rectification order's
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # rectification reported
    report_note_id: Mapped[int | None] = mapped_column(Integer)
    follow_up_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    follow_up_outcome: Mapped[str | None] = mapped_column(String(16))  # passed | failed
    appeal_until: Mapped[datetime] = mapped_column(UtcDateTime())
    # none | lodged | upheld (the action stands) | withdrawn (the regulator withdrew it)
    appeal_status: Mapped[str] = mapped_column(String(16), default="none")
    appeal_lodged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    appeal_note_id: Mapped[int | None] = mapped_column(Integer)
    appeal_decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    appeal_decided_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint(f"kind in {KINDS_SQL}", name="kind"),
        CheckConstraint("status in ('open', 'complied', 'lifted', 'withdrawn')", name="status"),
        CheckConstraint(
            "appeal_status in ('none', 'lodged', 'upheld', 'withdrawn')", name="appeal_status"
        ),
        Index("ix_enforcement_action_enterprise", "enterprise_id", "status"),
    )


class EnforcementConsequence(Base):
    """One thing an action made the system do, and when it was undone."""

    __tablename__ = "enforcement_consequence"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("enforcement_action.id"), index=True)
    measure: Mapped[str] = mapped_column(String(32))  # ladder.Consequence
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id"))
    prior: Mapped[str | None] = mapped_column(String(16))  # the licence status it replaced
    applied_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lifted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint(
            "measure in ('block_allocation', 'settlement', 'channels', 'licence')",
            name="measure",
        ),
    )


class EnforcementProposal(Base):
    """A step the escalation rules propose; a person accepts (an action) or dismisses it."""

    __tablename__ = "enforcement_proposal"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    kind: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    # What the rule fired on, so it proposes once per fact: the order's id, the rounds' refs.
    basis: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(64))
    action_id: Mapped[int | None] = mapped_column(ForeignKey("enforcement_action.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        CheckConstraint(f"kind in {KINDS_SQL}", name="kind"),
        CheckConstraint("status in ('pending', 'accepted', 'dismissed')", name="status"),
        Index("ix_enforcement_proposal_enterprise", "enterprise_id", "status"),
    )
