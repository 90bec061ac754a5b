"""databus: dead letters, subscriber status, message digest of user actions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 15:42:40.970379
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "databus_subscribers",
        sa.Column("subscription", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("broker", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed", sa.BigInteger(), nullable=False),
        sa.Column("stored", sa.BigInteger(), nullable=False),
        sa.Column("duplicates", sa.BigInteger(), nullable=False),
        sa.Column("dead_lettered", sa.BigInteger(), nullable=False),
        sa.Column("lag_p50_s", sa.Float(), nullable=True),
        sa.Column("lag_p99_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("subscription", name=op.f("pk_databus_subscribers")),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_digest", sa.String(length=64), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column(
            "headers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "errors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.create_index("ix_dead_letters_message_digest", ["message_digest"], unique=True)
        batch_op.create_index("ix_dead_letters_received_at", ["received_at"], unique=False)

    # A nullable column and an index: no copy of the table, on SQLite either.
    with op.batch_alter_table("user_actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_digest", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_user_actions_message_digest", ["message_digest"], unique=True)


def downgrade() -> None:

    with op.batch_alter_table("user_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_user_actions_message_digest")
        batch_op.drop_column("message_digest")

    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index("ix_dead_letters_received_at")
        batch_op.drop_index("ix_dead_letters_message_digest")

    op.drop_table("dead_letters")
    op.drop_table("databus_subscribers")
