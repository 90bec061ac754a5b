"""popularity counted once and stored, for serving processes to read

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # No foreign key to services: the catalogue is replaced under them, and the counts are
    # read only for the catalogue version they were counted on.
    op.create_table(
        "popularity_counts",
        sa.Column("feature", sa.String(length=32), nullable=False),
        sa.Column("value_id", sa.BigInteger(), nullable=False),
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("feature", "value_id", "service_id"),
    )
    op.create_table(
        "popularity_audiences",
        sa.Column("feature", sa.String(length=32), nullable=False),
        sa.Column("value_id", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("feature", "value_id"),
    )


def downgrade() -> None:
    op.drop_table("popularity_audiences")
    op.drop_table("popularity_counts")
