"""Provisioning: an enterprise's licence status and provinces, the licence history, and an
index for walking the channel tree.

Existing enterprises are taken as licensed (`official`, since unknown) serving no stated
province; `realname enterprises licence` records the real status when known.

Revision ID: 0012_provisioning
Revises: 0011_campaign_schedule
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_provisioning"
down_revision: str | None = "0011_campaign_schedule"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "enterprise",
        sa.Column(
            "licence_status", sa.String(length=16), nullable=False, server_default="official"
        ),
    )
    op.add_column("enterprise", sa.Column("licence_status_since", sa.Date(), nullable=True))
    op.add_column(
        "enterprise",
        sa.Column("provinces", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )
    op.create_table(
        "licence_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_licence_change_enterprise_id_enterprise"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licence_change")),
    )
    op.create_index(
        "ix_licence_change_enterprise", "licence_change", ["enterprise_id", "id"], unique=False
    )
    op.create_index("ix_channel_parent_id", "channel", ["parent_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_channel_parent_id", table_name="channel")
    op.drop_index("ix_licence_change_enterprise", table_name="licence_change")
    op.drop_table("licence_change")
    with op.batch_alter_table("enterprise") as batch:
        batch.drop_column("provinces")
        batch.drop_column("licence_status_since")
        batch.drop_column("licence_status")
