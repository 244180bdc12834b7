"""The cluster's key for signing tasks' credentials, kept with the leadership row.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leadership") as table:
        table.add_column(sa.Column("signing_key", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("leadership") as table:
        table.drop_column("signing_key")
