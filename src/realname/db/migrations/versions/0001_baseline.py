"""Baseline: an empty schema under Alembic's control.

The foundation needs no tables of its own; this revision exists so every database, on SQLite
and PostgreSQL alike, is created by `realname db upgrade` from the first day and later
revisions have a root to build on.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

revision: str = "0001_baseline"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
