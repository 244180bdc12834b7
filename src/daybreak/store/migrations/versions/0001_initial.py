"""The first schema: tasks, jobs, agents and quotas, each row a msgspec JSON record.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.String(255), primary_key=True),
        sa.Column("job_key", sa.String(1024), nullable=False),
        sa.Column("record", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_tasks_job_key", "tasks", ["job_key"])
    op.create_table(
        "jobs",
        sa.Column("job_key", sa.String(1024), primary_key=True),
        sa.Column("spec", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "agents",
        sa.Column("agent_id", sa.String(255), primary_key=True),
        sa.Column("record", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "quotas",
        sa.Column("role", sa.String(255), primary_key=True),
        sa.Column("quota", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    for table in ("quotas", "agents", "jobs"):
        op.drop_table(table)
    op.drop_index("ix_tasks_job_key", "tasks")
    op.drop_table("tasks")
