"""The enterprise's forwarded-disputes feed pages in the order (opened_at, reference) of its
own disputes: an index in that order, so a page reads its rows from the cursor on and stops at
the page's size (with only (enterprise_id, status), every page sorted the enterprise's whole
open backlog).

Revision ID: 0032_dispute_feed_order
Revises: 0031_publication_snapshot_after
Create Date: 2026-12-01 13:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032_dispute_feed_order"
down_revision: str | None = "0031_publication_snapshot_after"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_national_dispute_feed_order",
        "national_dispute",
        ["enterprise_id", "opened_at", "reference"],
    )


def downgrade() -> None:
    op.drop_index("ix_national_dispute_feed_order", table_name="national_dispute")
