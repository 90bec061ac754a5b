"""transitions of the RL data set; impressions indexed by browser

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:12:41.204518
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "transitions",
        sa.Column("impression_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "history",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "panel_labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("next_impression_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "next_history",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["impression_id"],
            ["recommendations.id"],
            name=op.f("fk_transitions_impression_id_recommendations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("impression_id", name=op.f("pk_transitions")),
    )
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.create_index("ix_recommendations_unique_id", ["unique_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.drop_index("ix_recommendations_unique_id")

    op.drop_table("transitions")
