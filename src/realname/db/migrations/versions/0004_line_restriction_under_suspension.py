"""Keep the restriction that sits under a suspension, so lifting the suspension restores it.

Revision ID: 0004_line_restriction
Revises: 0003_api_clients
Create Date: 2026-11-23 09:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_line_restriction"
down_revision: str | None = "0003_api_clients"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("line") as batch:
        batch.add_column(sa.Column("restriction_reason", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("line") as batch:
        batch.drop_column("restriction_reason")
