"""Staff accounts and sessions for the web pages (issue 17).

An account acts as one API client (its role and tenant), so the pages are authorised as the
API is; a session stores the SHA-256 of its cookie token and its CSRF token.

Revision ID: 0021_web_sessions
Revises: 0020_national_feeds
Create Date: 2026-11-30 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_web_sessions"
down_revision: str | None = "0020_national_feeds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_account",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column(
            "client_id",
            sa.String(64),
            sa.ForeignKey("api_client.client_id", name="fk_staff_account_client_id_api_client"),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.UniqueConstraint("username", name="uq_staff_account_username"),
    )
    op.create_table(
        "staff_session",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("staff_account.id", name="fk_staff_session_account_id_staff_account"),
            nullable=False,
        ),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("last_seen_at", AT, nullable=False),
        sa.Column("ended_at", AT, nullable=True),
    )
    op.create_index("ix_staff_session_account_id", "staff_session", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_staff_session_account_id", table_name="staff_session")
    op.drop_table("staff_session")
    op.drop_table("staff_account")
