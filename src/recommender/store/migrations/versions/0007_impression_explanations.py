"""impressions keep the explanations they were shown with

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-04 16:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: impressions served before this revision were stored without them.
    with op.batch_alter_table("recommendations") as batch:
        batch.add_column(
            sa.Column(
                "explanations",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("recommendations") as batch:
        batch.drop_column("explanations")
