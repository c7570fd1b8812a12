"""Fewer index writes per line the back-fill sweep moves (issue 14, second pass).

Measured on one 2,000-line batch of the sweep (`EXPLAIN (ANALYZE, BUFFERS, WAL)`,
docs/benchmarks.md "Back-fill sweep, second pass"):

- `backfill_line.next_on` had an index no query uses (the sweep walks `line` by id and
  reads the schedule by its key). Every sweep rewrites `next_on` of every line it touches,
  and an indexed column makes that update write a new entry in each of the table's three
  indexes. Without it, and with room on each page (`fillfactor` 50: a batch rewrites every
  schedule of a page at once), the update is HOT: no index is written at all (10,100 WAL
  records per 2,000 lines before, 2,000 after).
- `line_event`'s indexes on the owner before/after and on the channel hold every event,
  though most events name no owner (legacy steps, barring, termination) or no channel.
  Partial (`IS NOT NULL`) they hold only the events their readers look for (an owner's or a
  channel's events, which the `=`/join predicates imply); a back-fill event writes two
  index entries instead of five.

Revision ID: 0019_sweep_writes
Revises: 0018_compliance_enforcement
Create Date: 2026-11-30 19:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_sweep_writes"
down_revision: str | None = "0018_compliance_enforcement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, columns, the column that must be set)
PARTIAL = [
    ("ix_line_event_owner_after", ["owner_after_id"], "owner_after_id"),
    ("ix_line_event_owner_before", ["owner_before_id"], "owner_before_id"),
    ("ix_line_event_channel_time", ["channel_id", "occurred_at"], "channel_id"),
]


def upgrade() -> None:
    op.drop_index("ix_backfill_line_next_on", table_name="backfill_line")
    if op.get_bind().dialect.name == "postgresql":
        # New pages keep half their room; existing ones as they are until rewritten.
        op.execute("ALTER TABLE backfill_line SET (fillfactor = 50)")
    for name, columns, column in PARTIAL:
        where = sa.text(f"{column} IS NOT NULL")
        op.drop_index(name, table_name="line_event")
        op.create_index(name, "line_event", columns, postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for name, columns, _column in PARTIAL:
        op.drop_index(name, table_name="line_event")
        op.create_index(name, "line_event", columns)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE backfill_line RESET (fillfactor)")
    op.create_index("ix_backfill_line_next_on", "backfill_line", ["next_on"])
