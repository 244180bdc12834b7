"""Leadership: one row holding the current leader's epoch, its address, the database backend
that holds its lock, and when it last renewed its lease (the database's clock).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "leadership",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("leader", sa.String(1024), nullable=False),
        sa.Column("backend_pid", sa.Integer, nullable=True),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.bulk_insert(table, [{"id": 1, "epoch": 0, "leader": ""}])


def downgrade() -> None:
    op.drop_table("leadership")
