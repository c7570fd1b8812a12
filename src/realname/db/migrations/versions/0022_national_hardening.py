"""National platform hardening (issue 16 review).

- The name 一证通查 checks moves from the identity to each line: the name under which THAT
  enterprise registered THAT line, written only by an item that was applied. A batch of one
  enterprise (stale or hostile) overwrote the identity's name and could make every other
  enterprise's lines stop answering to the person's name. Existing lines get their identity's
  name key; the identity's column goes.
- `national_lookup_lock`: one row per limit key (a caller's address, a document typed),
  locked before the limit is counted, so concurrent requests are counted one after another.
- A "not mine" dispute at an enterprise whose registry is not in this instance stays open as
  `forwarded` (it closed as `number_unknown`): its status, outcome and answer time, set by the
  enterprise that pulls it.

Revision ID: 0022_national_hardening
Revises: 0021_web_sessions
Create Date: 2026-12-01 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_national_hardening"
down_revision: str | None = "0021_web_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AT = sa.DateTime(timezone=True)
# An identity whose lines carry no name key (none of them was ever applied with an owner)
# goes back down with a key that no name has: 一证通查 finds it under no name, as before.
NO_NAME = b"\x00" * 32


def upgrade() -> None:
    with op.batch_alter_table("national_line", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", sa.LargeBinary(length=32), nullable=True))
    op.execute(
        "UPDATE national_line SET name_key = (SELECT national_identity.name_key "
        "FROM national_identity WHERE national_identity.id = national_line.identity_id) "
        "WHERE identity_id IS NOT NULL"
    )
    with op.batch_alter_table("national_identity", schema=None) as batch_op:
        batch_op.drop_column("name_key")
    op.create_table(
        "national_lookup_lock",
        sa.Column("key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("touched_at", AT, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_national_lookup_lock")),
    )
    with op.batch_alter_table("national_dispute", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("answered_at", AT, nullable=True))
        batch_op.create_index(
            "ix_national_dispute_enterprise", ["enterprise_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("national_dispute", schema=None) as batch_op:
        batch_op.drop_index("ix_national_dispute_enterprise")
        batch_op.drop_column("answered_at")
        batch_op.drop_column("outcome")
        batch_op.drop_column("status")
    op.drop_table("national_lookup_lock")
    with op.batch_alter_table("national_identity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", sa.LargeBinary(length=32), nullable=True))
    op.execute(
        "UPDATE national_identity SET name_key = (SELECT national_line.name_key "
        "FROM national_line WHERE national_line.identity_id = national_identity.id "
        "AND national_line.name_key IS NOT NULL ORDER BY national_line.id DESC LIMIT 1)"
    )
    op.get_bind().execute(
        sa.text("UPDATE national_identity SET name_key = :none WHERE name_key IS NULL"),
        {"none": NO_NAME},
    )
    with op.batch_alter_table("national_identity", schema=None) as batch_op:
        batch_op.alter_column("name_key", existing_type=sa.LargeBinary(length=32), nullable=False)
    with op.batch_alter_table("national_line", schema=None) as batch_op:
        batch_op.drop_column("name_key")
