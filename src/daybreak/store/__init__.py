"""Durable state: one interface, SQLite (embedded default) or PostgreSQL, versioned migrations."""

from daybreak.store.records import Changes, Snapshot, StoredAgent
from daybreak.store.store import Store, StoreError, open_store

__all__ = ["Changes", "Snapshot", "Store", "StoreError", "StoredAgent", "open_store"]
