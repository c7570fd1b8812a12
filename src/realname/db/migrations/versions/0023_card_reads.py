"""Card reads: the ID card chip's data as a channel's card reader posted it, sealed, for a few
minutes, used once by a clerk of that channel (issue 17: `chip_read` attested by the reader).

Revision ID: 0023_card_reads
Revises: 0022_national_hardening
Create Date: 2026-12-01 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_card_reads"
down_revision: str | None = "0022_national_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "card_read",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column(
            "enterprise_id",
            sa.Integer(),
            sa.ForeignKey("enterprise.id", name="fk_card_read_enterprise_id_enterprise"),
            nullable=False,
        ),
        sa.Column(
            "channel_id",
            sa.Integer(),
            sa.ForeignKey("channel.id", name="fk_card_read_channel_id_channel"),
            nullable=False,
        ),
        sa.Column("reader", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("data_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("read_at", AT, nullable=False),
        sa.Column("expires_at", AT, nullable=False),
        sa.Column("used_at", AT, nullable=True),
        sa.Column("used_by", sa.String(64), nullable=True),
        sa.UniqueConstraint("public_id", name="uq_card_read_public_id"),
    )
    op.create_index("ix_card_read_channel_time", "card_read", ["channel_id", "read_at"])


def downgrade() -> None:
    op.drop_index("ix_card_read_channel_time", table_name="card_read")
    op.drop_table("card_read")
