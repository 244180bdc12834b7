"""The store: SQLite or PostgreSQL behind one SQLAlchemy Core code path.

`Store` is synchronous and meant for one thread (the writer's); `daybreak.store.writer`
gives the asyncio side its group commits. URLs: `sqlite:///path/to/file.db` (the default,
embedded) or `postgresql://user@host:port/db`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import alembic.command
import alembic.config
import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from daybreak.errors import DaybreakError
from daybreak.model.api import Quota
from daybreak.model.audit import AuditEntry, AuditList
from daybreak.model.cron import CronJob
from daybreak.model.jobspec import JobSpec
from daybreak.model.records import Changes, Snapshot, StoredAgent
from daybreak.model.task import ScheduledTask
from daybreak.model.update import JobUpdate
from daybreak.store import audit_log, schema
from daybreak.store.leadership import check_epoch, signing_key, take_over

MIGRATIONS = Path(__file__).parent / "migrations"
# A scheduler paused between two statements of a write (SIGSTOP, a VM frozen) keeps its
# epoch check's share lock on the leadership row, and the next leader's takeover would wait on
# it for as long as the pause lasts: PostgreSQL ends such a session after this long, which
# rolls its transaction back. Far longer than any gap between statements of a live writer.
IDLE_IN_TRANSACTION_MS = 5_000
_encoder = msgspec.json.Encoder()


class StoreError(DaybreakError):
    """The store could not be opened, read or written."""


def engine_url(url: str) -> str:
    """The user's URL with the driver SQLAlchemy should use."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return url
    raise StoreError(
        f"store URL {url!r} is neither sqlite:///PATH nor postgresql://USER@HOST:PORT/DB"
    )


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets readers (a backup) work beside the writer; FULL makes each commit durable.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # Opening and migrating.

    def migrate(self) -> None:
        config = alembic.config.Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            alembic.command.upgrade(config, "head")

    def version(self) -> str | None:
        with self.engine.connect() as connection:
            try:
                row = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            except sa.exc.DBAPIError:
                return None
            return row.scalar_one_or_none()

    def close(self) -> None:
        self.engine.dispose()

    # Reading.

    def load(self) -> Snapshot:
        try:
            with self.engine.connect() as connection:
                return self._read_all(connection)
        except sa.exc.SQLAlchemyError as error:
            raise StoreError(
                f"cannot read the store: {error.__class__.__name__}: {error}"
            ) from error

    def _read_all(self, connection: Connection) -> Snapshot:
        task_decoder = msgspec.json.Decoder(ScheduledTask)
        # Equal specs share one object: 10,000 instances of a job hold one config in memory.
        specs: dict[bytes, JobSpec] = {}
        snapshot = Snapshot()
        for (record,) in connection.execute(sa.select(schema.tasks.c.record)):
            task = task_decoder.decode(record)
            spec_bytes = _encoder.encode(task.spec)
            shared = specs.setdefault(spec_bytes, task.spec)
            if shared is not task.spec:
                task = msgspec.structs.replace(task, spec=shared)
            snapshot.tasks.append(task)
        for key, spec in connection.execute(sa.select(schema.jobs.c.job_key, schema.jobs.c.spec)):
            snapshot.jobs[key] = msgspec.json.decode(spec, type=JobSpec)
        for agent_id, record in connection.execute(
            sa.select(schema.agents.c.agent_id, schema.agents.c.record)
        ):
            snapshot.agents[agent_id] = msgspec.json.decode(record, type=StoredAgent)
        for role, quota in connection.execute(
            sa.select(schema.quotas.c.role, schema.quotas.c.quota)
        ):
            snapshot.quotas[role] = msgspec.json.decode(quota, type=Quota)
        update_decoder = msgspec.json.Decoder(JobUpdate)
        for update_id, record in connection.execute(
            sa.select(schema.updates.c.update_id, schema.updates.c.record)
        ):
            snapshot.updates[update_id] = update_decoder.decode(record)
        cron_decoder = msgspec.json.Decoder(CronJob)
        for key, record in connection.execute(
            sa.select(schema.cron_jobs.c.job_key, schema.cron_jobs.c.record)
        ):
            snapshot.cron[key] = cron_decoder.decode(record)
        return snapshot

    # Writing: one transaction per call, however many changes it carries.

    def write(self, changes: Changes) -> None:
        self.write_all([changes])

    def write_all(self, batch: list[Changes | Snapshot], epoch: int | None = None) -> None:
        """Write `batch` in order in one transaction: each `Changes` as it says, each
        `Snapshot` (a restore) replacing everything written before it. With `epoch`, only
        while it is still the leader's: a scheduler that was replaced writes nothing."""
        if not any(isinstance(item, Snapshot) or item for item in batch):
            return
        with self.engine.begin() as connection:
            if epoch is not None:
                check_epoch(connection, epoch)
            for item in batch:
                if isinstance(item, Snapshot):
                    for table in reversed(schema.ALL_TABLES):
                        connection.execute(sa.delete(table))
                    self._write(connection, Changes.everything_in(item))
                else:
                    self._write(connection, item)

    def _write(self, connection: Connection, changes: Changes) -> None:
        self._replace(
            connection,
            schema.tasks,
            schema.tasks.c.task_id,
            changes.tasks,
            lambda task_id, task: {
                "task_id": task_id,
                "job_key": str(task.job),
                "record": _encoder.encode(task),
            },
        )
        self._replace(
            connection,
            schema.jobs,
            schema.jobs.c.job_key,
            changes.jobs,
            lambda key, spec: {"job_key": key, "spec": _encoder.encode(spec)},
        )
        self._replace(
            connection,
            schema.agents,
            schema.agents.c.agent_id,
            changes.agents,
            lambda agent_id, agent: {"agent_id": agent_id, "record": _encoder.encode(agent)},
        )
        self._replace(
            connection,
            schema.quotas,
            schema.quotas.c.role,
            changes.quotas,
            lambda role, quota: {"role": role, "quota": _encoder.encode(quota)},
        )
        self._replace(
            connection,
            schema.updates,
            schema.updates.c.update_id,
            changes.updates,
            lambda update_id, update: {
                "update_id": update_id,
                "job_key": str(update.job),
                "record": _encoder.encode(update),
            },
        )
        self._replace(
            connection,
            schema.cron_jobs,
            schema.cron_jobs.c.job_key,
            changes.cron,
            lambda key, record: {"job_key": key, "record": _encoder.encode(record)},
        )

    @staticmethod
    def _replace(
        connection: Connection,
        table: sa.Table,
        key: sa.Column[Any],
        rows: dict[str, Any],
        to_row: Any,
    ) -> None:
        """Upsert each row given, delete each key given None."""
        if not rows:
            return
        gone = [k for k, v in rows.items() if v is None]
        for start in range(0, len(gone), 1000):  # bound the statement's parameters
            connection.execute(sa.delete(table).where(key.in_(gone[start : start + 1000])))
        values = [to_row(k, v) for k, v in rows.items() if v is not None]
        if values:
            connection.exec_driver_sql(_upsert(connection.dialect.name, table, key), values)

    # The audit log, beside the state.

    def append_audit(
        self, entries: list[AuditEntry], epoch: int | None, forget_before_ms: int | None = None
    ) -> None:
        audit_log.append(self.engine, entries, epoch, forget_before_ms)

    def read_audit(
        self, limit: int, before: int | None = None, who: str | None = None
    ) -> AuditList:
        return audit_log.read(self.engine, limit, before, who)

    # Backup and restore: the whole state, consistent.

    def take_over(self, address: str, backend_pid: int | None = None) -> int:
        """Become the leader (the next epoch); returns the epoch every write must carry."""
        with self.engine.begin() as connection:
            return take_over(connection, address, backend_pid)

    def signing_key(self) -> bytes:
        """The key tasks' credentials are signed with, the same for every scheduler."""
        with self.engine.begin() as connection:
            return signing_key(connection)

    def backup(self) -> bytes:
        with self.engine.connect() as connection, connection.begin():
            snapshot = self._read_all(connection)
        return _encoder.encode(_Backup.of(snapshot, self.version()))

    def restore(self, data: bytes) -> Snapshot:
        """Replace the whole state with a backup's, in one transaction: a failure part way
        leaves the state as it was."""
        snapshot = decode_backup(data)
        self.write_all([snapshot])
        return snapshot


_upserts: dict[tuple[str, str], str] = {}


def _upsert(dialect: str, table: sa.Table, key: sa.Column[Any]) -> str:
    """INSERT ... ON CONFLICT DO UPDATE, which both databases speak: one statement where a
    delete and an insert took two (and a fifth of a status storm's cost). As the driver's own
    SQL with named parameters: SQLAlchemy's per-row parameter handling was half the cost of
    writing a row, for rows that are already a key and bytes."""
    found = _upserts.get((dialect, table.name))
    if found is None:
        names = [column.name for column in table.columns]
        placeholder = "%({})s" if dialect == "postgresql" else ":{}"
        found = (
            f"INSERT INTO {table.name} ({', '.join(names)}) "
            f"VALUES ({', '.join(placeholder.format(name) for name in names)}) "
            f"ON CONFLICT ({key.name}) DO UPDATE SET "
            + ", ".join(f"{name} = excluded.{name}" for name in names if name != key.name)
        )
        _upserts[(dialect, table.name)] = found
    return found


def decode_backup(data: bytes) -> Snapshot:
    try:
        backup = msgspec.json.decode(data, type=_Backup)
    except msgspec.DecodeError as error:
        raise StoreError(f"not a Daybreak backup: {error}") from error
    return backup.snapshot()


class _Backup(msgspec.Struct, frozen=True, kw_only=True):
    format: str = "daybreak-backup"
    schema_version: str | None = None
    tasks: list[ScheduledTask]
    jobs: dict[str, JobSpec]
    agents: dict[str, StoredAgent]
    quotas: dict[str, Quota]
    updates: dict[str, JobUpdate] = msgspec.field(default_factory=dict)
    cron: dict[str, CronJob] = msgspec.field(default_factory=dict)

    @classmethod
    def of(cls, snapshot: Snapshot, version: str | None) -> _Backup:
        return cls(
            schema_version=version,
            tasks=snapshot.tasks,
            jobs=snapshot.jobs,
            agents=snapshot.agents,
            quotas=snapshot.quotas,
            updates=snapshot.updates,
            cron=snapshot.cron,
        )

    def snapshot(self) -> Snapshot:
        return Snapshot(
            tasks=list(self.tasks),
            jobs=self.jobs,
            agents=self.agents,
            quotas=self.quotas,
            updates=self.updates,
            cron=self.cron,
        )


def open_store(url: str) -> Store:
    """Open (creating if needed) and migrate the store at `url`."""
    full_url = engine_url(url)
    if full_url.startswith("sqlite:///"):
        path = Path(full_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(full_url)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = sa.create_engine(
            full_url,
            pool_pre_ping=True,
            connect_args={
                "options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"
            },
        )
    store = Store(engine)
    try:
        store.migrate()
    except sa.exc.SQLAlchemyError as error:
        engine.dispose()
        raise StoreError(
            f"cannot open the store at {url}: {error.__class__.__name__}: {error}"
        ) from error
    return store
