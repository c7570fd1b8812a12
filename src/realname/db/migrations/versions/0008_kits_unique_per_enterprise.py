"""A SIM kit's ICCID and IMSI are unique within an enterprise, not across enterprises.

One database may hold several enterprises (a group, the demo); a kit number unique across all
of them let one enterprise learn, by stocking it, that another holds a kit (409 KIT_IN_USE):
a cross-tenant oracle. Each enterprise's own kits stay unique; two enterprises claiming one
physical SIM is for the national index to notice, not for one tenant to probe.

Revision ID: 0008_kits_per_enterprise
Revises: 0007_tamper_evidence
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

from alembic import op

# SQLite rebuilds `line` here; migrations/env.py runs SQLite migrations with foreign keys off
# and checks every key before the commit.

revision: str = "0008_kits_per_enterprise"
down_revision: str | None = "0007_tamper_evidence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("line") as batch:
        batch.drop_constraint("uq_line_iccid", type_="unique")
        batch.drop_constraint("uq_line_imsi", type_="unique")
        batch.create_unique_constraint("uq_line_enterprise_iccid", ["enterprise_id", "iccid"])
        batch.create_unique_constraint("uq_line_enterprise_imsi", ["enterprise_id", "imsi"])


def downgrade() -> None:
    with op.batch_alter_table("line") as batch:
        batch.drop_constraint("uq_line_enterprise_imsi", type_="unique")
        batch.drop_constraint("uq_line_enterprise_iccid", type_="unique")
        batch.create_unique_constraint("uq_line_iccid", ["iccid"])
        batch.create_unique_constraint("uq_line_imsi", ["imsi"])
