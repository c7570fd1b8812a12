"""The back-fill schedule the rules set: milestones, amendments, each line's own dates.

Revision ID: 0011_campaign_schedule
Revises: 0010_retention
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "0011_campaign_schedule"
down_revision: str | None = "0010_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("backfill_campaign") as batch:
        batch.add_column(sa.Column("notice_days", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("sweep_on", sa.Date(), nullable=True))
    # Campaigns started before this revision: their notice is their first bar's distance
    # from their start, as the policy gave it then.
    campaign = sa.table(
        "backfill_campaign",
        sa.column("id", sa.Integer()),
        sa.column("phase_dates", sa.JSON()),
        sa.column("notice_days", sa.Integer()),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(campaign.c.id, campaign.c.phase_dates)).all()
    for campaign_id, dates in rows:
        days = sorted(date.fromisoformat(d) for p, d in dates.items() if p != "remind")
        if days and "remind" in dates:
            notice = (days[0] - date.fromisoformat(dates["remind"])).days
            connection.execute(
                campaign.update().where(campaign.c.id == campaign_id).values(notice_days=notice)
            )
    op.create_table(
        "backfill_milestone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["backfill_campaign.id"],
            name=op.f("fk_backfill_milestone_campaign_id_backfill_campaign"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfill_milestone")),
        sa.UniqueConstraint("campaign_id", "due_on", name="uq_backfill_milestone"),
    )
    op.create_index(
        op.f("ix_backfill_milestone_campaign_id"), "backfill_milestone", ["campaign_id"]
    )
    op.create_table(
        "backfill_amendment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("deadline_before", sa.Date(), nullable=False),
        sa.Column("deadline_after", sa.Date(), nullable=False),
        sa.Column("milestones", sa.JSON(), nullable=False),
        sa.Column("amended_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["backfill_campaign.id"],
            name=op.f("fk_backfill_amendment_campaign_id_backfill_campaign"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfill_amendment")),
        sa.UniqueConstraint("campaign_id", "version", name="uq_backfill_amendment_version"),
    )
    op.create_index(
        op.f("ix_backfill_amendment_campaign_id"), "backfill_amendment", ["campaign_id"]
    )
    op.create_table(
        "backfill_line",
        sa.Column("line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("first_reminded_on", sa.Date(), nullable=False),
        sa.Column("phase_dates", sa.JSON(), nullable=False),
        sa.Column("final_notice_on", sa.Date(), nullable=True),
        sa.Column("told_version", sa.Integer(), nullable=False),
        sa.Column("next_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["backfill_campaign.id"],
            name=op.f("fk_backfill_line_campaign_id_backfill_campaign"),
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["line.id"], name=op.f("fk_backfill_line_line_id_line")
        ),
        sa.PrimaryKeyConstraint("line_id", "campaign_id", name=op.f("pk_backfill_line")),
    )
    op.create_index(op.f("ix_backfill_line_campaign_id"), "backfill_line", ["campaign_id"])
    op.create_index(op.f("ix_backfill_line_next_on"), "backfill_line", ["next_on"])


def downgrade() -> None:
    op.drop_index(op.f("ix_backfill_line_next_on"), table_name="backfill_line")
    op.drop_index(op.f("ix_backfill_line_campaign_id"), table_name="backfill_line")
    op.drop_table("backfill_line")
    op.drop_index(op.f("ix_backfill_amendment_campaign_id"), table_name="backfill_amendment")
    op.drop_table("backfill_amendment")
    op.drop_index(op.f("ix_backfill_milestone_campaign_id"), table_name="backfill_milestone")
    op.drop_table("backfill_milestone")
    with op.batch_alter_table("backfill_campaign") as batch:
        batch.drop_column("sweep_on")
        batch.drop_column("version")
        batch.drop_column("notice_days")
