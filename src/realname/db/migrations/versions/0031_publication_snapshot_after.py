"""A snapshot batch records the last line id it covers and the one the snapshot ends at:
`publish` now commits and sends each batch as it is built, so a run stopped mid-snapshot
resumes it from there, and a finished one is never taken up again (before, the whole snapshot
was built in one transaction: a 100 M-line back-load held one for hours and sent nothing
until the end).

Revision ID: 0031_publication_snapshot_after
Revises: 0030_dispute_answers
Create Date: 2026-12-01 09:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031_publication_snapshot_after"
down_revision: str | None = "0030_dispute_answers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("national_publication") as batch:
        batch.add_column(sa.Column("snapshot_after", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("snapshot_until", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("national_publication") as batch:
        batch.drop_column("snapshot_until")
        batch.drop_column("snapshot_after")
