"""Job updates: one row per update, its whole record as msgspec JSON.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "updates",
        sa.Column("update_id", sa.String(255), primary_key=True),
        sa.Column("job_key", sa.String(1024), nullable=False),
        sa.Column("record", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_updates_job_key", "updates", ["job_key"])


def downgrade() -> None:
    op.drop_index("ix_updates_job_key", "updates")
    op.drop_table("updates")
