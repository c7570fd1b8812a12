"""Channel stock ageing, legacy imports, back-fill campaigns, prepaid refunds, the outbox, refusals.

Revision ID: 0006_backfill
Revises: 0005_verification
Create Date: 2026-11-23 14:40:36.569040
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_backfill"
down_revision: str | None = "0005_verification"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backfill_campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("phase_dates", sa.JSON(), nullable=False),
        sa.Column("policy_code", sa.String(length=32), nullable=False),
        sa.Column("legacy_at_start", sa.Integer(), nullable=False),
        sa.Column("sweep_phase", sa.String(length=16), nullable=True),
        sa.Column("sweep_after_line_id", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_backfill_campaign_enterprise_id_enterprise"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfill_campaign")),
        sa.UniqueConstraint("enterprise_id", name=op.f("uq_backfill_campaign_enterprise_id")),
    )
    op.create_table(
        "legacy_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("source_name", sa.String(length=200), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_loaded", sa.Integer(), nullable=False),
        sa.Column("rows_present", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_legacy_import_enterprise_id_enterprise"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legacy_import")),
    )
    with op.batch_alter_table("legacy_import", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_legacy_import_enterprise_id"), ["enterprise_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_legacy_import_source_sha256"), ["source_sha256"], unique=False
        )

    op.create_table(
        "outbox_message",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dedupe_key", sa.String(length=128), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("destination", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gateway_message_id", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_outbox_message_enterprise_id_enterprise"),
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["line.id"], name=op.f("fk_outbox_message_line_id_line")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_message_dedupe_key")),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_message_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "prepaid_refund",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["backfill_campaign.id"],
            name=op.f("fk_prepaid_refund_campaign_id_backfill_campaign"),
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["line.id"], name=op.f("fk_prepaid_refund_line_id_line")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prepaid_refund")),
        sa.UniqueConstraint("line_id", "campaign_id", name="uq_prepaid_refund_line"),
    )
    op.create_table(
        "registration_refusal",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("clerk_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channel.id"], name=op.f("fk_registration_refusal_channel_id_channel")
        ),
        sa.ForeignKeyConstraint(
            ["clerk_id"], ["clerk.id"], name=op.f("fk_registration_refusal_clerk_id_clerk")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_refusal")),
    )
    with op.batch_alter_table("registration_refusal", schema=None) as batch_op:
        batch_op.create_index(
            "ix_registration_refusal_channel_time", ["channel_id", "occurred_at"], unique=False
        )

    with op.batch_alter_table("line", schema=None) as batch_op:
        batch_op.add_column(sa.Column("home_region", sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column("stocked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("prepaid_balance_minor", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("legacy_import_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_line_legacy_import_id_legacy_import"),
            "legacy_import",
            ["legacy_import_id"],
            ["id"],
        )

    # CAMARA's x-correlator is up to 256 characters; the API accepts that many, so the
    # columns that keep it must too (a 65-character correlator failed every write).
    for table in ("line_event", "audit_log"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "correlation_id",
                existing_type=sa.String(length=64),
                type_=sa.String(length=256),
                existing_nullable=True,
            )

    with op.batch_alter_table("line_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_line_event_channel_time", ["channel_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_line_event_operation_time", ["operation", "occurred_at"], unique=False
        )


def downgrade() -> None:
    for table in ("line_event", "audit_log"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "correlation_id",
                existing_type=sa.String(length=256),
                type_=sa.String(length=64),
                existing_nullable=True,
            )

    with op.batch_alter_table("line_event", schema=None) as batch_op:
        batch_op.drop_index("ix_line_event_operation_time")
        batch_op.drop_index("ix_line_event_channel_time")

    with op.batch_alter_table("line", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_line_legacy_import_id_legacy_import"), type_="foreignkey"
        )
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("legacy_import_id")
        batch_op.drop_column("prepaid_balance_minor")
        batch_op.drop_column("stocked_at")
        batch_op.drop_column("home_region")

    with op.batch_alter_table("registration_refusal", schema=None) as batch_op:
        batch_op.drop_index("ix_registration_refusal_channel_time")

    op.drop_table("registration_refusal")
    op.drop_table("prepaid_refund")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_due")

    op.drop_table("outbox_message")
    with op.batch_alter_table("legacy_import", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legacy_import_source_sha256"))
        batch_op.drop_index(batch_op.f("ix_legacy_import_enterprise_id"))

    op.drop_table("legacy_import")
    op.drop_table("backfill_campaign")
