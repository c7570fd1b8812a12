"""Retention and self-service: a purged identity keeps its row (the event skeleton points at
it) but loses its PII and blind indexes; subscribers' "not mine" disputes.

Revision ID: 0010_retention
Revises: 0009_login_throttle
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_retention"
down_revision: str | None = "0009_login_throttle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PII = (
    ("number_index", sa.LargeBinary(length=32)),
    ("name_index", sa.LargeBinary(length=32)),
    ("number_sealed", sa.LargeBinary()),
    ("name_sealed", sa.LargeBinary()),
)


def upgrade() -> None:
    with op.batch_alter_table("identity") as batch:
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
        for name, type_ in _PII:
            batch.alter_column(name, existing_type=type_, nullable=True)
    op.create_index("ix_line_event_owner_before", "line_event", ["owner_before_id"])
    op.create_table(
        "line_dispute",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("line_id", _BIG_ID, nullable=False),
        sa.Column("identity_id", _BIG_ID, nullable=False),
        sa.Column("proved_line_id", _BIG_ID, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("complaint_seq", sa.Integer(), nullable=False),
        sa.Column("reverification_requested", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_line_dispute_enterprise_id_enterprise"),
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identity.id"], name=op.f("fk_line_dispute_identity_id_identity")
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["line.id"], name=op.f("fk_line_dispute_line_id_line")
        ),
        sa.ForeignKeyConstraint(
            ["proved_line_id"], ["line.id"], name=op.f("fk_line_dispute_proved_line_id_line")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_dispute")),
    )
    op.create_index("ix_line_dispute_identity", "line_dispute", ["identity_id", "opened_at"])
    op.create_index("ix_line_dispute_line", "line_dispute", ["line_id"])


def downgrade() -> None:
    op.drop_index("ix_line_dispute_line", table_name="line_dispute")
    op.drop_index("ix_line_dispute_identity", table_name="line_dispute")
    op.drop_table("line_dispute")
    op.drop_index("ix_line_event_owner_before", table_name="line_event")
    with op.batch_alter_table("identity") as batch:
        for name, type_ in _PII:
            batch.alter_column(name, existing_type=type_, nullable=False)
        batch.drop_column("purged_at")
