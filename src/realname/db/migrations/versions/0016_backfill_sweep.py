"""The back-fill sweep's walk: unregistered legacy lines of an enterprise, by id.

The sweep reads its batches keyset-paginated (`id > last done ORDER BY id LIMIT n`) among
an enterprise's unregistered legacy lines. Without an index in that order each batch read
every such line and sorted them (a day's sweep grew with the square of the base). This
partial index holds exactly those lines, in sweep order, and shrinks as they are
registered or terminated; the progress counts read it too.

Revision ID: 0016_backfill_sweep
Revises: 0015_import_indexes
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_backfill_sweep"
down_revision: str | None = "0015_import_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = "owner_identity_id IS NULL AND state IN ('legacy', 'restricted', 'suspended')"


def upgrade() -> None:
    op.create_index(
        "ix_line_unregistered",
        "line",
        ["enterprise_id", "id"],
        postgresql_where=sa.text(WHERE),
        sqlite_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_line_unregistered", table_name="line")
