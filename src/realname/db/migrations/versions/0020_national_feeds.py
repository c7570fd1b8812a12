"""The national platform's feeds, index and 一证通查 (issue 16).

At the platform: the enterprises' registered feed signing keys, each feed's position, the
batches taken and the refusals reported; the national index (identities by the platform's
own blind index, each enterprise's lines); 一证通查's challenges and "not mine" disputes. At a
publishing enterprise: the batches it built, kept as sent until acknowledged.

Revision ID: 0020_national_feeds
Revises: 0019_sweep_writes
Create Date: 2026-11-30 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_national_feeds"
down_revision: str | None = "0019_sweep_writes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "national_identity",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("identity_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("doc_type", sa.String(length=32), nullable=False),
        sa.Column("name_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("first_seen_at", AT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_national_identity")),
        sa.UniqueConstraint("identity_key", name=op.f("uq_national_identity_identity_key")),
    )
    op.create_table(
        "national_feed",
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("next_batch", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("items", sa.BigInteger(), nullable=False),
        sa.Column("last_batch_at", AT, nullable=True),
        sa.Column("refusals", sa.Integer(), nullable=False),
        sa.Column("last_refusal_code", sa.String(length=48), nullable=True),
        sa.Column("last_refusal_at", AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_national_feed_enterprise_id_enterprise"),
        ),
        sa.PrimaryKeyConstraint("enterprise_id", name=op.f("pk_national_feed")),
    )
    op.create_table(
        "national_feed_batch",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("applied", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.Boolean(), nullable=False),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("received_at", AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_national_feed_batch_enterprise_id_enterprise"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_national_feed_batch")),
        sa.UniqueConstraint("enterprise_id", "number", name="uq_national_feed_batch_number"),
    )
    op.create_table(
        "national_feed_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("registered_at", AT, nullable=False),
        sa.Column("retired_at", AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_national_feed_key_enterprise_id_enterprise"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_national_feed_key")),
        sa.UniqueConstraint("enterprise_id", "key_id", name="uq_national_feed_key_enterprise_key"),
    )
    op.create_table(
        "national_feed_refusal",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("enterprise_code", sa.String(length=32), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=True),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("received_at", AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_national_feed_refusal_enterprise_id_enterprise"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_national_feed_refusal")),
    )
    op.create_table(
        "national_line",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "identity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("channel_kind", sa.String(length=16), nullable=True),
        sa.Column("province", sa.String(length=2), nullable=True),
        sa.Column("activated_at", AT, nullable=True),
        sa.Column("owner_since", AT, nullable=True),
        sa.Column("changed_at", AT, nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_national_line_enterprise_id_enterprise"),
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["national_identity.id"],
            name=op.f("fk_national_line_identity_id_national_identity"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_national_line")),
        sa.UniqueConstraint("enterprise_id", "msisdn", name="uq_national_line_enterprise_msisdn"),
    )
    with op.batch_alter_table("national_line", schema=None) as batch_op:
        batch_op.create_index(
            "ix_national_line_identity",
            ["identity_id", "state"],
            unique=False,
            postgresql_where=sa.text("identity_id IS NOT NULL"),
            sqlite_where=sa.text("identity_id IS NOT NULL"),
        )
        batch_op.create_index("ix_national_line_msisdn", ["msisdn"], unique=False)

    op.create_table(
        "national_lookup_challenge",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=24), nullable=False),
        sa.Column("requested_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "identity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("source_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("code_digest", sa.LargeBinary(length=32), nullable=True),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.Column("issued_at", AT, nullable=False),
        sa.Column("expires_at", AT, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("proved_at", AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["national_identity.id"],
            name=op.f("fk_national_lookup_challenge_identity_id_national_identity"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_national_lookup_challenge")),
        sa.UniqueConstraint("public_id", name=op.f("uq_national_lookup_challenge_public_id")),
    )
    with op.batch_alter_table("national_lookup_challenge", schema=None) as batch_op:
        batch_op.create_index(
            "ix_national_lookup_requested", ["requested_key", "issued_at"], unique=False
        )
        batch_op.create_index(
            "ix_national_lookup_source", ["source_key", "issued_at"], unique=False
        )

    op.create_table(
        "national_publication",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("cursor_from", sa.BigInteger(), nullable=False),
        sa.Column("cursor_to", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.Boolean(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("built_at", AT, nullable=False),
        sa.Column("acked_at", AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_national_publication_enterprise_id_enterprise"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_national_publication")),
        sa.UniqueConstraint("enterprise_id", "number", name="uq_national_publication_number"),
    )
    op.create_table(
        "national_dispute",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reference", sa.String(length=24), nullable=False),
        sa.Column("line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "identity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", AT, nullable=False),
        sa.Column("due_at", AT, nullable=False),
        sa.Column(
            "complaint_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaint.id"],
            name=op.f("fk_national_dispute_complaint_id_complaint"),
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
            name=op.f("fk_national_dispute_enterprise_id_enterprise"),
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["national_identity.id"],
            name=op.f("fk_national_dispute_identity_id_national_identity"),
        ),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["national_line.id"],
            name=op.f("fk_national_dispute_line_id_national_line"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_national_dispute")),
        sa.UniqueConstraint("reference", name=op.f("uq_national_dispute_reference")),
    )
    with op.batch_alter_table("national_dispute", schema=None) as batch_op:
        batch_op.create_index(
            "ix_national_dispute_identity", ["identity_id", "opened_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("national_dispute", schema=None) as batch_op:
        batch_op.drop_index("ix_national_dispute_identity")

    op.drop_table("national_dispute")
    op.drop_table("national_publication")
    with op.batch_alter_table("national_lookup_challenge", schema=None) as batch_op:
        batch_op.drop_index("ix_national_lookup_source")
        batch_op.drop_index("ix_national_lookup_requested")

    op.drop_table("national_lookup_challenge")
    with op.batch_alter_table("national_line", schema=None) as batch_op:
        batch_op.drop_index("ix_national_line_msisdn")
        batch_op.drop_index(
            "ix_national_line_identity",
            postgresql_where=sa.text("identity_id IS NOT NULL"),
            sqlite_where=sa.text("identity_id IS NOT NULL"),
        )

    op.drop_table("national_line")
    op.drop_table("national_feed_refusal")
    op.drop_table("national_feed_key")
    op.drop_table("national_feed_batch")
    op.drop_table("national_feed")
    op.drop_table("national_identity")
