"""The tables, for queries. Their history is in `migrations/versions`, one file per version.

Each row keeps its record as msgspec JSON: the scheduler always reads whole records, and the
columns beside it are only what a query selects on.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, LargeBinary, MetaData, String, Table

metadata = MetaData()

tasks = Table(
    "tasks",
    metadata,
    Column("task_id", String(255), primary_key=True),
    Column("job_key", String(1024), nullable=False, index=True),
    Column("record", LargeBinary, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("job_key", String(1024), primary_key=True),
    Column("spec", LargeBinary, nullable=False),
)

agents = Table(
    "agents",
    metadata,
    Column("agent_id", String(255), primary_key=True),
    Column("record", LargeBinary, nullable=False),
)

quotas = Table(
    "quotas",
    metadata,
    Column("role", String(255), primary_key=True),
    Column("quota", LargeBinary, nullable=False),
)

updates = Table(
    "updates",
    metadata,
    Column("update_id", String(255), primary_key=True),
    Column("job_key", String(1024), nullable=False, index=True),
    Column("record", LargeBinary, nullable=False),
)

cron_jobs = Table(
    "cron_jobs",
    metadata,
    Column("job_key", String(1024), primary_key=True),
    Column("record", LargeBinary, nullable=False),
)

# Who leads: one row (id 1). Every write checks `epoch` against the writer's own, so that a
# leader that was replaced writes nothing (daybreak.store.store.Store.write_all).
leadership = Table(
    "leadership",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("epoch", BigInteger, nullable=False),
    Column("leader", String(1024), nullable=False),
    Column("backend_pid", Integer, nullable=True),
    Column("renewed_at", DateTime(timezone=True), nullable=True),
    # The key every leader signs tasks' credentials with, made by the first that asks: a
    # standby that takes over honours what its predecessor signed.
    Column("signing_key", LargeBinary, nullable=True),
)

# Every request that asked for a change (`daybreak.model.audit`), in the order answered. Not
# in a backup: a restore replaces the state, never the record of who changed it.
audit = Table(
    "audit",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("at_ms", BigInteger, nullable=False, index=True),
    Column("who", String(255), nullable=False, index=True),
    Column("record", LargeBinary, nullable=False),
)  # fmt: skip

# The tables a backup holds, in the order a restore writes them.
ALL_TABLES = (jobs, tasks, agents, quotas, updates, cron_jobs)
