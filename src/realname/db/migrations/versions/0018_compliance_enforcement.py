"""The regulator's enforcement ladder and complaints as cases (issue 15).

Enforcement actions, the consequences each applied and the proposals of the escalation
rules; the registry's enterprise sanctions (no new number blocks, no settlement), which it
enforces; complaints from the complaint centre, their import files and the lines flagged
for a repeat offender.

Revision ID: 0018_compliance_enforcement
Revises: 0017_compliance_inspections
Create Date: 2026-11-30 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_compliance_enforcement"
down_revision: str | None = "0017_compliance_inspections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AT = sa.DateTime(timezone=True)
KINDS = (
    "kind in ('notice', 'interview', 'rectification', 'yellow_1', 'yellow_2', 'yellow_3', 'red')"
)


def upgrade() -> None:
    op.create_table(
        "complaint_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", AT, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_import")),
        sa.UniqueConstraint("sha256", name="uq_complaint_import_sha256"),
    )
    op.create_table(
        "enforcement_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("grounds", sa.String(length=32), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("decided_at", AT, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
        sa.Column("minutes_note_id", sa.Integer(), nullable=True),
        sa.Column("deadline", AT, nullable=True),
        sa.Column("reported_at", AT, nullable=True),
        sa.Column("report_note_id", sa.Integer(), nullable=True),
        sa.Column("follow_up_at", AT, nullable=True),
        sa.Column("follow_up_outcome", sa.String(length=16), nullable=True),
        sa.Column("appeal_until", AT, nullable=False),
        sa.Column("appeal_status", sa.String(length=16), nullable=False),
        sa.Column("appeal_lodged_at", AT, nullable=True),
        sa.Column("appeal_note_id", sa.Integer(), nullable=True),
        sa.Column("appeal_decided_at", AT, nullable=True),
        sa.Column("appeal_decided_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", AT, nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "appeal_status in ('none', 'lodged', 'upheld', 'withdrawn')",
            name=op.f("ck_enforcement_action_appeal_status"),
        ),
        sa.CheckConstraint(
            KINDS,
            name=op.f("ck_enforcement_action_kind"),
        ),
        sa.CheckConstraint(
            "status in ('open', 'complied', 'lifted', 'withdrawn')",
            name=op.f("ck_enforcement_action_status"),
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_enforcement_action_enterprise_id_enterprise"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enforcement_action")),
    )
    with op.batch_alter_table("enforcement_action", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enforcement_action_enterprise", ["enterprise_id", "status"], unique=False
        )

    op.create_table(
        "enterprise_sanction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("measure", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("imposed_at", AT, nullable=False),
        sa.Column("imposed_by", sa.String(length=64), nullable=False),
        sa.Column("lifted_at", AT, nullable=True),
        sa.Column("lifted_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "measure in ('block_allocation', 'settlement')",
            name=op.f("ck_enterprise_sanction_measure"),
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_enterprise_sanction_enterprise_id_enterprise"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprise_sanction")),
    )
    with op.batch_alter_table("enterprise_sanction", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enterprise_sanction_enterprise", ["enterprise_id", "measure"], unique=False
        )

    op.create_table(
        "enforcement_consequence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("measure", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("prior", sa.String(length=16), nullable=True),
        sa.Column("applied_at", AT, nullable=False),
        sa.Column("lifted_at", AT, nullable=True),
        sa.CheckConstraint(
            "measure in ('block_allocation', 'settlement', 'channels', 'licence')",
            name=op.f("ck_enforcement_consequence_measure"),
        ),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["enforcement_action.id"],
            name=op.f("fk_enforcement_consequence_action_id_enforcement_action"),
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_enforcement_consequence_channel_id_channel"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enforcement_consequence")),
    )
    with op.batch_alter_table("enforcement_consequence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enforcement_consequence_action_id"), ["action_id"], unique=False
        )

    op.create_table(
        "enforcement_proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("basis", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposed_at", AT, nullable=False),
        sa.Column("decided_at", AT, nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            KINDS,
            name=op.f("ck_enforcement_proposal_kind"),
        ),
        sa.CheckConstraint(
            "status in ('pending', 'accepted', 'dismissed')",
            name=op.f("ck_enforcement_proposal_status"),
        ),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["enforcement_action.id"],
            name=op.f("fk_enforcement_proposal_action_id_enforcement_action"),
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_enforcement_proposal_enterprise_id_enterprise"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enforcement_proposal")),
    )
    with op.batch_alter_table("enforcement_proposal", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enforcement_proposal_enterprise", ["enterprise_id", "status"], unique=False
        )

    op.create_table(
        "complaint",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("received_at", AT, nullable=False),
        sa.Column("occurred_at", AT, nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=True),
        sa.Column("centre_ref", sa.String(length=64), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.Column("line_id", BIG_ID, nullable=True),
        sa.Column("enterprise_id", sa.Integer(), nullable=True),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("clerk_id", sa.Integer(), nullable=True),
        sa.Column("owner_identity_id", BIG_ID, nullable=True),
        sa.Column("traced_at", AT, nullable=True),
        sa.Column("closed_at", AT, nullable=True),
        sa.CheckConstraint(
            "category in ('spam_sms', 'fraud_call', 'harassment_call', 'not_mine', 'other')",
            name=op.f("ck_complaint_category"),
        ),
        sa.CheckConstraint(
            "status in ('open', 'traced', 'acted', 'closed')", name=op.f("ck_complaint_status")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channel.id"], name=op.f("fk_complaint_channel_id_channel")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprise.id"], name=op.f("fk_complaint_enterprise_id_enterprise")
        ),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["complaint_import.id"],
            name=op.f("fk_complaint_import_id_complaint_import"),
        ),
        sa.ForeignKeyConstraint(["line_id"], ["line.id"], name=op.f("fk_complaint_line_id_line")),
        sa.ForeignKeyConstraint(
            ["owner_identity_id"],
            ["identity.id"],
            name=op.f("fk_complaint_owner_identity_id_identity"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint")),
        sa.UniqueConstraint("centre_ref", name=op.f("uq_complaint_centre_ref")),
    )
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.create_index(
            "ix_complaint_channel_time", ["channel_id", "received_at"], unique=False
        )
        batch_op.create_index(
            "ix_complaint_enterprise_time", ["enterprise_id", "received_at"], unique=False
        )
        batch_op.create_index("ix_complaint_line_time", ["line_id", "occurred_at"], unique=False)
        batch_op.create_index(
            "ix_complaint_owner_time", ["owner_identity_id", "occurred_at"], unique=False
        )

    op.create_table(
        "complaint_flag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_id", BIG_ID, nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("identity_id", BIG_ID, nullable=False),
        sa.Column("complaint_id", BIG_ID, nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("flagged_at", AT, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaint.id"],
            name=op.f("fk_complaint_flag_complaint_id_complaint"),
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_complaint_flag_enterprise_id_enterprise"),
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identity.id"], name=op.f("fk_complaint_flag_identity_id_identity")
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["line.id"], name=op.f("fk_complaint_flag_line_id_line")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_flag")),
    )
    with op.batch_alter_table("complaint_flag", schema=None) as batch_op:
        batch_op.create_index(
            "ix_complaint_flag_enterprise", ["enterprise_id", "flagged_at"], unique=False
        )
        batch_op.create_index("ix_complaint_flag_line", ["line_id", "identity_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("complaint_flag", schema=None) as batch_op:
        batch_op.drop_index("ix_complaint_flag_line")
        batch_op.drop_index("ix_complaint_flag_enterprise")

    op.drop_table("complaint_flag")
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.drop_index("ix_complaint_owner_time")
        batch_op.drop_index("ix_complaint_line_time")
        batch_op.drop_index("ix_complaint_enterprise_time")
        batch_op.drop_index("ix_complaint_channel_time")

    op.drop_table("complaint")
    with op.batch_alter_table("enforcement_proposal", schema=None) as batch_op:
        batch_op.drop_index("ix_enforcement_proposal_enterprise")

    op.drop_table("enforcement_proposal")
    with op.batch_alter_table("enforcement_consequence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enforcement_consequence_action_id"))

    op.drop_table("enforcement_consequence")
    with op.batch_alter_table("enterprise_sanction", schema=None) as batch_op:
        batch_op.drop_index("ix_enterprise_sanction_enterprise")

    op.drop_table("enterprise_sanction")
    with op.batch_alter_table("enforcement_action", schema=None) as batch_op:
        batch_op.drop_index("ix_enforcement_action_enterprise")

    op.drop_table("enforcement_action")
    op.drop_table("complaint_import")
