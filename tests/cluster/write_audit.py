"""Counting writes by leadership epoch, in the database itself: a statement trigger on every
table of Daybreak's notes each write with the epoch its transaction carried (the store sets
`daybreak.epoch` after checking it; a write that skipped the check carries none)."""

from __future__ import annotations

from collections import Counter

import psycopg

from daybreak.store.leadership import EPOCH_SETTING

AUDIT_TABLE = "write_audit"


def install_write_audit(url: str) -> None:
    """Audit every table but the leadership row (which only a takeover or a lease renewal
    writes, outside the fence by design). Run once the schema exists."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            f"CREATE TABLE {AUDIT_TABLE} (epoch integer, table_name text, "
            "written_at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )
        connection.execute(
            "CREATE FUNCTION audit_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"INSERT INTO {AUDIT_TABLE} (epoch, table_name) VALUES "
            f"(nullif(current_setting('{EPOCH_SETTING}', true), '')::integer, TG_TABLE_NAME); "
            "RETURN NULL; END $$"
        )
        tables = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('leadership', %s, 'alembic_version')",
            (AUDIT_TABLE,),
        ).fetchall()
        assert tables, "no tables to audit: install the audit after the schema exists"
        for (table,) in tables:
            connection.execute(
                f'CREATE TRIGGER audit_write AFTER INSERT OR UPDATE OR DELETE ON "{table}" '
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_write()"
            )


def writes_by_epoch(url: str) -> Counter[int | None]:
    """How many write statements each epoch made since the audit began (None: no epoch)."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            f"SELECT epoch, count(*) FROM {AUDIT_TABLE} GROUP BY epoch"
        ).fetchall()
    return Counter({epoch: int(count) for epoch, count in rows})


def deposed_writes(url: str) -> int:
    """Writes made under an epoch after a newer epoch had already written: a fence that held
    lets none through."""
    with psycopg.connect(url) as connection:
        row = connection.execute(
            f"SELECT count(*) FROM {AUDIT_TABLE} AS old WHERE EXISTS (SELECT 1 FROM "
            f"{AUDIT_TABLE} AS new WHERE new.epoch > old.epoch AND new.written_at < old.written_at)"
        ).fetchone()
    assert row is not None
    return int(row[0])
