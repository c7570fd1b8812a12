"""The handlings a separate enterprise posts for a forwarded 一证通查 dispute, one row each:
until now only the last status and outcome were kept, so a subscriber never saw that a case
was acted on before it closed, nor when.

Existing disputes with an answer get one row from what they hold (their status, outcome and
answered_at): the steps before it were not recorded and are not invented.

Revision ID: 0030_dispute_answers
Revises: 0025_client_implied_scopes
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030_dispute_answers"
down_revision: str | None = "0025_client_implied_scopes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "national_dispute_answer",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "dispute_id",
            ID,
            sa.ForeignKey(
                "national_dispute.id",
                name="fk_national_dispute_answer_dispute_id_national_dispute",
            ),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(40), nullable=True),
        sa.Column("answered_at", AT, nullable=False),
    )
    op.create_index(
        "ix_national_dispute_answer_dispute", "national_dispute_answer", ["dispute_id", "id"]
    )
    dispute = sa.table(
        "national_dispute",
        sa.column("id"),
        sa.column("status"),
        sa.column("outcome"),
        sa.column("answered_at"),
    )
    answer = sa.table(
        "national_dispute_answer",
        sa.column("dispute_id"),
        sa.column("status"),
        sa.column("outcome"),
        sa.column("answered_at"),
    )
    op.execute(
        answer.insert().from_select(
            ["dispute_id", "status", "outcome", "answered_at"],
            sa.select(dispute.c.id, dispute.c.status, dispute.c.outcome, dispute.c.answered_at)
            .where(dispute.c.answered_at.is_not(None))
            .order_by(dispute.c.id),
        )
    )


def downgrade() -> None:
    op.drop_index("ix_national_dispute_answer_dispute", table_name="national_dispute_answer")
    op.drop_table("national_dispute_answer")
