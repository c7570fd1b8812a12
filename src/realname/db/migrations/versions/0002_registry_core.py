"""Registry core: enterprises, blocks, channels, clerks, identities, lines, events, holdings,
the simulated authority and the hash-chained audit log.

Revision ID: 0002_registry_core
Revises: 0001_baseline
Create Date: 2026-11-23 11:59:47.428838
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_registry_core"
down_revision: str | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "audit_chain_head",
        sa.Column("chain", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("chain", "position", name="uq_audit_log_chain_position"),
    )
    op.create_table(
        "authority_citizen",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("doc_type", sa.String(length=32), nullable=False),
        sa.Column("number_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("name_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authority_citizen")),
        sa.UniqueConstraint("doc_type", "number_index", name="uq_authority_citizen_document"),
    )
    op.create_table(
        "enterprise",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("licence_no", sa.String(length=64), nullable=True),
        sa.Column("host_enterprise_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind in ('mno', 'mvno')", name=op.f("ck_enterprise_kind")),
        sa.ForeignKeyConstraint(
            ["host_enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_enterprise_host_enterprise_id_enterprise"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprise")),
        sa.UniqueConstraint("code", name=op.f("uq_enterprise_code")),
    )
    op.create_table(
        "identity",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("doc_type", sa.String(length=32), nullable=False),
        sa.Column("number_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("name_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("number_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("name_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("address_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("sex", sa.String(length=8), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("nationality", sa.String(length=3), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity")),
        sa.UniqueConstraint("doc_type", "number_index", name="uq_identity_document"),
    )
    op.create_table(
        "channel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprise.id"], name=op.f("fk_channel_enterprise_id_enterprise")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["channel.id"], name=op.f("fk_channel_parent_id_channel")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel")),
        sa.UniqueConstraint("enterprise_id", "code", name="uq_channel_code"),
    )
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_enterprise_id"), ["enterprise_id"], unique=False
        )

    op.create_table(
        "holding",
        sa.Column(
            "identity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("active_count", sa.Integer(), nullable=False),
        sa.CheckConstraint("active_count >= 0", name=op.f("ck_holding_not_negative")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprise.id"], name=op.f("fk_holding_enterprise_id_enterprise")
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identity.id"], name=op.f("fk_holding_identity_id_identity")
        ),
        sa.PrimaryKeyConstraint("identity_id", "enterprise_id", name=op.f("pk_holding")),
    )
    op.create_table(
        "number_block",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("first", sa.String(length=15), nullable=False),
        sa.Column("last", sa.String(length=15), nullable=False),
        sa.Column("allocated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("first <= last", name=op.f("ck_number_block_range")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_number_block_enterprise_id_enterprise"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_block")),
        sa.UniqueConstraint("first", name=op.f("uq_number_block_first")),
    )
    with op.batch_alter_table("number_block", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_number_block_enterprise_id"), ["enterprise_id"], unique=False
        )

    op.create_table(
        "clerk",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channel.id"], name=op.f("fk_clerk_channel_id_channel")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clerk")),
        sa.UniqueConstraint("code", name=op.f("uq_clerk_code")),
    )
    with op.batch_alter_table("clerk", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clerk_channel_id"), ["channel_id"], unique=False)

    op.create_table(
        "line",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("iccid", sa.String(length=22), nullable=True),
        sa.Column("imsi", sa.String(length=15), nullable=True),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "owner_identity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("barring_reason", sa.String(length=32), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sim_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reverify_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cooling_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channel.id"], name=op.f("fk_line_channel_id_channel")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprise.id"], name=op.f("fk_line_enterprise_id_enterprise")
        ),
        sa.ForeignKeyConstraint(
            ["owner_identity_id"], ["identity.id"], name=op.f("fk_line_owner_identity_id_identity")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line")),
        sa.UniqueConstraint("iccid", name=op.f("uq_line_iccid")),
        sa.UniqueConstraint("imsi", name=op.f("uq_line_imsi")),
        sa.UniqueConstraint("msisdn", name=op.f("uq_line_msisdn")),
    )
    with op.batch_alter_table("line", schema=None) as batch_op:
        batch_op.create_index("ix_line_channel_state", ["channel_id", "state"], unique=False)
        batch_op.create_index("ix_line_enterprise_state", ["enterprise_id", "state"], unique=False)
        batch_op.create_index("ix_line_owner", ["owner_identity_id", "enterprise_id"], unique=False)

    op.create_table(
        "line_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column(
            "owner_before_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "owner_after_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channel.id"], name=op.f("fk_line_event_channel_id_channel")
        ),
        sa.ForeignKeyConstraint(["line_id"], ["line.id"], name=op.f("fk_line_event_line_id_line")),
        sa.ForeignKeyConstraint(
            ["owner_after_id"], ["identity.id"], name=op.f("fk_line_event_owner_after_id_identity")
        ),
        sa.ForeignKeyConstraint(
            ["owner_before_id"],
            ["identity.id"],
            name=op.f("fk_line_event_owner_before_id_identity"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_event")),
        sa.UniqueConstraint("line_id", "seq", name="uq_line_event_line_seq"),
    )
    with op.batch_alter_table("line_event", schema=None) as batch_op:
        batch_op.create_index("ix_line_event_owner_after", ["owner_after_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("line_event", schema=None) as batch_op:
        batch_op.drop_index("ix_line_event_owner_after")

    op.drop_table("line_event")
    with op.batch_alter_table("line", schema=None) as batch_op:
        batch_op.drop_index("ix_line_owner")
        batch_op.drop_index("ix_line_enterprise_state")
        batch_op.drop_index("ix_line_channel_state")

    op.drop_table("line")
    with op.batch_alter_table("clerk", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clerk_channel_id"))

    op.drop_table("clerk")
    with op.batch_alter_table("number_block", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_number_block_enterprise_id"))

    op.drop_table("number_block")
    op.drop_table("holding")
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_enterprise_id"))

    op.drop_table("channel")
    op.drop_table("identity")
    op.drop_table("enterprise")
    op.drop_table("authority_citizen")
    op.drop_table("audit_log")
    op.drop_table("audit_chain_head")
