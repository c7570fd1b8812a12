"""Relying parties, subscribers' consents to them, and per-number quota counters.

Revision ID: 0005_verification
Revises: 0004_line_restriction
Create Date: 2026-11-23 13:40:24.684432
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_verification"
down_revision: str | None = "0004_line_restriction"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quota_counter",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_quota_counter")),
    )
    with op.batch_alter_table("quota_counter", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quota_counter_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "relying_party",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("apis", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_client.client_id"],
            name=op.f("fk_relying_party_client_id_api_client"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relying_party")),
        sa.UniqueConstraint("client_id", name=op.f("uq_relying_party_client_id")),
    )
    op.create_table(
        "consent",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("relying_party_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "owner_identity_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("apis", sa.JSON(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["line_id"], ["line.id"], name=op.f("fk_consent_line_id_line")),
        sa.ForeignKeyConstraint(
            ["owner_identity_id"],
            ["identity.id"],
            name=op.f("fk_consent_owner_identity_id_identity"),
        ),
        sa.ForeignKeyConstraint(
            ["relying_party_id"],
            ["relying_party.id"],
            name=op.f("fk_consent_relying_party_id_relying_party"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
    )
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_party_line", ["relying_party_id", "line_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_party_line")

    op.drop_table("consent")
    op.drop_table("relying_party")
    with op.batch_alter_table("quota_counter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quota_counter_expires_at"))

    op.drop_table("quota_counter")
