"""Partial indexes for the columns legacy lines leave empty.

A legacy line is imported without an owner, and often without a channel: an index entry for
its NULL would never be read (the owner index answers "the lines this identity holds", the
channel index "this channel's lines"), yet every imported row paid for it. Both indexes now
hold only the rows that have the value (`WHERE col IS NOT NULL`, on both engines); a lookup
by value (`owner_identity_id = :id`, `channel_id = :id`) implies the predicate, so both
engines still use them.

Revision ID: 0015_import_indexes
Revises: 0013_possession
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_import_indexes"
down_revision: str | None = "0014_audit_sequencer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_line_owner", ["owner_identity_id", "enterprise_id"], "owner_identity_id IS NOT NULL"),
    ("ix_line_channel_state", ["channel_id", "state"], "channel_id IS NOT NULL"),
)


def upgrade() -> None:
    for name, columns, where in INDEXES:
        op.drop_index(name, table_name="line")
        op.create_index(
            name,
            "line",
            columns,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )


def downgrade() -> None:
    for name, columns, _where in INDEXES:
        op.drop_index(name, table_name="line")
        op.create_index(name, "line", columns)
