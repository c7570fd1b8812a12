"""Regulator clients made before the compliance domain keep its scopes by a flag on their row,
not by their role: new clients get exactly the scopes they were made with.

The compliance scopes came after the first regulator, inspector and provincial clients were
made; their rows lack them, and a row says what its audited `client.create` entry said, so the
scopes column is not rewritten. Until now every token of those roles was given the scopes
whatever its row said, so a regulator client made with only `compliance:read` could still
take `enforcement:write`. The rows of those roles that exist when this runs are marked
`implied_role_scopes` (they keep what they had); rows made afterwards are not.

Revision ID: 0025_client_implied_scopes
Revises: 0023_card_reads
Create Date: 2026-12-01 04:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_client_implied_scopes"
down_revision: str | None = "0023_card_reads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("regulator", "regulator_inspector", "provincial_regulator")


def upgrade() -> None:
    with op.batch_alter_table("api_client") as batch:
        batch.add_column(
            sa.Column(
                "implied_role_scopes", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    client = sa.table("api_client", sa.column("role"), sa.column("implied_role_scopes"))
    op.execute(
        client.update().where(client.c.role.in_(ROLES)).values(implied_role_scopes=sa.true())
    )


def downgrade() -> None:
    with op.batch_alter_table("api_client") as batch:
        batch.drop_column("implied_role_scopes")
