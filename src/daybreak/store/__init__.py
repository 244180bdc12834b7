"""Durable state: one interface, SQLite (embedded default) or PostgreSQL, versioned migrations."""

from daybreak.store.store import Store, StoreError, decode_backup, open_store

__all__ = ["Store", "StoreError", "decode_backup", "open_store"]
