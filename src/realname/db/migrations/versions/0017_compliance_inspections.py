"""Secret inspections: rounds, their drawn outlets, visits, evidence (by SHA-256) and test
purchases (issue 15 §1).

Revision ID: 0017_compliance_inspections
Revises: 0016_backfill_sweep
Create Date: 2026-11-30 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_compliance_inspections"
down_revision: str | None = "0016_backfill_sweep"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inspection_round",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("province", sa.String(length=2), nullable=True),
        sa.Column("margin", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("expected_rate", sa.Float(), nullable=False),
        sa.Column("min_per_stratum", sa.Integer(), nullable=False),
        sa.Column("seed", BIG_ID, nullable=False),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("target_size", sa.Integer(), nullable=True),
        sa.Column("planned_at", AT, nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.CheckConstraint("starts_on <= ends_on", name=op.f("ck_inspection_round_dates")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_round")),
        sa.UniqueConstraint("code", name=op.f("uq_inspection_round_code")),
    )
    op.create_table(
        "inspection_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("channel_kind", sa.String(length=16), nullable=False),
        sa.Column("province", sa.String(length=2), nullable=False),
        sa.Column("inspector", sa.String(length=64), nullable=True),
        sa.Column("assigned_at", AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channel.id"], name=op.f("fk_inspection_target_channel_id_channel")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_inspection_target_enterprise_id_enterprise"),
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["inspection_round.id"],
            name=op.f("fk_inspection_target_round_id_inspection_round"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_target")),
        sa.UniqueConstraint("round_id", "channel_id", name="uq_inspection_target_channel"),
    )
    op.create_index(
        "ix_inspection_target_inspector", "inspection_target", ["inspector"], unique=False
    )
    op.create_table(
        "inspection_visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("inspector", sa.String(length=64), nullable=False),
        sa.Column("visited_at", AT, nullable=False),
        sa.Column("place_region", sa.String(length=6), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("violation", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["inspection_target.id"],
            name=op.f("fk_inspection_visit_target_id_inspection_target"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_visit")),
        sa.UniqueConstraint("target_id", name=op.f("uq_inspection_visit_target_id")),
    )
    op.create_table(
        "inspection_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", BIG_ID, nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("stored_at", AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["inspection_visit.id"],
            name=op.f("fk_inspection_evidence_visit_id_inspection_visit"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_evidence")),
        sa.UniqueConstraint("visit_id", "sha256", name="uq_inspection_evidence"),
    )
    op.create_index(
        op.f("ix_inspection_evidence_visit_id"), "inspection_evidence", ["visit_id"], unique=False
    )
    op.create_table(
        "test_purchase",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("bought_at", AT, nullable=False),
        sa.Column("buyer_doc_type", sa.String(length=32), nullable=True),
        sa.Column("buyer_number_index", sa.LargeBinary(length=32), nullable=True),
        sa.Column("checked_at", AT, nullable=True),
        sa.Column("finding", sa.String(length=40), nullable=True),
        sa.Column("violation", sa.Boolean(), nullable=True),
        sa.Column("line_id", BIG_ID, nullable=True),
        sa.Column("registration_event_id", BIG_ID, nullable=True),
        sa.Column("registered_channel_id", sa.Integer(), nullable=True),
        sa.Column("registered_clerk_id", sa.Integer(), nullable=True),
        sa.Column("registered_at", AT, nullable=True),
        sa.Column("document_type", sa.String(length=32), nullable=True),
        sa.Column("entry_method", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["line_id"], ["line.id"], name=op.f("fk_test_purchase_line_id_line")
        ),
        sa.ForeignKeyConstraint(
            ["registered_channel_id"],
            ["channel.id"],
            name=op.f("fk_test_purchase_registered_channel_id_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["registered_clerk_id"],
            ["clerk.id"],
            name=op.f("fk_test_purchase_registered_clerk_id_clerk"),
        ),
        sa.ForeignKeyConstraint(
            ["registration_event_id"],
            ["line_event.id"],
            name=op.f("fk_test_purchase_registration_event_id_line_event"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["inspection_visit.id"],
            name=op.f("fk_test_purchase_visit_id_inspection_visit"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_purchase")),
        sa.UniqueConstraint("visit_id", name=op.f("uq_test_purchase_visit_id")),
    )


def downgrade() -> None:
    op.drop_table("test_purchase")
    op.drop_index(op.f("ix_inspection_evidence_visit_id"), table_name="inspection_evidence")
    op.drop_table("inspection_evidence")
    op.drop_table("inspection_visit")
    op.drop_index("ix_inspection_target_inspector", table_name="inspection_target")
    op.drop_table("inspection_target")
    op.drop_table("inspection_round")
