"""Proof of possession: one-time codes, failed proofs, the usage feed.

Revision ID: 0013_possession
Revises: 0012_provisioning
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_possession"
down_revision: str | None = "0012_provisioning"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "possession_challenge",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("line_id", BIG_ID, nullable=True),
        sa.Column("enterprise_id", sa.Integer(), nullable=True),
        sa.Column("number_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("requester", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("source_digest", sa.LargeBinary(length=32), nullable=True),
        sa.Column("code_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("expires_at", AT, nullable=False),
        sa.Column("used_at", AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["line_id"], ["line.id"], name=op.f("fk_possession_challenge_line_id_line")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_possession_challenge_enterprise_id_enterprise"),
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channel.id"], name=op.f("fk_possession_challenge_channel_id_channel")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_possession_challenge")),
        sa.UniqueConstraint("public_id", name=op.f("uq_possession_challenge_public_id")),
    )
    with op.batch_alter_table("possession_challenge", schema=None) as batch_op:
        batch_op.create_index(
            "ix_possession_challenge_number_time", ["number_digest", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_possession_challenge_requester_time", ["requester", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_possession_challenge_source_time", ["source_digest", "created_at"], unique=False
        )

    op.create_table(
        "possession_failure",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=True),
        sa.Column("line_id", BIG_ID, nullable=True),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("clerk_id", sa.Integer(), nullable=True),
        sa.Column("requester", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_possession_failure_enterprise_id_enterprise"),
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["line.id"], name=op.f("fk_possession_failure_line_id_line")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channel.id"], name=op.f("fk_possession_failure_channel_id_channel")
        ),
        sa.ForeignKeyConstraint(
            ["clerk_id"], ["clerk.id"], name=op.f("fk_possession_failure_clerk_id_clerk")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_possession_failure")),
    )
    with op.batch_alter_table("possession_failure", schema=None) as batch_op:
        batch_op.create_index(
            "ix_possession_failure_channel_time", ["channel_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_possession_failure_line_time", ["line_id", "occurred_at"], unique=False
        )

    op.create_table(
        "line_usage",
        sa.Column("line_id", BIG_ID, nullable=False),
        sa.Column("last_used_at", AT, nullable=True),
        sa.Column("last_topup_at", AT, nullable=True),
        sa.Column("topup_digest", sa.LargeBinary(length=32), nullable=True),
        sa.Column("called_digests", sa.LargeBinary(), nullable=True),
        sa.Column("reported_at", AT, nullable=False),
        sa.ForeignKeyConstraint(["line_id"], ["line.id"], name=op.f("fk_line_usage_line_id_line")),
        sa.PrimaryKeyConstraint("line_id", name=op.f("pk_line_usage")),
    )


def downgrade() -> None:
    op.drop_table("line_usage")
    with op.batch_alter_table("possession_failure", schema=None) as batch_op:
        batch_op.drop_index("ix_possession_failure_line_time")
        batch_op.drop_index("ix_possession_failure_channel_time")
    op.drop_table("possession_failure")
    with op.batch_alter_table("possession_challenge", schema=None) as batch_op:
        batch_op.drop_index("ix_possession_challenge_source_time")
        batch_op.drop_index("ix_possession_challenge_requester_time")
        batch_op.drop_index("ix_possession_challenge_number_time")
    op.drop_table("possession_challenge")
