"""The audit sequencer: entries appended without a place in their chain, chained later.

`position`, `prev_hash` and `hash` of `audit_log` become nullable (NULL while an entry is
pending), and every entry gets a random `nonce` and `content_mac`, a keyed MAC over its
content that makes a pending entry tamper-evident and, being unique, not replayable; `refused`
marks a pending entry the sequencer would not chain (its content MAC failed). A partial index
holds the pending entries the sequencer claims. Entries written before this revision keep a
NULL content MAC: they are sequenced, and their chain link covers them.

Downgrade refuses while entries are pending (run `realname audit sequence` first): the old
schema has no place for an entry outside its chain.

Revision ID: 0014_audit_sequencer
Revises: 0013_possession
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_audit_sequencer"
down_revision: str | None = "0013_possession"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "position IS NULL AND NOT refused"


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("position", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("prev_hash", existing_type=sa.LargeBinary(length=32), nullable=True)
        batch_op.alter_column("hash", existing_type=sa.LargeBinary(length=32), nullable=True)
        batch_op.add_column(sa.Column("nonce", sa.LargeBinary(length=16), nullable=True))
        batch_op.add_column(sa.Column("content_mac", sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("refused", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_unique_constraint("uq_audit_log_content_mac", ["content_mac"])
    op.create_index(
        "ix_audit_log_pending",
        "audit_log",
        ["id"],
        unique=False,
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )


def downgrade() -> None:
    pending = op.get_bind().scalar(sa.text("SELECT count(*) FROM audit_log WHERE position IS NULL"))
    if pending:
        raise RuntimeError(
            f"{pending} audit entries are pending or refused: run `realname audit sequence` "
            "(and deal with refused entries) before downgrading"
        )
    op.drop_index("ix_audit_log_pending", table_name="audit_log")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_log_content_mac", type_="unique")
        batch_op.drop_column("refused")
        batch_op.drop_column("content_mac")
        batch_op.drop_column("nonce")
        batch_op.alter_column("hash", existing_type=sa.LargeBinary(length=32), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.LargeBinary(length=32), nullable=False)
        batch_op.alter_column("position", existing_type=sa.Integer(), nullable=False)
